import SluiceCodec
import SluiceQuery

/// An ordered list of relabel rules, applied to each series at ingest.
public struct RelabelRules: Sendable {
    public let configs: [RelabelConfig]

    public init(_ configs: [RelabelConfig]) {
        self.configs = configs
    }

    public var isEmpty: Bool { configs.isEmpty }

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
