#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCodec
import SluiceQuery
import Testing

@testable import SluiceStorage

@Suite("Block")
struct BlockTests {
    // MARK: Round trip

    @Test func writeThenOpenReturnsEveryLabelChunkAndStatistic() throws {
        try withTemporaryDirectory { directory in
            let fixture = Fixture(seed: 1, seriesCount: 300)
            let path = try fixture.write(in: directory)
            let block = try Block(path: path)

            #expect(block.path == path)
            #expect(block.meta == BlockMeta(
                minTime: fixture.minTime, maxTime: fixture.maxTime, numSeries: 300,
                numChunks: fixture.chunkCount, numSamples: fixture.sampleCount
            ))
            #expect(fixture.chunkCount > 600, "several chunks per series")
            #expect(block.seriesCount == fixture.series.count)
            #expect(try block.sizeBytes == ["chunks", "index", "meta.json"].reduce(0) { try $0 + BlockFile.fileSize(path + "/" + $1) })

            for (id, series) in fixture.series.enumerated() {
                #expect(utf8(block.labels(of: id)) == utf8(series.labels), "series \(id)")
                let refs = block.chunks(of: id)
                #expect(refs.map(\.minTime) == series.chunks.map(\.minTime))
                #expect(refs.map(\.maxTime) == series.chunks.map(\.maxTime))
                #expect(refs.map(\.length) == series.chunks.map(\.bytes.count))
                for (ref, original) in zip(refs, series.chunks) {
                    #expect(try block.chunk(ref) == original)
                }
            }
            // The bytes are real XOR chunks: they decode to the samples that made them.
            let decoded = try XORChunkDecoder.decodeAll(block.chunk(block.chunks(of: 7)[0]).bytes)
            #expect(decoded.map(\.timestamp) == fixture.samples[7][0].map(\.timestamp))
            #expect(decoded.map(\.value.bitPattern) == fixture.samples[7][0].map(\.value.bitPattern))

            let meta = String(decoding: try BlockFile.readWholeFile(path + "/meta.json"), as: UTF8.self)
            #expect(meta.hasPrefix(#"{"version":1,"minTime":\#(fixture.minTime),"maxTime":\#(fixture.maxTime),"stats":{"numSeries":300,"#))
        }
    }

    @Test func postingsValuesAndNamesMatchABruteForceScan() throws {
        try withTemporaryDirectory { directory in
            let fixture = Fixture(seed: 2, seriesCount: 250)
            let block = try Block(path: fixture.write(in: directory))
            let all = fixture.series.map(\.labels)

            var pairs: [[UInt8]: (name: String, value: String)] = [:]
            var namesByBytes: [[UInt8]: String] = [:]
            for labels in all {
                for label in labels {
                    pairs[Array(label.name.utf8) + [0] + Array(label.value.utf8)] = (label.name, label.value)
                    namesByBytes[Array(label.name.utf8)] = label.name
                }
            }
            #expect(pairs.count > 40)
            for (name, value) in pairs.values {
                let expected = all.indices.filter { id in
                    all[id].contains { same($0.name, name) && same($0.value, value) }
                }
                #expect(block.postings(name: name, value: value) == expected, "\(name)=\(value)")
            }
            for name in namesByBytes.values {
                var values: [[UInt8]: String] = [:]
                for labels in all {
                    for label in labels where same(label.name, name) { values[Array(label.value.utf8)] = label.value }
                }
                let expected = values.keys.sorted { $0.lexicographicallyPrecedes($1) }
                #expect(block.values(of: name).map { Array($0.utf8) } == expected, "values of \(name)")
            }
            #expect(block.labelNames().map { Array($0.utf8) } == namesByBytes.keys.sorted { $0.lexicographicallyPrecedes($1) })
            #expect(block.allSeries() == Array(0..<250))

            // Absent pairs, and the two spellings of "é" kept apart as Prometheus keeps them.
            #expect(block.postings(name: "job", value: "absent").isEmpty)
            #expect(block.postings(name: "absent", value: "api").isEmpty)
            #expect(block.values(of: "absent").isEmpty)
            let composed = block.postings(name: "path", value: "/caf\u{E9}")
            let decomposed = block.postings(name: "path", value: "/cafe\u{301}")
            #expect(!composed.isEmpty && !decomposed.isEmpty)
            #expect(Set(composed).isDisjoint(with: decomposed))
        }
    }

    @Test func emptyBlock() throws {
        try withTemporaryDirectory { directory in
            let path = try BlockWriter.write(parent: directory, minTime: -7_200_000, maxTime: 0, series: [])
            let block = try Block(path: path)
            #expect(block.meta == BlockMeta(minTime: -7_200_000, maxTime: 0, numSeries: 0, numChunks: 0, numSamples: 0))
            #expect(block.seriesCount == 0)
            #expect(block.allSeries().isEmpty)
            #expect(block.labelNames().isEmpty)
            #expect(block.values(of: "job").isEmpty)
            #expect(block.postings(name: "", value: "").isEmpty)
            #expect(try Block.listBlocks(in: directory) == [path])
        }
    }

    // MARK: Corruption

    @Test func flippedIndexByteFailsTheOpen() throws {
        try withTemporaryDirectory { directory in
            let path = try Fixture(seed: 3, seriesCount: 120).write(in: directory)
            let indexPath = path + "/index"
            let original = try BlockFile.readWholeFile(indexPath)
            _ = try Block(path: path)
            var positions = Array(stride(from: 0, to: original.count, by: 211))
            positions.append(original.count - 1)
            for position in positions {
                var damaged = original
                damaged[position] ^= 0x10
                try overwrite(indexPath, damaged)
                #expect(throws: CodecError.self, "byte \(position)") { try Block(path: path) }
            }
            try overwrite(indexPath, original)
            _ = try Block(path: path)
        }
    }

    @Test func flippedChunkByteFailsThatChunkOnly() throws {
        try withTemporaryDirectory { directory in
            let fixture = Fixture(seed: 4, seriesCount: 50)
            let path = try fixture.write(in: directory)
            let chunksPath = path + "/chunks"
            let original = try BlockFile.readWholeFile(chunksPath)
            let ref = try Block(path: path).chunks(of: 10)[1]

            for position in [ref.offset, ref.offset + ref.length / 2, ref.offset + ref.length - 1, ref.offset + ref.length + 2] {
                var damaged = original
                damaged[position] ^= 0x01
                try overwrite(chunksPath, damaged)
                let block = try Block(path: path)
                #expect(throws: CodecError(.checksumMismatch, "block chunk CRC32C mismatch"), "byte \(position)") {
                    try block.chunk(ref)
                }
                #expect(try block.chunk(block.chunks(of: 10)[0]) == fixture.series[10].chunks[0])
                #expect(try block.chunk(block.chunks(of: 11)[0]) == fixture.series[11].chunks[0])
            }

            // A ref that does not lie in the file, and a file cut short under an open block.
            try overwrite(chunksPath, original)
            let block = try Block(path: path)
            let outside = BlockChunkRef(minTime: 0, maxTime: 0, offset: original.count - 3, length: 10)
            #expect(throws: CodecError.self) { try block.chunk(outside) }
            let last = block.chunks(of: 49).last!
            #expect(truncate(chunksPath, off_t(last.offset + 1)) == 0)
            #expect(throws: CodecError(.truncated, "block chunks file ends inside a chunk")) { try block.chunk(last) }
            #expect(throws: CodecError.self, "refs past the end of chunks fail the open") { try Block(path: path) }
        }
    }

    @Test func everyTruncationOfTheIndexIsAnError() throws {
        try withTemporaryDirectory { directory in
            let path = try Fixture(seed: 5, seriesCount: 40).write(in: directory)
            let indexPath = path + "/index"
            let original = try BlockFile.readWholeFile(indexPath)
            let chunksSize = try BlockFile.fileSize(path + "/chunks")
            _ = try BlockIndex(decoding: original, chunksSize: chunksSize)
            for length in 0..<original.count {
                #expect(throws: CodecError.self, "length \(length)") {
                    try BlockIndex(decoding: Array(original[..<length]), chunksSize: chunksSize)
                }
            }
            // Through the file too, at a sample of lengths.
            for length in stride(from: 0, to: original.count, by: max(1, original.count / 25)) {
                try overwrite(indexPath, Array(original[..<length]))
                #expect(throws: CodecError.self, "file length \(length)") { try Block(path: path) }
            }
        }
    }

    /// Damage that the CRC does not catch (the CRC recomputed after each mutation) reaches the
    /// structural checks: each mutant must decode to something in bounds or throw, never trap.
    @Test func structurallyCorruptIndexThrowsRatherThanTraps() throws {
        try withTemporaryDirectory { directory in
            let path = try Fixture(seed: 6, seriesCount: 30).write(in: directory)
            let original = try BlockFile.readWholeFile(path + "/index")
            let chunksSize = try BlockFile.fileSize(path + "/chunks")
            var random = SplitMix64(seed: 6)
            var rejected = 0
            let trials = 3000
            for _ in 0..<trials {
                var mutant = original
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let position = Int.random(in: 0..<(mutant.count - 4), using: &random)
                    mutant[position] = random.next() & 3 == 0 ? 0xFF : UInt8.random(in: 0...255, using: &random)
                }
                resealIndex(&mutant)
                guard let index = try? BlockIndex(decoding: mutant, chunksSize: chunksSize) else {
                    rejected += 1
                    continue
                }
                // Whatever decodes must be usable: every ref in bounds.
                for id in 0..<index.seriesCount {
                    for ref in index.labelRefs[index.labelStarts[id]..<index.labelStarts[id + 1]] {
                        #expect(Int(ref) < index.symbols.count)
                    }
                    for chunk in index.chunkRefs[index.chunkStarts[id]..<index.chunkStarts[id + 1]] {
                        #expect(chunk.offset + chunk.length + 4 <= chunksSize)
                        #expect(chunk.minTime >= index.minTime && chunk.maxTime < index.maxTime)
                    }
                }
                #expect(index.postingIDs.allSatisfy { Int($0) < index.seriesCount })
            }
            #expect(rejected > trials / 2, "most mutations are caught")
        }
    }

    @Test func corruptOrDisagreeingMetaFailsTheOpen() throws {
        try withTemporaryDirectory { directory in
            let fixture = Fixture(seed: 7, seriesCount: 20)
            let path = try fixture.write(in: directory)
            let metaPath = path + "/meta.json"
            let good = try BlockFile.readWholeFile(metaPath)
            let bad = [
                "",
                "{",
                #"{"version":2,"minTime":\#(fixture.minTime),"maxTime":\#(fixture.maxTime),"stats":{"numSeries":20,"numChunks":\#(fixture.chunkCount),"numSamples":1}}"#,
                #"{"version":1,"minTime":\#(fixture.minTime),"maxTime":\#(fixture.maxTime),"stats":{"numSeries":21,"numChunks":\#(fixture.chunkCount),"numSamples":1}}"#,
                #"{"version":1,"minTime":\#(fixture.minTime + 1),"maxTime":\#(fixture.maxTime),"stats":{"numSeries":20,"numChunks":\#(fixture.chunkCount),"numSamples":1}}"#,
                #"{"version":1,"minTime":5,"maxTime":5,"stats":{"numSeries":20,"numChunks":\#(fixture.chunkCount),"numSamples":1}}"#,
            ]
            for text in bad {
                try overwrite(metaPath, Array(text.utf8))
                #expect(throws: CodecError.self, "\(text)") { try Block(path: path) }
            }
            // Whitespace and key order are JSON's business, not the format's.
            let reordered = #"{ "stats": {"numSamples": 9, "numChunks": \#(fixture.chunkCount), "numSeries": 20}, "maxTime": \#(fixture.maxTime), "minTime": \#(fixture.minTime), "version": 1 }"#
            try overwrite(metaPath, Array(reordered.utf8))
            #expect(try Block(path: path).meta.numSamples == 9)
            try overwrite(metaPath, good)
            #expect(try Block(path: path).meta.numSamples == fixture.sampleCount)
        }
    }

    // MARK: The blocks directory

    @Test func listBlocksSortsByTimeAndRemovesLeftovers() throws {
        try withTemporaryDirectory { directory in
            let blocks = directory + "/blocks"
            let late = try BlockWriter.write(parent: blocks, minTime: 7_200_000, maxTime: 14_400_000, series: [])
            let negative = try BlockWriter.write(parent: blocks, minTime: -7_200_000, maxTime: 0, series: [])
            let early = try BlockWriter.write(parent: blocks, minTime: 0, maxTime: 7_200_000, series: [])
            let sameRange = try BlockWriter.write(parent: blocks, minTime: 0, maxTime: 7_200_000, series: [])
            #expect(early != sameRange, "two blocks of one range get distinct names")

            // What a crashed writer and a crashed delete leave, and things that are not blocks.
            let leftover = blocks + "/0_7200000_00000000000000ab.tmp"
            #expect(mkdir(leftover, 0o755) == 0)
            try BlockFile.writeNewFile(leftover + "/chunks", [1, 2, 3])
            #expect(mkdir(blocks + "/0_10_00000000000000cd.deleted", 0o755) == 0)
            #expect(mkdir(blocks + "/lost+found", 0o755) == 0)
            try BlockFile.writeNewFile(blocks + "/README", [])

            let listed = try Block.listBlocks(in: blocks)
            #expect(listed == [negative] + [early, sameRange].sorted() + [late])
            #expect(!BlockFile.exists(leftover))
            #expect(!BlockFile.exists(blocks + "/0_10_00000000000000cd.deleted"))
            #expect(BlockFile.exists(blocks + "/lost+found") && BlockFile.exists(blocks + "/README"))
            #expect(try Block.listBlocks(in: directory + "/missing").isEmpty)
            for path in listed { _ = try Block(path: path) }
        }
    }

    @Test func deleteRemovesTheBlockButAnOpenBlockStillReads() throws {
        try withTemporaryDirectory { directory in
            let fixture = Fixture(seed: 8, seriesCount: 10)
            let path = try fixture.write(in: directory)
            let other = try Fixture(seed: 9, seriesCount: 5).write(in: directory)
            let block = try Block(path: path)

            try Block.delete(path: path + "/")
            #expect(!BlockFile.exists(path))
            #expect(!BlockFile.exists(path + ".deleted"))
            #expect(try Block.listBlocks(in: directory) == [other])
            #expect(throws: BlockError.self) { try Block(path: path) }
            #expect(try block.chunk(block.chunks(of: 3)[0]) == fixture.series[3].chunks[0])
            #expect(throws: BlockError.self) { try Block.delete(path: path) }
        }
    }

    // MARK: Writer preconditions

    @Test func writerRejectsInputBreakingItsRulesAndLeavesNothing() throws {
        try withTemporaryDirectory { directory in
            let chunk = StoredChunk(minTime: 10, maxTime: 20, bytes: xorChunk([(10, 1), (20, 2)]))
            let a = [Label(name: "__name__", value: "a")]
            let b = [Label(name: "__name__", value: "b")]
            let ab = [Label(name: "__name__", value: "a"), Label(name: "job", value: "x")]
            let cases: [(String, Int64, Int64, [(labels: [Label], chunks: [StoredChunk])])] = [
                ("empty range", 100, 100, []),
                ("series out of order", 0, 100, [(b, [chunk]), (a, [chunk])]),
                ("duplicate label set", 0, 100, [(a, [chunk]), (a, [chunk])]),
                ("longer set first", 0, 100, [(ab, [chunk]), (a, [chunk])]),
                ("label names out of order", 0, 100, [([Label(name: "job", value: "x"), Label(name: "__name__", value: "a")], [chunk])]),
                ("duplicate label name", 0, 100, [([Label(name: "a", value: "1"), Label(name: "a", value: "2")], [chunk])]),
                ("chunk at maxTime", 0, 20, [(a, [chunk])]),
                ("chunk before minTime", 11, 100, [(a, [chunk])]),
                ("chunks out of order", 0, 100, [(a, [StoredChunk(minTime: 30, maxTime: 40, bytes: chunk.bytes), chunk])]),
                ("chunk without header", 0, 100, [(a, [StoredChunk(minTime: 10, maxTime: 20, bytes: [0])])]),
            ]
            for (reason, minTime, maxTime, series) in cases {
                #expect(throws: BlockError.self, "\(reason)") {
                    try BlockWriter.write(parent: directory, minTime: minTime, maxTime: maxTime, series: series)
                }
            }
            #expect(try BlockFile.listDirectory(directory).isEmpty)
            // The same pieces in the right order are accepted: a, then a+job (shorter first), then b.
            let path = try BlockWriter.write(parent: directory, minTime: 0, maxTime: 21, series: [(a, [chunk]), (ab, []), (b, [chunk, chunk])])
            let block = try Block(path: path)
            #expect(block.meta.numChunks == 3 && block.meta.numSamples == 6)
            #expect(block.chunks(of: 1).isEmpty)
            #expect(block.postings(name: "__name__", value: "a") == [0, 1])
        }
    }
}

// MARK: - Fixture

/// A few hundred series of real XOR chunks, sorted as a block wants them.
private struct Fixture {
    let minTime: Int64 = 1_700_000_000_000
    let maxTime: Int64 = 1_700_000_000_000 + 7_200_000
    var series: [(labels: [Label], chunks: [StoredChunk])] = []
    /// The samples behind each series' chunks.
    var samples: [[[(timestamp: Int64, value: Double)]]] = []

    init(seed: UInt64, seriesCount: Int) {
        var random = SplitMix64(seed: seed)
        var labelSets: [[Label]] = []
        let metrics = ["http_requests_total", "up", "process_cpu_seconds_total", "go_goroutines", "ünïcode_metric"]
        let paths = ["/", "/api", "/caf\u{E9}", "/cafe\u{301}"]
        for index in 0..<seriesCount {
            var labels = [
                Label(name: "__name__", value: metrics[index % metrics.count]),
                Label(name: "instance", value: "host-\(index / metrics.count % 30):9100"),
                Label(name: "job", value: ["api", "db", "web"][index / (metrics.count * 30) % 3]),
            ]
            // Unique so far by construction; an optional extra label keeps it so.
            if index % 3 == 0 { labels.append(Label(name: "path", value: paths[index / 3 % paths.count])) }
            if index % 7 == 0 { labels.append(Label(name: "a_first", value: "")) }
            if index >= metrics.count * 90 { labels.append(Label(name: "zone", value: "z\(index)")) }
            labels.sort { compareBytes($0.name, $1.name) < 0 }
            labelSets.append(labels)
        }
        // The order the select tier merges in; the writer must accept exactly it.
        labelSets.sort { compareLabelSets($0, $1) < 0 }

        for labels in labelSets {
            var chunks: [StoredChunk] = []
            var chunkSamples: [[(timestamp: Int64, value: Double)]] = []
            var time = minTime + Int64.random(in: 0..<60_000, using: &random)
            for _ in 0..<Int.random(in: 1...5, using: &random) {
                var encoder = XORChunkEncoder()
                var kept: [(timestamp: Int64, value: Double)] = []
                for sample in 0..<Int.random(in: 1...150, using: &random) where time < maxTime - 1 {
                    let value = sample == 5 ? StaleMarker.value : Double(Int.random(in: 0...1000, using: &random)) / 8
                    encoder.append(timestamp: time, value: value)
                    kept.append((time, value))
                    time += Int64.random(in: 1...15_000, using: &random)
                }
                guard !kept.isEmpty else { break }
                chunks.append(StoredChunk(minTime: encoder.minTime, maxTime: encoder.maxTime, bytes: encoder.bytes))
                chunkSamples.append(kept)
            }
            series.append((labels, chunks))
            samples.append(chunkSamples)
        }
    }

    var chunkCount: Int { series.reduce(0) { $0 + $1.chunks.count } }
    var sampleCount: Int { samples.joined().reduce(0) { $0 + $1.count } }

    func write(in directory: String) throws -> String {
        try BlockWriter.write(parent: directory, minTime: minTime, maxTime: maxTime, series: series)
    }
}

private func compareBytes(_ a: String, _ b: String) -> Int {
    if Array(a.utf8) == Array(b.utf8) { return 0 }
    return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
}

private func same(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

/// Labels as bytes, so canonically-equivalent spellings compare unequal.
private func utf8(_ labels: [Label]) -> [[UInt8]] {
    labels.flatMap { [Array($0.name.utf8), Array($0.value.utf8)] }
}

private func xorChunk(_ samples: [(Int64, Double)]) -> [UInt8] {
    var encoder = XORChunkEncoder()
    for (timestamp, value) in samples { encoder.append(timestamp: timestamp, value: value) }
    return encoder.bytes
}

/// Recomputes an index's trailing CRC after the test has edited it.
private func resealIndex(_ bytes: inout [UInt8]) {
    let crc = CRC32C.checksum(bytes[..<(bytes.count - 4)])
    withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
}

private func overwrite(_ path: String, _ bytes: [UInt8]) throws {
    _ = unlink(path)
    try BlockFile.writeNewFile(path, bytes)
}

private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    var template = Array("/tmp/sluice-block-XXXXXX".utf8CString)
    let directory = try template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let created = mkdtemp(buffer.baseAddress!) else { throw BlockFile.error("mkdtemp", "/tmp", errno) }
        return String(cString: created)
    }
    defer { try? BlockFile.removeTree(directory) }
    try body(directory)
}

/// A seeded generator, so a failure reproduces.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
