import Foundation
import SluiceTestSupport
import Testing
import Yams

// What the deploy checks (DeployChecksTests.swift) read deploy/ with: a tolerant view of parsed
// YAML and JSON, the files' places, the external tools, the sluice CLI's flags and ring files.

/// Records each problem a check found as an issue of the test that found it.
func expectNoProblems(_ problems: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    for problem in problems {
        Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
    }
}

// MARK: - Parsed documents

/// A parsed YAML (Yams) or JSON (`JSONSerialization`) document, read as the deploy checks read it.
/// `tree["key"]` and `tree[0]` never fail and remember where they point. The optional accessors
/// read what a file may leave out; `must(_:)`, `items` and `fields` throw with the path when a
/// file lacks what a check cannot go on without, or has something else there, so the check fails
/// and says where.
struct Tree: CustomStringConvertible {
    /// nil for an absent key and for YAML's and JSON's null alike.
    let value: Any?
    /// `file: key.key[index]`, for messages.
    let path: String

    init(_ value: Any?, path: String) {
        self.value = value is NSNull ? nil : value
        self.path = path
    }

    subscript(key: String) -> Tree {
        Tree(dictionary?[key], path: path.hasSuffix(":") ? "\(path) \(key)" : "\(path).\(key)")
    }

    subscript(index: Int) -> Tree {
        let items = value as? [Any]
        return Tree(items.flatMap { $0.indices.contains(index) ? $0[index] : nil }, path: "\(path)[\(index)]")
    }

    var exists: Bool { value != nil }

    /// Whether a mapping has `key`, even with a null value.
    func has(_ key: String) -> Bool { dictionary?[key] != nil }

    var string: String? { value as? String }
    var int: Int? { value as? Int }

    /// A string, number or boolean, as text.
    var scalar: String? {
        switch value {
        case let text as String: text
        case let number as Int: String(number)
        case let number as Double: String(number)
        case let flag as Bool: String(flag)
        default: nil
        }
    }

    var list: [Tree]? {
        (value as? [Any]).map { $0.indices.map { self[$0] } }
    }

    var mapping: [String: Tree]? {
        dictionary.map { Dictionary(uniqueKeysWithValues: $0.keys.map { ($0, self[$0]) }) }
    }

    /// What `read` finds here, or an error naming the path.
    func must<T>(_ read: KeyPath<Tree, T?>) throws -> T {
        guard let found = self[keyPath: read] else {
            throw EndToEndError("\(path): expected \(T.self), found \(exists ? description : "nothing")")
        }
        return found
    }

    /// Itself if present, else an error naming the path.
    func required() throws -> Tree {
        guard exists else { throw EndToEndError("\(path) is missing") }
        return self
    }

    /// A list that may be absent (then empty).
    var items: [Tree] {
        get throws { try exists ? must(\.list) : [] }
    }

    /// A mapping that may be absent (then empty).
    var fields: [String: Tree] {
        get throws { try exists ? must(\.mapping) : [:] }
    }

    /// A list of strings that may be absent: a command line.
    var strings: [String] {
        get throws { try items.map { try $0.must(\.string) } }
    }

    /// Equal scalars, or both absent.
    func sameValue(as other: Tree) -> Bool {
        switch (value, other.value) {
        case (nil, nil): true
        case let (mine as AnyHashable, theirs as AnyHashable): mine == theirs
        default: false
        }
    }

    /// The value with every mapping as `[String: Any]` and null as `NSNull`, as Yams writes it.
    var plain: Any {
        if let mapping { return mapping.mapValues(\.plain) }
        if let list { return list.map(\.plain) }
        return value ?? NSNull()
    }

    var description: String {
        if let mapping { return "{" + mapping.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}" }
        if let list { return "[" + list.map(\.description).joined(separator: ", ") + "]" }
        return scalar ?? value.map { "\($0)" } ?? "null"
    }

    private var dictionary: [String: Any]? { value as? [String: Any] }
}

// MARK: - deploy/

/// Where deploy/ is, how the checks read its files, and the path arithmetic they do.
enum Deploy {
    static let root = BuiltProducts.packageRoot
    static let directory = root + "/deploy"

    static func text(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// Every document of a YAML file but empty ones.
    static func yamlDocuments(_ path: String) throws -> [Tree] {
        var documents = try Yams.load_all(yaml: text(path))
        var found: [Tree] = []
        while let document = documents.next() {
            let tree = Tree(document, path: relative(path) + (found.isEmpty ? ":" : "[\(found.count)]:"))
            if tree.exists { found.append(tree) }
        }
        if let error = documents.error { throw error }
        return found
    }

    /// The first document of a YAML file.
    static func yaml(_ path: String) throws -> Tree {
        guard let first = try yamlDocuments(path).first else { throw EndToEndError("\(relative(path)): no YAML document") }
        return first
    }

    /// Every `.yml` and `.yaml` file under deploy/, hidden ones left out, sorted.
    static func yamlFiles() throws -> [String] {
        guard let walk = FileManager.default.enumerator(atPath: directory) else { throw EndToEndError("cannot list \(directory)") }
        var files: [String] = []
        for case let file as String in walk where file.hasSuffix(".yml") || file.hasSuffix(".yaml") {
            if !file.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { files.append(directory + "/" + file) }
        }
        return files.sorted()
    }

    /// The files of one folder (not below it) whose names end in `suffix`, hidden ones left out, sorted.
    static func files(in folder: String, ending suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasSuffix(suffix) && !$0.hasPrefix(".") }
            .sorted()
            .map { folder + "/" + $0 }
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Copies a file over whatever is at `destination`.
    static func copy(_ source: String, to destination: String) throws {
        if exists(destination) { try FileManager.default.removeItem(atPath: destination) }
        try FileManager.default.copyItem(atPath: source, toPath: destination)
    }

    /// The path relative to the repository, for messages.
    static func relative(_ path: String) -> String {
        let normal = normalized(path)
        return normal.hasPrefix(root + "/") ? String(normal.dropFirst(root.count + 1)) : normal
    }

    /// `.` and `..` resolved by name, links not followed.
    static func normalized(_ path: String) -> String {
        URL(fileURLWithPath: path).standardized.path
    }

    /// The components joined with `/`; an absolute one starts over.
    static func join(_ base: String, _ components: String...) -> String {
        components.reduce(base) { path, component in
            component.hasPrefix("/") ? component : (path.hasSuffix("/") ? path + component : path + "/" + component)
        }
    }

    /// What follows the last `/`: "" for a path ending in one.
    static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// What precedes the last `/`, without trailing slashes unless that is all there is.
    static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        var head = String(path[...slash])
        if head.contains(where: { $0 != "/" }) {
            while head.hasSuffix("/") { head.removeLast() }
        }
        return head
    }

    /// The value of `--flag value` or `--flag=value` in a command line; an empty value counts as none.
    static func flagValue(_ arguments: [String], _ flag: String) -> String? {
        for (index, word) in arguments.enumerated() {
            var value: String?
            if word.hasPrefix("--\(flag)=") {
                value = String(word.dropFirst(flag.count + 3))
            } else if word == "--\(flag)", index + 1 < arguments.count {
                value = arguments[index + 1]
            }
            if let value { return value.isEmpty ? nil : value }
        }
        return nil
    }

    /// The port of a listen address (`host:port`).
    static func port(in address: String) throws -> Int {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw EndToEndError("\(address) is not host:port")
        }
        return port
    }

    /// Host and port of an http(s) URL, the port defaulting to the scheme's.
    static func hostAndPort(_ url: String) throws -> (host: String, port: Int) {
        guard let match = url.prefixMatch(of: #/https?:\/\/([^\/:]+)(?::(\d+))?/#) else { throw EndToEndError("\(url) is not an http(s) URL") }
        let port = match.2.flatMap { Int($0) } ?? (url.hasPrefix("https") ? 443 : 80)
        return (String(match.1), port)
    }

    /// A command line split as a POSIX shell splits it: quotes group words, a backslash escapes.
    static func shellWords(_ line: String) throws -> [String] {
        var words: [String] = []
        var word: String?
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                // In double quotes a backslash escapes only `"` and itself.
                let kept = quote == "\"" && character != "\"" && character != "\\" ? "\\" : ""
                word = (word ?? "") + kept + String(character)
                escaped = false
            } else if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    word = (word ?? "") + String(character)
                }
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" || character == "'" {
                quote = character
                word = word ?? ""
            } else if character.isWhitespace {
                if let done = word { words.append(done) }
                word = nil
            } else {
                word = (word ?? "") + String(character)
            }
        }
        guard quote == nil, !escaped else { throw EndToEndError("unbalanced quote or trailing backslash in: \(line)") }
        if let word { words.append(word) }
        return words
    }
}

// MARK: - External tools

/// A child process's status and its stdout and stderr together.
struct ProcessResult {
    var status: Int32
    var output: String
}

/// Runs a child process to completion (at most `timeout`), its stdout then its stderr as one output.
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], currentDirectory: String? = nil,
    timeout: Duration = .seconds(120)
) async throws -> ProcessResult {
    let result = try await runToCompletion(executable, arguments, environment: environment, currentDirectory: currentDirectory, timeout: timeout)
    return ProcessResult(status: result.status, output: result.stdout + result.stderr)
}

/// The linters and parsers the deploy checks run. A missing one fails the check that needs it,
/// naming the Debian package that carries it; `scripts/setup.sh --test` installs them all, as CI does.
enum DeployTool: String {
    case promtool
    case nginx
    case systemdAnalyze = "systemd-analyze"
    case yamllint

    var package: String {
        switch self {
        case .promtool: "prometheus"
        case .nginx: "nginx-light"
        case .systemdAnalyze: "systemd"
        case .yamllint: "yamllint"
        }
    }

    /// The executable, from PATH or the sbin folders (nginx lives in /usr/sbin).
    func path() throws -> String {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for folder in folders where FileManager.default.isExecutableFile(atPath: folder + "/" + rawValue) {
            return folder + "/" + rawValue
        }
        throw EndToEndError("\(rawValue) is not installed: apt-get install \(package) (scripts/setup.sh --test installs every tool the deploy checks run)")
    }

    /// Runs the tool: no problem if it exits 0, else its output as one.
    func problems(_ arguments: [String], in directory: String? = nil) async throws -> [String] {
        let result = try await runProcess(path(), arguments, currentDirectory: directory)
        return result.status == 0 ? [] : [result.output]
    }
}

// MARK: - The sluice binary

/// The commands of the sluice binary (`insert`, `ring plan`, …) and the long flags of each, from
/// `sluice --experimental-dump-help`.
struct SluiceCommands {
    var flags: [String: Set<String>]

    static func load() async throws -> SluiceCommands {
        let dump = try await runSluice(["--experimental-dump-help"], timeout: .seconds(30))
        guard dump.status == 0 else { throw EndToEndError("sluice --experimental-dump-help exited \(dump.status): \(dump.stderr)") }
        let tree = try JSONDecoder().decode(HelpDump.self, from: Data(dump.stdout.utf8))
        return SluiceCommands(flags: tree.command.commandsWithFlags(everything: true).mapValues { Set($0.keys) })
    }

    /// A sluice command line (without the binary) whose command is unknown, or which uses a flag
    /// its command lacks. Words starting with `$` are left for systemd or the shell to fill in.
    func problems(_ arguments: [String], at place: String) -> [String] {
        var words = arguments.filter { !$0.hasPrefix("$") }
        var command: String?
        for length in [2, 1] where command == nil && flags[words.prefix(length).joined(separator: " ")] != nil {
            command = words.prefix(length).joined(separator: " ")
            words.removeFirst(min(length, words.count))
        }
        guard let command, let known = flags[command] else {
            return ["\(place): unknown sluice command in \(arguments.joined(separator: " "))"]
        }
        return words.filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2).prefix { $0 != "=" }) }.filter { !known.contains($0) }.map {
            "\(place): sluice \(command) has no flag --\($0)"
        }
    }
}

/// A ring file as insert and select read it.
enum DeployRing {
    /// What is wrong with a ring file's text: keys RingConfiguration does not take (read from its
    /// source), and what `sluice ring plan`, the real parser, says of it; with the parsed ring.
    static func check(_ text: String, at place: String) async throws -> (problems: [String], ring: Tree) {
        let keys = try RingKeys(source: Deploy.text(Deploy.root + "/Sources/SluiceRing/RingConfiguration.swift"))
        let ring = try Tree(Yams.load(yaml: text), path: "\(place):")
        guard let top = ring.mapping else { return (["\(place): not a mapping"], ring) }
        var problems = Set(top.keys).subtracting(keys.topLevel).sorted().map { "\(place): unknown key \($0)" }
        for (index, node) in try ring["nodes"].items.enumerated() {
            problems += try Set(node.must(\.mapping).keys).subtracting(keys.node).sorted().map { "\(place): nodes[\(index)] has unknown key \($0)" }
        }
        let directory = try TemporaryDirectory("sluice-deploy-ring")
        defer { directory.remove() }
        let path = directory.path + "/ring.yml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let plan = try await runSluice(["ring", "plan", "--config", path, "--to", path, "--series", "1000"], timeout: .seconds(60))
        if plan.status != 0 {
            let said = plan.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            problems.append("\(place): sluice ring plan rejects it: \(said.isEmpty ? plan.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : said)")
        }
        return (problems, ring)
    }
}

// MARK: - The files

/// deploy/prometheus/sluice-alerts.yml and its unit tests.
enum AlertRules {
    static let path = Deploy.directory + "/prometheus/sluice-alerts.yml"
    static let testsPath = Deploy.directory + "/prometheus/sluice-alerts.test.yml"

    /// Every rule of every group.
    static func load() throws -> [Tree] {
        try Deploy.yaml(path)["groups"].must(\.list).flatMap { try $0["rules"].must(\.list) }
    }
}

/// deploy/grafana/sluice-dashboard.json and the PromQL in it.
struct Dashboard {
    static let path = Deploy.directory + "/grafana/sluice-dashboard.json"
    /// Stand-ins for Grafana's variables, longest name first so none replaces part of another.
    static let variableValues = [
        ("$__rate_interval", "5m"), ("$storage_job", "sluice-storage"), ("$insert_job", "sluice-insert"),
        ("$select_job", "sluice-select"), ("$__interval", "1m"), ("$__range", "1h"),
    ]

    let tree: Tree

    init() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.path))
        tree = try Tree(JSONSerialization.jsonObject(with: data), path: Deploy.relative(Self.path) + ":")
    }

    /// Each target's `expr` ("" where it has none) with its panel's title, row panels' nested
    /// panels included.
    func panelExpressions() throws -> [(title: String, expression: String)] {
        var found: [(title: String, expression: String)] = []
        func visit(_ panels: [Tree]) throws {
            for panel in panels {
                for target in try panel["targets"].items {
                    found.append((title: try panel["title"].must(\.scalar), expression: target["expr"].string ?? ""))
                }
                try visit(panel["panels"].items)
            }
        }
        try visit(tree["panels"].must(\.list))
        return found
    }

    /// The query variables and their queries (`label_values(metric, label)`).
    func variableQueries() throws -> [(name: String, query: String)] {
        try tree["templating"]["list"].must(\.list).filter { try $0["type"].must(\.scalar) == "query" }.map { variable in
            let query = variable["query"].mapping == nil ? variable["query"] : variable["query"]["query"]
            return (name: try variable["name"].must(\.scalar), query: try query.must(\.string))
        }
    }
}

/// deploy/docker-compose/docker-compose.yml.
struct Compose {
    static let directory = Deploy.directory + "/docker-compose"

    let document: Tree
    let services: [String: Tree]

    init() throws {
        document = try Deploy.yaml(Self.directory + "/docker-compose.yml")
        services = try document["services"].must(\.mapping)
    }

    struct Mount {
        /// A bind mount's source as an absolute path, a named volume's name.
        var source: String
        var target: String
        var isBind: Bool
    }

    /// A service's volumes, in the short syntax (`source:target[:mode]`).
    static func mounts(of service: Tree) throws -> [Mount] {
        try service["volumes"].items.map { volume in
            let parts = try volume.must(\.string).split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count > 1 else { throw EndToEndError("\(volume.path): \(parts[0]) has no container path") }
            let isBind = parts[0].hasPrefix(".") || parts[0].hasPrefix("/")
            return Mount(source: isBind ? Deploy.normalized(Deploy.join(directory, parts[0])) : parts[0], target: parts[1], isBind: isBind)
        }
    }

    static func command(of service: Tree) throws -> [String] { try service["command"].strings }

    /// The port of the service's `--listen`, if it has one.
    static func listenPort(of service: Tree) throws -> Int? {
        try Deploy.flagValue(command(of: service), "listen").map(Deploy.port(in:))
    }

    /// The services that run the sluice image.
    var sluiceServices: [String: Tree] {
        services.filter { ($0.value["image"].scalar ?? "").hasPrefix("sluice") }
    }

    /// The sluice services whose command is `tier` (insert, storage, select).
    func sluiceServices(running tier: String) throws -> [String: Tree] {
        try sluiceServices.filter { try $0.value["command"][0].must(\.string) == tier }
    }
}

/// deploy/kubernetes/*.yaml.
struct Kubernetes {
    static let directory = Deploy.directory + "/kubernetes"
    static let apiVersions = [
        "ConfigMap": "v1", "Service": "v1", "StatefulSet": "apps/v1", "Deployment": "apps/v1",
        "PodDisruptionBudget": "policy/v1", "Kustomization": "kustomize.config.k8s.io/v1beta1",
    ]

    /// The manifests' file names.
    let files: [String]
    /// Every document of every manifest, with its file's name.
    let documents: [(file: String, document: Tree)]

    init() throws {
        files = try Deploy.files(in: Self.directory, ending: ".yaml").map(Deploy.baseName)
        documents = try files.flatMap { file in try Deploy.yamlDocuments(Self.directory + "/" + file).map { (file: file, document: $0) } }
    }

    func objects(_ kind: String) -> [Tree] {
        documents.map(\.document).filter { $0["kind"].string == kind }
    }

    /// The Deployments and StatefulSets with their pod templates.
    func podTemplates() throws -> [(workload: Tree, template: Tree)] {
        try documents.map(\.document).filter { ["Deployment", "StatefulSet"].contains($0["kind"].string ?? "") }.map {
            (workload: $0, template: try $0["spec"]["template"].required())
        }
    }

    /// Whether `selector` (label → value) picks the pods of `template`.
    static func selects(_ selector: [String: Tree], _ template: Tree) throws -> Bool {
        let labels = template["metadata"]["labels"]
        _ = try labels.must(\.mapping)
        return selector.allSatisfy { labels[$0.key].sameValue(as: $0.value) }
    }

    static func firstContainer(of template: Tree) throws -> Tree {
        try template["spec"]["containers"][0].required()
    }
}

/// A container's ports, by name and by number: a probe or a Service may give either.
struct ContainerPorts {
    var names: Set<String> = []
    var numbers: Set<Int> = []

    init(_ ports: [Tree]) throws {
        for port in ports {
            names.insert(try port["name"].must(\.scalar))
            numbers.insert(try port["containerPort"].must(\.int))
        }
    }

    func contains(_ port: Tree) -> Bool {
        if let name = port.string { return names.contains(name) }
        if let number = port.int { return numbers.contains(number) }
        return false
    }
}
