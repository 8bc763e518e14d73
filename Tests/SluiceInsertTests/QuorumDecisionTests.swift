import SluiceRing
import SluiceTestSupport
import Testing
@testable import SluiceInsert

@Suite struct QuorumDecisionTests {
    let ok = NodeOutcome.accepted
    let down = NodeOutcome.failed(message: "connection refused")
    let bad = NodeOutcome.rejected(status: 400, message: "400 out of order sample")

    @Test func allReplicasAcceptingIsAcknowledged() {
        let decision = QuorumDecision(replicaSets: [ReplicaSet([0, 1, 2])], outcomes: [0: ok, 1: ok, 2: ok], writeQuorum: 2)
        #expect(decision.verdict == .acknowledged)
        #expect(decision.hintNodes.isEmpty)
    }

    @Test func quorumWithOneDownQueuesAHint() {
        let decision = QuorumDecision(replicaSets: [ReplicaSet([0, 1, 2])], outcomes: [0: ok, 1: down, 2: ok], writeQuorum: 2)
        #expect(decision.verdict == .acknowledged)
        #expect(decision.hintNodes == [1])
    }

    @Test func everySeriesMustMeetQuorum() {
        // Series A on {0,1,2} meets quorum; series B on {1,2,3} has only node 2.
        let decision = QuorumDecision(
            replicaSets: [ReplicaSet([0, 1, 2]), ReplicaSet([1, 2, 3])],
            outcomes: [0: ok, 1: down, 2: ok, 3: down], writeQuorum: 2
        )
        #expect(decision.verdict == .unavailable(failedNodes: [1, 3]))
        #expect(decision.hintNodes.isEmpty, "no hints when the client is told to retry")
    }

    @Test func quorumOfRejectionsIsInvalid() {
        let decision = QuorumDecision(replicaSets: [ReplicaSet([0, 1, 2])], outcomes: [0: bad, 1: bad, 2: ok], writeQuorum: 2)
        #expect(decision.verdict == .invalid(message: "400 out of order sample"))
    }

    @Test func mixedFailureIsUnavailableNotInvalid() {
        let decision = QuorumDecision(replicaSets: [ReplicaSet([0, 1, 2])], outcomes: [0: bad, 1: down, 2: ok], writeQuorum: 2)
        #expect(decision.verdict == .unavailable(failedNodes: [1]))
    }

    @Test func rfOneNeedsItsOnlyReplica() {
        #expect(QuorumDecision(replicaSets: [ReplicaSet([3])], outcomes: [3: ok], writeQuorum: 1).verdict == .acknowledged)
        #expect(QuorumDecision(replicaSets: [ReplicaSet([3])], outcomes: [3: down], writeQuorum: 1).verdict == .unavailable(failedNodes: [3]))
    }

    @Test func nodeSetCountsAndIntersects() {
        let a = ReplicaSet([0, 63, 64, 200])
        #expect(a.count == 4)
        #expect(a.contains(200) && !a.contains(199))
        #expect(a.intersectionCount(ReplicaSet([63, 64, 65])) == 2)
        #expect(ReplicaSet([1, 2]) == ReplicaSet([2, 1]))
    }
}

@Suite struct NodeHealthTests {
    @Test func backsOffAfterConsecutiveFailuresAndRecovers() {
        var health = NodeHealth()
        let t0 = ContinuousClock.now
        health.recordFailure(at: t0)
        health.recordFailure(at: t0)
        #expect(health.shouldSend(at: t0), "two failures are not enough to skip a node")
        health.recordFailure(at: t0)
        #expect(!health.shouldSend(at: t0))
        #expect(health.shouldSend(at: t0 + .milliseconds(500)), "after the backoff the next request probes it")
        health.recordFailure(at: t0 + .milliseconds(500))
        #expect(!health.shouldSend(at: t0 + .milliseconds(1400)), "the backoff doubles")
        #expect(health.shouldSend(at: t0 + .milliseconds(1500)))
        health.recordSuccess()
        #expect(health.isHealthy && health.consecutiveFailures == 0)
    }

    @Test func backoffIsCapped() {
        var health = NodeHealth()
        let t0 = ContinuousClock.now
        for _ in 0..<100 { health.recordFailure(at: t0) }
        #expect(health.shouldSend(at: t0 + .seconds(30)))
    }
}
