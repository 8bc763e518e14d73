// The storage node's write-ahead log, read back at startup.
//
// Each input is used twice:
// - as one record's payload, for `WALRecordCodec.decode` (what replay does once a frame's checksum
//   matched). Invariant: the decoded record re-encodes to a payload that decodes to the same record.
// - as a whole segment file, for the replay of one file (frames, checksums, records). Invariant, from
//   `WAL.replay`'s documentation: replay cuts the file at its first damage, so "a second replay then
//   finds nothing to repair" and reads the same records.
import FuzzSupport
import SluiceCodec
import SluiceStorage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The segment file, in tmpfs when there is one: each run rewrites it.
let segmentPath: String = {
    var directory = "/dev/shm"
    if access(directory, W_OK) != 0 { directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp" }
    return "\(directory)/sluice-fuzz-wal-\(getpid())"
}()

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    checkRecord(input)
    checkSegment(input)
    return 0
}

func checkRecord(_ payload: UnsafeRawBufferPointer) {
    guard let canonical = try? WALFuzzing.decodeRecord(payload) else { return }
    let again: [UInt8]
    do {
        again = try canonical.withUnsafeBytes { (raw) throws(CodecError) in try WALFuzzing.decodeRecord(raw) }
    } catch {
        fatalError("a re-encoded WAL record does not decode: \(error)")
    }
    precondition(again == canonical, "a WAL record changes through encode and decode")
}

func checkSegment(_ bytes: UnsafeRawBufferPointer) {
    let fd = open(segmentPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    precondition(fd >= 0, "cannot create \(segmentPath)")
    var written = 0
    while written < bytes.count {
        let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
        precondition(n > 0, "cannot write \(segmentPath)")
        written += n
    }
    close(fd)
    defer { unlink(segmentPath) }
    do {
        let first = try WALFuzzing.replaySegment(atPath: segmentPath)
        let second = try WALFuzzing.replaySegment(atPath: segmentPath)
        precondition(
            second.records == first.records && second.validEnd == first.validEnd,
            "a second replay of a repaired segment finds more damage"
        )
    } catch {
        fatalError("replay of a segment file failed: \(error)")
    }
}
