/// The code of one of Sluice's typed errors: a name from a fixed set, which callers compare and
/// switch over instead of reading messages, in the manner of swift-nio's extensible error codes.
///
/// An error type says `typealias Code = ErrorCode<Self>` and lists its codes as static properties of
/// `extension ErrorCode where Domain == ThatError`. Only this package makes codes, so each set stays
/// closed, and a code of one error type cannot be mistaken for another's.
public struct ErrorCode<Domain>: Hashable, Sendable, CustomStringConvertible {
    private let name: String

    package init(_ name: String) { self.name = name }

    public var description: String { name }
}

/// A typed error: a code to decide on and a short message, one line and safe to send to a client.
public protocol CodedError: Error, Hashable, Sendable, CustomStringConvertible {
    associatedtype Domain
    var code: ErrorCode<Domain> { get }
    var message: String { get }
}

extension CodedError {
    public var description: String { "\(code): \(message)" }
}
