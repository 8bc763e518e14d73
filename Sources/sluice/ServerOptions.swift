import ArgumentParser
import Foundation
import NIOSSL
import Logging
import SluiceHTTP
import SluiceInsert

/// The connection flags every server tier shares: `--listen`, `--http-idle-timeout` and HTTPS.
/// `--listen` defaults to the address of the tier's `Configuration`.
struct ServerOptions<Configuration: ServerListening>: ParsableArguments {
    @Option(name: .long, help: "Address to listen on, host:port.")
    var listen: String = "\(Configuration().host):\(Configuration().port)"

    @Option(name: .long, help: "Close connections that complete no request part (headers, a body chunk) for this long: idle keep-alives and slowloris clients.")
    var httpIdleTimeout: String = "1m"

    @Option(name: .long, help: "Serve HTTPS with this PEM certificate (chain), with --tls-key-file.")
    var tlsCertFile: String?

    @Option(name: .long, help: "The PEM private key of --tls-cert-file.")
    var tlsKeyFile: String?

    /// Sets where and how the tier's server listens.
    func apply(to configuration: inout Configuration) throws {
        (configuration.host, configuration.port) = try parseListen(listen)
        configuration.idleTimeout = try parsePositiveDuration(httpIdleTimeout, flag: "--http-idle-timeout")
        configuration.tls = try parseServerTLS(certificate: tlsCertFile, key: tlsKeyFile)
    }
}

/// The body-size flags of the tiers that take remote writes (insert, storage), defaulting to the
/// tier's `Configuration`.
struct BodyLimitOptions<Configuration: WriteBodyLimits>: ParsableArguments {
    @Option(name: .long, help: "Largest compressed request body, in bytes.")
    var maxBodyBytes: Int = Configuration().maxBodyBytes

    @Option(name: .long, help: "Largest decoded (uncompressed) request body, in bytes.")
    var maxDecodedBytes: Int = Configuration().maxDecodedBytes

    func apply(to configuration: inout Configuration) {
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxDecodedBytes = maxDecodedBytes
    }
}

/// The flags of the tiers that face clients and talk to storage nodes (insert, select): who may
/// call them, and which CA to trust for https:// nodes.
struct AccessOptions: ParsableArguments {
    @Option(name: .long, help: "Require HTTP basic auth with this user (and --auth-basic-password-file) on every path but /-/healthy and /-/ready.")
    var authBasicUser: String?

    @Option(name: .long, help: "File holding the basic-auth password.")
    var authBasicPasswordFile: String?

    @Option(name: .long, help: "Require this bearer token (read from the file) on every path but /-/healthy and /-/ready.")
    var authBearerTokenFile: String?

    @Option(name: .long, help: "PEM CA certificates to trust, besides the system's, for https:// storage nodes.")
    var tlsCaFile: String?

    func auth() throws -> HTTPAuth {
        try parseAuth(basicUser: authBasicUser, passwordFile: authBasicPasswordFile, tokenFile: authBearerTokenFile, flagPrefix: "auth-")
    }

    func clientTLS() throws -> TLSConfiguration? {
        try tlsCaFile.map { try TLSFiles.client(caFile: $0) }
    }
}

/// Client credentials from flags: a basic-auth user with its password in a file, or a bearer token
/// in a file (secrets stay out of `ps`), as Prometheus' `password_file` and `credentials_file` do.
func parseAuth(basicUser: String?, passwordFile: String?, tokenFile: String?, flagPrefix: String) throws -> HTTPAuth {
    func secret(_ path: String, _ flag: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(flag): cannot read \(path)")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ValidationError("\(flag): \(path) is empty") }
        return trimmed
    }
    switch (basicUser, passwordFile, tokenFile) {
    case (nil, nil, nil):
        return .none
    case (let user?, let file?, nil):
        return .basic(username: user, password: try secret(file, "--\(flagPrefix)basic-password-file"))
    case (nil, nil, let file?):
        return .bearer(token: try secret(file, "--\(flagPrefix)bearer-token-file"))
    default:
        throw ValidationError(
            "give either --\(flagPrefix)basic-user with --\(flagPrefix)basic-password-file, or --\(flagPrefix)bearer-token-file"
        )
    }
}

/// HTTPS for a server: both files or neither.
func parseServerTLS(certificate: String?, key: String?) throws -> TLSConfiguration? {
    switch (certificate, key) {
    case (nil, nil): return nil
    case (let certificate?, let key?):
        do {
            return try TLSFiles.server(certificate: certificate, key: key)
        } catch {
            throw ValidationError("--tls-cert-file/--tls-key-file: \(error)")
        }
    default: throw ValidationError("give --tls-cert-file and --tls-key-file together")
    }
}

/// The tenancy flags insert and select share: they must agree, or reads miss what was written.
/// Both tiers' configurations default to the same values.
struct TenancyOptions: ParsableArguments {
    @Option(name: .long, help: "Headers carrying the tenant, first present wins (comma-separated).")
    var tenantHeader: String = InsertConfiguration().tenantHeaders.joined(separator: ",")

    @Option(name: .long, help: "Tenant for requests without a tenant header.")
    var defaultTenant: String = InsertConfiguration().defaultTenant

    @Option(name: .long, help: "Label holding each series' tenant: insert adds it (replacing a client's), select restricts reads to it and removes it from answers; empty for no tenancy.")
    var tenantLabel: String = InsertConfiguration().tenantLabel ?? ""

    var headers: [String] { tenantHeader.split(separator: ",").map { String($0) } }
    var label: String? { tenantLabel.isEmpty ? nil : tenantLabel }
}

/// `--log-level` of the server tiers, which log at info unless told otherwise.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func bootstrap(label: String) throws -> Logger {
        try bootstrapLogging(label: label, level: logLevel)
    }
}
