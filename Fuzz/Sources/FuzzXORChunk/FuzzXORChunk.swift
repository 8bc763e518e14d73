// The XOR chunk decoder, which reads chunks from disk, from peers and from remote-read responses.
//
// `XORChunkDecoder` documents that no input traps. Invariant: the samples of a chunk that decodes,
// appended to a fresh `XORChunkEncoder`, decode to the same timestamps and value bits.
import FuzzSupport
import SluiceCodec

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(fuzzInput(data, size))
    guard var decoder = try? XORChunkDecoder(bytes) else { return 0 }
    var samples: [(timestamp: Int64, valueBits: UInt64)] = []
    while true {
        do {
            guard let sample = try decoder.nextBits() else { break }
            samples.append(sample)
        } catch {
            // After an error the decoder keeps throwing it.
            do {
                _ = try decoder.nextBits()
                fatalError("XOR decoder recovered after an error")
            } catch {}
            return 0
        }
    }
    precondition(samples.count == decoder.count, "XOR decoder stopped before its header's count")
    // decodeAll must agree with the iterator.
    guard let all = try? XORChunkDecoder.decodeAll(bytes) else { fatalError("decodeAll fails where next() succeeds") }
    precondition(all.count == samples.count, "decodeAll and next() disagree")

    var encoder = XORChunkEncoder()
    for sample in samples {
        encoder.append(timestamp: sample.timestamp, value: Double(bitPattern: sample.valueBits))
    }
    var again = try! XORChunkDecoder(encoder.bytes)
    for sample in samples {
        guard let other = try? again.nextBits() else { fatalError("a re-encoded chunk does not decode") }
        precondition(other == sample, "a re-encoded chunk decodes to different samples")
    }
    return 0
}
