import SluiceCodec

/// Why a query's input could not be used: a matcher, a selector, a time.
///
/// Everything in this module that reads client input throws this one typed error, so the select and
/// storage tiers map it to a single status (400, `bad_data`) at the edge without inspecting messages.
/// The `message` is what goes back to the client in the Prometheus error body: one line, and it names
/// the position in the input where that helps, as Prometheus' own parse errors do.
public typealias QueryError = CodedError<QueryErrorDomain>

/// The codes of `QueryError`.
public enum QueryErrorDomain {}

extension ErrorCode where Domain == QueryErrorDomain {
    /// A label matcher whose type this module does not know, such as a remote-read matcher from a
    /// newer protocol version.
    public static var invalidMatcher: Self { Self("invalidMatcher") }
    /// A `match[]` series selector that does not parse, or selects everything.
    public static var invalidSelector: Self { Self("invalidSelector") }
    /// A `start`, `end` or `time` parameter that is neither Unix seconds nor RFC 3339.
    public static var invalidTime: Self { Self("invalidTime") }
    /// A `=~` or `!~` pattern that Go's RE2, and so Prometheus, would reject, or that Swift's
    /// `Regex` cannot express.
    public static var invalidRegex: Self { Self("invalidRegex") }
}
