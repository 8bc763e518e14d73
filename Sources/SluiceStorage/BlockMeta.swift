#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SluiceCodec

/// What a block's `meta.json` says: its time range, half-open like Prometheus', and its size.
///
/// The file is small and read once per block open, so JSON (readable by an operator with `cat`) costs
/// nothing that matters.
struct BlockMeta: Sendable, Hashable {
    /// Inclusive start of the block's range, in milliseconds.
    var minTime: Int64
    /// Exclusive end of the block's range, in milliseconds.
    var maxTime: Int64
    var numSeries: Int
    var numChunks: Int
    /// Samples and native histograms.
    var numSamples: Int
    /// The block's format version (`BlockIndex.swift`), the same in all its files.
    var version: UInt8
    /// The directory name of the block this one was rewritten from (a backfill, `Backfill.swift`),
    /// which is deleted once this one is whole: if a crash comes between, the next open deletes it.
    var replaces: String? = nil

    /// The largest `meta.json` a block may have; anything bigger is not ours.
    static let maxFileSize = 64 * 1024

    /// The file's contents, keys in a fixed order.
    func json() -> String {
        // A directory name is digits, underscores and hex digits: nothing to escape.
        let replaced = replaces.map { ",\"replaces\":\"\($0)\"" } ?? ""
        return """
            {"version":\(version),"minTime":\(minTime),"maxTime":\(maxTime),\
            "stats":{"numSeries":\(numSeries),"numChunks":\(numChunks),"numSamples":\(numSamples)}\(replaced)}

            """
    }

    /// Parses and checks a `meta.json`.
    ///
    /// - Throws: `.chunkCorrupt` for anything but a version-1 or -2 meta with a non-empty range and
    ///   counts that are not negative.
    init(json bytes: [UInt8]) throws(CodecError) {
        let file: MetaFile
        do {
            file = try JSONDecoder().decode(MetaFile.self, from: Data(bytes))
        } catch {
            throw CodecError(.chunkCorrupt, "block meta.json is not valid")
        }
        guard let version = UInt8(exactly: file.version), BlockFormat.readableVersions.contains(version) else {
            throw CodecError(.chunkCorrupt, "block meta.json: unsupported version \(file.version)")
        }
        guard file.minTime < file.maxTime, file.stats.numSeries >= 0, file.stats.numChunks >= 0,
            file.stats.numSamples >= 0
        else { throw CodecError(.chunkCorrupt, "block meta.json: empty range or negative count") }
        self.init(
            minTime: file.minTime, maxTime: file.maxTime, numSeries: file.stats.numSeries,
            numChunks: file.stats.numChunks, numSamples: file.stats.numSamples, version: version
        )
        if let replaces = file.replaces {
            guard BlockFormat.parseDirectoryName(replaces) != nil else {
                throw CodecError(.chunkCorrupt, "block meta.json: replaces \(replaces), which is not a block name")
            }
            self.replaces = replaces
        }
    }

    init(minTime: Int64, maxTime: Int64, numSeries: Int, numChunks: Int, numSamples: Int, version: UInt8 = BlockFormat.xorVersion) {
        self.minTime = minTime
        self.maxTime = maxTime
        self.numSeries = numSeries
        self.numChunks = numChunks
        self.numSamples = numSamples
        self.version = version
    }
}

private struct MetaFile: Decodable {
    struct Stats: Decodable {
        var numSeries: Int
        var numChunks: Int
        var numSamples: Int
    }

    var version: Int
    var minTime: Int64
    var maxTime: Int64
    var stats: Stats
    var replaces: String?
}
