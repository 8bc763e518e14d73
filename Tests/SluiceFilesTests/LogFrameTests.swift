import SluiceFiles
import Testing

/// `LogFrame`, the frame of the WAL and the hint queues: what it writes, and each way a torn or
/// damaged tail stops the frames.
@Suite struct LogFrameTests {
    /// `payloads`, one frame each.
    func frames(_ payloads: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for payload in payloads { LogFrame.append(payload, to: &bytes) }
        return bytes
    }

    /// Every frame from the start, and why the walk stopped (nil at the end of the bytes).
    func walk(_ bytes: [UInt8], checksum: Bool = true) -> (payloads: [[UInt8]], damage: LogFrame.Damage?) {
        bytes.withUnsafeBytes { raw in
            var payloads: [[UInt8]] = []
            var position = 0
            while position < raw.count {
                switch LogFrame.frame(in: raw, at: position, checksum: checksum) {
                case .success(let payload):
                    payloads.append(Array(raw[payload]))
                    position = payload.upperBound
                case .failure(let damage):
                    return (payloads, damage)
                }
            }
            return (payloads, nil)
        }
    }

    let payloads: [[UInt8]] = [[1], Array(0..<200).map { UInt8($0) }, [7, 7, 7]]

    @Test func writesLengthChecksumAndPayloadLittleEndian() {
        let bytes = frames([[0x61, 0x62, 0x63]])
        // CRC32C("abc") = 0x364B3FB7.
        #expect(bytes == [3, 0, 0, 0, 0xB7, 0x3F, 0x4B, 0x36, 0x61, 0x62, 0x63])
        #expect(walk(bytes).payloads == [[0x61, 0x62, 0x63]])
        #expect(walk(bytes).damage == nil)
    }

    @Test func readsBackEveryFrame() {
        let result = walk(frames(payloads))
        #expect(result.payloads == payloads)
        #expect(result.damage == nil)
    }

    @Test func aTornHeaderStopsTheFrames() {
        let whole = frames(payloads)
        for cut in 1..<LogFrame.headerBytes {
            let result = walk(whole + [UInt8](repeating: 9, count: cut))
            #expect(result.payloads == payloads)
            #expect(result.damage == .truncatedHeader)
        }
    }

    @Test func aTornPayloadStopsTheFrames() {
        let whole = frames(payloads)
        let result = walk(Array(whole.dropLast(1)))
        #expect(result.payloads == Array(payloads.dropLast()))
        #expect(result.damage == .truncatedFrame)
    }

    @Test func aZeroFilledTailIsDamageNotEmptyRecords() {
        let result = walk(frames(payloads) + [UInt8](repeating: 0, count: 64))
        #expect(result.payloads == payloads)
        #expect(result.damage == .emptyFrame)
    }

    @Test func aFlippedBitFailsTheChecksumUnlessOnlyHeadersAreChecked() {
        var bytes = frames(payloads)
        let second = LogFrame.headerBytes + payloads[0].count
        bytes[second + LogFrame.headerBytes + 10] ^= 0x40
        let checked = walk(bytes)
        #expect(checked.payloads == [payloads[0]])
        #expect(checked.damage == .checksumMismatch)
        #expect(walk(bytes, checksum: false).payloads.count == 3)
    }

    @Test func headerChecksAgainstWhatFollows() {
        let header = LogFrame.Header(length: 10, checksum: 0)
        #expect(LogFrame.check(header, remaining: 10) == nil)
        #expect(LogFrame.check(header, remaining: 9) == .truncatedFrame)
        #expect(LogFrame.check(LogFrame.Header(length: 0, checksum: 0), remaining: 10) == .emptyFrame)
    }
}
