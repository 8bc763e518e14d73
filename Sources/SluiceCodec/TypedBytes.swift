// The standard library's `withUnsafeBytes` rethrows `any Error`; these keep codec errors typed.

extension Array where Element == UInt8 {
    @inlinable
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(CodecError) -> R) throws(CodecError) -> R {
        let result: Result<R, CodecError> = withUnsafeBytes { raw in
            Result { () throws(CodecError) in try body(raw) }
        }
        return try result.get()
    }
}

extension ArraySlice where Element == UInt8 {
    @inlinable
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(CodecError) -> R) throws(CodecError) -> R {
        let result: Result<R, CodecError> = withUnsafeBytes { raw in
            Result { () throws(CodecError) in try body(raw) }
        }
        return try result.get()
    }
}
