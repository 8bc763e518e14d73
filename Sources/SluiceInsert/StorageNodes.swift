import Synchronization
import SluiceRing

/// A storage node the insert tier writes to, with its health. Kept by name across ring reloads, so
/// a reload does not forget that a node is down.
public final class StorageNode: Sendable {
    public let name: String
    public let url: String
    /// The ring file's `remote_write_version`: nil means "2.0 until the node answers 415".
    public let configuredVersion: String?
    private let health: Mutex<NodeHealth>
    private let fellBackToV1 = Atomic<Bool>(false)

    init(name: String, url: String, configuredVersion: String? = nil, health: NodeHealth.Configuration) {
        self.name = name
        self.url = url
        self.configuredVersion = configuredVersion
        self.health = Mutex(NodeHealth(configuration: health))
    }

    /// Whether 2.0 requests go to this node as they came, or translated to 1.0.
    public var takesV2: Bool {
        switch configuredVersion {
        case "1.0": false
        case "2.0": true
        default: !fellBackToV1.load(ordering: .relaxed)
        }
    }

    /// Whether a 415 to a 2.0 body should switch this node to 1.0 for good.
    var mayFallBack: Bool { configuredVersion == nil && takesV2 }

    func fallBackToV1() { fellBackToV1.store(true, ordering: .relaxed) }

    func shouldSend(at now: ContinuousClock.Instant) -> Bool {
        health.withLock { $0.shouldSend(at: now) }
    }

    public var isHealthy: Bool { health.withLock { $0.isHealthy } }

    func record(success: Bool, at now: ContinuousClock.Instant) {
        health.withLock { success ? $0.recordSuccess() : $0.recordFailure(at: now) }
    }
}

/// The ring and its nodes as one snapshot, swapped whole on reload so a request sees one
/// consistent membership from routing to quorum.
public struct RingMembership: Sendable {
    public let configuration: RingConfiguration
    public let ring: HashRing
    /// In ring order: `nodes[i]` is `ring.nodes[i]`.
    public let nodes: [StorageNode]
}

/// Builds memberships from ring configurations, reusing node objects by name and URL.
public final class StorageNodeDirectory: Sendable {
    private let health: NodeHealth.Configuration
    private let state: Mutex<(known: [String: StorageNode], current: RingMembership?, generation: Int)>

    public init(health: NodeHealth.Configuration = .init()) {
        self.health = health
        self.state = Mutex(([:], nil, 0))
    }

    /// The membership for a ring snapshot, built once per generation.
    public func membership(for snapshot: RingSnapshot) -> RingMembership {
        let configuration = snapshot.configuration
        let ring = snapshot.ring
        return state.withLock { state in
            if let current = state.current, state.generation == snapshot.generation { return current }
            let nodes = configuration.nodes.map { node -> StorageNode in
                if let known = state.known[node.name], known.url == node.url, known.configuredVersion == node.remoteWriteVersion {
                    return known
                }
                let created = StorageNode(name: node.name, url: node.url, configuredVersion: node.remoteWriteVersion, health: health)
                state.known[node.name] = created
                return created
            }
            let membership = RingMembership(configuration: configuration, ring: ring, nodes: nodes)
            state.current = membership
            state.generation = snapshot.generation
            return membership
        }
    }

    public func node(named name: String) -> StorageNode? {
        state.withLock { $0.known[name] }
    }

    /// Every node seen since start, including ones a reload removed (they may still hold hints).
    public var allNodes: [StorageNode] {
        state.withLock { Array($0.known.values) }.sorted { $0.name < $1.name }
    }
}
