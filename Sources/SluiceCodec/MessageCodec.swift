import CProtobufC
import CSluiceProto

/// Decodes and encodes whole remote-write 1.0 and remote-read messages through libprotobuf-c.
///
/// This builds every label and sample as a Swift value, which is right for cold paths, tests and the
/// read path, and too slow for the insert hot path (see `WriteRequestScanner`). One codec per worker:
/// it reuses its arena between messages and is not `Sendable`.
///
/// The conversions live beside it: `MessageDecoding.swift` (C to Swift), `MessageEncoding.swift`
/// (Swift to C) and `MessageCodecV2.swift` (remote write 2.0 into the 1.0 model).
public final class MessageCodec {
    /// libprotobuf-c's in-memory form of a message may be this many times its wire size, at most.
    /// Real bodies stay near 4×; only a crafted body of empty sub-messages gets close to this.
    public static let expansionFactor = 64

    private let arena: ProtobufArena
    private let memoryLimit: Int

    /// - Parameter memoryLimit: the most the decoder may allocate for one message, whatever its size.
    public init(memoryLimit: Int = 1 << 30) {
        self.memoryLimit = memoryLimit
        self.arena = ProtobufArena(budget: memoryLimit)
    }

    // MARK: Remote write

    public func decodeWriteRequest(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> WriteRequest {
        try unpack(bytes, prometheus__write_request__unpack) { WriteRequest($0) }
    }

    public func decodeWriteRequest(_ bytes: [UInt8]) throws(CodecError) -> WriteRequest {
        try bytes.withBytes { (raw) throws(CodecError) in try decodeWriteRequest(raw) }
    }

    public func encode(_ request: WriteRequest, appendingTo output: ByteScratch) {
        pack(output, prometheus__write_request__get_packed_size, prometheus__write_request__pack) {
            request.makeC(in: arena)
        }
    }

    // MARK: Remote read

    public func decodeReadRequest(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ReadRequest {
        try unpack(bytes, prometheus__read_request__unpack) { ReadRequest($0) }
    }

    public func decodeReadRequest(_ bytes: [UInt8]) throws(CodecError) -> ReadRequest {
        try bytes.withBytes { (raw) throws(CodecError) in try decodeReadRequest(raw) }
    }

    public func encode(_ request: ReadRequest, appendingTo output: ByteScratch) {
        pack(output, prometheus__read_request__get_packed_size, prometheus__read_request__pack) {
            request.makeC(in: arena)
        }
    }

    public func decodeReadResponse(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ReadResponse {
        try unpack(bytes, prometheus__read_response__unpack) { ReadResponse($0) }
    }

    public func encode(_ response: ReadResponse, appendingTo output: ByteScratch) {
        pack(output, prometheus__read_response__get_packed_size, prometheus__read_response__pack) {
            response.makeC(in: arena)
        }
    }

    public func decodeChunkedReadResponse(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ChunkedReadResponse {
        try unpack(bytes, prometheus__chunked_read_response__unpack) { ChunkedReadResponse($0) }
    }

    public func encode(_ response: ChunkedReadResponse, appendingTo output: ByteScratch) {
        pack(
            output, prometheus__chunked_read_response__get_packed_size, prometheus__chunked_read_response__pack
        ) {
            response.makeC(in: arena)
        }
    }

    /// Encodes into a fresh array. For tests and cold paths.
    public func encoded(_ body: (MessageCodec, ByteScratch) -> Void) -> [UInt8] {
        let scratch = ByteScratch(capacity: 4096)
        body(self, scratch)
        return scratch.toArray()
    }

    // MARK: libprotobuf-c plumbing

    func unpack<C, T>(
        _ bytes: UnsafeRawBufferPointer,
        _ unpackFunction: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<C>?,
        _ convert: (UnsafePointer<C>) -> T
    ) throws(CodecError) -> T {
        arena.reset()
        defer { arena.reset() }
        arena.budget = min(memoryLimit, bytes.count &* Self.expansionFactor &+ 64 * 1024)
        var allocator = arena.allocator
        let empty: UInt8 = 0
        let message = withUnsafePointer(to: empty) { emptyPointer in
            unpackFunction(
                &allocator, bytes.count,
                bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer
            )
        }
        guard let message else {
            if arena.budgetExceeded {
                throw CodecError(.sizeLimitExceeded, "protobuf message expands past the decoder's memory limit")
            }
            throw CodecError(.protobufInvalid, "malformed protobuf message")
        }
        return convert(message)
    }

    private func pack<C>(
        _ output: ByteScratch,
        _ sizeFunction: (UnsafePointer<C>?) -> Int,
        _ packFunction: (UnsafePointer<C>?, UnsafeMutablePointer<UInt8>?) -> Int,
        _ build: () -> UnsafeMutablePointer<C>
    ) {
        arena.reset()
        arena.budget = .max
        defer { arena.reset() }
        let message = build()
        let size = sizeFunction(message)
        output.reserve(extra: size)
        output.appendUnsafe { tail in
            packFunction(message, tail.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }
}
