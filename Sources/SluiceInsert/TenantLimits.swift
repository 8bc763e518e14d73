import SluiceCodec
import SluiceHTTP
import Synchronization
import Yams

/// The limits one tenant's writes are held to: Mimir's `overrides:` for the keys Sluice has.
public struct TenantLimits: Sendable, Hashable {
    /// Samples a second, histograms counted as samples; 0 for no limit.
    public var ingestionRate: Double
    /// Samples saved up for a burst. A request larger than this can never pass.
    public var ingestionBurstSize: Double
    public var maxLabelNamesPerSeries: Int
    /// 0 for no limit.
    public var maxSeriesPerRequest: Int

    /// The limits the flags set: no rate limit unless `ingestionRate` is given, and the scanner's
    /// per-series and per-request limits.
    public init(flags: WriteRequestScanner.Limits, ingestionRate: Double = 0, ingestionBurstSize: Double? = nil) {
        self.ingestionRate = ingestionRate
        self.ingestionBurstSize = ingestionBurstSize ?? ingestionRate
        self.maxLabelNamesPerSeries = flags.maxLabelNamesPerSeries
        self.maxSeriesPerRequest = flags.maxSeriesPerRequest
    }

    /// The scanner limits for this tenant: the flags' limits with this tenant's two replaced.
    func scannerLimits(_ flags: WriteRequestScanner.Limits) -> WriteRequestScanner.Limits {
        var limits = flags
        limits.maxLabelNamesPerSeries = maxLabelNamesPerSeries
        limits.maxSeriesPerRequest = maxSeriesPerRequest
        return limits
    }
}

/// Why an overrides file was not taken.
public typealias OverridesError = CodedError<OverridesErrorDomain>

/// The codes of `OverridesError`.
public enum OverridesErrorDomain {}

extension ErrorCode where Domain == OverridesErrorDomain {
    /// The file could not be read, or is larger than allowed.
    public static var unreadableFile: Self { Self("unreadableFile") }
    /// Not YAML, or not the shape of an overrides file (an unknown or repeated key).
    public static var invalidYAML: Self { Self("invalidYAML") }
    /// A limit has a value it cannot take (negative, not a number, a burst below one sample).
    public static var invalidLimit: Self { Self("invalidLimit") }
}

/// Every tenant's limits: the file's `defaults:` over the flags, and each `overrides:` entry over those.
public struct TenantOverrides: Sendable, Hashable {
    public var defaults: TenantLimits
    public var tenants: [String: TenantLimits]

    public init(defaults: TenantLimits, tenants: [String: TenantLimits] = [:]) {
        self.defaults = defaults
        self.tenants = tenants
    }

    public func limits(for tenant: String) -> TenantLimits {
        tenants[tenant] ?? defaults
    }

    static let fileKeys: Set<String> = ["defaults", "overrides"]
    static let limitKeys: Set<String> = [
        "ingestion_rate", "ingestion_burst_size", "max_label_names_per_series", "max_series_per_request",
    ]

    /// Parses an overrides file. Unset keys fall back: a tenant's to `defaults:`, those to `flags`.
    ///
    /// A burst left unset is the rate, for `defaults:` and for a tenant that sets its own rate: a
    /// tenant limited to 5 000 samples/s should not inherit a default burst of 200 000. Unknown and
    /// repeated keys are rejected, so a misspelt limit is an error rather than no limit.
    public static func parse(yaml: String, flags: TenantLimits) throws(OverridesError) -> TenantOverrides {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            let text = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
            throw OverridesError(.invalidYAML, "overrides file is not YAML: \(text)")
        }
        guard let root, root.null == nil else { return TenantOverrides(defaults: flags) }
        guard let file = root.mapping else { throw OverridesError(.invalidYAML, "overrides file is not a mapping") }
        let top = try keys(of: file, allowed: fileKeys, at: "")

        var defaults = flags
        if let node = top["defaults"] { defaults = try limits(node, over: flags, at: "defaults") }
        var tenants: [String: TenantLimits] = [:]
        if let node = top["overrides"], node.null == nil {
            guard let mapping = node.mapping else { throw OverridesError(.invalidYAML, "overrides must map tenants to limits") }
            for (key, value) in mapping {
                guard let tenant = key.scalar?.string, !tenant.isEmpty else {
                    throw OverridesError(.invalidYAML, "overrides has a tenant that is not a non-empty string")
                }
                guard tenants[tenant] == nil else { throw OverridesError(.invalidYAML, "overrides repeats tenant \(tenant)") }
                tenants[tenant] = try limits(value, over: defaults, at: "overrides.\(tenant)")
            }
        }
        return TenantOverrides(defaults: defaults, tenants: tenants)
    }

    private static func keys(of mapping: Node.Mapping, allowed: Set<String>, at path: String) throws(OverridesError) -> [String: Node] {
        var found: [String: Node] = [:]
        for (key, value) in mapping {
            let name = key.scalar?.string ?? "\(key)"
            guard allowed.contains(name) else { throw OverridesError(.invalidYAML, "overrides file has unknown key \(path)\(name)") }
            guard found[name] == nil else { throw OverridesError(.invalidYAML, "overrides file repeats key \(path)\(name)") }
            found[name] = value
        }
        return found
    }

    private static func limits(_ node: Node, over base: TenantLimits, at path: String) throws(OverridesError) -> TenantLimits {
        if node.null != nil { return base }
        guard let mapping = node.mapping else { throw OverridesError(.invalidYAML, "\(path) must be a mapping of limits") }
        let values = try keys(of: mapping, allowed: limitKeys, at: path + ".")
        var limits = base
        if let rate = values["ingestion_rate"] {
            limits.ingestionRate = try number(rate, at: path + ".ingestion_rate")
            limits.ingestionBurstSize = limits.ingestionRate
        }
        if let burst = values["ingestion_burst_size"] {
            limits.ingestionBurstSize = try number(burst, at: path + ".ingestion_burst_size")
        }
        if limits.ingestionRate > 0, limits.ingestionBurstSize < 1 {
            throw OverridesError(.invalidLimit, "\(path).ingestion_burst_size must be at least 1 sample when ingestion_rate is set")
        }
        if let names = values["max_label_names_per_series"] {
            limits.maxLabelNamesPerSeries = try integer(names, at: path + ".max_label_names_per_series")
            guard limits.maxLabelNamesPerSeries >= 1 else {
                throw OverridesError(.invalidLimit, "\(path).max_label_names_per_series must be at least 1")
            }
        }
        if let series = values["max_series_per_request"] {
            limits.maxSeriesPerRequest = try integer(series, at: path + ".max_series_per_request")
        }
        return limits
    }

    private static func number(_ node: Node, at path: String) throws(OverridesError) -> Double {
        guard let text = node.scalar?.string, let value = Double(text), value.isFinite, value >= 0 else {
            throw OverridesError(.invalidLimit, "\(path) must be a number of at least 0")
        }
        return value
    }

    private static func integer(_ node: Node, at path: String) throws(OverridesError) -> Int {
        guard let text = node.scalar?.string, let value = Int(text), value >= 0 else {
            throw OverridesError(.invalidLimit, "\(path) must be a whole number of at least 0")
        }
        return value
    }
}

/// The overrides in force and every rate-limited tenant's token bucket, shared by the request path
/// and the watcher that replaces the overrides.
///
/// Buckets outlive reloads: a new rate or burst applies to a tenant's bucket from the reload on, with
/// the tokens it had, so reloading a file (even an unchanged one) never hands out a fresh burst.
public final class TenantLimiter: Sendable {
    private struct State {
        var overrides: TenantOverrides
        var buckets: [String: TokenBucket] = [:]
    }

    private let state: Mutex<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameter now: the clock; tests pass a fake one.
    public init(overrides: TenantOverrides, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.state = Mutex(State(overrides: overrides))
        self.now = now
    }

    public var overrides: TenantOverrides { state.withLock { $0.overrides } }

    /// New limits, applied to the existing buckets at once: time after a reload earns at the new rate.
    func replace(_ overrides: TenantOverrides) {
        let now = now()
        state.withLock { state in
            state.overrides = overrides
            for tenant in Array(state.buckets.keys) {
                let limits = overrides.limits(for: tenant)
                if limits.ingestionRate > 0 {
                    state.buckets[tenant]!.reconfigure(rate: limits.ingestionRate, burst: limits.ingestionBurstSize, at: now)
                } else {
                    state.buckets[tenant] = nil
                }
            }
        }
    }

    public func limits(for tenant: String) -> TenantLimits {
        state.withLock { $0.overrides.limits(for: tenant) }
    }

    /// Takes `samples` from the tenant's bucket, or says why not.
    func admit(tenant: String, samples: Int) -> TokenBucket.Admission {
        let now = now()
        return state.withLock { state in
            let limits = state.overrides.limits(for: tenant)
            guard limits.ingestionRate > 0 else {
                state.buckets[tenant] = nil
                return .admitted
            }
            let rate = limits.ingestionRate
            let burst = limits.ingestionBurstSize
            if state.buckets[tenant] == nil {
                state.buckets[tenant] = TokenBucket(rate: rate, burst: burst, at: now)
            } else if state.buckets[tenant]!.rate != rate || state.buckets[tenant]!.burst != burst {
                state.buckets[tenant]!.reconfigure(rate: rate, burst: burst, at: now)
            }
            return state.buckets[tenant]!.take(samples, at: now)
        }
    }

    /// The tenant's bucket as it stands, for tests.
    func bucket(of tenant: String) -> TokenBucket? {
        state.withLock { $0.buckets[tenant] }
    }
}

/// A request turned away by a tenant limit: the answer, and the `reason` label it is counted under.
struct LimitRejection: Error, Sendable {
    let reason: String
    let failure: HTTPFailure

    /// 429 when waiting helps (the bucket is short now), 400 when it cannot (the request is larger
    /// than the burst): a client retries a 429 and drops a 400, as Prometheus does.
    init?(_ admission: TokenBucket.Admission, tenant: String, samples: Int, limits: TenantLimits) {
        switch admission {
        case .admitted:
            return nil
        case .rateLimited(let wait):
            let seconds = TokenBucket.Admission.retryAfterSeconds(wait)
            reason = "rate_limited"
            failure = HTTPFailure(
                .tooManyRequests,
                "tenant \(tenant) is over its ingestion rate of \(Self.format(limits.ingestionRate)) samples/s "
                    + "(burst \(Self.format(limits.ingestionBurstSize))); request of \(samples) samples refused, retry in \(seconds)s",
                headers: [.retryAfter: String(seconds)]
            )
        case .exceedsBurst:
            reason = "burst_exceeded"
            failure = HTTPFailure(
                .badRequest,
                "request of \(samples) samples exceeds tenant \(tenant)'s burst size \(Self.format(limits.ingestionBurstSize))"
            )
        }
    }

    /// A scanner error that is one of the tenant's limits, with the tenant named in the message.
    init?(_ error: CodecError, tenant: String) {
        guard error.code == .invalidSeries else { return nil }
        if error.message.hasPrefix("request has more than ") {
            reason = "series_per_request"
        } else if error.message.hasPrefix("series has "), error.message.contains(" labels, more than the limit") {
            reason = "labels_per_series"
        } else {
            return nil
        }
        failure = HTTPFailure(.badRequest, "tenant \(tenant): \(error.message)")
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
