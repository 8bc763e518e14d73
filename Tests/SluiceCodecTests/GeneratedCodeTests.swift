import Foundation
import Testing

/// The protoc-c output under Sources/CSluiceProto is committed; this fails when proto/ changed and
/// scripts/generate-proto.sh was not run. It needs protoc-c (Debian's protobuf-c-compiler), which the
/// test script installs; without it the test is skipped rather than passing vacuously.
@Suite struct GeneratedCodeTests {
    static let protocC = ["/usr/bin/protoc-c", "/usr/local/bin/protoc-c"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: protocC != nil, "protoc-c is not installed"))
    func generatedCodeMatchesProto() throws {
        let root = Fixtures.packageRoot
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-proto-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/generate-proto.sh").path, out.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let committed = root.appendingPathComponent("Sources/CSluiceProto")
        let generated = try files(under: out)
        #expect(generated.count == 6, "three .c and three .h files")
        for path in generated {
            let fresh = FileManager.default.contents(atPath: out.appendingPathComponent(path).path)
            let kept = FileManager.default.contents(atPath: committed.appendingPathComponent(path).path)
            #expect(kept != nil, "\(path) is not committed: run scripts/generate-proto.sh")
            #expect(fresh == kept, "\(path) is stale: run scripts/generate-proto.sh")
        }
        let keptGenerated = try files(under: committed)
        #expect(Set(keptGenerated) == Set(generated), "generated files were added or removed by hand")
    }

    private func files(under directory: URL) throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: directory.path)
        var result: [String] = []
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".pb-c.c") || path.hasSuffix(".pb-c.h") { result.append(path) }
        }
        return result.sorted()
    }
}
