#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SluiceFiles
import Testing

/// `Files`, the POSIX layer the WAL, blocks and hint queues stand on: what each call does, which
/// errors it reports with which call and path, and which it forgives.
@Suite struct FilesTests {
    typealias F = Files<FileError>

    @Test func newFilesReadBackWholeAndInPieces() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/a"
            let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try F.writeNewFile(path, bytes)
            #expect(try F.readWholeFile(path) == bytes)
            #expect(try F.fileSize(path) == bytes.count)
            // A second create of the same name is refused: writeNewFile never replaces.
            #expect(throws: FileError.self) { try F.writeNewFile(path, [1]) }

            let fd = try F.openFile(path, O_RDWR)
            defer { F.closeFile(fd) }
            #expect(try F.readExactly(fd, count: 100, at: 9_900, path: path) == Array(bytes[9_900...]))
            #expect(try F.readExactly(fd, count: 101, at: 9_900, path: path) == nil, "the file ends first")
            var buffer = [UInt8](repeating: 0, count: 64)
            #expect(try F.readFully(fd, &buffer, at: 9_990, path: path) == 10)

            try F.writeFully(fd, [9, 9, 9], at: 10, path: path)
            try F.dataSync(fd, path: path)
            try F.truncateFile(fd, to: 20, path: path)
            #expect(try F.size(of: fd, path: path) == 20)
            #expect(try F.readWholeFile(fd, path: path) == Array(bytes[0..<10]) + [9, 9, 9] + Array(bytes[13..<20]))
        }
    }

    @Test func aFileOverTheLimitIsRefusedBeforeItIsRead() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/big"
            try F.writeNewFile(path, [UInt8](repeating: 7, count: 4096))
            #expect(try F.readWholeFile(path, limit: 4096).count == 4096)
            let error = #expect(throws: FileError.self) { try F.readWholeFile(path, limit: 4095) }
            #expect(error?.code == 0)
            #expect(error?.message.contains("4096 bytes, more than the 4095 allowed") == true, "\(String(describing: error))")
        }
    }

    @Test func errorsNameTheCallThePathAndTheErrno() throws {
        try withTemporaryDirectory { directory in
            let missing = directory + "/missing/file"
            let error = #expect(throws: FileError.self) { try F.openFile(missing, O_RDONLY) }
            #expect(error?.call == "open")
            #expect(error?.path == missing)
            #expect(error?.code == ENOENT)
            #expect(error?.message == "open \(missing): \(String(cString: strerror(ENOENT)))")
            let rename = #expect(throws: FileError.self) { try F.renameItem(missing, directory + "/b") }
            #expect(rename?.path == "\(missing) -> \(directory)/b")
        }
    }

    /// A caller's own error type takes `FileError` in, so `Files<Caller>` throws it directly.
    @Test func callersKeepTheirOwnErrorType() throws {
        struct QueueError: FileErrorRepresentable, Equatable {
            let wrapped: FileError
            init(_ error: FileError) { wrapped = error }
        }
        #expect(throws: QueueError.self) { try Files<QueueError>.openFile("/nonexistent/sluice/x", O_RDONLY) }
    }

    @Test func directoriesAreMadeListedRenamedAndRemoved() throws {
        try withTemporaryDirectory { directory in
            let deep = directory + "/x/y/z"
            try F.makeDirectories(deep)
            try F.makeDirectories(deep)  // again: nothing to do
            #expect(F.isDirectory(deep))
            try F.writeNewFile(deep + "/f", [1, 2, 3])
            try F.writeNewFile(directory + "/x/g", [4])
            #expect(try F.listDirectory(directory + "/x").sorted() == ["g", "y"])
            try F.renameItem(directory + "/x/g", directory + "/x/h")
            try F.syncDirectory(directory + "/x")
            #expect(!F.exists(directory + "/x/g") && F.exists(directory + "/x/h"))
            // A dangling symlink exists, and removeTree removes the link, never what it points to.
            let outside = directory + "/outside"
            try F.writeNewFile(outside, [5])
            #expect(symlink(outside, deep + "/link") == 0)
            #expect(symlink(directory + "/nowhere", deep + "/dangling") == 0)
            #expect(F.exists(deep + "/dangling") && !F.isDirectory(deep + "/dangling"))
            try F.removeTree(directory + "/x")
            #expect(!F.exists(directory + "/x"))
            #expect(try F.readWholeFile(outside) == [5])
            // Removing what is already gone is not an error.
            try F.removeTree(directory + "/x")
            try F.removeFile(directory + "/x/h")
        }
    }

    @Test(arguments: [
        ("/a/b/c", "/a/b"), ("/a/b/c/", "/a/b"), ("a", "."), ("a/b", "a"), ("/a", "/"), ("/", "/"), ("a//", "."),
    ])
    func parentDirectoryOf(_ path: String, _ parent: String) {
        #expect(F.parentDirectory(path) == parent)
    }

    @Test func trimmingSlashesKeepsTheRoot() {
        #expect(F.trimmingSlashes("/a/b///") == "/a/b")
        #expect(F.trimmingSlashes("/") == "/")
        #expect(F.trimmingSlashes("///") == "/")
    }

    /// One holder at a time; a second descriptor waits out its patience, then gets false, and takes the
    /// lock at once when it is free again.
    @Test func anExclusiveLockHasOneHolder() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/lock"
            try F.writeNewFile(path, [])
            let first = try F.openFile(path, O_RDWR)
            let second = try F.openFile(path, O_RDWR)
            defer { F.closeFile(second) }
            #expect(try F.lockExclusively(first, path: path))
            let started = ContinuousClock.now
            #expect(try !F.lockExclusively(second, path: path, patience: .milliseconds(100)))
            #expect(ContinuousClock.now - started >= .milliseconds(100))
            F.closeFile(first)
            #expect(try F.lockExclusively(second, path: path, patience: .zero))
        }
    }
}
