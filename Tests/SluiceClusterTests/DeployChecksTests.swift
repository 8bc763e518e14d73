import Foundation
import SluiceTestSupport
import Testing
import Yams

/// Everything under deploy/, through the parsers and linters that run here (docker and Kubernetes
/// do not): promtool for the alerting rules, every Prometheus configuration and every PromQL
/// expression of the dashboard; `nginx -t`; `systemd-analyze verify`; yamllint; and the sluice
/// binary itself for every ring file (`sluice ring plan`) and every flag a unit, a compose command
/// or a manifest passes it. Then what no parser sees: compose volumes, ports and depends_on, nginx
/// upstreams against the insert services, ring nodes against the storage services and the
/// StatefulSet, Services against their pods, metric names against those the sources register.
///
/// A missing tool fails the check that needs it and names its Debian package:
/// `scripts/setup.sh --test` installs them all. `make check-deploy` runs this suite alone.
@Suite("deploy checks", .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct DeployChecksTests {
    // MARK: - YAML

    @Test func everyYAMLFileParses() throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        for path in try Deploy.yamlFiles() {
            do {
                _ = try Deploy.yamlDocuments(path)
            } catch {
                problems.append("\(Deploy.relative(path)): \(error)")
            }
        }
    }

    @Test func yamllintPassesEveryYAMLFile() async throws {
        let rules = "{extends: default, rules: {line-length: disable, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}"
        expectNoProblems(try await DeployTool.yamllint.problems(["-f", "parsable", "-d", rules] + Deploy.yamlFiles()))
    }

    // MARK: - Alerting rules

    @Test func promtoolChecksTheAlertingRules() async throws {
        expectNoProblems(try await DeployTool.promtool.problems(["check", "rules", AlertRules.path]))
    }

    @Test func promtoolPassesTheAlertingRulesUnitTests() async throws {
        let tests = AlertRules.testsPath
        expectNoProblems(try await DeployTool.promtool.problems(["test", "rules", Deploy.baseName(tests)], in: Deploy.directoryName(tests)))
    }

    /// Each alert names only registered metrics, has a severity a pager knows, a summary and a
    /// description, and a unit test.
    @Test func everyAlertUsesKnownMetricsAndHasSeverityAnnotationsAndATest() throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let rules = try AlertRules.load()
        problems += try DeployAndDocsTests.registeredMetrics().unknownNames(in: rules.map { try $0["expr"].must(\.string) }, source: "sluice-alerts.yml")
        var tested = Set<String>()
        for test in try Deploy.yaml(AlertRules.testsPath)["tests"].must(\.list) {
            for alert in try test["alert_rule_test"].items {
                tested.insert(try alert["alertname"].must(\.scalar))
            }
        }
        for rule in rules where rule.has("alert") {
            let name = rule["alert"].description
            if !["warning", "critical"].contains(rule["labels"]["severity"].string ?? "") {
                problems.append("\(name): severity must be warning or critical")
            }
            if (rule["annotations"]["summary"].scalar ?? "").isEmpty || (rule["annotations"]["description"].scalar ?? "").isEmpty {
                problems.append("\(name): needs summary and description annotations")
            }
            if !tested.contains(name) {
                problems.append("\(name): no unit test in sluice-alerts.test.yml")
            }
        }
    }

    // MARK: - Grafana dashboard

    /// Top-level keys, unique panel ids, a data source variable, panels inside the 24-column grid
    /// and not overlapping, and every panel reading `${datasource}` with targets that have an
    /// expression, distinct refIds and only defined variables.
    @Test func dashboardHasItsStructureLayoutAndDataSource() throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let dashboard = try Dashboard().tree
        for key in ["title", "uid", "panels", "templating", "schemaVersion"] where !dashboard.has(key) {
            problems.append("missing top-level \(key)")
        }
        let panels = try dashboard["panels"].must(\.list)
        let ids = try panels.map { try $0["id"].must(\.scalar) }
        if Set(ids).count != ids.count { problems.append("panel ids repeat") }
        var variables: [String: Tree] = [:]
        for variable in try dashboard["templating"]["list"].must(\.list) {
            variables[try variable["name"].must(\.scalar)] = variable
        }
        if variables["datasource"]?["type"].string != "datasource" { problems.append("needs a datasource variable") }

        var occupied: [SIMD2<Int>: String] = [:]
        for panel in panels {
            let title = try panel["title"].must(\.scalar)
            let grid = panel["gridPos"]
            let (x, y, width, height) = try (grid["x"].must(\.int), grid["y"].must(\.int), grid["w"].must(\.int), grid["h"].must(\.int))
            if x + width > 24 { problems.append("\(title): wider than the grid") }
            cells: for column in stride(from: x, to: x + width, by: 1) {
                for row in stride(from: y, to: y + height, by: 1) {
                    if let other = occupied[SIMD2(column, row)] {
                        problems.append("\(title) overlaps \(other)")
                        break cells
                    }
                    occupied[SIMD2(column, row)] = title
                }
            }
            if try panel["type"].must(\.scalar) == "row" { continue }
            if panel["datasource"]["uid"].string != "${datasource}" { problems.append("\(title): datasource must be ${datasource}") }
            let targets = try panel["targets"].items
            let expressions = targets.map { $0["expr"].string ?? "" }
            if targets.isEmpty || expressions.contains("") { problems.append("\(title): every panel needs targets with expr") }
            if try Set(targets.map { try $0["refId"].must(\.scalar) }).count != targets.count { problems.append("\(title): refIds repeat") }
            for match in expressions.joined(separator: " ").matches(of: #/\$\{?(\w+)/#) where !match.1.hasPrefix("__") && variables[String(match.1)] == nil {
                problems.append("\(title): uses undefined variable $\(match.1)")
            }
        }
    }

    /// Every expression, and every query variable's metric, parses as PromQL (promtool, as the
    /// rules of a scratch file, with the variables filled in) and names only registered metrics.
    @Test func dashboardExpressionsParseAndUseOnlySluiceMetrics() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let dashboard = try Dashboard()
        var expressions = try dashboard.panelExpressions()
        for (name, query) in try dashboard.variableQueries() {
            if let match = query.wholeMatch(of: #/label_values\(\s*([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?\s*,\s*\w+\s*\)/#) {
                expressions.append(("variable \(name)", String(match.1)))
            } else {
                problems.append("variable \(name): expected label_values(metric, label), got \(query)")
            }
        }
        var rules: [[String: String]] = []
        for (index, (title, expression)) in expressions.enumerated() {
            let concrete = Dashboard.variableValues.reduce(expression) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
            if concrete.contains("$") { problems.append("\(title): unresolved variable in \(expression)") }
            rules.append(["record": "dashboard:expr_\(index)", "expr": concrete])
        }
        let directory = try TemporaryDirectory("sluice-dashboard-rules")
        defer { directory.remove() }
        let path = directory.path + "/dashboard.yml"
        let file: [String: Any] = ["groups": [["name": "dashboard", "rules": rules] as [String: Any]]]
        try Yams.dump(object: file).write(toFile: path, atomically: true, encoding: .utf8)
        problems += try await DeployTool.promtool.problems(["check", "rules", path])
        problems += try DeployAndDocsTests.registeredMetrics().unknownNames(in: expressions.map(\.expression), source: "sluice-dashboard.json")
    }

    // MARK: - docker-compose

    /// The expected services, each with an image or a build whose Dockerfile exists, depends_on
    /// naming services, bind mounts that exist and named volumes that are declared, no host port
    /// published twice; and every sluice command with known flags and its data and ring files on
    /// volumes.
    @Test func composeServicesVolumesDependenciesAndFlags() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let compose = try Compose()
        let commands = try await SluiceCommands.load()
        let expected: Set = ["prometheus-a", "prometheus-b", "nginx", "insert-1", "insert-2", "storage-1", "storage-2", "storage-3", "select"]
        problems += expected.subtracting(compose.services.keys).sorted().map { "missing service \($0)" }
        let declared = Set(try compose.document["volumes"].fields.keys)
        var published: [String: String] = [:]
        for (name, service) in compose.services.sorted(by: { $0.key < $1.key }) {
            if !service.has("image") && !service.has("build") { problems.append("\(name): neither image nor build") }
            let depends = service["depends_on"]
            for dependency in try depends.list?.map({ try $0.must(\.scalar) }) ?? depends.fields.keys.sorted() where compose.services[dependency] == nil {
                problems.append("\(name): depends_on unknown service \(dependency)")
            }
            for mount in try Compose.mounts(of: service) {
                if mount.isBind && !Deploy.exists(mount.source) {
                    problems.append("\(name): bind mount source \(Deploy.relative(mount.source)) does not exist")
                }
                if !mount.isBind && !declared.contains(mount.source) {
                    problems.append("\(name): named volume \(mount.source) is not declared under volumes:")
                }
            }
            for port in try service["ports"].items {
                let host = String(try port.must(\.scalar).split(separator: ":", omittingEmptySubsequences: false)[0])
                if let other = published[host] { problems.append("\(name): host port \(host) already published by \(other)") }
                published[host] = name
            }
            if service.has("build") {
                let build = service["build"]
                let dockerfile = Deploy.join(Compose.directory, try build["context"].must(\.string), build["dockerfile"].string ?? "Dockerfile")
                if !Deploy.exists(dockerfile) { problems.append("\(name): Dockerfile \(Deploy.relative(dockerfile)) does not exist") }
            }
        }
        for (name, service) in compose.sluiceServices.sorted(by: { $0.key < $1.key }) {
            let command = try Compose.command(of: service)
            problems += commands.problems(command, at: "docker-compose.yml \(name)")
            let targets = try Compose.mounts(of: service).map(\.target)
            if let dataDirectory = Deploy.flagValue(command, "data-dir"), !targets.contains(dataDirectory) {
                problems.append("\(name): --data-dir \(dataDirectory) is not on a volume")
            }
            if let config = Deploy.flagValue(command, "config"), !targets.contains(config) {
                problems.append("\(name): --config \(config) is not mounted")
            }
        }
    }

    /// ring.yml passes `sluice ring plan` and names exactly the storage services, at the ports
    /// they listen on.
    @Test func composeRingNamesTheStorageServices() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let compose = try Compose()
        let (found, ring) = try await DeployRing.check(Deploy.text(Compose.directory + "/ring.yml"), at: "docker-compose/ring.yml")
        problems += found
        let storage = try compose.sluiceServices(running: "storage")
        var hosts = Set<String>()
        for node in try ring["nodes"].items {
            let (host, port) = try Deploy.hostAndPort(node["url"].must(\.string))
            hosts.insert(host)
            if let service = storage[host] {
                if try Compose.listenPort(of: service) != port { problems.append("ring node \(node["name"]): port \(port) is not what \(host) listens on") }
            } else {
                problems.append("ring node \(node["name"]): \(host) is not a storage service")
            }
        }
        problems += Set(storage.keys).subtracting(hosts).sorted().map { "storage service \($0) is not in the ring" }
    }

    /// nginx.conf's upstream servers are the insert services at their ports, it is mounted where
    /// nginx reads it, and `nginx -t` takes it (with the compose host names pointed at loopback:
    /// nginx resolves upstreams when it loads a configuration).
    @Test func composeNginxUpstreamsAreTheInsertServices() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let compose = try Compose()
        let text = try Deploy.text(Compose.directory + "/nginx.conf")
        let inserts = try compose.sluiceServices(running: "insert")
        let servers = text.matches(of: #/^\s*server\s+([\w.\-]+):(\d+)/#.anchorsMatchLineEndings()).map { (host: String($0.1), port: Int($0.2)) }
        if Set(servers.map(\.host)) != Set(inserts.keys) {
            problems.append("upstream servers \(servers.map(\.host).sorted()) are not the insert services \(inserts.keys.sorted())")
        }
        for server in servers {
            guard let insert = inserts[server.host] else { continue }
            let listens = try Compose.listenPort(of: insert)
            if listens != server.port {
                problems.append("upstream \(server.host):\(server.port ?? 0): \(server.host) listens on \(listens.map(String.init) ?? "no --listen")")
            }
        }
        let mounts = try Compose.mounts(of: compose.services["nginx"] ?? Tree(nil, path: "nginx"))
        if !mounts.contains(where: { Deploy.baseName($0.source) == "nginx.conf" && $0.target == "/etc/nginx/nginx.conf" }) {
            problems.append("nginx.conf is not mounted at /etc/nginx/nginx.conf")
        }

        let prefix = try TemporaryDirectory("sluice-nginx")
        defer { prefix.remove() }
        var local = text
        for server in servers {
            let host = try Regex("\\b" + NSRegularExpression.escapedPattern(for: server.host) + ":").wordBoundaryKind(.simple)
            local = local.replacing(host, with: "127.0.0.1:")
        }
        let path = prefix.path + "/nginx.conf"
        try local.write(toFile: path, atomically: true, encoding: .utf8)
        if Deploy.exists("/etc/nginx/mime.types") { try Deploy.copy("/etc/nginx/mime.types", to: prefix.path + "/mime.types") }
        problems += try await DeployTool.nginx.problems(["-t", "-q", "-p", prefix.path, "-e", "stderr", "-c", path])
    }

    /// Each Prometheus replica's configuration, as mounted, passes `promtool check config`, writes
    /// to nginx, reads from select, scrapes exactly the sluice services of each tier, and has a
    /// `replica` external label of its own.
    @Test func composePrometheusConfigsPointAtNginxAndSelect() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let compose = try Compose()
        guard let listen = try Deploy.text(Compose.directory + "/nginx.conf").firstMatch(of: #/^\s*listen\s+(\d+)/#.anchorsMatchLineEndings()),
              let nginxPort = Int(listen.1)
        else { throw EndToEndError("nginx.conf has no listen line") }
        guard let select = try compose.sluiceServices(running: "select").min(by: { $0.key < $1.key }) else { throw EndToEndError("no select service") }
        let selectPort = try Compose.listenPort(of: select.value)
        let prometheus = compose.services.filter { ($0.value["image"].scalar ?? "").hasPrefix("prom/prometheus") }
        if prometheus.count < 2 { problems.append("expected two Prometheus replicas") }
        var replicas = Set<String?>()
        for (name, service) in prometheus.sorted(by: { $0.key < $1.key }) {
            // The files as the container sees them, so rule_files resolve as they will there.
            let root = try TemporaryDirectory("sluice-compose-prometheus")
            defer { root.remove() }
            for mount in try Compose.mounts(of: service) where mount.isBind {
                try FileManager.default.createDirectory(atPath: Deploy.directoryName(root.path + mount.target), withIntermediateDirectories: true)
                try Deploy.copy(mount.source, to: root.path + mount.target)
            }
            guard let configPath = try Deploy.flagValue(Compose.command(of: service), "config.file") else { throw EndToEndError("\(name): no --config.file") }
            let checked = try await DeployTool.promtool.problems(["check", "config", root.path + configPath])
            if !checked.isEmpty {
                problems += checked.map { "\(name): \($0)" }
                continue
            }
            let config = try Deploy.yaml(root.path + configPath)
            replicas.insert(config["global"]["external_labels"]["replica"].scalar)
            for write in try config["remote_write"].items {
                let url = try write["url"].must(\.string)
                let (host, port) = try Deploy.hostAndPort(url)
                if host != "nginx" || port != nginxPort { problems.append("\(name): remote_write \(url) is not nginx:\(nginxPort)") }
            }
            let selectAddress = "\(select.key):\(selectPort.map(String.init) ?? "no --listen")"
            for read in try config["remote_read"].items {
                let url = try read["url"].must(\.string)
                let (host, port) = try Deploy.hostAndPort(url)
                if host != select.key || port != selectPort { problems.append("\(name): remote_read \(url) is not \(selectAddress)") }
            }
            var jobs: [String: Tree] = [:]
            for job in try config["scrape_configs"].items { jobs[try job["job_name"].must(\.scalar)] = job }
            for tier in ["insert", "storage", "select"] {
                var expected = Set<String>()
                for (service, definition) in try compose.sluiceServices(running: tier) {
                    expected.insert("\(service):\(try Compose.listenPort(of: definition).map(String.init) ?? "no --listen")")
                }
                var targets = Set<String>()
                for group in try jobs["sluice-\(tier)"]?["static_configs"].items ?? [] {
                    targets.formUnion(try group["targets"].must(\.list).map { try $0.must(\.scalar) })
                }
                if targets != expected { problems.append("\(name): job sluice-\(tier) scrapes \(targets.sorted()), expected \(expected.sorted())") }
            }
        }
        if replicas.count != prometheus.count || replicas.contains(nil) {
            problems.append("the Prometheus replicas need distinct `replica` external labels, got \(replicas.map { $0 ?? "none" }.sorted())")
        }
    }

    /// Grafana's dashboard provider points at a folder the dashboard is mounted in.
    @Test func composeGrafanaProvisioningFindsTheDashboard() throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        guard let grafana = try Compose().services["grafana"], !(grafana.mapping ?? [:]).isEmpty else { return }
        let mounts = try Compose.mounts(of: grafana)
        for provisioning in mounts where provisioning.target.contains("/provisioning/dashboards/") {
            for provider in try Deploy.yaml(provisioning.source)["providers"].must(\.list) {
                let path = try provider["options"]["path"].must(\.string)
                if !mounts.contains(where: { Deploy.directoryName($0.target) == path && $0.target.hasSuffix(".json") }) {
                    problems.append("no dashboard mounted under \(path)")
                }
            }
        }
        if !mounts.contains(where: { $0.target.hasSuffix("sluice-dashboard.json") }) { problems.append("the Sluice dashboard is not mounted") }
    }

    // MARK: - Dockerfile

    @Test func dockerfileStagesEntrypointAndIgnoreFile() throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let text = try Deploy.text(Deploy.directory + "/docker/Dockerfile")
        let stages = text.matches(of: #/^FROM\s+\S+(?:\s+AS\s+(\w+))?/#.anchorsMatchLineEndings().ignoresCase()).map { $0.1.map(String.init) ?? "" }
        for match in text.matches(of: #/COPY\s+--from=(\w+)/#) where !stages.contains(String(match.1)) {
            problems.append("COPY --from=\(match.1): no such stage")
        }
        if !text.contains(#""/usr/local/bin/sluice""#) { problems.append("ENTRYPOINT should be /usr/local/bin/sluice") }
        let ignore = (try? Deploy.text(Deploy.directory + "/docker/Dockerfile.dockerignore")) ?? ""
        if !ignore.contains(".build") { problems.append("Dockerfile.dockerignore must keep .build out of the context") }
        for copy in text.matches(of: #/^COPY\s+(?!--)([^\n]+)\s+\S+$/#.anchorsMatchLineEndings()) {
            for item in copy.1.split(whereSeparator: \.isWhitespace) where item != "." && !Deploy.exists(Deploy.root + "/" + item) {
                problems.append("COPY \(item): not in the repository")
            }
        }
    }

    // MARK: - Kubernetes

    /// Known kinds at their API versions, a kustomization listing every manifest, unique names,
    /// workloads whose selectors, probes, mounts, flags and ConfigMaps hold together, and
    /// Services and PodDisruptionBudgets that select pods (at ports they have).
    @Test func kubernetesManifestsHaveTheExpectedKindsVersionsAndReferences() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let kubernetes = try Kubernetes()
        let commands = try await SluiceCommands.load()
        var names = Set<String>()
        for (file, document) in kubernetes.documents {
            guard let kind = document["kind"].string, let apiVersion = Kubernetes.apiVersions[kind] else {
                problems.append("\(file): unexpected kind \(document["kind"])")
                continue
            }
            if document["apiVersion"].string != apiVersion { problems.append("\(file): \(kind) needs apiVersion \(apiVersion)") }
            if kind == "Kustomization" {
                let listed = Set(try document["resources"].items.map { try $0.must(\.scalar) })
                let present = Set(kubernetes.files).subtracting([file])
                if listed != present { problems.append("\(file): resources \(listed.sorted()) should be \(present.sorted())") }
                continue
            }
            let name = document["metadata"]["name"].scalar ?? ""
            if name.isEmpty { problems.append("\(file): \(kind) without metadata.name") }
            if !names.insert("\(kind)/\(name)").inserted { problems.append("\(file): \(kind) \(name) defined twice") }
            if kind == "Deployment" || kind == "StatefulSet" {
                problems += try Self.workloadProblems(document, named: name, in: file, kubernetes: kubernetes, commands: commands)
            }
        }
        let templates = try kubernetes.podTemplates().map(\.template)
        for service in kubernetes.objects("Service") {
            let name = service["metadata"]["name"].description
            let selector = try service["spec"]["selector"].fields
            let matching = try templates.filter { try Kubernetes.selects(selector, $0) }
            if matching.isEmpty { problems.append("Service \(name): selects no pods") }
            for port in try service["spec"]["ports"].must(\.list) {
                let number = try port["port"].required()
                let target = port.has("targetPort") ? port["targetPort"] : number
                for template in matching {
                    let ports = try ContainerPorts(template["spec"]["containers"].must(\.list).flatMap { try $0["ports"].items })
                    if !ports.contains(target) { problems.append("Service \(name): targetPort \(target) is not a pod port") }
                }
            }
        }
        for budget in kubernetes.objects("PodDisruptionBudget") {
            let selector = try budget["spec"]["selector"]["matchLabels"].must(\.mapping)
            if try !templates.contains(where: { try Kubernetes.selects(selector, $0) }) {
                problems.append("PodDisruptionBudget \(budget["metadata"]["name"]): selects no pods")
            }
        }
    }

    /// A Deployment's or StatefulSet's problems: its selector, each container's name, image,
    /// probes, mounts and flags, its ConfigMap volumes, and a StatefulSet's headless Service.
    static func workloadProblems(_ workload: Tree, named name: String, in file: String, kubernetes: Kubernetes, commands: SluiceCommands) throws -> [String] {
        var problems: [String] = []
        let spec = workload["spec"]
        let selector = spec["selector"]["matchLabels"]
        if try !Kubernetes.selects(selector.must(\.mapping), spec["template"]) {
            problems.append("\(name): selector \(selector) does not match the pod labels \(spec["template"]["metadata"]["labels"])")
        }
        let pod = spec["template"]["spec"]
        var volumes: [String: Tree] = [:]
        for volume in try pod["volumes"].items { volumes[try volume["name"].must(\.scalar)] = volume }
        let claims = Set(try spec["volumeClaimTemplates"].items.map { try $0["metadata"]["name"].must(\.scalar) })
        for container in try pod["containers"].must(\.list) {
            for key in ["name", "image"] where !container.has(key) { problems.append("\(name): a container lacks \(key)") }
            let place = "\(name)/\(container["name"])"
            let ports = try ContainerPorts(container["ports"].items)
            for probe in ["readinessProbe", "livenessProbe"] {
                let get = container[probe]["httpGet"]
                if (get.mapping ?? [:]).isEmpty {
                    problems.append("\(place): no \(probe)")
                } else if !ports.contains(get["port"]) {
                    problems.append("\(place): \(probe) port \(get["port"]) is not a container port")
                } else if !["/-/ready", "/-/healthy"].contains(get["path"].string ?? "") {
                    problems.append("\(place): \(probe) path \(get["path"]) is not /-/ready or /-/healthy")
                }
            }
            let mounts = try container["volumeMounts"].items
            for mount in mounts {
                let volume = try mount["name"].must(\.scalar)
                if volumes[volume] == nil && !claims.contains(volume) { problems.append("\(place): volumeMount \(volume) has no volume") }
            }
            let arguments = try container["args"].strings
            problems += commands.problems(arguments, at: "\(file) \(name)")
            if let listen = Deploy.flagValue(arguments, "listen"), try !ports.numbers.contains(Deploy.port(in: listen)) {
                problems.append("\(name): --listen \(listen) is not a container port")
            }
            let mountPaths = try mounts.map { try $0["mountPath"].must(\.string) }
            for flag in ["data-dir", "config"] {
                guard let value = Deploy.flagValue(arguments, flag) else { continue }
                let onVolume = mountPaths.contains { path in
                    var folder = path
                    while folder.hasSuffix("/") { folder.removeLast() }
                    return value == path || value.hasPrefix(folder + "/")
                }
                if !onVolume { problems.append("\(name): --\(flag) \(value) is not on a volume (the root file system is read-only)") }
            }
        }
        let configMaps = kubernetes.objects("ConfigMap").map { $0["metadata"]["name"] }
        for (volumeName, volume) in volumes.sorted(by: { $0.key < $1.key }) where volume.has("configMap") {
            if !configMaps.contains(where: { $0.sameValue(as: volume["configMap"]["name"]) }) {
                problems.append("\(name): volume \(volumeName) refers to a missing ConfigMap")
            }
        }
        if workload["kind"].string == "StatefulSet" {
            let service = kubernetes.objects("Service").first { $0["metadata"]["name"].sameValue(as: spec["serviceName"]) }
            if service?["spec"]["clusterIP"].string != "None" { problems.append("\(name): serviceName must be a headless Service") }
        }
        return problems
    }

    /// The ring ConfigMap passes `sluice ring plan`, names exactly the StatefulSet's pods at its
    /// port, and is what insert's and select's `--config` read, mounted as a directory.
    @Test func kubernetesRingConfigMapNamesTheStatefulSetPods() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let kubernetes = try Kubernetes()
        guard let statefulSet = kubernetes.objects("StatefulSet").first else { throw EndToEndError("no StatefulSet in deploy/kubernetes") }
        let spec = statefulSet["spec"]
        let service = try spec["serviceName"].must(\.scalar)
        let replicas = try spec["replicas"].must(\.int)
        let arguments = try Kubernetes.firstContainer(of: spec["template"])["args"].strings
        guard let listen = Deploy.flagValue(arguments, "listen") else { throw EndToEndError("the StatefulSet's container has no --listen") }
        let port = try Deploy.port(in: listen)
        let setName = try statefulSet["metadata"]["name"].must(\.scalar)
        let expected = Set((0..<max(replicas, 0)).map { "\(setName)-\($0).\(service)" })
        let readers = try kubernetes.podTemplates().filter { try Deploy.flagValue(Kubernetes.firstContainer(of: $0.template)["args"].strings, "config") != nil }

        for configMap in kubernetes.objects("ConfigMap") {
            for (key, text) in try configMap["data"].fields.sorted(by: { $0.key < $1.key }) where key.hasSuffix(".yml") || key.hasSuffix(".yaml") {
                let (found, ring) = try await DeployRing.check(text.must(\.string), at: "ConfigMap \(configMap["metadata"]["name"]) \(key)")
                problems += found
                var hosts = Set<String>()
                for node in try ring["nodes"].items {
                    let (host, nodePort) = try Deploy.hostAndPort(node["url"].must(\.string))
                    hosts.insert(host)
                    if !expected.contains(host) || nodePort != port {
                        problems.append("ring node \(node["name"]): \(host):\(nodePort) is not a storage pod (\(expected.sorted()), port \(port))")
                    }
                }
                problems += expected.subtracting(hosts).sorted().map { "storage pod \($0) is not in the ring" }
                for (workload, template) in readers {
                    let container = try Kubernetes.firstContainer(of: template)
                    guard let config = try Deploy.flagValue(container["args"].strings, "config") else { continue }
                    let name = workload["metadata"]["name"]
                    if Deploy.baseName(config) != key { problems.append("\(name): --config \(config) is not the ConfigMap key \(key)") }
                    let mount = try container["volumeMounts"].items.first { $0["mountPath"].string == Deploy.directoryName(config) }
                    if mount == nil || mount?.has("subPath") == true {
                        problems.append("\(name): mount the ring ConfigMap as a directory (subPath never updates)")
                    }
                }
            }
        }
    }

    /// prometheus-kubernetes.yml has the job names the alerts select and passes `promtool check
    /// config`, its kubernetes_sd_configs swapped for empty static ones: Debian's promtool is
    /// built without Kubernetes discovery.
    @Test func promtoolChecksTheKubernetesScrapeConfig() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let path = Deploy.directory + "/prometheus/prometheus-kubernetes.yml"
        let config = try Deploy.yaml(path)
        let jobs = try config["scrape_configs"].must(\.list)
        let names = Set(try jobs.map { try $0["job_name"].must(\.scalar) })
        if !names.isSuperset(of: ["sluice-insert", "sluice-storage", "sluice-select"]) {
            problems.append("jobs \(names.sorted()) lack the names the alerts select")
        }
        guard var copy = config.plain as? [String: Any] else { throw EndToEndError("\(config.path) is not a mapping") }
        copy["scrape_configs"] = jobs.map { job -> Any in
            guard var plain = job.plain as? [String: Any] else { return job.plain }
            if plain.removeValue(forKey: "kubernetes_sd_configs") != nil { plain["static_configs"] = [["targets": [String]()]] }
            return plain
        }
        let directory = try TemporaryDirectory("sluice-prometheus-kubernetes")
        defer { directory.remove() }
        for ruleFile in try config["rule_files"].strings {
            try Deploy.copy(Deploy.join(Deploy.directoryName(path), ruleFile), to: Deploy.join(directory.path, ruleFile))
        }
        try Yams.dump(object: copy).write(toFile: directory.path + "/prometheus.yml", atomically: true, encoding: .utf8)
        problems += try await DeployTool.promtool.problems(["check", "config", directory.path + "/prometheus.yml"])
    }

    // MARK: - systemd

    /// `systemd-analyze verify` passes the units (in a scratch root with the system's units and
    /// stand-ins for the commands they run), their sluice command lines use known flags and the
    /// documented ring file, and that ring file passes `sluice ring plan`.
    @Test func systemdUnitsVerifyAndRunKnownFlags() async throws {
        var problems: [String] = []
        defer { expectNoProblems(problems) }
        let systemdAnalyze = try DeployTool.systemdAnalyze.path()
        let commands = try await SluiceCommands.load()
        let units = try Deploy.files(in: Deploy.directory + "/systemd", ending: ".service")
        let root = try TemporaryDirectory("sluice-systemd-root")
        defer { root.remove() }
        // cp -a keeps links links: masked units point at /dev/null.
        let copied = try await runProcess("/bin/cp", ["-a", "/usr/lib/systemd/system", try root.subdirectory("usr/lib/systemd")])
        guard copied.status == 0 else { throw EndToEndError("copying /usr/lib/systemd/system: \(copied.output)") }
        let unitsDirectory = try root.subdirectory("etc/systemd/system")
        for unit in units {
            let name = Deploy.baseName(unit)
            try Deploy.copy(unit, to: unitsDirectory + "/" + name)
            for line in try Deploy.text(unit).split(separator: "\n") {
                guard let exec = line.trimmingCharacters(in: .whitespacesAndNewlines).wholeMatch(of: #/Exec\w+=[-@:+!]*(\S+)(.*)/#) else { continue }
                // verify wants every command to exist in the root it checks: /bin/true stands in.
                let standIn = Deploy.join(root.path, String(exec.1.drop { $0 == "/" }))
                try FileManager.default.createDirectory(atPath: Deploy.directoryName(standIn), withIntermediateDirectories: true)
                try Deploy.copy("/bin/true", to: standIn)
                guard exec.1.hasSuffix("/sluice") else { continue }
                let arguments = try Deploy.shellWords(String(exec.2))
                problems += commands.problems(arguments, at: name)
                if let config = Deploy.flagValue(arguments, "config"), config != "/etc/sluice/ring.yml" {
                    problems.append("\(name): --config \(config); the docs say /etc/sluice/ring.yml")
                }
            }
        }
        let verify = try await runProcess(systemdAnalyze, ["verify", "--root", root.path, "--man=no", "--generators=no"] + units.map(Deploy.baseName))
        let output = verify.output.trimmingCharacters(in: .whitespacesAndNewlines)
        if verify.status != 0 || !output.isEmpty { problems.append(output.isEmpty ? "systemd-analyze exited \(verify.status)" : output) }
        let ring = Deploy.directory + "/systemd/ring.yml"
        if Deploy.exists(ring) { problems += try await DeployRing.check(Deploy.text(ring), at: "systemd/ring.yml").problems }
    }
}
