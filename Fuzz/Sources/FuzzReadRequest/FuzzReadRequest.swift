// The remote-read request, as storage and select decode it (RemoteReadHTTP.decodeRequest): snappy
// first, then `MessageCodec().decodeReadRequest` with the memory limit they use; then what they do
// next with hostile input: negotiate the response type and compile every matcher (Go regex syntax).
//
// The input is tried both as a snappy block and as a protobuf body itself, so mutations reach the
// protobuf decoder without having to keep a snappy block valid.
//
// Invariant: a decoded request encodes to bytes that decode to the same request.
import FuzzSupport
import SluiceCodec
import SluiceQuery

/// Select's default: 8 × its body limit; 16 MiB keeps libFuzzer's RSS limit comfortable.
let decodedLimit = 16 << 20

nonisolated(unsafe) let decompressed = ByteScratch(capacity: 1 << 16)
nonisolated(unsafe) let encoded = ByteScratch(capacity: 1 << 16)

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if (try? Snappy.decompress(input, into: decompressed, limit: decodedLimit)) != nil {
        check(decompressed.bytes)
    }
    check(input)
    return 0
}

func check(_ body: UnsafeRawBufferPointer) {
    let codec = MessageCodec(memoryLimit: max(1 << 20, body.count * MessageCodec.expansionFactor))
    guard let request = try? codec.decodeReadRequest(body) else { return }
    _ = request.negotiate()
    for query in request.queries {
        for matcher in query.matchers {
            guard let compiled = try? CompiledMatcher(matcher) else { continue }
            _ = compiled.matches("")
            _ = compiled.matches(matcher.value)
            _ = compiled.matches(matcher.name)
        }
    }

    encoded.removeAll()
    codec.encode(request, appendingTo: encoded)
    let again: ReadRequest
    do {
        again = try MessageCodec().decodeReadRequest(encoded.bytes)
    } catch {
        fatalError("a re-encoded read request does not decode: \(error)")
    }
    precondition(again == request, "a read request changes through encode and decode")
}
