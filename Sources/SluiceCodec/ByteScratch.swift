/// A growable byte buffer that is reused across requests, so a worker decodes and encodes without
/// allocating per request once it has seen its largest body.
///
/// Unlike `[UInt8]`, growing it does not zero-fill: C codecs write straight into the uninitialised
/// tail. It is deliberately not `Sendable`: each connection or worker owns one.
public final class ByteScratch {
    private var storage: UnsafeMutableRawPointer
    /// Bytes that may be written without growing.
    public private(set) var capacity: Int
    /// Bytes currently holding data.
    public private(set) var count: Int = 0

    public init(capacity: Int = 64 * 1024) {
        self.capacity = max(capacity, 16)
        self.storage = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// The bytes written so far. Valid until the next mutating call.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }

    /// Empties the buffer, keeping its memory.
    public func removeAll() { count = 0 }

    /// Makes room for at least `minimumCapacity` bytes and discards the contents.
    public func reset(minimumCapacity: Int) {
        count = 0
        if minimumCapacity > capacity {
            storage.deallocate()
            // Grow geometrically so a slowly rising body size does not reallocate every time.
            capacity = max(minimumCapacity, capacity * 2)
            storage = .allocate(byteCount: capacity, alignment: 16)
        }
    }

    /// Removes `range` of the contents, moving what follows it down.
    public func remove(_ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "ByteScratch range out of bounds")
        (storage + range.lowerBound).copyMemory(from: storage + range.upperBound, byteCount: count - range.upperBound)
        count -= range.count
    }

    /// Overwrites bytes already written, at `offset`.
    public func replace(at offset: Int, with bytes: UnsafeRawBufferPointer) {
        precondition(offset >= 0 && offset + bytes.count <= count, "ByteScratch range out of bounds")
        guard let base = bytes.baseAddress else { return }
        (storage + offset).copyMemory(from: base, byteCount: bytes.count)
    }

    /// Makes room for `extra` more bytes after `count`, keeping the contents.
    public func reserve(extra: Int) {
        let needed = count + extra
        guard needed > capacity else { return }
        let newCapacity = max(needed, capacity * 2)
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newStorage.copyMemory(from: storage, byteCount: count)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
    }

    /// Lets `body` write up to `capacity - count` bytes after the current contents; it returns how
    /// many it wrote.
    @inlinable
    public func appendUnsafe(_ body: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows {
        let written = try body(unsafeTail)
        precondition(written >= 0 && count + written <= capacity, "ByteScratch overrun")
        unsafeAdvance(written)
    }

    /// Appends bytes, growing as needed.
    public func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(extra: bytes.count)
        if let base = bytes.baseAddress {
            (storage + count).copyMemory(from: base, byteCount: bytes.count)
        }
        count += bytes.count
    }

    /// Appends a length-delimited protobuf field with a one-byte key (`field` 1 to 15): the key, the
    /// length as a uvarint and the bytes, with one capacity check. The forwarders' per-series copy.
    public func appendLengthDelimited(field: UInt8, _ bytes: UnsafeRawBufferPointer) {
        precondition(field >= 1 && field <= 15, "a one-byte key holds fields 1 to 15")
        reserve(extra: 11 + bytes.count)
        var out = storage + count
        out.storeBytes(of: field << 3 | 2, as: UInt8.self)
        out += 1
        Varint.store(UInt64(bytes.count), at: &out)
        if let base = bytes.baseAddress {
            out.copyMemory(from: base, byteCount: bytes.count)
            out += bytes.count
        }
        count = out - storage
    }

    public func append(_ byte: UInt8) {
        reserve(extra: 1)
        storage.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Overwrites bytes already written at `offset`: a header whose value (a length, a checksum) is
    /// known only after what follows it.
    public func storeBigEndian(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count, "ByteScratch store out of range")
        storage.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Copies the contents out, for data that must outlive this buffer.
    public func toArray() -> [UInt8] { Array(bytes) }

    @usableFromInline
    var unsafeTail: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + count, count: capacity - count)
    }

    @usableFromInline
    func unsafeAdvance(_ n: Int) { count += n }
}
