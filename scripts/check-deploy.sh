#!/usr/bin/env bash
# Checks everything under deploy/ with the parsers and linters that run here (docker and
# Kubernetes do not):
#
#   - promtool: the alerting rules (check + unit tests), every Prometheus configuration, and every
#     PromQL expression of the Grafana dashboard;
#   - nginx -t on the load balancer's configuration;
#   - systemd-analyze verify on the units;
#   - yamllint on every YAML file;
#   - the sluice binary itself: every ring file through `sluice ring plan`, every flag used in a
#     unit, a compose command or a manifest against `sluice <command> --experimental-dump-help`;
#   - cross-references a parser cannot see: compose volumes, ports and depends_on, nginx upstreams
#     against the insert services, ring nodes against the storage services and the StatefulSet,
#     Services against their pods, metric names in the rules and the dashboard against the
#     metrics Sluice's sources register.
#
# Installs what it needs with apt-get when missing. Exits non-zero if any check fails.
# The sluice binary is SLUICE_BINARY, else .build/debug/sluice or .build/release/sluice; without
# one the checks that need it are skipped (and say so).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v yamllint >/dev/null || need+=(yamllint)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if ((${#need[@]})); then
  echo "check-deploy: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # A policy-rc.d that refuses keeps the nginx package from starting a server while it installs.
  policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Removed here, not only on exit: the script ends in exec, which runs no trap.
  [[ -z "$policy" ]] || rm -f "$policy"
  trap - EXIT
fi
export PATH="$PATH:/usr/sbin"

if [[ -z "${SLUICE_BINARY:-}" ]]; then
  for candidate in .build/debug/sluice .build/release/sluice; do
    if [[ -x "$candidate" ]]; then SLUICE_BINARY="$PWD/$candidate"; break; fi
  done
fi
export SLUICE_BINARY="${SLUICE_BINARY:-}"

exec python3 - <<'PY'
import glob, json, os, re, shlex, shutil, subprocess, sys, tempfile
import yaml

ROOT = os.getcwd()
DEPLOY = os.path.join(ROOT, "deploy")
SLUICE = os.environ.get("SLUICE_BINARY") or None
failures = []
skipped = []


def check(name):
    """Runs the decorated function at once as one named check: it returns nothing or raises."""
    def run(fn):
        try:
            problems = fn() or []
        except Exception as error:  # a crash in a check is a failure of that check
            problems = [f"{type(error).__name__}: {error}"]
        if problems:
            failures.append(name)
            print(f"FAIL {name}")
            for problem in problems:
                for line in str(problem).rstrip().splitlines():
                    print(f"     {line}")
        else:
            print(f"ok   {name}")
        return fn
    return run


def rel(path):
    return os.path.relpath(path, ROOT)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def load_yaml_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---------------------------------------------------------------------------------------------
# What the code says: metric names registered in Sources, the CLI's commands and flags.

SOURCE_METRICS = set()
HISTOGRAMS = set()
for path in glob.glob(os.path.join(ROOT, "Sources", "**", "*.swift"), recursive=True):
    text = open(path).read()
    SOURCE_METRICS.update(re.findall(r'"(sluice_[a-z0-9_]+)"', text))
    for match in re.finditer(r'makeDurationHistogram\([^"]*"(sluice_[a-z0-9_]+)"', text, re.S):
        HISTOGRAMS.add(match.group(1))
# Series Prometheus makes itself, which rules and dashboards may use alongside Sluice's own.
PROMETHEUS_SERIES = {"up"}

COMMANDS = {}  # "insert" / "ring plan" -> set of long flag names
if SLUICE:
    dump = json.loads(run([SLUICE, "--experimental-dump-help"], check=True).stdout)

    def walk(command, path):
        flags = set()
        for argument in command.get("arguments", []):
            for name in argument.get("names") or []:
                if name["kind"] == "long":
                    flags.add(name["name"])
        if path:
            COMMANDS[" ".join(path)] = flags
        for sub in command.get("subcommands", []):
            walk(sub, path + [sub["commandName"]])

    walk(dump["command"], [])


def check_flags(args, where):
    """args: a sluice command line without the binary. Returns problems."""
    if not SLUICE:
        return []
    words = [a for a in args if not a.startswith("$")]
    command = None
    for length in (2, 1):
        candidate = " ".join(words[:length])
        if candidate in COMMANDS:
            command, words = candidate, words[length:]
            break
    if command is None:
        return [f"{where}: unknown sluice command in {' '.join(args)}"]
    problems = []
    for word in words:
        if word.startswith("--"):
            flag = word[2:].split("=", 1)[0]
            if flag not in COMMANDS[command]:
                problems.append(f"{where}: sluice {command} has no flag --{flag}")
    return problems


def flag_value(args, flag):
    for index, word in enumerate(args):
        if word.startswith(f"--{flag}="):
            return word.split("=", 1)[1]
        if word == f"--{flag}" and index + 1 < len(args):
            return args[index + 1]
    return None


# ---------------------------------------------------------------------------------------------
# PromQL: metric names used by an expression.

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "Inf", "NaN"}


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[match.end():].lstrip().startswith("(") or match.group(0) in KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def unknown_metrics(exprs, where):
    problems = []
    for expr in exprs:
        for name in sorted(metric_names(expr)):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            known = name in SOURCE_METRICS or name in PROMETHEUS_SERIES or (base in HISTOGRAMS and base != name)
            if not known:
                problems.append(f"{where}: {name} is not a metric Sluice registers (expr: {expr.strip()})")
    return problems


# ---------------------------------------------------------------------------------------------
# Ring files: the keys RingConfiguration accepts, and `sluice ring plan` as the real parser.

def ring_keys():
    """The keys RingConfiguration accepts, read from its source: File.keys and Node.CodingKeys."""
    source = open(os.path.join(ROOT, "Sources", "SluiceRing", "RingConfiguration.swift")).read()
    top = set(re.findall(r'"(\w+)"', re.search(r"static let keys: Set<String> = \[([^\]]*)\]", source).group(1)))
    body = re.search(r"enum CodingKeys: String, CodingKey, CaseIterable \{(.*?)\n\s*\}", source, re.S).group(1)
    node = set()
    for line in re.findall(r"^\s*case\s+(.+)$", body, re.M):
        for item in line.split(","):
            raw = re.search(r'=\s*"(\w+)"', item)
            node.add(raw.group(1) if raw else item.strip())
    return top, node


RING_KEYS, NODE_KEYS = ring_keys()


def check_ring(text, where):
    problems = []
    ring = yaml.safe_load(text)
    if not isinstance(ring, dict):
        return [f"{where}: not a mapping"]
    problems += [f"{where}: unknown key {k}" for k in set(ring) - RING_KEYS]
    for index, node in enumerate(ring.get("nodes") or []):
        problems += [f"{where}: nodes[{index}] has unknown key {k}" for k in set(node) - NODE_KEYS]
    if SLUICE:
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            f.write(text)
            f.flush()
            result = run([SLUICE, "ring", "plan", "--config", f.name, "--to", f.name, "--series", "1000"])
            if result.returncode != 0:
                problems.append(f"{where}: sluice ring plan rejects it: {result.stderr.strip() or result.stdout.strip()}")
    return problems, ring


def url_host_port(url):
    match = re.match(r"https?://([^/:]+)(?::(\d+))?", url)
    return match.group(1), int(match.group(2) or (443 if url.startswith("https") else 80))


# ---------------------------------------------------------------------------------------------

yaml_files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.yml"), recursive=True)
                    + glob.glob(os.path.join(DEPLOY, "**", "*.yaml"), recursive=True))


@check("YAML: every file under deploy/ parses")
def _():
    problems = []
    for path in yaml_files:
        try:
            load_yaml_all(path)
        except yaml.YAMLError as error:
            problems.append(f"{rel(path)}: {error}")
    return problems


@check("yamllint: deploy/**/*.y*ml")
def _():
    config = "{extends: default, rules: {line-length: disable, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}"
    result = run(["yamllint", "-f", "parsable", "-d", config] + yaml_files)
    return [result.stdout + result.stderr] if result.returncode != 0 else []


# --- Prometheus rules -------------------------------------------------------------------------

RULES = os.path.join(DEPLOY, "prometheus", "sluice-alerts.yml")
RULE_TESTS = os.path.join(DEPLOY, "prometheus", "sluice-alerts.test.yml")


@check("promtool check rules deploy/prometheus/sluice-alerts.yml")
def _():
    result = run(["promtool", "check", "rules", RULES])
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


@check("promtool test rules deploy/prometheus/sluice-alerts.test.yml")
def _():
    result = run(["promtool", "test", "rules", os.path.basename(RULE_TESTS)], cwd=os.path.dirname(RULE_TESTS))
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


@check("alerting rules: metric names exist, every alert has severity, summary and a unit test")
def _():
    problems = []
    rules = [r for g in load_yaml_all(RULES)[0]["groups"] for r in g["rules"]]
    problems += unknown_metrics([r["expr"] for r in rules], "sluice-alerts.yml")
    tested = {t["alertname"] for test in load_yaml_all(RULE_TESTS)[0]["tests"] for t in test.get("alert_rule_test", [])}
    for rule in rules:
        name = rule.get("alert", rule.get("record"))
        if "alert" in rule:
            if rule.get("labels", {}).get("severity") not in ("warning", "critical"):
                problems.append(f"{name}: severity must be warning or critical")
            if not rule.get("annotations", {}).get("summary") or not rule.get("annotations", {}).get("description"):
                problems.append(f"{name}: needs summary and description annotations")
            if name not in tested:
                problems.append(f"{name}: no unit test in sluice-alerts.test.yml")
    return problems


# --- Grafana dashboard ------------------------------------------------------------------------

DASHBOARD = os.path.join(DEPLOY, "grafana", "sluice-dashboard.json")
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
             "$insert_job": "sluice-insert", "$storage_job": "sluice-storage", "$select_job": "sluice-select"}


def dashboard_exprs(dashboard):
    exprs = []
    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))
    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            exprs.append((panel["title"], target.get("expr", "")))
    return exprs


@check("Grafana dashboard: structure, layout and data sources")
def _():
    problems = []
    dashboard = json.load(open(DASHBOARD))
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dashboard:
            problems.append(f"missing top-level {key}")
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append("panel ids repeat")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append("needs a datasource variable")
    occupied = {}
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        if g["x"] + g["w"] > 24:
            problems.append(f"{panel['title']}: wider than the grid")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in occupied:
                    problems.append(f"{panel['title']} overlaps {occupied[(x, y)]}")
                    break
                occupied[(x, y)] = panel["title"]
            else:
                continue
            break
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{panel['title']}: datasource must be ${{datasource}}")
        targets = panel.get("targets", [])
        if not targets or any(not t.get("expr") for t in targets):
            problems.append(f"{panel['title']}: every panel needs targets with expr")
        if len({t["refId"] for t in targets}) != len(targets):
            problems.append(f"{panel['title']}: refIds repeat")
        for expr in re.findall(r"\$\{?(\w+)", " ".join(t.get("expr", "") for t in targets)):
            if not expr.startswith("__") and expr not in variables:
                problems.append(f"{panel['title']}: uses undefined variable ${expr}")
    return problems


@check("Grafana dashboard: every PromQL expression parses (promtool) and uses only Sluice's metrics")
def _():
    dashboard = json.load(open(DASHBOARD))
    exprs = dashboard_exprs(dashboard)
    problems = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?\s*,\s*\w+\s*\)", query)
            if not match:
                problems.append(f"variable {variable['name']}: expected label_values(metric, label), got {query}")
            else:
                exprs.append((f"variable {variable['name']}", match.group(1)))
    rules = []
    for index, (title, expr) in enumerate(exprs):
        concrete = expr
        for name, value in sorted(VARIABLES.items(), key=lambda item: -len(item[0])):
            concrete = concrete.replace(name, value)
        if "$" in concrete:
            problems.append(f"{title}: unresolved variable in {expr}")
        rules.append({"record": f"dashboard:expr_{index}", "expr": concrete})
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        f.flush()
        result = run(["promtool", "check", "rules", f.name])
        if result.returncode != 0:
            problems.append(result.stdout + result.stderr)
    problems += unknown_metrics([e for _, e in exprs], "sluice-dashboard.json")
    return problems


# --- docker-compose -----------------------------------------------------------------------------

COMPOSE_DIR = os.path.join(DEPLOY, "docker-compose")
COMPOSE = load_yaml_all(os.path.join(COMPOSE_DIR, "docker-compose.yml"))[0]
SERVICES = COMPOSE["services"]


def volume_mounts(service):
    """(host path or named volume, container path, is_bind) for each short-syntax volume."""
    out = []
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        source, target = parts[0], parts[1]
        is_bind = source.startswith(".") or source.startswith("/")
        out.append((os.path.normpath(os.path.join(COMPOSE_DIR, source)) if is_bind else source, target, is_bind))
    return out


def sluice_services():
    return {name: s for name, s in SERVICES.items() if str(s.get("image", "")).startswith("sluice")}


@check("docker-compose: services, volumes, depends_on, commands and flags")
def _():
    problems = []
    expected = {"prometheus-a", "prometheus-b", "nginx", "insert-1", "insert-2", "storage-1", "storage-2", "storage-3", "select"}
    problems += [f"missing service {name}" for name in sorted(expected - set(SERVICES))]
    declared = set((COMPOSE.get("volumes") or {}).keys())
    published = {}
    for name, service in SERVICES.items():
        if "image" not in service and "build" not in service:
            problems.append(f"{name}: neither image nor build")
        depends = service.get("depends_on", [])
        for dependency in (depends if isinstance(depends, list) else depends.keys()):
            if dependency not in SERVICES:
                problems.append(f"{name}: depends_on unknown service {dependency}")
        for source, target, is_bind in volume_mounts(service):
            if is_bind and not os.path.exists(source):
                problems.append(f"{name}: bind mount source {rel(source)} does not exist")
            if not is_bind and source not in declared:
                problems.append(f"{name}: named volume {source} is not declared under volumes:")
        for port in service.get("ports", []):
            host = str(port).split(":")[0]
            if host in published:
                problems.append(f"{name}: host port {host} already published by {published[host]}")
            published[host] = name
        if "build" in service:
            build = service["build"]
            dockerfile = os.path.join(COMPOSE_DIR, build["context"], build.get("dockerfile", "Dockerfile"))
            if not os.path.exists(dockerfile):
                problems.append(f"{name}: Dockerfile {rel(dockerfile)} does not exist")
    for name, service in sluice_services().items():
        command = service.get("command", [])
        problems += check_flags(command, f"docker-compose.yml {name}")
        data_dir = flag_value(command, "data-dir")
        if data_dir and not any(target == data_dir for _, target, _ in volume_mounts(service)):
            problems.append(f"{name}: --data-dir {data_dir} is not on a volume")
        config = flag_value(command, "config")
        if config and not any(target == config for _, target, _ in volume_mounts(service)):
            problems.append(f"{name}: --config {config} is not mounted")
    return problems


def listen_port(service):
    value = flag_value(service.get("command", []), "listen")
    return int(value.rsplit(":", 1)[1]) if value else None


@check("docker-compose: ring.yml (sluice ring plan) names the storage services and their ports")
def _():
    text = open(os.path.join(COMPOSE_DIR, "ring.yml")).read()
    problems, ring = check_ring(text, "docker-compose/ring.yml")
    storage = {n: s for n, s in sluice_services().items() if s["command"][0] == "storage"}
    hosts = set()
    for node in ring.get("nodes", []):
        host, port = url_host_port(node["url"])
        hosts.add(host)
        if host not in storage:
            problems.append(f"ring node {node['name']}: {host} is not a storage service")
        elif listen_port(storage[host]) != port:
            problems.append(f"ring node {node['name']}: port {port} is not what {host} listens on")
    problems += [f"storage service {n} is not in the ring" for n in sorted(set(storage) - hosts)]
    return problems


@check("docker-compose: nginx upstreams are the insert services; nginx -t")
def _():
    problems = []
    text = open(os.path.join(COMPOSE_DIR, "nginx.conf")).read()
    inserts = {n: s for n, s in sluice_services().items() if s["command"][0] == "insert"}
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", text, re.M)
    if {h for h, _ in servers} != set(inserts):
        problems.append(f"upstream servers {sorted(h for h, _ in servers)} are not the insert services {sorted(inserts)}")
    for host, port in servers:
        if host in inserts and listen_port(inserts[host]) != int(port):
            problems.append(f"upstream {host}:{port}: {host} listens on {listen_port(inserts[host])}")
    nginx_service = SERVICES.get("nginx", {})
    if not any(os.path.basename(s) == "nginx.conf" and t == "/etc/nginx/nginx.conf" for s, t, _ in volume_mounts(nginx_service)):
        problems.append("nginx.conf is not mounted at /etc/nginx/nginx.conf")
    # Compose's DNS names do not resolve here, and nginx resolves upstreams when it loads its
    # configuration: check a copy with them pointed at loopback.
    with tempfile.TemporaryDirectory() as prefix:
        local = text
        for host, _ in servers:
            local = re.sub(rf"\b{re.escape(host)}:", "127.0.0.1:", local)
        path = os.path.join(prefix, "nginx.conf")
        open(path, "w").write(local)
        shutil.copy("/etc/nginx/mime.types", prefix) if os.path.exists("/etc/nginx/mime.types") else None
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        result = run([nginx, "-t", "-q", "-p", prefix, "-e", "stderr", "-c", path])
        if result.returncode != 0:
            problems.append(result.stdout + result.stderr)
    return problems


@check("docker-compose: Prometheus configs (promtool check config, as mounted) point at nginx and select")
def _():
    problems = []
    nginx_port = int(re.search(r"^\s*listen\s+(\d+)", open(os.path.join(COMPOSE_DIR, "nginx.conf")).read(), re.M).group(1))
    select = next((n, s) for n, s in sluice_services().items() if s["command"][0] == "select")
    prometheus = {n: s for n, s in SERVICES.items() if str(s.get("image", "")).startswith("prom/prometheus")}
    if len(prometheus) < 2:
        problems.append("expected two Prometheus replicas")
    replicas = set()
    for name, service in prometheus.items():
        with tempfile.TemporaryDirectory() as root:
            for source, target, is_bind in volume_mounts(service):
                if is_bind:
                    os.makedirs(os.path.dirname(root + target), exist_ok=True)
                    shutil.copy(source, root + target)
            config_path = flag_value(service["command"], "config.file")
            result = run(["promtool", "check", "config", root + config_path])
            if result.returncode != 0:
                problems.append(f"{name}: {result.stdout}{result.stderr}")
                continue
            config = load_yaml_all(root + config_path)[0]
        replicas.add(config.get("global", {}).get("external_labels", {}).get("replica"))
        for write in config.get("remote_write", []):
            if url_host_port(write["url"]) != ("nginx", nginx_port):
                problems.append(f"{name}: remote_write {write['url']} is not nginx:{nginx_port}")
        for read in config.get("remote_read", []):
            if url_host_port(read["url"]) != (select[0], listen_port(select[1])):
                problems.append(f"{name}: remote_read {read['url']} is not {select[0]}:{listen_port(select[1])}")
        jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
        for tier in ("insert", "storage", "select"):
            expected = {f"{n}:{listen_port(s)}" for n, s in sluice_services().items() if s["command"][0] == tier}
            job = jobs.get(f"sluice-{tier}")
            targets = {t for c in (job or {}).get("static_configs", []) for t in c["targets"]}
            if targets != expected:
                problems.append(f"{name}: job sluice-{tier} scrapes {sorted(targets)}, expected {sorted(expected)}")
    if len(replicas) != len(prometheus) or None in replicas:
        problems.append(f"the Prometheus replicas need distinct `replica` external labels, got {replicas}")
    return problems


@check("docker-compose: Grafana provisioning finds the dashboard")
def _():
    problems = []
    grafana = SERVICES.get("grafana")
    if not grafana:
        return []
    mounts = {target: source for source, target, _ in volume_mounts(grafana)}
    providers = [source for target, source in mounts.items() if "/provisioning/dashboards/" in target]
    for source in providers:
        for provider in load_yaml_all(source)[0]["providers"]:
            path = provider["options"]["path"]
            if not any(os.path.dirname(t) == path and t.endswith(".json") for t in mounts):
                problems.append(f"no dashboard mounted under {path}")
    if not any(t.endswith("sluice-dashboard.json") for t in mounts):
        problems.append("the Sluice dashboard is not mounted")
    return problems


@check("Dockerfile: stages, entrypoint and build-context ignore file")
def _():
    problems = []
    path = os.path.join(DEPLOY, "docker", "Dockerfile")
    text = open(path).read()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\w+))?", text, re.M | re.I)
    for stage in re.findall(r"COPY\s+--from=(\w+)", text):
        if stage not in stages:
            problems.append(f"COPY --from={stage}: no such stage")
    if '"/usr/local/bin/sluice"' not in text:
        problems.append("ENTRYPOINT should be /usr/local/bin/sluice")
    ignore = os.path.join(DEPLOY, "docker", "Dockerfile.dockerignore")
    if not os.path.exists(ignore) or ".build" not in open(ignore).read():
        problems.append("Dockerfile.dockerignore must keep .build out of the context")
    for source in re.findall(r"^COPY\s+(?!--)([^\n]+)\s+\S+$", text, re.M):
        for item in source.split():
            if item != "." and not os.path.exists(os.path.join(ROOT, item)):
                problems.append(f"COPY {item}: not in the repository")
    return problems


# --- Kubernetes ---------------------------------------------------------------------------------

K8S_DIR = os.path.join(DEPLOY, "kubernetes")
API_VERSIONS = {"ConfigMap": "v1", "Service": "v1", "StatefulSet": "apps/v1", "Deployment": "apps/v1",
                "PodDisruptionBudget": "policy/v1", "Kustomization": "kustomize.config.k8s.io/v1beta1"}
K8S = []
for path in sorted(glob.glob(os.path.join(K8S_DIR, "*.yaml"))):
    for document in load_yaml_all(path):
        K8S.append((os.path.basename(path), document))


def objects(kind):
    return [d for _, d in K8S if d.get("kind") == kind]


def pod_templates():
    return [(d, d["spec"]["template"]) for _, d in K8S if d.get("kind") in ("Deployment", "StatefulSet")]


@check("Kubernetes: manifests have the expected kinds, API versions and keys")
def _():
    problems = []
    names = set()
    for file, document in K8S:
        kind = document.get("kind")
        if kind not in API_VERSIONS:
            problems.append(f"{file}: unexpected kind {kind}")
            continue
        if document.get("apiVersion") != API_VERSIONS[kind]:
            problems.append(f"{file}: {kind} needs apiVersion {API_VERSIONS[kind]}")
        if kind == "Kustomization":
            listed = set(document.get("resources", []))
            present = {os.path.basename(p) for p in glob.glob(os.path.join(K8S_DIR, "*.yaml"))} - {file}
            if listed != present:
                problems.append(f"{file}: resources {sorted(listed)} should be {sorted(present)}")
            continue
        name = document.get("metadata", {}).get("name")
        if not name:
            problems.append(f"{file}: {kind} without metadata.name")
        if (kind, name) in names:
            problems.append(f"{file}: {kind} {name} defined twice")
        names.add((kind, name))
        if kind in ("Deployment", "StatefulSet"):
            spec = document["spec"]
            selector = spec["selector"]["matchLabels"]
            labels = spec["template"]["metadata"]["labels"]
            if any(labels.get(k) != v for k, v in selector.items()):
                problems.append(f"{name}: selector {selector} does not match the pod labels {labels}")
            pod = spec["template"]["spec"]
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
            for container in pod["containers"]:
                for key in ("name", "image"):
                    if key not in container:
                        problems.append(f"{name}: a container lacks {key}")
                ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
                for probe in ("readinessProbe", "livenessProbe"):
                    get = container.get(probe, {}).get("httpGet")
                    if not get:
                        problems.append(f"{name}/{container['name']}: no {probe}")
                    elif get["port"] not in ports and get["port"] not in ports.values():
                        problems.append(f"{name}/{container['name']}: {probe} port {get['port']} is not a container port")
                    elif get["path"] not in ("/-/ready", "/-/healthy"):
                        problems.append(f"{name}/{container['name']}: {probe} path {get['path']} is not /-/ready or /-/healthy")
                for mount in container.get("volumeMounts", []):
                    if mount["name"] not in volumes and mount["name"] not in claims:
                        problems.append(f"{name}/{container['name']}: volumeMount {mount['name']} has no volume")
                args = container.get("args", [])
                problems += check_flags(args, f"{file} {name}")
                listen = flag_value(args, "listen")
                if listen and int(listen.rsplit(":", 1)[1]) not in ports.values():
                    problems.append(f"{name}: --listen {listen} is not a container port")
                for flag in ("data-dir", "config"):
                    value = flag_value(args, flag)
                    if value and not any(value == m["mountPath"] or value.startswith(m["mountPath"].rstrip("/") + "/")
                                         for m in container.get("volumeMounts", [])):
                        problems.append(f"{name}: --{flag} {value} is not on a volume (the root file system is read-only)")
            for volume in volumes.values():
                if "configMap" in volume and not any(c["metadata"]["name"] == volume["configMap"]["name"] for c in objects("ConfigMap")):
                    problems.append(f"{name}: volume {volume['name']} refers to a missing ConfigMap")
            if kind == "StatefulSet":
                services = [s for s in objects("Service") if s["metadata"]["name"] == spec.get("serviceName")]
                if not services or services[0]["spec"].get("clusterIP") != "None":
                    problems.append(f"{name}: serviceName must be a headless Service")
    for service in objects("Service"):
        selector = service["spec"].get("selector", {})
        matching = [t for _, t in pod_templates() if all(t["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        if not matching:
            problems.append(f"Service {service['metadata']['name']}: selects no pods")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for template in matching:
                ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
                if target not in ports and target not in ports.values():
                    problems.append(f"Service {service['metadata']['name']}: targetPort {target} is not a pod port")
    for budget in objects("PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        if not any(all(t["metadata"]["labels"].get(k) == v for k, v in selector.items()) for _, t in pod_templates()):
            problems.append(f"PodDisruptionBudget {budget['metadata']['name']}: selects no pods")
    return problems


@check("Kubernetes: the ring ConfigMap (sluice ring plan) names the StatefulSet's pods")
def _():
    problems = []
    statefulset = objects("StatefulSet")[0]
    service = statefulset["spec"]["serviceName"]
    replicas = statefulset["spec"]["replicas"]
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    port = int(flag_value(container["args"], "listen").rsplit(":", 1)[1])
    expected = {f"{statefulset['metadata']['name']}-{i}.{service}" for i in range(replicas)}
    readers = [(d, t) for d, t in pod_templates() if flag_value(t["spec"]["containers"][0].get("args", []), "config")]
    for configmap in objects("ConfigMap"):
        for key, text in configmap.get("data", {}).items():
            if not key.endswith((".yml", ".yaml")):
                continue
            found, ring = check_ring(text, f"ConfigMap {configmap['metadata']['name']} {key}")
            problems += found
            hosts = set()
            for node in ring.get("nodes", []):
                host, node_port = url_host_port(node["url"])
                hosts.add(host)
                if host not in expected or node_port != port:
                    problems.append(f"ring node {node['name']}: {host}:{node_port} is not a storage pod ({sorted(expected)}, port {port})")
            problems += [f"storage pod {h} is not in the ring" for h in sorted(expected - hosts)]
            for workload, template in readers:
                config = flag_value(template["spec"]["containers"][0]["args"], "config")
                if os.path.basename(config) != key:
                    problems.append(f"{workload['metadata']['name']}: --config {config} is not the ConfigMap key {key}")
                mounts = template["spec"]["containers"][0].get("volumeMounts", [])
                mount = next((m for m in mounts if m["mountPath"] == os.path.dirname(config)), None)
                if mount is None or "subPath" in mount:
                    problems.append(f"{workload['metadata']['name']}: mount the ring ConfigMap as a directory (subPath never updates)")
    return problems


@check("promtool check config deploy/prometheus/prometheus-kubernetes.yml (kubernetes_sd swapped for static: Debian's promtool lacks it)")
def _():
    path = os.path.join(DEPLOY, "prometheus", "prometheus-kubernetes.yml")
    config = load_yaml_all(path)[0]
    problems = []
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    if not {"sluice-insert", "sluice-storage", "sluice-select"} <= jobs:
        problems.append(f"jobs {sorted(jobs)} lack the names the alerts select")
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": []}]
    with tempfile.TemporaryDirectory() as directory:
        for rule_file in config.get("rule_files", []):
            shutil.copy(os.path.join(os.path.dirname(path), rule_file), os.path.join(directory, rule_file))
        copy_path = os.path.join(directory, "prometheus.yml")
        yaml.safe_dump(config, open(copy_path, "w"))
        result = run(["promtool", "check", "config", copy_path])
        if result.returncode != 0:
            problems.append(result.stdout + result.stderr)
    return problems


# --- systemd ------------------------------------------------------------------------------------

UNITS = sorted(glob.glob(os.path.join(DEPLOY, "systemd", "*.service")))


@check("systemd: systemd-analyze verify, ExecStart flags, ring.yml")
def _():
    problems = []
    with tempfile.TemporaryDirectory() as root:
        shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"), symlinks=True)
        units_dir = os.path.join(root, "etc/systemd/system")
        os.makedirs(units_dir)
        for unit in UNITS:
            shutil.copy(unit, units_dir)
            for line in open(unit):
                match = re.match(r"^Exec\w+=[-@:+!]*(\S+)(.*)$", line.strip())
                if not match:
                    continue
                # verify wants every command to exist in the root it checks; stand in for them.
                executable = os.path.join(root, match.group(1).lstrip("/"))
                os.makedirs(os.path.dirname(executable), exist_ok=True)
                shutil.copy("/bin/true", executable)
                if match.group(1).endswith("/sluice"):
                    problems += check_flags(shlex.split(match.group(2)), os.path.basename(unit))
                    config = flag_value(shlex.split(match.group(2)), "config")
                    if config and config != "/etc/sluice/ring.yml":
                        problems.append(f"{os.path.basename(unit)}: --config {config}; the docs say /etc/sluice/ring.yml")
        result = run(["systemd-analyze", "verify", "--root", root, "--man=no", "--generators=no"]
                     + [os.path.basename(u) for u in UNITS])
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or output:
            problems.append(output or f"systemd-analyze exited {result.returncode}")
    ring = os.path.join(DEPLOY, "systemd", "ring.yml")
    if os.path.exists(ring):
        problems += check_ring(open(ring).read(), "systemd/ring.yml")[0]
    return problems


if not SLUICE:
    print("skip ring files through `sluice ring plan` and flags against the CLI: no sluice binary (swift build, or SLUICE_BINARY)")

print()
if failures:
    print(f"check-deploy: {len(failures)} check(s) failed: {', '.join(failures)}")
    sys.exit(1)
print("check-deploy: all checks passed")
PY
