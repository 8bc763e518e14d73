import Yams

/// The ring file shared by insert and select:
///
/// ```yaml
/// replication_factor: 3
/// write_quorum: 2          # default floor(RF/2)+1
/// nodes:
///   - {name: store-a, url: http://127.0.0.1:9301/api/v1/write, zone: a}
/// ```
///
/// `tokens_per_node` may be set too, but every process sharing a ring must use the same value, so it
/// is best left at the default.
public struct RingConfiguration: Hashable, Sendable {
    public struct Node: Hashable, Sendable, Codable {
        public var name: String
        /// The node's remote-write URL. Select derives the read URL from it unless `read_url` is set.
        public var url: String
        public var readURL: String?
        public var zone: String?
        public var weight: Double?
        /// `"1.0"` for a node that only takes remote write 1.0 (Prometheus 2.x, VictoriaMetrics):
        /// insert translates 2.0 requests for it. `"2.0"` sends 2.0 as received. Unset (the default)
        /// sends 2.0 and falls back to 1.0 for good once the node answers 415, or 2xx without the
        /// written-count headers every 2.0 receiver sends.
        public var remoteWriteVersion: String?

        public init(
            name: String, url: String, readURL: String? = nil, zone: String? = nil, weight: Double? = nil,
            remoteWriteVersion: String? = nil
        ) {
            self.name = name
            self.url = url
            self.readURL = readURL
            self.zone = zone
            self.weight = weight
            self.remoteWriteVersion = remoteWriteVersion
        }

        /// `url` without its remote-write path: where a Sluice storage node serves everything else
        /// (remote read, the query API, `/api/v1/digest` and `/api/v1/backfill`).
        public var baseURL: String {
            var base = url
            for suffix in ["/api/v1/write", "/api/v1/receive", "/api/v1/push"] where base.hasSuffix(suffix) {
                base.removeLast(suffix.count)
                break
            }
            while base.hasSuffix("/") { base.removeLast() }
            return base
        }

        /// `read_url` when the ring names one, else `/api/v1/read` under `baseURL`, which is where
        /// Sluice storage and Prometheus serve it.
        public var remoteReadURL: String { readURL ?? baseURL + "/api/v1/read" }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, url, zone, weight
            case readURL = "read_url"
            case remoteWriteVersion = "remote_write_version"
        }
    }

    /// Bounds on `tokens_per_node`: fewer than 128 spreads shares too unevenly to be worth running,
    /// and more than 65536 costs memory for no measurable gain.
    public static let tokensPerNodeRange = 128...65536

    public var replicationFactor: Int
    public var writeQuorum: Int
    public var tokensPerNode: Int
    public var nodes: [Node]

    public init(replicationFactor: Int, writeQuorum: Int? = nil, tokensPerNode: Int = HashRing.defaultTokensPerNode, nodes: [Node]) {
        self.replicationFactor = replicationFactor
        self.writeQuorum = writeQuorum ?? (replicationFactor / 2 + 1)
        self.tokensPerNode = tokensPerNode
        self.nodes = nodes
    }

    private struct File: Codable {
        var replication_factor: Int?
        var write_quorum: Int?
        var tokens_per_node: Int?
        var nodes: [Node]?

        static let keys: Set<String> = ["replication_factor", "write_quorum", "tokens_per_node", "nodes"]
    }

    /// Parses and validates a ring file. A file that fails here must never replace a running ring.
    public static func parse(yaml: String) throws(RingError) -> RingConfiguration {
        try parseAndBuild(yaml: yaml).configuration
    }

    /// Reads, parses and validates the ring file at `path`.
    public static func load(path: String) throws(RingError) -> RingConfiguration {
        let bytes = try RingFile.read(path: path, limit: RingFile.defaultSizeLimit).bytes
        return try parse(yaml: String(decoding: bytes, as: UTF8.self))
    }

    /// Parsing builds the ring to validate it; the watcher keeps that ring rather than building it
    /// twice.
    static func parseAndBuild(yaml: String) throws(RingError) -> (configuration: RingConfiguration, ring: HashRing) {
        let file: File
        do {
            guard let root = try Yams.compose(yaml: yaml) else { throw RingError(.invalidYAML, "ring file is empty") }
            // Codable ignores keys it does not know, so a misspelt `replication_factor` would quietly
            // become RF 1. Unknown and repeated keys are rejected instead.
            try checkKeys(of: root, allowed: File.keys, at: "")
            for (index, node) in (root.mapping?["nodes"]?.sequence ?? []).enumerated() {
                try checkKeys(of: node, allowed: Set(Node.CodingKeys.allCases.map(\.rawValue)), at: "nodes[\(index)].")
            }
            file = try YAMLDecoder().decode(File.self, from: root)
        } catch let error as RingError {
            throw error
        } catch {
            throw RingError(.invalidYAML, "ring file is not valid: \(describe(error))")
        }
        guard let nodes = file.nodes, !nodes.isEmpty else { throw RingError("ring file lists no nodes") }
        let configuration = RingConfiguration(
            replicationFactor: file.replication_factor ?? 1,
            writeQuorum: file.write_quorum,
            tokensPerNode: file.tokens_per_node ?? HashRing.defaultTokensPerNode,
            nodes: nodes
        )
        return (configuration, try configuration.validatedRing())
    }

    private static func checkKeys(of node: Yams.Node, allowed: Set<String>, at path: String) throws(RingError) {
        guard let mapping = node.mapping else { return }  // the decoder reports the wrong shape
        var seen = Set<String>()
        for key in mapping.keys {
            let name = key.string ?? "\(key)"
            guard allowed.contains(name) else {
                throw RingError(.invalidYAML, "ring file has unknown key \(path)\(name)")
            }
            guard seen.insert(name).inserted else {
                throw RingError(.invalidYAML, "ring file repeats key \(path)\(name)")
            }
        }
    }

    public func validate() throws(RingError) {
        _ = try validatedRing()
    }

    private func validatedRing() throws(RingError) -> HashRing {
        guard !nodes.isEmpty else { throw RingError("ring file lists no nodes") }
        guard replicationFactor >= 1 else { throw RingError("replication_factor must be at least 1, not \(replicationFactor)") }
        guard writeQuorum >= 1, writeQuorum <= replicationFactor else {
            throw RingError("write_quorum \(writeQuorum) must be between 1 and replication_factor \(replicationFactor)")
        }
        guard Self.tokensPerNodeRange.contains(tokensPerNode) else {
            throw RingError(
                "tokens_per_node \(tokensPerNode) must be between \(Self.tokensPerNodeRange.lowerBound) and \(Self.tokensPerNodeRange.upperBound)"
            )
        }
        for node in nodes {
            try Self.checkURL(node.url, field: "url", node: node.name)
            if let readURL = node.readURL { try Self.checkURL(readURL, field: "read_url", node: node.name) }
            if let zone = node.zone, zone.isEmpty { throw RingError("node \(node.name) has an empty zone") }
            if let version = node.remoteWriteVersion, version != "1.0", version != "2.0" {
                throw RingError("node \(node.name) has remote_write_version \(version); it must be \"1.0\" or \"2.0\"")
            }
        }
        return try makeRing()
    }

    /// Accepts `http://` or `https://` followed by a host. Anything else is a typo that would only
    /// surface later as failing forwards.
    private static func checkURL(_ url: String, field: String, node: String) throws(RingError) {
        let rest: Substring
        if url.hasPrefix("http://") {
            rest = url.dropFirst(7)
        } else if url.hasPrefix("https://") {
            rest = url.dropFirst(8)
        } else {
            throw RingError("node \(node) has \(field) \(url); it must start with http:// or https://")
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.hasPrefix(":"), !url.contains(where: \.isWhitespace) else {
            throw RingError("node \(node) has \(field) \(url); it must name a host")
        }
    }

    public func makeRing() throws(RingError) -> HashRing {
        try HashRing(
            nodes: nodes.map { RingNode(name: $0.name, zone: $0.zone, weight: $0.weight ?? 1) },
            replicationFactor: replicationFactor,
            tokensPerNode: tokensPerNode
        )
    }

    /// The configuration as a ring file, one flow mapping per node; `parse(yaml:)` reads it back to
    /// an equal value.
    public func yaml() -> String {
        var out = "replication_factor: \(replicationFactor)\nwrite_quorum: \(writeQuorum)\n"
        if tokensPerNode != HashRing.defaultTokensPerNode { out += "tokens_per_node: \(tokensPerNode)\n" }
        out += "nodes:\n"
        for node in nodes {
            var fields = ["name: \(Self.scalar(node.name))", "url: \(Self.scalar(node.url))"]
            if let zone = node.zone { fields.append("zone: \(Self.scalar(zone))") }
            if let weight = node.weight { fields.append("weight: \(weight)") }
            if let read = node.readURL { fields.append("read_url: \(Self.scalar(read))") }
            if let version = node.remoteWriteVersion { fields.append("remote_write_version: \"\(version)\"") }
            out += "  - {\(fields.joined(separator: ", "))}\n"
        }
        return out
    }

    /// Writes `value` plain when YAML would read it back as the same string, double-quoted otherwise
    /// (names like `null`, `true` or `3` would come back as something else, and `,` `{` `#` would
    /// break the flow mapping).
    private static func scalar(_ value: String) -> String {
        let reserved: Set<String> = ["null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"]
        let plainSafe = value.unicodeScalars.first.map { ("a"..."z").contains($0) || ("A"..."Z").contains($0) } == true
            && value.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._/:@-".unicodeScalars.contains($0)
            }
            && value.last != ":"
            && !reserved.contains(value.lowercased())
        if plainSafe { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DecodingError {
            let context: DecodingError.Context
            switch error {
            case .typeMismatch(let type, let c):
                return "\(path(c.codingPath)) must be \(describe(type))"
            case .valueNotFound(_, let c), .dataCorrupted(let c): context = c
            case .keyNotFound(let key, let c):
                return "\(path(c.codingPath + [key])) is missing"
            @unknown default: return "\(error)"
            }
            return "\(path(context.codingPath)): \(context.debugDescription)"
        }
        let text = "\(error)"
        return text.split(separator: "\n").first.map(String.init) ?? text
    }

    /// The decoder names Swift types; the operator wrote YAML.
    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is String.Type: "a string"
        case is [RingConfiguration.Node].Type, is [Any].Type: "a list"
        default: "a mapping"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return out.isEmpty ? "the file" : out
    }
}
