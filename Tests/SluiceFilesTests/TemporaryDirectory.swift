import Foundation
import SluiceFiles

/// Runs `body` with a fresh directory, removed after it.
func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let path = NSTemporaryDirectory() + "sluice-files-\(UUID().uuidString)"
    try Files<FileError>.makeDirectories(path)
    defer { try? Files<FileError>.removeTree(path) }
    try body(path)
}
