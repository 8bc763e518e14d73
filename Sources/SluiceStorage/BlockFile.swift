import SluiceFiles

/// Why a block could not be written, opened or deleted. Corrupt block contents throw `CodecError`
/// instead, so a caller can tell a damaged block (quarantine it) from a failing disk (retry, alert).
struct BlockError: Error, Hashable, Sendable, CustomStringConvertible {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case io
            case invalidInput
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed; `systemError` holds its errno.
        static let io = Code(.io)
        /// `BlockWriter.write` was given series or chunks that break its preconditions.
        static let invalidInput = Code(.invalidInput)

        var description: String { base.rawValue }
    }

    let code: Code
    let message: String
    /// The errno of a failed system call, or 0.
    let systemError: Int32

    init(_ code: Code, _ message: String, systemError: Int32 = 0) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }

    var description: String { "\(code): \(message)" }
}

/// The system calls blocks make, throwing `BlockError`s that name the call and path.
typealias BlockFile = Files<BlockError>

extension BlockError: FileErrorRepresentable {
    init(_ error: FileError) {
        self.init(.io, error.message, systemError: error.code)
    }
}
