/// The code of one of Sluice's typed errors: a name from a fixed set, which callers compare and
/// switch over instead of reading messages, in the manner of swift-nio's extensible error codes.
///
/// `Domain` is a caseless enum that names the set, such as `CodecErrorDomain`. The set's codes are
/// static properties of `extension ErrorCode where Domain == ThatDomain`. Only this package makes
/// codes, so each set stays closed, and a code of one set cannot be mistaken for another's.
public struct ErrorCode<Domain>: Hashable, Sendable, CustomStringConvertible {
    private let name: String

    package init(_ name: String) { self.name = name }

    public var description: String { name }
}

/// A typed error: a code to decide on and a short message, one line and safe to send to a client.
///
/// Every error Sluice throws is one of these, named by a typealias over its domain:
///
///     public typealias CodecError = CodedError<CodecErrorDomain>
///     public enum CodecErrorDomain {}
///     extension ErrorCode where Domain == CodecErrorDomain {
///         public static var truncated: Self { Self("truncated") }
///     }
///
/// Callers throw `CodecError(.truncated, "...")`, declare `throws(CodecError)`, and catch with
/// `catch let error as CodecError`.
public struct CodedError<Domain>: Error, Hashable, Sendable, CustomStringConvertible {
    public typealias Code = ErrorCode<Domain>

    public let code: Code
    /// One line, safe to send to a client or log.
    public let message: String
    /// The errno of a failed system call, or 0.
    public let systemError: Int32

    public init(_ code: Code, _ message: String, systemError: Int32 = 0) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }

    public var description: String { "\(code): \(message)" }
}
