#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import SluiceCodec
import SluiceFiles
import Synchronization

/// The hint queues of one insert node, one per storage node, under `<data-dir>/hints/`.
///
/// Queues open lazily, on a node's first missed write. The nodes that already had a queue when the
/// store opened are listed in `storedNodes`, including nodes since removed from the ring, whose hints
/// would otherwise sit on disk unnoticed.
public final class HintStore: Sendable {
    public struct Configuration: Sendable {
        /// Applies to each node's queue.
        public var queue: HintQueue.Configuration

        public init(queue: HintQueue.Configuration = .init()) {
            self.queue = queue
        }
    }

    /// `<data-dir>/hints`.
    public let directory: String
    /// Nodes with a queue directory when the store opened, sorted. Their queues are not open yet.
    public let storedNodes: [String]
    private let configuration: Configuration
    private let logger: Logger
    private let queues = Mutex<[String: HintQueue]>([:])

    public init(dataDirectory: String, configuration: Configuration = .init(), logger: Logger) throws(HintQueueError) {
        self.directory = dataDirectory + "/hints"
        self.configuration = configuration
        self.logger = logger
        try Posix.makeDirectories(directory)
        var nodes: [String] = []
        for name in try Posix.listDirectory(directory) where Posix.isDirectory(directory + "/" + name) {
            if let node = Self.nodeName(directoryName: name) {
                nodes.append(node)
            } else {
                logger.warning("Ignoring a directory that is not a hint queue", metadata: ["hint.directory": "\(directory)/\(name)"])
            }
        }
        self.storedNodes = nodes.sorted()
    }

    /// The queue for `node`, opened or created on first use.
    public func queue(for node: String) throws(HintQueueError) -> HintQueue {
        try queues.withLock { (queues) throws(HintQueueError) -> HintQueue in
            if let queue = queues[node] { return queue }
            guard let name = Self.directoryName(node: node) else {
                throw HintQueueError(.invalidNodeName, "node name \"\(node.prefix(64))\" cannot name a hint directory")
            }
            var logger = self.logger
            logger[metadataKey: "ring.node"] = "\(node)"
            let queue = try HintQueue(directory: directory + "/" + name, configuration: configuration.queue, logger: logger)
            queues[node] = queue
            return queue
        }
    }

    /// The queues opened so far, by node.
    public var openQueues: [String: HintQueue] { queues.withLock { $0 } }

    /// The queue for `node` if it is open, without opening it. Cheap enough for every request.
    public func openQueue(for node: String) -> HintQueue? { queues.withLock { $0[node] } }

    /// Closes every open queue, syncing its read position. A later `queue(for:)` opens it again.
    public func close() {
        let open = queues.withLock { queues in
            defer { queues.removeAll() }
            return Array(queues.values)
        }
        for queue in open { queue.close() }
    }

    /// The directory name for a node: percent-encoding of every byte but ASCII letters, digits, `-`,
    /// `_` and non-leading `.`, so it is reversible, cannot be `.`, `..` or hidden, and two nodes never
    /// share one. Nil when empty or too long for a file name.
    public static func directoryName(node: String) -> String? {
        guard !node.isEmpty else { return nil }
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for (index, byte) in node.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                bytes.append(byte)
            case UInt8(ascii: ".") where index > 0:
                bytes.append(byte)
            default:
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            }
        }
        guard bytes.count <= 255 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The node a directory name stands for; nil unless `directoryName(node:)` would produce it.
    public static func nodeName(directoryName name: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = name.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        guard let node = String(validating: bytes, as: UTF8.self), directoryName(node: node) == name else { return nil }
        return node
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
