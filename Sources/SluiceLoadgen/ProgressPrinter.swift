#if canImport(Glibc)
import Glibc
#endif

/// Shows a run as it goes, on stderr: one line rewritten in place every second on a terminal, a new
/// line every `--progress-interval` otherwise (CI logs, pipes).
final class ProgressPrinter: Sendable {
    enum Mode { case tty, plain, none }

    private let mode: Mode
    private let period: Double
    private let recorder: LoadRecorder
    private let started: ContinuousClock.Instant

    init(configuration: LoadgenConfiguration, recorder: LoadRecorder, started: ContinuousClock.Instant) {
        switch configuration.progress {
        case .auto: mode = isatty(STDERR_FILENO) != 0 ? .tty : .plain
        case .tty: mode = .tty
        case .plain: mode = .plain
        case .none: mode = .none
        }
        period = mode == .tty ? 1 : configuration.progressInterval
        self.recorder = recorder
        self.started = started
    }

    func run() async {
        guard mode != .none else { return }
        var last = started
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .nanoseconds(Int64(period * 1e9)))
            } catch {
                return
            }
            let now = ContinuousClock.now
            let window = recorder.takeWindow()
            let seconds = Self.seconds(now - last)
            last = now
            let line = Self.line(
                elapsed: Self.seconds(now - started), samplesPerSecond: Double(window.acknowledged) / max(seconds, 1e-9),
                p50Micros: window.p50, p99Micros: window.p99, totals: window.totals
            )
            write(mode == .tty ? "\r\u{1B}[2K" + line : line + "\n")
        }
    }

    /// Leaves the terminal on a clean line before the report.
    func finish() {
        if mode == .tty { write("\r\u{1B}[2K") }
    }

    static func line(elapsed: Double, samplesPerSecond: Double, p50Micros: UInt64, p99Micros: UInt64, totals: LoadRecorder.Totals) -> String {
        let statuses = totals.statusCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: " | ")
        return "[\(fixed(elapsed, 1))s] \(human(samplesPerSecond)) samples/s  p50 \(milliseconds(p50Micros)) p99 \(milliseconds(p99Micros))"
            + "  \(statuses.isEmpty ? "no answers yet" : statuses)  retries \(totals.retries)  failed \(totals.requestsFailed)"
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// 1234567 → "1.23M".
func human(_ value: Double) -> String {
    // Thresholds sit where the smaller unit would round up to 1000.
    switch value {
    case 999_995_000...: fixed(value / 1e9, 2) + "G"
    case 999_950...: fixed(value / 1e6, 2) + "M"
    case 999.5...: fixed(value / 1e3, 1) + "k"
    default: fixed(value, 0)
    }
}

func milliseconds(_ micros: UInt64) -> String {
    fixed(Double(micros) / 1000, micros < 10_000 ? 2 : 1) + "ms"
}

/// `value` with `digits` decimals, without Foundation's formatters.
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard digits > 0 else { return sign + String(whole) }
    let digitsText = String(fraction)
    return sign + String(whole) + "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
}

/// 1234567 → "1,234,567".
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return (value < 0 ? "-" : "") + out
}
