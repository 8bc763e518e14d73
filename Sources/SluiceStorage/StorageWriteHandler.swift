import Hummingbird
import Logging
import SluiceCodec
import SluiceHTTP

/// `POST /api/v1/write` on a storage node: validate, append to the head, wait for the WAL, answer.
///
/// Remote write 1.0 and 2.0 (chosen by `Content-Type`, see `RemoteWriteHeaders.negotiate`); a 2.0
/// answer always carries the exact `X-Prometheus-Remote-Write-*-Written` counts.
///
/// A 2xx means every sample is in the WAL on disk (or, with `--wal-fsync=interval`, in the page
/// cache). Samples that break ordering get a 400 naming the first; the rest of the request is kept, as
/// Prometheus does, and an exact repeat of a stored sample is accepted silently so that retries are
/// idempotent.
struct StorageWriteHandler: Sendable {
    let configuration: StorageConfiguration
    let storage: Storage
    let logger: Logger

    func handle(_ request: Request) async -> Response {
        var written = Written()
        var version = RemoteWriteVersion.v1
        var response: Response
        do throws(HTTPFailure) {
            version = try RemoteWriteHeaders.negotiate(request)
            guard storage.isReady else { throw HTTPFailure(.serviceUnavailable, storage.notReadyReason + "; retry later") }
            let body = try await BoundedBody.collect(request, limit: configuration.maxBodyBytes)
            try await write(body, version: version, written: &written)
            response = Response(status: .noContent)
        } catch {
            log(error)
            response = error.response
        }
        if version == .v2 {
            // Exact counts on every 2.0 answer, success or not, so a sender knows what landed.
            let fields = RemoteWriteHeaders.written(samples: written.samples, histograms: written.histograms, exemplars: written.exemplars)
            for field in fields { response.headers.append(field) }
        }
        storage.metrics.request(handler: "write", code: Int(response.status.code))
        return response
    }

    /// What a request stored: appended plus exact repeats of what was already there (which a retry
    /// sends and which is stored all the same).
    struct Written {
        var samples = 0
        var histograms = 0
        var exemplars = 0
    }

    /// A write from insert in the same process (`InProcessNodes`): the same steps and answer as
    /// `handle`, without HTTP. Series insert scanned go straight to the head.
    func answer(_ body: NodeBody, version: RemoteWriteVersion) async -> InProcessNodes.Answer {
        var written = Written()
        var answer = InProcessNodes.Answer(status: 204, message: "")
        do throws(HTTPFailure) {
            guard storage.isReady else { throw HTTPFailure(.serviceUnavailable, storage.notReadyReason + "; retry later") }
            switch body {
            case .scanned(let parts):
                try await append(.scanned(ScannedWrite(parts: parts)), written: &written)
            case .snappy(let bytes), .protobuf(let bytes):
                let compressed = if case .snappy = body { true } else { false }
                // A raw body is what a compressed one decodes to, so it takes the decoded limit.
                let limit = compressed ? configuration.maxBodyBytes : configuration.maxDecodedBytes
                guard bytes.readableBytes <= limit else {
                    throw HTTPFailure(.contentTooLarge, "body exceeds the limit of \(limit) bytes")
                }
                // Insert in this process checked every label of these bytes with the same rules.
                try await write(bytes, version: version, compressed: compressed, labelsChecked: true, written: &written)
            }
        } catch {
            log(error)
            answer = InProcessNodes.Answer(status: Int(error.status.code), message: error.message)
        }
        if version == .v2 { answer.written = (written.samples, written.histograms, written.exemplars) }
        storage.metrics.request(handler: "write", code: answer.status)
        return answer
    }

    private func log(_ error: HTTPFailure) {
        if error.status.code >= 500 {
            logger.warning("write failed", metadata: ["error": "\(error.message)"])
        } else {
            logger.debug("write rejected", metadata: ["error": "\(error.message)"])
        }
    }

    private func write(
        _ body: ByteBuffer, version: RemoteWriteVersion, compressed: Bool = true, labelsChecked: Bool = false, written: inout Written
    ) async throws(HTTPFailure) {
        try await append(decode(body, version: version, compressed: compressed, labelsChecked: labelsChecked), written: &written)
    }

    /// Appends a decoded or scanned write and reports it: counts in `written`, a 400 naming the
    /// first sample that broke ordering.
    private func append(_ decoded: Decoded, written: inout Written) async throws(HTTPFailure) {
        let outcome: AppendOutcome
        do {
            switch decoded {
            case .scanned(let write): outcome = try await storage.append(write)
            case .decoded(let request): outcome = try await storage.append(request)
            }
        } catch {
            switch error.code {
            case .notReady: throw HTTPFailure(.serviceUnavailable, error.message)
            default: throw HTTPFailure(.internalServerError, error.message)
            }
        }
        written = Written(
            samples: outcome.appended + outcome.duplicates, histograms: outcome.appendedHistograms + outcome.duplicateHistograms,
            exemplars: outcome.appendedExemplars
        )
        if let first = outcome.firstRejection {
            let counts = outcome.rejected.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
            throw HTTPFailure(.badRequest, "\(first) (\(counts.joined(separator: ", ")); \(outcome.appended) samples and \(outcome.appendedHistograms) histograms appended)")
        }
    }

    /// A body ready for the storage: scanned in place when it holds float samples only (nearly every
    /// request; with a 2.0 body's metadata), else decoded whole.
    private enum Decoded {
        case scanned(ScannedWrite)
        case decoded(WriteRequest)
    }

    /// `body` decoded (snappy unless `compressed` is false), within `maxDecodedBytes`.
    private func decompressed(_ body: ByteBuffer, compressed: Bool) throws(CodecError) -> ByteScratch {
        try body.withUnsafeReadableBytes { (raw) throws(CodecError) -> ByteScratch in
            if compressed {
                let scratch = ByteScratch(capacity: 64 * 1024)
                try Snappy.decompress(raw, into: scratch, limit: configuration.maxDecodedBytes)
                return scratch
            }
            guard raw.count <= configuration.maxDecodedBytes else {
                throw CodecError(.sizeLimitExceeded, "decoded body of \(raw.count) bytes exceeds the limit of \(configuration.maxDecodedBytes) bytes")
            }
            let scratch = ByteScratch(capacity: raw.count)
            scratch.append(raw)
            return scratch
        }
    }

    private func decode(_ body: ByteBuffer, version: RemoteWriteVersion, compressed: Bool, labelsChecked: Bool) throws(HTTPFailure) -> Decoded {
        do {
            let scratch = try decompressed(body, compressed: compressed)
            // `bytes` points into `scratch`, which must outlive every use of them.
            return try withExtendedLifetime(scratch) { () throws(CodecError) -> Decoded in
                let bytes = scratch.bytes
                let codec = MessageCodec(memoryLimit: max(1 << 20, bytes.count * MessageCodec.expansionFactor))
                // The scanners check the rules the insert tier checks, so a node written to directly
                // holds only what a gateway would have let through.
                switch version {
                case .v1:
                    let scanner = WriteRequestScanner(limits: configuration.limits)
                    scanner.trustsLabels = labelsChecked
                    switch try ScannedWrite.scan(scratch, with: scanner) {
                    case .floats(let write): return .scanned(write)
                    case .needsDecoding: return .decoded(try codec.decodeWriteRequest(bytes))
                    }
                case .v2:
                    switch try ScannedWrite.scanV2(scratch, with: WriteRequestV2Scanner(limits: configuration.limits)) {
                    case .floats(let write): return .scanned(write)
                    case .needsDecoding: return .decoded(try codec.decodeWriteRequestV2(bytes))
                    }
                }
            }
        } catch {
            throw HTTPFailure(error)
        }
    }

    // MARK: Backfill

    /// `POST /api/v1/backfill`: a remote-write 1.0 body whose float samples go into blocks, not the
    /// head (`Backfill`): how `sluice repair` copies history a replica lacks. The body passes the same
    /// checks as a write. 204 once every block written is on disk, with the counts in headers; 409
    /// while the head still takes samples where it would write; 400 for bad input.
    func handleBackfill(_ request: Request) async -> Response {
        var response: Response
        do throws(HTTPFailure) {
            guard try RemoteWriteHeaders.negotiate(request) == .v1 else {
                throw HTTPFailure(.unsupportedMediaType, "backfill takes remote write 1.0 bodies")
            }
            guard storage.isReady else { throw HTTPFailure(.serviceUnavailable, storage.notReadyReason + "; retry later") }
            let body = try await BoundedBody.collect(request, limit: configuration.maxBodyBytes)
            let write: WriteRequest
            do {
                let scratch = try decompressed(body, compressed: true)
                write = try withExtendedLifetime(scratch) { () throws(CodecError) -> WriteRequest in
                    let bytes = scratch.bytes
                    _ = try WriteRequestScanner(limits: configuration.limits).scan(bytes) { _ in }
                    return try MessageCodec(memoryLimit: max(1 << 20, bytes.count * MessageCodec.expansionFactor)).decodeWriteRequest(bytes)
                }
            } catch {
                throw HTTPFailure(error)
            }
            let outcome: BackfillOutcome
            do {
                outcome = try await storage.backfill(write)
            } catch {
                switch error.code {
                case .notReady: throw HTTPFailure(.serviceUnavailable, error.message)
                case .invalidBackfill, .invalidQuery: throw HTTPFailure(.badRequest, error.message)
                case .notSealed: throw HTTPFailure(.conflict, error.message)
                case .walFailed, .blockFailed: throw HTTPFailure(.internalServerError, error.message)
                }
            }
            response = Response(status: .noContent)
            response.headers.append(contentsOf: BackfillHeaders.fields(added: outcome.added, present: outcome.present, expired: outcome.expired))
        } catch {
            log(error)
            response = error.response
        }
        storage.metrics.request(handler: "backfill", code: Int(response.status.code))
        return response
    }
}
