import ArgumentParser
import CSluiceMalloc
import Foundation
import NIOCore
import NIOPosix

@main
enum Entry {
    static func main() async {
        EventLoops.matchCPUAffinity()
        Allocator.keepBuffers()
        // Tasks run on the event loops rather than on Swift's own pool: a request is read, routed,
        // forwarded and answered on one thread, with no hop between threads that share a core.
        // Blocking work (WAL fsync, block writes, hint files) stays on `NIOThreadPool`s. Under
        // `taskset -c 0`, insert RF=1 went from 1.50/1.65 to 1.69/1.73 M samples/s (alternating runs),
        // and a loadgen on one core lost its 200 ms stalls (max latency into a NullSink 194 → 4 ms).
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Sluice.main()
    }
}

struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A Prometheus remote-write ingestion gateway.",
        subcommands: [UpCommand.self, InsertCommand.self, StorageCommand.self, SelectCommand.self, LoadgenCommand.self, RingCommand.self, RepairCommand.self]
    )
}

/// glibc's malloc, told to keep the memory of buffers freed and taken again on every request.
///
/// Insert's per-request buffers (a node's compressed part, a joined batch, snappy's working memory)
/// are a few hundred KiB, above glibc's starting mmap threshold, and an event loop's arena trimmed
/// its heap with madvise as they were freed: each request faulted the same pages in again. With
/// buffers below 4 MiB taken from the heap and the heap trimmed only past 64 MiB free, insert RF=1
/// at its maximum took 210 to 450 minor faults per million samples in every run, against 1,800 to
/// 6,400 in nine runs without, for a peak RSS 3-4 MiB higher (perf had put page faults at about 2.6% of insert's CPU).
enum Allocator {
    static func keepBuffers() {
        sluice_malloc_keep_buffers(4 << 20, 64 << 20)
    }
}

/// As many event loops as CPUs the process may run on, as Go sizes GOMAXPROCS.
///
/// SwiftNIO sizes its shared event loop group by the machine's cores and cgroup quota, not by the
/// CPU affinity mask, so a server started under `taskset -c 0` on a two-core machine ran two event
/// loops time-sharing one core. With one loop, insert's p99 at half its maximum load fell from 16–18 ms
/// to 12–14 ms (loadgen `--rate 450000 --concurrency 4`, alternating runs); its maximum throughput
/// moved within the runs' noise (0.84–0.97 M samples/s either way).
/// `NIO_SINGLETON_GROUP_LOOP_COUNT`, when set, still decides.
enum EventLoops {
    static func matchCPUAffinity() {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil,
            let allowed = allowedCPUs(), allowed > 0, allowed < ProcessInfo.processInfo.activeProcessorCount
        else { return }
        setenv("NIO_SINGLETON_GROUP_LOOP_COUNT", String(allowed), 0)
        #endif
    }

    /// CPUs in this process's affinity mask: `Cpus_allowed` in `/proc/self/status`, comma-separated
    /// 32-bit hex words.
    static func allowedCPUs() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return nil }
        var count = 0
        for word in line.dropFirst("Cpus_allowed:".count).split(separator: ",") {
            guard let bits = UInt32(word.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            count += bits.nonzeroBitCount
        }
        return count
    }
}
