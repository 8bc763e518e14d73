import SluiceCodec
import Yams

// Relabeling at ingest with Prometheus' `relabel_configs` (model/relabel/relabel.go): the same YAML,
// the same defaults, the same validation and the same results, so a rule copied from a Prometheus
// scrape config behaves identically in front of Sluice.

/// Why a relabel file was refused. Only configuration fails: applying valid rules never does.
public struct RelabelError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidYAML
            case invalidRule
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The file is not YAML, or not a list of mappings.
        public static let invalidYAML = Code(.invalidYAML)
        /// A rule that Prometheus' `relabel.Config.Validate` would refuse, or whose regex does not compile.
        public static let invalidRule = Code(.invalidRule)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// One line, naming the rule's index in the file.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
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

/// An ordered list of relabel rules, applied to each series at ingest.
public struct RelabelRules: Sendable {
    public let configs: [RelabelConfig]

    public init(_ configs: [RelabelConfig]) {
        self.configs = configs
    }

    public var isEmpty: Bool { configs.isEmpty }

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

    /// The relabeled series, sorted by name, or nil when a rule drops it. `labels` must be sorted by
    /// name with no repeats, as series on the wire are. A label set to "" is removed.
    public func apply(_ labels: [Label]) -> [Label]? {
        guard !configs.isEmpty else { return labels }
        var set = LabelSet(labels)
        for config in configs {
            guard set.apply(config) else { return nil }
        }
        return set.sorted()
    }
}

/// Prometheus' `labels.Builder` in small: get, set (empty deletes), delete, and a snapshot to range over.
struct LabelSet {
    var labels: [Label]

    init(_ labels: [Label]) { self.labels = labels }

    func get(_ name: String) -> String {
        labels.first { $0.name == name }?.value ?? ""
    }

    mutating func set(_ name: String, _ value: String) {
        guard !value.isEmpty else { return delete(name) }
        if let index = labels.firstIndex(where: { $0.name == name }) {
            labels[index].value = value
        } else {
            labels.append(Label(name: name, value: value))
        }
    }

    mutating func delete(_ name: String) {
        labels.removeAll { $0.name == name }
    }

    func sorted() -> [Label] {
        labels.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// One rule, as Prometheus' `relabel`; false when the series is dropped.
    mutating func apply(_ config: RelabelConfig) -> Bool {
        var value = ""
        for (i, name) in config.sourceLabels.enumerated() {
            if i > 0 { value += config.separator }
            value += get(name)
        }
        switch config.action {
        case .drop:
            if config.pattern.matches(value) { return false }
        case .keep:
            if !config.pattern.matches(value) { return false }
        case .dropequal:
            if get(config.targetLabel) == value { return false }
        case .keepequal:
            if get(config.targetLabel) != value { return false }
        case .replace:
            guard let groups = config.pattern.captures(value) else { break }
            let target = config.pattern.expand(config.targetLabel, groups)
            guard RelabelConfig.isLabelName(target) else { break }
            set(target, config.pattern.expand(config.replacement, groups))
        case .lowercase:
            set(config.targetLabel, RelabelRegex.mapScalars(value) { $0.properties.lowercaseMapping })
        case .uppercase:
            set(config.targetLabel, RelabelRegex.mapScalars(value) { $0.properties.uppercaseMapping })
        case .hashmod:
            let sum = MD5.digest(value.utf8)
            let tail = sum[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            set(config.targetLabel, String(tail % config.modulus))
        case .labelmap:
            for label in labels {
                guard let groups = config.pattern.captures(label.name) else { continue }
                let name = config.pattern.expand(config.replacement, groups)
                // Prometheus would set even an empty or invalid name; storage could not hold it.
                guard RelabelConfig.isLabelName(name) else { continue }
                set(name, label.value)
            }
        case .labeldrop:
            labels.removeAll { config.pattern.matches($0.name) }
        case .labelkeep:
            labels.removeAll { !config.pattern.matches($0.name) }
        }
        return true
    }
}

/// A relabel regex: Go RE2 syntax, fully anchored, with the capture groups that `replace` and
/// `labelmap` expand.
///
/// `GoRegexSyntax` writes every group as non-capturing, since matchers never read captures. Its
/// output has exactly one `(` per group it keeps, in the order of the Go pattern's groups, so the
/// capturing ones are found in the Go pattern and turned back into plain `(` here. Group names stay
/// on this side: `${name}` is resolved to a number before Swift sees it.
struct RelabelRegex: @unchecked Sendable {
    /// Fast paths for plain matching (`keep`, `drop`, `labeldrop`, `labelkeep`), shared with matchers.
    let matcher: ValuePattern
    /// nil for the default `(.*)`, whose single group is the whole value.
    let regex: Regex<AnyRegexOutput>?
    /// The name of each capture group, 1-based as in Go; "" for unnamed ones.
    let groupNames: [String]

    init(_ pattern: String) throws(RelabelError) {
        do {
            matcher = try ValuePattern(regex: pattern)
            if pattern == RelabelConfig.defaultRegex {
                regex = nil
                groupNames = ["", ""]
                return
            }
            let translated = try GoRegexSyntax.translate(pattern)
            let groups = RelabelRegex.groups(of: pattern)
            var rewritten = ""
            var scalars = translated.unicodeScalars[...]
            var groupIndex = 0
            var names = [""]
            while let c = scalars.first {
                if c == "(" {
                    guard groupIndex < groups.count else { throw RelabelRegex.unsupported(pattern) }
                    let group = groups[groupIndex]
                    groupIndex += 1
                    if let name = group {
                        guard scalars.starts(with: "(?:".unicodeScalars) else { throw RelabelRegex.unsupported(pattern) }
                        scalars = scalars.dropFirst(3)
                        rewritten += "("
                        names.append(name)
                        continue
                    }
                }
                rewritten.unicodeScalars.append(c)
                scalars = scalars.dropFirst()
            }
            guard groupIndex == groups.count else { throw RelabelRegex.unsupported(pattern) }
            do {
                regex = try Regex("(?s:" + rewritten + ")")
                    .matchingSemantics(.unicodeScalar)
                    .wordBoundaryKind(.simple)
                    .asciiOnlyWordCharacters()
            } catch {
                throw QueryError(.invalidRegex, "error parsing regexp: \(error): `\(GoRegexSyntax.abbreviated(pattern))`")
            }
            groupNames = names
        } catch let error as QueryError {
            throw RelabelError(.invalidRule, error.message)
        } catch {
            throw RelabelError(.invalidRule, "\(error)")
        }
    }

    private static func unsupported(_ pattern: String) -> QueryError {
        QueryError(.invalidRegex, "error parsing regexp: unsupported group structure: `\(GoRegexSyntax.abbreviated(pattern))`")
    }

    /// For each `(` that `GoRegexSyntax` emits, in order: the capture name ("" when unnamed) if it
    /// captures, nil if not. The pattern has already been accepted by the translator, so this scan
    /// only has to find the groups: escapes, `\Q...\E` and bracketed classes are skipped.
    static func groups(of pattern: String) -> [String?] {
        let s = Array(pattern.unicodeScalars)
        var out: [String?] = []
        var i = 0
        while i < s.count {
            switch s[i] {
            case "\\":
                if i + 1 < s.count, s[i + 1] == "Q" {
                    i += 2
                    while i < s.count, !(s[i] == "\\" && i + 1 < s.count && s[i + 1] == "E") { i += 1 }
                    i += 2
                } else {
                    i += 2
                }
            case "[":
                i += 1
                if i < s.count, s[i] == "^" { i += 1 }
                var first = true
                while i < s.count {
                    if s[i] == "]", !first {
                        i += 1
                        break
                    }
                    first = false
                    if s[i] == "\\" {
                        i += 2
                    } else if s[i] == "[", i + 1 < s.count, s[i + 1] == ":", let end = posixEnd(s, i) {
                        i = end
                    } else {
                        i += 1
                    }
                }
            case "(":
                i += 1
                guard i < s.count, s[i] == "?" else {
                    out.append("")
                    continue
                }
                i += 1
                var prefix = 0
                if i + 1 < s.count, s[i] == "P", s[i + 1] == "<" {
                    prefix = 2
                } else if i + 1 < s.count, s[i] == "<", s[i + 1] != "=", s[i + 1] != "!" {
                    prefix = 1
                }
                if prefix > 0 {
                    i += prefix
                    let start = i
                    while i < s.count, s[i] != ">" { i += 1 }
                    out.append(String(String.UnicodeScalarView(s[start..<min(i, s.count)])))
                    i += 1
                } else {
                    // Flags: `(?flags:` opens a group; `(?flags)` is emitted only when it sets some.
                    let start = i
                    while i < s.count, s[i] != ":", s[i] != ")" { i += 1 }
                    if i < s.count, s[i] == ":" || i > start { out.append(nil) }
                    i += 1
                }
            default:
                i += 1
            }
        }
        return out
    }

    /// The end of `[:name:]` starting at `i`, as the translator finds it: the first `:]` after it.
    private static func posixEnd(_ s: [Unicode.Scalar], _ i: Int) -> Int? {
        var end = i + 2
        while end + 1 < s.count, !(s[end] == ":" && s[end + 1] == "]") { end += 1 }
        return end + 1 < s.count ? end + 2 : nil
    }

    func matches(_ value: String) -> Bool {
        matcher.matches(value)
    }

    /// The whole match and each group (nil when it did not take part), or nil when `value` does not match.
    func captures(_ value: String) -> [Substring?]? {
        guard let regex else { return [value[...], value[...]] }
        // Cannot throw: there are no custom components, and cancellation does not apply here.
        guard let match = try? regex.wholeMatch(in: value) else { return nil }
        return match.output.map { $0.substring }
    }

    /// Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}` and `$$`. A name is the longest run of
    /// letters, digits and `_`, so `$1x` is the group named "1x"; unknown groups expand to "", and a
    /// `$` not followed by a name is kept as is.
    func expand(_ template: String, _ groups: [Substring?]) -> String {
        guard template.utf8.contains(UInt8(ascii: "$")) else { return template }
        let s = Array(template.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            guard s[i] == "$" else {
                out.append(s[i])
                i += 1
                continue
            }
            i += 1
            if i < s.count, s[i] == "$" {
                out.append("$")
                i += 1
                continue
            }
            var j = i
            let braced = j < s.count && s[j] == "{"
            if braced { j += 1 }
            let start = j
            while j < s.count, RelabelRegex.isNameScalar(s[j]) { j += 1 }
            var ok = j > start
            let name = String(String.UnicodeScalarView(s[start..<j]))
            if ok, braced {
                if j < s.count, s[j] == "}" { j += 1 } else { ok = false }
            }
            guard ok else {
                out.append("$")
                continue
            }
            i = j
            if let group = groupIndex(name), group < groups.count, let text = groups[group] {
                out.append(contentsOf: text.unicodeScalars)
            }
        }
        return String(out)
    }

    /// The group a `$` reference names: a number without leading zeros (below 10^8), else a name.
    private func groupIndex(_ name: String) -> Int? {
        let digits = name.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        if digits, name.utf8.count <= 8, name.utf8.first != UInt8(ascii: "0") || name.utf8.count == 1 {
            return Int(name)
        }
        return groupNames.indices.dropFirst().first { groupNames[$0] == name }
    }

    /// Go's `unicode.IsLetter || unicode.IsDigit || '_'`.
    private static func isNameScalar(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber:
            return true
        default:
            return c == "_"
        }
    }

    /// Go's `strings.ToLower`/`ToUpper` map each scalar on its own; a scalar whose full mapping is
    /// longer than one scalar (`ß` → "SS") keeps itself, as Go's simple mapping does.
    static func mapScalars(_ value: String, _ mapping: (Unicode.Scalar) -> String) -> String {
        var out = String.UnicodeScalarView()
        for c in value.unicodeScalars {
            let mapped = mapping(c).unicodeScalars
            if mapped.count == 1 { out.append(contentsOf: mapped) } else { out.append(c) }
        }
        return String(out)
    }
}
