#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SluiceCodec
import SluiceFiles
import Testing

/// The segmented log the WAL and the hint queues share: names, listing, appends that roll and cut
/// back, the torn-tail walk, the cursor and the directory lock.
@Suite struct SegmentedLogTests {
    typealias F = Files<FileError>

    @Test func namesSortAsIdsAndOnlySegmentsParse() {
        let wal = LogSegmentNames(digits: 8)
        let hints = LogSegmentNames(digits: 20, suffix: ".seg")
        #expect(wal.name(1) == "00000001")
        #expect(wal.name(123_456_789) == "123456789", "an id past the padding keeps every digit")
        #expect(hints.name(7) == "00000000000000000007.seg")
        for id in [0, 1, 99, 100_000_000, Int.max] {
            #expect(wal.id(wal.name(id)) == id)
            #expect(hints.id(hints.name(id)) == id)
        }
        #expect(wal.id("0000001") == nil, "too few digits")
        #expect(wal.id("checkpoint.00000001") == nil)
        #expect(wal.id("0000000a") == nil)
        #expect(hints.id("00000000000000000001") == nil, "no suffix")
        #expect(hints.id("cursor") == nil)
        #expect(hints.id("99999999999999999999.seg") == nil, "past Int.max")
        let sorted = (1...200).map(wal.name).sorted()
        #expect(sorted == (1...200).map(wal.name))
    }

    @Test func appendsRollAndListInOrder() throws {
        try withTemporaryDirectory { directory in
            let segments = LogSegments(directory: directory, names: LogSegmentNames(digits: 8))
            #expect(try segments.ids(FileError.self) == [])
            try F.writeNewFile(directory + "/lock", [])
            var frames: [UInt8] = []
            LogFrame.append([1, 2, 3], to: &frames)
            for id in [3, 1, 2] {
                var appender: LogAppender<FileError> = try segments.append(to: id)
                defer { appender.close() }
                try appender.append(frames)
                try appender.append(frames)
                try appender.sync()
                #expect(appender.size == 2 * frames.count)
            }
            #expect(try segments.ids(FileError.self) == [1, 2, 3], "only segments, ascending")

            // Reopened, a segment appends at its end; `truncate` starts it empty.
            var again: LogAppender<FileError> = try segments.append(to: 2)
            #expect(again.size == 2 * frames.count)
            try again.append(frames)
            again.close()
            #expect(try F.fileSize(segments.path(2)) == 3 * frames.count)
            let fresh: LogAppender<FileError> = try segments.append(to: 2, truncate: true)
            #expect(fresh.size == 0)
            fresh.close()
        }
    }

    @Test func aCutBackDropsWhatFollows() throws {
        try withTemporaryDirectory { directory in
            let segments = LogSegments(directory: directory, names: LogSegmentNames(digits: 8))
            var appender: LogAppender<FileError> = try segments.append(to: 1)
            defer { appender.close() }
            try appender.append([UInt8](repeating: 7, count: 100))
            try appender.append([UInt8](repeating: 8, count: 50))
            #expect(appender.cutBack(to: 100) == nil)
            #expect(appender.size == 100)
            #expect(try F.readWholeFile(segments.path(1)) == [UInt8](repeating: 7, count: 100))
            try appender.append([9])
            #expect(try F.fileSize(segments.path(1)) == 101, "the next append goes where the cut left off")
        }
    }

    @Test func aFailedWriteIsReported() throws {
        try withTemporaryDirectory { directory in
            let segments = LogSegments(directory: directory, names: LogSegmentNames(digits: 8))
            // A segment that is /dev/full: every write fails with ENOSPC, and it cannot be cut.
            #expect(symlink("/dev/full", segments.path(1)) == 0)
            var appender: LogAppender<FileError> = try segments.append(to: 1)
            defer { appender.close() }
            var failed: LogAppender<FileError>.AppendFailure?
            do throws(LogAppender<FileError>.AppendFailure) {
                try appender.append([4, 5, 6])
            } catch {
                failed = error
            }
            #expect(failed?.error.code == ENOSPC)
            #expect(failed?.cutBack != nil, "a device cannot be truncated")
            #expect(appender.size == 0, "the failed bytes are not counted")
        }
    }

    @Test func theWalkStopsAtTheFirstBadFrame() {
        var bytes: [UInt8] = []
        for payload in [[1], [2, 2], [3, 3, 3]] as [[UInt8]] { LogFrame.append(payload, to: &bytes) }
        let whole = bytes.count
        bytes.withUnsafeBytes { raw in
            var seen: [Int] = []
            let result = LogFrame.walk(raw) { seen.append($0.count) }
            #expect(seen == [1, 2, 3])
            #expect(result.validEnd == whole)
            #expect(result.damage == nil)
        }
        // A flipped payload byte in the second frame: the walk ends before it, unless checksums
        // are left out.
        var damaged = bytes
        damaged[LogFrame.headerBytes + 1 + LogFrame.headerBytes] ^= 0xFF
        damaged.withUnsafeBytes { raw in
            var seen = 0
            let result = LogFrame.walk(raw) { _ in seen += 1 }
            #expect(seen == 1)
            #expect(result.validEnd == LogFrame.headerBytes + 1)
            #expect(result.damage == .checksumMismatch)
            #expect(LogFrame.walk(raw, checksum: false) { _ in }.validEnd == whole)
        }
        // A torn tail: the last frame cut short.
        bytes.dropLast(2).withUnsafeBytes { raw in
            let result = LogFrame.walk(UnsafeRawBufferPointer(raw)) { _ in }
            #expect(result.damage == .truncatedFrame)
            #expect(result.validEnd == 2 * LogFrame.headerBytes + 3)
        }
        // Started past the first frame, the walk sees only what follows.
        bytes.withUnsafeBytes { raw in
            var seen: [Int] = []
            _ = LogFrame.walk(raw, from: LogFrame.headerBytes + 1) { seen.append($0.count) }
            #expect(seen == [2, 3])
        }
    }

    @Test func theCursorRoundTripsAndRefusesDamage() {
        for cursor in [LogCursor(segment: 0, offset: 0), LogCursor(segment: 17, offset: 123_456), LogCursor(segment: Int.max, offset: Int.max)] {
            let bytes = cursor.encoded
            #expect(bytes.count == LogCursor.encodedBytes)
            #expect(bytes.withUnsafeBytes { LogCursor(decoding: $0) } == cursor)
            for index in bytes.indices {
                var damaged = bytes
                damaged[index] ^= 0x01
                #expect(damaged.withUnsafeBytes { LogCursor(decoding: $0) } == nil, "byte \(index) flipped")
            }
            #expect(Array(bytes.dropLast()).withUnsafeBytes { LogCursor(decoding: $0) } == nil, "short")
        }
    }

    @Test func oneLockHolderPerDirectory() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/lock"
            let first = try F.openLocked(path)
            #expect(first != nil)
            // flock locks belong to the open file description: a second open in this process is
            // refused as another process would be.
            #expect(try F.openLocked(path) == nil)
            if let first { F.closeFile(first) }
            let again = try F.openLocked(path)
            #expect(again != nil)
            if let again { F.closeFile(again) }
        }
    }
}
