import CProtobufC

/// A bump allocator that libprotobuf-c unpacks into and packs from.
///
/// With malloc, libprotobuf-c makes one allocation per message and string; with this arena a request
/// costs a few block allocations, and freeing is one `reset()`. The budget bounds what a hostile body
/// can make the decoder allocate: protobuf-c's in-memory structs are larger than their wire form
/// (an empty `Sample` is 2 bytes on the wire and 48 in memory), so the budget, not the body limit,
/// is the real cap.
final class ProtobufArena {
    private var blocks: [(pointer: UnsafeMutableRawPointer, size: Int)] = []
    private var cursor: UnsafeMutableRawPointer?
    private var remaining = 0
    private var used = 0
    private(set) var budgetExceeded = false
    var budget: Int

    private static let minimumBlock = 64 * 1024
    private static let maximumBlock = 8 * 1024 * 1024

    init(budget: Int) {
        self.budget = budget
    }

    deinit {
        for block in blocks { block.pointer.deallocate() }
    }

    func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        let aligned = (max(size, 1) + 15) & ~15
        guard used + aligned <= budget else {
            budgetExceeded = true
            return nil
        }
        if aligned > remaining { addBlock(atLeast: aligned) }
        let pointer = cursor!
        cursor = pointer + aligned
        remaining -= aligned
        used += aligned
        return pointer
    }

    /// Copies a string into the arena, NUL-terminated, as libprotobuf-c expects.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let pointer = allocate(utf8.count + 1)!.bindMemory(to: CChar.self, capacity: utf8.count + 1)
            if let base = utf8.baseAddress {
                UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: utf8.count)
            }
            pointer[utf8.count] = 0
            return pointer
        }
    }

    func array<T>(of type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        allocate(MemoryLayout<T>.stride * count)!.bindMemory(to: T.self, capacity: count)
    }

    /// Forgets every allocation, keeping the largest block for the next message.
    func reset() {
        budgetExceeded = false
        used = 0
        guard let largest = blocks.max(by: { $0.size < $1.size }) else { return }
        for block in blocks where block.pointer != largest.pointer { block.pointer.deallocate() }
        blocks = [largest]
        cursor = largest.pointer
        remaining = largest.size
    }

    private func addBlock(atLeast size: Int) {
        let grown = min(Self.maximumBlock, max(Self.minimumBlock, (blocks.last?.size ?? 0) * 2))
        let blockSize = max(size, grown)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: 16)
        blocks.append((pointer, blockSize))
        cursor = pointer
        remaining = blockSize
    }

    /// The libprotobuf-c allocator that draws from this arena. Valid while the arena lives.
    var allocator: ProtobufCAllocator {
        ProtobufCAllocator(
            alloc: { data, size in
                Unmanaged<ProtobufArena>.fromOpaque(data!).takeUnretainedValue().allocate(size)
            },
            free: { _, _ in },
            allocator_data: Unmanaged.passUnretained(self).toOpaque()
        )
    }
}
