import SluiceFiles
import SluiceCodec

/// Why a block could not be written, opened or deleted. Corrupt block contents throw `CodecError`
/// instead, so a caller can tell a damaged block (quarantine it) from a failing disk (retry, alert).
typealias BlockError = CodedError<BlockErrorDomain>

/// The codes of `BlockError`.
enum BlockErrorDomain: SystemErrorDomain {}

extension ErrorCode where Domain == BlockErrorDomain {
    /// `BlockWriter.write` was given series or chunks that break its preconditions.
    static var invalidInput: Self { Self("invalidInput") }
}

/// The system calls blocks make, throwing `BlockError`s that name the call and path.
typealias BlockFile = Files<BlockError>
