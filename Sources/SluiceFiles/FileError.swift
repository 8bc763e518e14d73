import SluiceCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file system call that failed: which call, on which path, and its errno.
///
/// Callers rarely throw it as it is: each component keeps its own error type and takes this one in
/// through `FileErrorRepresentable`, so its API and messages stay its own.
public struct FileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The system call, such as `"pwrite"`.
    public let call: String
    /// The path it was made on; for a rename, `"from -> to"`.
    public let path: String
    /// The call's errno; 0 when no system call failed (a file over a size limit).
    public let code: Int32
    /// `"<call> <path>: <strerror>"`, short enough for an HTTP error body or a log line.
    public let message: String

    /// A failed system call.
    public init(_ call: String, _ path: String, _ code: Int32) {
        self.call = call
        self.path = path
        self.code = code
        self.message = "\(call) \(path): \(String(cString: strerror(code)))"
    }

    /// A failure no errno explains, with its own message.
    public init(_ call: String, _ path: String, message: String) {
        self.call = call
        self.path = path
        self.code = 0
        self.message = message
    }

    public var description: String { message }
}

/// An error type that a `FileError` can be turned into, so `Files<Self>` throws it directly and the
/// caller's code keeps one typed error.
public protocol FileErrorRepresentable: Error {
    init(_ error: FileError)
}

extension FileError: FileErrorRepresentable {
    public init(_ error: FileError) { self = error }
}

/// A domain of `CodedError`s that a failed system call can end in. It has an `.io` code, and a
/// `FileError` becomes one of its errors, so `Files<CodedError<ThatDomain>>` throws it directly.
public protocol SystemErrorDomain {}

extension ErrorCode where Domain: SystemErrorDomain {
    /// A system call failed; `systemError` holds its errno.
    public static var io: Self { Self("io") }
}

extension CodedError: FileErrorRepresentable where Domain: SystemErrorDomain {
    /// An `.io` error carrying the failed call's message and errno.
    public init(_ error: FileError) {
        self.init(.io, error.message, systemError: error.code)
    }
}
