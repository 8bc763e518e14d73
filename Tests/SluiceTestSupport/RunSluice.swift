#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Runs the `sluice` binary to completion (at most `timeout`), capturing its output.
public func runSluice(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runToCompletion(BuiltProducts.sluice, arguments, timeout: timeout)
}

/// Starts the `sluice` binary with `arguments`, its output discarded, and kills it with SIGKILL as
/// soon as `started` holds (polled every 20 ms, at most `timeout`): a command cut off mid-work.
/// Whether `started` held before the kill.
public func killSluice(
    _ arguments: [String], once started: () async throws -> Bool, timeout: Duration = .seconds(60)
) async throws -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: BuiltProducts.sluice)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let held = try await eventually(timeout: timeout, every: .milliseconds(20), started)
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return held
}

/// Runs `executable` to completion (at most `timeout`), capturing stdout and stderr. The output
/// goes to files, not pipes: reading a pipe blocks a thread, and the test's servers (a proxy the
/// command talks to) need every thread of the cooperative pool.
public func runToCompletion(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], currentDirectory: String? = nil,
    timeout: Duration = .seconds(120)
) async throws -> (status: Int32, stdout: String, stderr: String) {
    let directory = try TemporaryDirectory("sluice-run")
    defer { directory.remove() }
    let outPath = directory.path + "/stdout"
    let errPath = directory.path + "/stderr"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
        try? out.close()
        try? err.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let exited = try await eventually(timeout: timeout, every: .milliseconds(20)) { !process.isRunning }
    if !exited {
        process.terminate()
        throw EndToEndError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
    }
    process.waitUntilExit()
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return (process.terminationStatus, stdout, stderr)
}
