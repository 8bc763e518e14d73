import SluiceCodec
import Testing

@testable import SluiceLoadgen

/// The hand-built snappy block must decode, with libsnappy, to exactly the template, before and
/// after any bytes of its patch regions change, and be about as small as libsnappy's own.
@Suite struct CompressedTemplateTests {
    @Test(arguments: [0, 1, 7, 300, 2000])
    func decodesToTheTemplateAndPatchesInPlace(series: Int) throws {
        let shape = SeriesShape(
            series: max(series, 1), metrics: min(10, max(series, 1)), intervalMs: 15_000, startMs: 1_800_000_000_000,
            churnPercent: 0, outOfOrder: 0.1, runID: "c"
        )
        var template = RequestTemplate(shape: shape, slots: 0..<series, tick: 0)
        for tick in [0, 1, 99] {
            var output = [UInt8](repeating: 0xEE, count: template.compressedSize)
            let written = output.withUnsafeMutableBytes { template.render(shape: shape, tick: tick, into: $0) }
            #expect(written == template.compressedSize)
            let decoded = try Snappy.decompress(output, limit: 64 << 20)
            #expect(decoded == template.encoded)
        }
    }

    @Test func randomRegionsSurviveAnyPatch() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            // Repetitive input, as label sets are, with regions anywhere.
            let words: [[UInt8]] = [Array("__name__".utf8), Array("instance".utf8), Array("host-1".utf8), [0, 1, 2, 3]]
            var input: [UInt8] = []
            while input.count < 3000 { input += words.randomElement(using: &generator)! }
            var regions: [Int] = []
            var next = Int.random(in: 0..<40, using: &generator)
            while next + 15 <= input.count {
                regions.append(next)
                next += 15 + Int.random(in: 0..<200, using: &generator)
            }
            let block = CompressedTemplate(input, regions: regions, regionLength: 15)
            #expect(try Snappy.decompress(block.bytes, limit: 1 << 20) == input)
            // Scribble over every region, in the input and at the block's offsets alike.
            var patchedInput = input
            var patchedBlock = block.bytes
            for (index, start) in regions.enumerated() {
                for offset in 0..<15 {
                    let byte = UInt8.random(in: 0...255, using: &generator)
                    patchedInput[start + offset] = byte
                    patchedBlock[block.regionOffsets[index] + offset] = byte
                }
            }
            #expect(try Snappy.decompress(patchedBlock, limit: 1 << 20) == patchedInput)
        }
    }

    @Test func isAboutAsSmallAsLibsnappy() {
        let shape = SeriesShape(
            series: 2000, metrics: 100, intervalMs: 15_000, startMs: 1_800_000_000_000, churnPercent: 0, outOfOrder: 0, runID: "c"
        )
        var template = RequestTemplate(shape: shape, slots: 0..<2000, tick: 0)
        var output = [UInt8](repeating: 0, count: template.compressedSize)
        _ = output.withUnsafeMutableBytes { template.render(shape: shape, tick: 5, into: $0) }
        // libsnappy on the same rendered request: values and timestamps in place.
        let libsnappy = Snappy.compress(template.encoded).count
        #expect(template.compressedSize < libsnappy * 5 / 4, "\(template.compressedSize) vs libsnappy's \(libsnappy)")
        #expect(template.compressedSize < template.encodedSize / 3)
    }
}
