import SluiceCodec
import SluiceQuery
import Yams

// Relabeling at ingest with Prometheus' `relabel_configs` (model/relabel/relabel.go): the same YAML,
// the same defaults, the same validation and the same results, so a rule copied from a Prometheus
// scrape config behaves identically in front of Sluice.

/// Why a relabel file was refused. Only configuration fails: applying valid rules never does.
/// Its message is one line, naming the rule's index in the file.
public typealias RelabelError = CodedError<RelabelErrorDomain>

/// The codes of `RelabelError`.
public enum RelabelErrorDomain {}

extension ErrorCode where Domain == RelabelErrorDomain {
    /// The file is not YAML, or not a list of mappings.
    public static var invalidYAML: Self { Self("invalidYAML") }
    /// A rule that Prometheus' `relabel.Config.Validate` would refuse, or whose regex does not compile.
    public static var invalidRule: Self { Self("invalidRule") }
}

/// One `relabel_config`, validated and with its regex compiled.
public struct RelabelConfig: Sendable {
    public enum Action: String, Sendable, CaseIterable {
        case replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase
    }

    public static let defaultSeparator = ";"
    public static let defaultRegex = "(.*)"
    public static let defaultReplacement = "$1"

    public let sourceLabels: [String]
    public let separator: String
    /// The pattern as written; it is matched fully anchored, `^(?:regex)$`.
    public let regex: String
    public let modulus: UInt64
    public let targetLabel: String
    public let replacement: String
    public let action: Action

    let pattern: RelabelRegex

    /// Validates as Prometheus' `relabel.Config.Validate` does. Messages are Prometheus' own.
    public init(
        sourceLabels: [String] = [],
        separator: String = RelabelConfig.defaultSeparator,
        regex: String = RelabelConfig.defaultRegex,
        modulus: UInt64 = 0,
        targetLabel: String = "",
        replacement: String = RelabelConfig.defaultReplacement,
        action: Action = .replace
    ) throws(RelabelError) {
        func invalid(_ message: String) -> RelabelError { RelabelError(.invalidRule, message) }
        let name = action.rawValue
        if modulus == 0, action == .hashmod {
            throw invalid("relabel configuration for hashmod requires non-zero modulus")
        }
        let needsTarget: Set<Action> = [.replace, .hashmod, .lowercase, .uppercase, .keepequal, .dropequal]
        if needsTarget.contains(action), targetLabel.isEmpty {
            throw invalid("relabel configuration for \(name) action requires 'target_label' value")
        }
        let targetIsTemplate = targetLabel.utf8.contains(UInt8(ascii: "$"))
        if action == .replace,
            targetIsTemplate ? !RelabelConfig.isTemplate(targetLabel) : !RelabelConfig.isLabelName(targetLabel)
        {
            throw invalid("\(quoted(targetLabel)) is invalid 'target_label' for \(name) action")
        }
        let plainTarget: Set<Action> = [.lowercase, .uppercase, .keepequal, .dropequal, .hashmod]
        if plainTarget.contains(action), !RelabelConfig.isLabelName(targetLabel) {
            throw invalid("\(quoted(targetLabel)) is invalid 'target_label' for \(name) action")
        }
        let noReplacement: Set<Action> = [.lowercase, .uppercase, .keepequal, .dropequal]
        if noReplacement.contains(action), replacement != RelabelConfig.defaultReplacement {
            throw invalid("'replacement' can not be set for \(name) action")
        }
        if action == .labelmap, !RelabelConfig.isTemplate(replacement) {
            throw invalid("\(quoted(replacement)) is invalid 'replacement' for \(name) action")
        }
        if action == .keepequal || action == .dropequal,
            regex != RelabelConfig.defaultRegex || modulus != 0 || separator != RelabelConfig.defaultSeparator
        {
            throw invalid("\(name) action requires only 'source_labels' and `target_label`, and no other fields")
        }
        if action == .labeldrop || action == .labelkeep,
            !sourceLabels.isEmpty || !targetLabel.isEmpty || modulus != 0
                || separator != RelabelConfig.defaultSeparator || replacement != RelabelConfig.defaultReplacement
        {
            throw invalid("\(name) action requires only 'regex', and no other fields")
        }
        self.pattern = try RelabelRegex(regex)
        self.sourceLabels = sourceLabels
        self.separator = separator
        self.regex = regex
        self.modulus = modulus
        self.targetLabel = targetLabel
        self.replacement = replacement
        self.action = action
    }

    /// Prometheus' legacy label name rule, `[a-zA-Z_][a-zA-Z0-9_]*`: what storage accepts.
    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !isDigit(first) else { return false }
        return name.utf8.allSatisfy { isWordByte($0) }
    }

    /// Prometheus' `relabelTarget`, `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: letters, digits, `_`,
    /// `$name` and `${name}`, not starting with a digit.
    static func isTemplate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "$") {
                i += 1
                let braced = i < bytes.count && bytes[i] == UInt8(ascii: "{")
                if braced { i += 1 }
                let start = i
                while i < bytes.count, isWordByte(bytes[i]) { i += 1 }
                guard i > start else { return false }
                if braced {
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "}") else { return false }
                    i += 1
                }
            } else {
                guard isWordByte(byte), i > 0 || !isDigit(byte) else { return false }
                i += 1
            }
        }
        return !bytes.isEmpty
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}

/// A YAML null (`~`, `null`, or nothing), which Prometheus' decoder reads as "not set".
private func isNull(_ node: Node) -> Bool {
    node.tag == Tag(.null)
}

/// Go's `%q` for the ASCII text of names and templates.
private func quoted(_ text: String) -> String {
    "\"" + text.replacingBackslashesAndQuotes() + "\""
}

extension String {
    fileprivate func replacingBackslashesAndQuotes() -> String {
        var out = ""
        for c in unicodeScalars {
            if c == "\\" || c == "\"" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c)
        }
        return out
    }
}

extension RelabelRules {
    /// Reads a YAML list of `relabel_config` entries, or a mapping with one key `relabel_configs`
    /// holding that list, with Prometheus' defaults and validation. Unknown or repeated keys are refused,
    /// as Prometheus' strict YAML decoding refuses them.
    public static func parse(yaml: String) throws(RelabelError) -> RelabelRules {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            let text = "\(error)"
            throw RelabelError(.invalidYAML, "relabel file is not valid YAML: \(text.split(separator: "\n").first ?? "")")
        }
        guard var list = root, !isNull(list) else { return RelabelRules([]) }
        if let mapping = list.mapping {
            guard mapping.count == 1, let key = mapping.keys.first?.string, key == "relabel_configs",
                let inner = mapping.values.first
            else {
                throw RelabelError(
                    .invalidYAML, "relabel file must be a list of relabel configs or a mapping with only relabel_configs")
            }
            if isNull(inner) { return RelabelRules([]) }
            list = inner
        }
        guard let sequence = list.sequence else {
            throw RelabelError(.invalidYAML, "relabel file must be a list of relabel configs")
        }
        var configs: [RelabelConfig] = []
        for (index, node) in sequence.enumerated() {
            do {
                configs.append(try config(from: node))
            } catch {
                throw RelabelError(error.code, "relabel_configs[\(index)]: \(error.message)")
            }
        }
        return RelabelRules(configs)
    }

    private static let keys: Set<String> = [
        "source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action",
    ]

    private static func config(from node: Node) throws(RelabelError) -> RelabelConfig {
        guard let mapping = node.mapping else {
            throw RelabelError(.invalidYAML, "a relabel config must be a mapping")
        }
        var fields: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string, keys.contains(name) else {
                throw RelabelError(.invalidYAML, "field \(key.string ?? "\(key)") not found in type relabel.plain")
            }
            guard fields.updateValue(value, forKey: name) == nil else {
                throw RelabelError(.invalidYAML, "field \(name) already set in type relabel.plain")
            }
        }
        // Absent keys keep Prometheus' defaults; a key with a null value is Go's zero value, as
        // yaml.v2 decodes it (so `regex:` alone is the empty regex, matching only "").
        func string(_ key: String) throws(RelabelError) -> String? {
            guard let value = fields[key] else { return nil }
            if isNull(value) { return "" }
            guard let scalar = value.scalar else {
                throw RelabelError(.invalidYAML, "\(key) must be a string")
            }
            return scalar.string
        }

        var sourceLabels: [String] = []
        if let value = fields["source_labels"], !isNull(value) {
            guard let items = value.sequence else {
                throw RelabelError(.invalidYAML, "source_labels must be a list of label names")
            }
            for item in items {
                guard let name = item.scalar?.string, RelabelConfig.isLabelName(name) else {
                    throw RelabelError(.invalidRule, "\(quoted(item.string ?? "\(item)")) is not a valid label name")
                }
                sourceLabels.append(name)
            }
        }
        var modulus: UInt64 = 0
        if let text = try string("modulus"), !text.isEmpty {
            guard let value = UInt64(text) else {
                throw RelabelError(.invalidYAML, "modulus must be an unsigned integer, not \(quoted(text))")
            }
            modulus = value
        }
        var action = RelabelConfig.Action.replace
        if let text = try string("action") {
            guard !text.isEmpty else { throw RelabelError(.invalidRule, "relabel action cannot be empty") }
            guard let known = RelabelConfig.Action(rawValue: text.lowercased()) else {
                throw RelabelError(.invalidRule, "unknown relabel action \(quoted(text))")
            }
            action = known
        }
        return try RelabelConfig(
            sourceLabels: sourceLabels,
            separator: try string("separator") ?? RelabelConfig.defaultSeparator,
            regex: try string("regex") ?? RelabelConfig.defaultRegex,
            modulus: modulus,
            targetLabel: try string("target_label") ?? "",
            replacement: try string("replacement") ?? RelabelConfig.defaultReplacement,
            action: action
        )
    }
}
