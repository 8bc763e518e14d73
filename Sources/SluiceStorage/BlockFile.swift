import SluiceFiles
import SluiceCodec

/// Why a block could not be written, opened or deleted. Corrupt block contents throw `CodecError`
/// instead, so a caller can tell a damaged block (quarantine it) from a failing disk (retry, alert).
struct BlockError: CodedError {
    typealias Code = ErrorCode<BlockError>

    let code: Code
    let message: String
    /// The errno of a failed system call, or 0.
    let systemError: Int32

    init(_ code: Code, _ message: String, systemError: Int32 = 0) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }
}

extension ErrorCode where Domain == BlockError {
    /// A system call failed; `systemError` holds its errno.
    static var io: Self { Self("io") }
    /// `BlockWriter.write` was given series or chunks that break its preconditions.
    static var invalidInput: Self { Self("invalidInput") }
}

/// The system calls blocks make, throwing `BlockError`s that name the call and path.
typealias BlockFile = Files<BlockError>

extension BlockError: FileErrorRepresentable {
    init(_ error: FileError) {
        self.init(.io, error.message, systemError: error.code)
    }
}
