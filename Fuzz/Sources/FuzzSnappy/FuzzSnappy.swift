// Snappy block decompression, as every remote-write and remote-read body goes through it first.
//
// Invariant: a block that decompresses compresses and decompresses back to the same bytes.
import FuzzSupport
import SluiceCodec

/// The insert tier's and storage's default is 32 MiB; half keeps libFuzzer's RSS limit comfortable.
let limit = 16 << 20
nonisolated(unsafe) let output = ByteScratch(capacity: 1 << 16)
nonisolated(unsafe) let again = ByteScratch(capacity: 1 << 16)

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    do {
        try Snappy.decompress(input, into: output, limit: limit)
    } catch {
        return 0
    }
    let compressed = ByteScratch(capacity: Snappy.maxCompressedLength(output.count))
    Snappy.compress(output.bytes, appendingTo: compressed)
    do {
        try Snappy.decompress(compressed.bytes, into: again, limit: limit)
    } catch {
        fatalError("snappy rejects its own compression of \(output.count) bytes: \(error)")
    }
    precondition(again.bytes.elementsEqual(output.bytes), "snappy round trip changed the bytes")
    return 0
}
