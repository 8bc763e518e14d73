import Foundation
import SluiceCodec
import SluiceTestSupport
import Testing

/// What keeps `deploy/` and `docs/configuration.md` true to the code: the dashboard and the alerts
/// use only metrics a running Sluice exposes, and the configuration reference lists exactly the
/// flags the binary has and the keys the ring file takes. The deployment files' own checks are
/// `DeployChecksTests`.
@Suite("deploy and docs", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct DeployAndDocsTests {
    static let root = BuiltProducts.packageRoot

    // MARK: - Metric names

    /// Every PromQL expression of the dashboard and the alerting rules names only metrics the
    /// sources register, and what a running `sluice up` exposes agrees with that list.
    @Test func dashboardAndAlertsUseOnlyExposedMetrics() async throws {
        let registered = try Self.registeredMetrics()
        #expect(registered.names.count > 20, "found only \(registered.names.sorted()) in Sources")

        let exposed = try await Self.scrapeRunningCluster()
        for (tier, names) in exposed {
            #expect(!names.isEmpty, "\(tier) exposed no sluice_ metric")
            let unknown = names.subtracting(registered.names)
            #expect(unknown.isEmpty, "\(tier) exposes \(unknown.sorted()), which the grep of Sources misses")
        }
        let everything = exposed.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        for eager in ["sluice_ring_nodes", "sluice_storage_head_series", "sluice_storage_wal_fsync_duration_seconds", "sluice_select_fanout_duration_seconds"] {
            #expect(everything.contains(eager), "a running cluster does not expose \(eager)")
        }

        let dashboard = try Self.dashboardExpressions()
        #expect(dashboard.count > 30, "the dashboard has only \(dashboard.count) expressions")
        let rules = try Self.ruleExpressions()
        #expect(rules.count > 20, "the rules have only \(rules.count) expressions")
        for (source, expressions) in [("sluice-dashboard.json", dashboard), ("sluice-alerts.yml", rules)] {
            var used = Set<String>()
            for expression in expressions {
                for name in PromQLNames.metrics(in: expression) {
                    used.insert(name)
                    let known = registered.knows(name)
                    #expect(known, "\(source): \(name) is not a metric Sluice exposes, in: \(expression)")
                }
            }
            #expect(used.contains { $0.hasPrefix("sluice_") }, "\(source) uses no Sluice metric at all")
        }
    }

    @Test func promQLNamesFindsMetricsOnly() {
        let names = PromQLNames.metrics(
            in: #"histogram_quantile(0.99, sum by (job, le) (rate(sluice_a_bucket{job=~"x|y", le!="1e3"}[5m]))) > 2.5 * 1e3 and on (job) up{job="a"} == 0 or label_values(sluice_b, job)"#
        )
        #expect(names == ["sluice_a_bucket", "up", "sluice_b"])
        #expect(PromQLNames.metrics(in: #"sum(rate(sluice_x_total{job=~"$insert_job"}[$__rate_interval])) or vector(0)"#) == ["sluice_x_total"])
    }

    // MARK: - docs/configuration.md

    @Test func configurationReferenceListsEveryFlag() async throws {
        let dump = try await runSluice(["--experimental-dump-help"], timeout: .seconds(30))
        #expect(dump.status == 0, "\(dump.stderr)")
        let tree = try JSONDecoder().decode(HelpDump.self, from: Data(dump.stdout.utf8))
        let commands = tree.command.commandsWithFlags()
        let documented = try ConfigurationDoc.load(Self.root + "/docs/configuration.md")

        #expect(Set(documented.flags.keys) == Set(commands.keys), """
            commands in docs/configuration.md \(documented.flags.keys.sorted()) are not the CLI's \(commands.keys.sorted())
            """)
        for (command, options) in commands.sorted(by: { $0.key < $1.key }) {
            let rows = documented.flags[command] ?? [:]
            let missing = Set(options.keys).subtracting(rows.keys)
            let extra = Set(rows.keys).subtracting(options.keys)
            #expect(missing.isEmpty, "docs/configuration.md lacks `sluice \(command)` flags \(missing.sorted().map { "--" + $0 })")
            #expect(extra.isEmpty, "docs/configuration.md lists `sluice \(command)` flags the CLI does not have: \(extra.sorted().map { "--" + $0 })")
            for (flag, option) in options {
                guard let cell = rows[flag] else { continue }
                #expect(option.documentedDefault == cell, "sluice \(command) --\(flag): the doc says \(cell), the CLI \(option.documentedDefault)")
            }
            // The plain --help a user reads shows the same flags.
            let help = try await runSluice(command.split(separator: " ").map(String.init) + ["--help"], timeout: .seconds(30))
            for flag in options.keys {
                #expect(help.stdout.contains("--\(flag)"), "sluice \(command) --help does not show --\(flag)")
            }
        }
    }

    @Test func configurationReferenceListsEveryRingKey() async throws {
        let source = try String(contentsOfFile: Self.root + "/Sources/SluiceRing/RingConfiguration.swift", encoding: .utf8)
        let code = try RingKeys(source: source)
        let documented = try ConfigurationDoc.load(Self.root + "/docs/configuration.md")
        #expect(documented.topLevelKeys == code.topLevel, "ring file keys: doc \(documented.topLevelKeys.sorted()), code \(code.topLevel.sorted())")
        #expect(documented.nodeKeys == code.node, "ring node keys: doc \(documented.nodeKeys.sorted()), code \(code.node.sorted())")

        // The binary takes a file using every documented key, and refuses one the doc does not list.
        let directory = try TemporaryDirectory("sluice-ring-doc")
        defer { directory.remove() }
        let values: [String: String] = [
            "replication_factor": "1", "write_quorum": "1", "tokens_per_node": "128",
            "name": "store-a", "url": "http://127.0.0.1:9301/api/v1/write", "read_url": "http://127.0.0.1:9301/api/v1/read",
            "zone": "a", "weight": "2", "remote_write_version": "\"1.0\"",
        ]
        let node = documented.nodeKeys.sorted().compactMap { key in values[key].map { "\(key): \($0)" } }
        var file = documented.topLevelKeys.subtracting(["nodes"]).sorted().compactMap { key in values[key].map { "\(key): \($0)\n" } }.joined()
        file += "nodes:\n  - {\(node.joined(separator: ", "))}\n"
        let path = directory.path + "/ring.yml"
        try file.write(toFile: path, atomically: true, encoding: .utf8)
        let accepted = try await runSluice(["ring", "plan", "--config", path, "--to", path, "--series", "1000"], timeout: .seconds(60))
        #expect(accepted.status == 0, "a ring file with every documented key is refused: \(accepted.stderr)\n\(file)")

        let bad = file.replacingOccurrences(of: "nodes:\n", with: "bogus_key: 1\nnodes:\n")
        try bad.write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try await runSluice(["ring", "plan", "--config", path, "--to", path], timeout: .seconds(60))
        #expect(refused.status != 0, "a ring file with an unknown key is accepted")
    }

    // MARK: - Support

    /// The `sluice_` names in Sources, and which of them are histograms (whose series carry the
    /// `_bucket`, `_sum` and `_count` suffixes).
    struct RegisteredMetrics {
        var names: Set<String>
        var histograms: Set<String>
        /// Series Prometheus adds itself, usable next to Sluice's own.
        static let prometheusSeries: Set<String> = ["up"]

        func knows(_ name: String) -> Bool {
            if names.contains(name) || Self.prometheusSeries.contains(name) { return true }
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                if histograms.contains(String(name.dropLast(suffix.count))) { return true }
            }
            return false
        }

        /// One problem for each name an expression reads that is not a metric Sluice registers.
        func unknownNames(in expressions: [String], source: String) -> [String] {
            expressions.flatMap { expression in
                Set(PromQLNames.metrics(in: expression)).sorted().filter { !knows($0) }.map {
                    "\(source): \($0) is not a metric Sluice registers (expr: \(expression.trimmingCharacters(in: .whitespacesAndNewlines)))"
                }
            }
        }
    }

    static func registeredMetrics() throws -> RegisteredMetrics {
        var metrics = RegisteredMetrics(names: [], histograms: [])
        let sources = root + "/Sources"
        guard let files = FileManager.default.enumerator(atPath: sources) else { throw EndToEndError("cannot list \(sources)") }
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            for match in text.matches(of: #/"(sluice_[a-z0-9_]+)"/#) { metrics.names.insert(String(match.1)) }
            for match in text.matches(of: #/makeDurationHistogram\([^"]*"(sluice_[a-z0-9_]+)"/#) { metrics.histograms.insert(String(match.1)) }
        }
        return metrics
    }

    /// Runs `sluice up`, writes the Prometheus fixtures through insert and reads them back through
    /// select (so the counters that appear on first use appear), and returns the metric families each
    /// tier's `/metrics` shows.
    static func scrapeRunningCluster() async throws -> [String: Set<String>] {
        let directory = try TemporaryDirectory("sluice-up-metrics")
        defer { directory.remove() }
        let (storagePort, others) = try consecutiveFreePorts(2, extra: 2)
        let (insertPort, selectPort) = (others[0], others[1])
        let up = UpProcess(arguments: [
            "up", "--data-dir", directory.path + "/data", "--nodes", "2", "--replication-factor", "2",
            "--insert-port", String(insertPort), "--select-port", String(selectPort), "--storage-port", String(storagePort),
        ], directory: directory.path + "/run")
        defer { up.kill() }
        _ = try await up.start()

        // Traffic only makes more counters appear; its answers are other tests' business.
        if let fixtures = try? Fixtures.load() {
            for body in fixtures.bodies {
                _ = try? await TestHTTP.send(.POST, "http://127.0.0.1:\(insertPort)/api/v1/write", headers: TestHTTP.remoteWriteHeaders, body: .bytes(body))
            }
            let query = Query(startMs: fixtures.range.lowerBound, endMs: fixtures.range.upperBound, matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])
            _ = try? await RemoteReadClient.read("http://127.0.0.1:\(selectPort)/api/v1/read", [query])
        }
        var exposed: [String: Set<String>] = [:]
        for (tier, port) in [("insert", insertPort), ("select", selectPort), ("storage", storagePort)] {
            let answer: HTTPResult
            do {
                answer = try await TestHTTP.get("http://127.0.0.1:\(port)/metrics")
            } catch {
                throw EndToEndError("scraping \(tier): \(error); sluice up stderr: \(up.stderrTail)")
            }
            #expect(answer.status == 200, "\(tier) /metrics: \(answer.status)")
            var names = Set<String>()
            for line in answer.body.split(separator: "\n") where line.hasPrefix("# TYPE sluice_") {
                names.insert(String(line.split(separator: " ")[2]))
            }
            exposed[tier] = names
        }
        _ = try await up.interrupt()
        return exposed
    }

    /// The dashboard's PromQL: every target's expression and every query variable's query.
    static func dashboardExpressions() throws -> [String] {
        let dashboard = try Dashboard()
        return try dashboard.panelExpressions().map(\.expression).filter { !$0.isEmpty } + dashboard.variableQueries().map(\.query)
    }

    /// The `expr` of every alerting and recording rule.
    static func ruleExpressions() throws -> [String] {
        try AlertRules.load().map { try $0["expr"].must(\.string) }
    }
}

/// The metric names a PromQL expression (or a Grafana `label_values(metric, label)` query) reads:
/// identifiers that are not functions, keywords, label names in matchers or groupings, durations or
/// template variables.
enum PromQLNames {
    static let keywords: Set<String> = [
        "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "Inf", "NaN",
        // Aggregations, which may stand apart from their parentheses: `sum by (job) (…)`.
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    ]
    static let groupings: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right"]

    static func metrics(in expression: String) -> [String] {
        let characters = Array(expression)
        var names: [String] = []
        var index = 0
        func isIdentifier(_ c: Character, first: Bool) -> Bool {
            c == "_" || c == ":" || (c.isASCII && c.isLetter) || (!first && c.isASCII && c.isNumber)
        }
        func skip(from open: Character, to close: Character) {
            var depth = 0
            while index < characters.count {
                let c = characters[index]
                if c == "\"" || c == "'" {
                    skipString(c)
                    continue
                }
                if c == open { depth += 1 }
                if c == close { depth -= 1 }
                index += 1
                if depth == 0 { return }
            }
        }
        func skipString(_ quote: Character) {
            index += 1
            while index < characters.count, characters[index] != quote {
                if characters[index] == "\\" { index += 1 }
                index += 1
            }
            index += 1
        }
        var previousWasGroupingKeyword = false
        var labelValuesArgument = false
        while index < characters.count {
            let c = characters[index]
            switch c {
            case "\"", "'": skipString(c)
            case "{": skip(from: "{", to: "}")
            case "[": skip(from: "[", to: "]")
            case "$":
                index += 1
                if index < characters.count, characters[index] == "{" { skip(from: "{", to: "}") }
                while index < characters.count, isIdentifier(characters[index], first: false) { index += 1 }
            case "(" where previousWasGroupingKeyword:
                skip(from: "(", to: ")")
                previousWasGroupingKeyword = false
            case "," where labelValuesArgument:
                // label_values(metric, label): the label is not a metric.
                skip(from: ",", to: ")")
                labelValuesArgument = false
            case _ where isIdentifier(c, first: true) && (index == 0 || !(isIdentifier(characters[index - 1], first: false) || characters[index - 1] == ".")):
                let start = index
                while index < characters.count, isIdentifier(characters[index], first: false) { index += 1 }
                let word = String(characters[start..<index])
                var next = index
                while next < characters.count, characters[next] == " " || characters[next] == "\n" { next += 1 }
                let isCall = next < characters.count && characters[next] == "("
                previousWasGroupingKeyword = groupings.contains(word)
                if word == "label_values" { labelValuesArgument = true }
                if !isCall && !keywords.contains(word) { names.append(word) }
            default:
                if c.isASCII && c.isNumber {
                    // A number, possibly with an exponent or a duration unit: not a name.
                    while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "." { index += 1 }
                } else {
                    index += 1
                }
            }
        }
        return names
    }
}

/// `sluice --experimental-dump-help`: ArgumentParser's description of every command and option.
struct HelpDump: Decodable {
    struct Name: Decodable {
        var kind: String
        var name: String
    }

    struct Argument: Decodable {
        var kind: String
        var names: [Name]?
        var defaultValue: String?
        var isOptional: Bool

        /// How docs/configuration.md writes the default: `value`, "required", "off" (a flag) or "—".
        var documentedDefault: String {
            if let defaultValue { return "`\(defaultValue)`" }
            if !isOptional { return "required" }
            return kind == "flag" ? "off" : "—"
        }
    }

    struct Command: Decodable {
        var commandName: String
        var arguments: [Argument]?
        var subcommands: [Command]?

        /// "insert", "ring plan", …: each command's long flags. Without `everything`, what
        /// docs/configuration.md lists: no --help, no `help` command, no command without other
        /// flags. With it, every command and flag a command line may use.
        func commandsWithFlags(prefix: [String] = [], everything: Bool = false) -> [String: [String: Argument]] {
            var out: [String: [String: Argument]] = [:]
            for sub in subcommands ?? [] where everything || sub.commandName != "help" {
                let path = prefix + [sub.commandName]
                var flags: [String: Argument] = [:]
                for argument in sub.arguments ?? [] {
                    for name in argument.names ?? [] where name.kind == "long" && (everything || name.name != "help") {
                        flags[name.name] = argument
                    }
                }
                if everything || !flags.isEmpty { out[path.joined(separator: " ")] = flags }
                out.merge(sub.commandsWithFlags(prefix: path, everything: everything)) { $1 }
            }
            return out
        }
    }

    var command: Command
}

/// The tables of docs/configuration.md: per `## \`sluice <command>\`` section, flag → default cell;
/// and the first column of the ring file's key tables.
struct ConfigurationDoc {
    var flags: [String: [String: String]] = [:]
    var topLevelKeys: Set<String> = []
    var nodeKeys: Set<String> = []

    static func load(_ path: String) throws -> ConfigurationDoc {
        var doc = ConfigurationDoc()
        var command: String?
        var keyTable: WritableKeyPath<ConfigurationDoc, Set<String>>?
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("#") {
                command = nil
                keyTable = nil
                if let match = line.wholeMatch(of: #/## `sluice ([a-z ]+)`/#) {
                    command = String(match.1)
                    doc.flags[String(match.1), default: [:]] = [:]
                } else if line.hasPrefix("### Top-level keys") {
                    keyTable = \.topLevelKeys
                } else if line.hasPrefix("### Node keys") {
                    keyTable = \.nodeKeys
                }
                continue
            }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard line.hasPrefix("|"), cells.count > 3 else { continue }
            if let command, let flag = cells[1].wholeMatch(of: #/`--([a-z0-9-]+)`/#) {
                doc.flags[command, default: [:]][String(flag.1)] = cells[2]
            } else if let keyTable, let key = cells[1].wholeMatch(of: #/`([a-z_]+)`/#) {
                doc[keyPath: keyTable].insert(String(key.1))
            }
        }
        return doc
    }
}

/// The keys RingConfiguration accepts, from its source: `File.keys` and `Node.CodingKeys`.
struct RingKeys {
    var topLevel: Set<String> = []
    var node: Set<String> = []

    init(source: String) throws {
        guard let keys = source.firstMatch(of: #/static let keys: Set<String> = \[([^\]]*)\]/#) else {
            throw EndToEndError("RingConfiguration.swift no longer has `static let keys`; update this test")
        }
        for match in keys.1.matches(of: #/"(\w+)"/#) { topLevel.insert(String(match.1)) }
        guard let codingKeys = source.firstMatch(of: #/enum CodingKeys: String, CodingKey, CaseIterable \{([^}]*)\}/#) else {
            throw EndToEndError("RingConfiguration.swift no longer has Node.CodingKeys; update this test")
        }
        for line in codingKeys.1.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("case ") else { continue }
            for item in trimmed.dropFirst(5).split(separator: ",") {
                if let raw = item.firstMatch(of: #/=\s*"(\w+)"/#) {
                    node.insert(String(raw.1))
                } else {
                    node.insert(item.trimmingCharacters(in: .whitespaces))
                }
            }
        }
    }
}
