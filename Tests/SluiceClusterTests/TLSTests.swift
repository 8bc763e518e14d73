import Foundation
import SluiceTestSupport
import Testing

/// Every hop over TLS: loadgen → insert → storage nodes, select → storage nodes, loadgen's
/// verification → select, with certificates from a test CA that only `--tls-ca-file` makes trusted.
@Suite("TLS", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs the sluice binary and openssl"))
struct TLSTests {
    @Test func everyHopSpeaksTLSAndNothingIsLost() async throws {
        let directory = try TemporaryDirectory("sluice-tls")
        defer { directory.remove() }
        let certificates = try TestCertificates(in: directory.path + "/pki")
        let tls = ["--tls-cert-file", certificates.certificate, "--tls-key-file", certificates.key]
        let cluster = try Cluster(
            directory: directory.path + "/cluster", storageFlags: tls, insertFlags: tls + ["--tls-ca-file", certificates.ca],
            selectFlags: tls + ["--tls-ca-file", certificates.ca], tlsCAFile: certificates.ca
        )
        defer { cluster.killAll() }
        try await cluster.start()

        let base = [
            "loadgen", "--url", cluster.insert.writeURL, "--series", "200", "--metrics", "10", "--batch", "50", "--requests", "8", "--max",
            "--progress", "none", "--max-retry-time", "1s",
        ]
        let verified = try await runSluice(base + ["--tls-ca-file", certificates.ca, "--verify", cluster.select.baseURL + "/api/v1/read"])
        #expect(verified.status == 0, "\(verified.stdout)\n\(verified.stderr)")
        #expect(verified.stdout.contains("400 matched, 0 missing, 0 mismatched, 0 extra"), "\(verified.stdout)")

        // Without the CA the certificate is not trusted, and nothing is acknowledged.
        let untrusted = try await runSluice(base)
        #expect(untrusted.stdout.contains("0 acknowledged, 8 failed") && untrusted.stdout.contains("transport"), "\(untrusted.stdout)")
        // Plain HTTP to a TLS port gets no answer either.
        let plain = cluster.insert.writeURL.replacingOccurrences(of: "https://", with: "http://")
        let cleartext = try await runSluice(["loadgen", "--url", plain] + base.dropFirst(3))
        #expect(cleartext.stdout.contains("0 acknowledged, 8 failed"), "\(cleartext.stdout)")
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl for one test.
struct TestCertificates {
    let ca: String
    let certificate: String
    let key: String

    init(in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        ca = directory + "/ca.pem"
        certificate = directory + "/server.pem"
        key = directory + "/server.key"
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + ec + ["-keyout", directory + "/ca.key", "-out", ca, "-days", "2", "-subj", "/CN=sluice test CA"])
        try Self.openssl(["req"] + ec + ["-keyout", key, "-out", directory + "/server.csr", "-subj", "/CN=127.0.0.1"])
        try Self.openssl([
            "x509", "-req", "-in", directory + "/server.csr", "-CA", ca, "-CAkey", directory + "/ca.key", "-CAcreateserial",
            "-out", certificate, "-days", "2", "-extfile", directory + "/san.ext",
        ])
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw EndToEndError("openssl \(arguments.joined(separator: " ")) failed") }
    }
}
