import Synchronization

/// Scratch buffers kept from one request for the next.
///
/// A large answer (tens of MiB) written into a fresh buffer pays twice: the buffer grows by copies,
/// and every page of the new mapping faults in on first touch. A buffer taken back from the pool is
/// already the right size and already mapped. The pool keeps at most `keep` buffers of at most
/// `maxCapacity` bytes each, so what it holds between requests stays bounded.
public final class ByteScratchPool: Sendable {
    /// A buffer moves between the pool and one user at a time: whoever took it owns it until it is
    /// given back, and the pool never touches a buffer it has handed out.
    private struct Owned: @unchecked Sendable {
        let scratch: ByteScratch
    }

    private let free = Mutex<[Owned]>([])
    public let keep: Int
    public let maxCapacity: Int

    public init(keep: Int = 2, maxCapacity: Int = 128 << 20) {
        self.keep = keep
        self.maxCapacity = maxCapacity
    }

    /// An empty buffer: a kept one if there is one, else a new one of `capacity` bytes.
    public func take(capacity: Int = 1 << 20) -> ByteScratch {
        if let kept = free.withLock({ $0.popLast() }) {
            kept.scratch.removeAll()
            return kept.scratch
        }
        return ByteScratch(capacity: capacity)
    }

    /// Gives back a buffer taken from this pool; the caller must not use it again.
    public func give(_ scratch: ByteScratch) {
        guard scratch.capacity <= maxCapacity else { return }
        let owned = Owned(scratch: scratch)
        free.withLock { free in
            if free.count < keep { free.append(owned) }
        }
    }

    /// How many buffers wait in the pool.
    public var count: Int { free.withLock { $0.count } }
}
