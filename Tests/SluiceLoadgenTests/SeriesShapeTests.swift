import SluiceCodec
import Testing

@testable import SluiceLoadgen

/// `SeriesShape` is the whole contract between the generator and `--verify`: every label, timestamp
/// and value must be recomputable from (slot, tick), and `identify` must undo `labels`.
@Suite struct SeriesShapeTests {
    /// 2023-11-14T22:13:20Z: interval-aligned for 1 s, 10 s and 15 s intervals.
    static let start: Int64 = 1_700_000_000_000

    static func shape(
        series: Int = 1000, metrics: Int = 100, intervalMs: Int64 = 15_000, startMs: Int64 = start,
        churnPercent: Double = 0, outOfOrder: Double = 0, runID: String = "run-1"
    ) -> SeriesShape {
        SeriesShape(
            series: series, metrics: metrics, intervalMs: intervalMs, startMs: startMs,
            churnPercent: churnPercent, outOfOrder: outOfOrder, runID: runID
        )
    }

    // MARK: Labels

    @Test func labelsAreSortedTenPerSeriesWithTheNameFirstAndTheRunID() {
        let shape = Self.shape(series: 600, metrics: 120, runID: "abc123")
        for slot in [0, 1, 49, 50, 119, 120, 599] {
            for generation in [0, 1, 7] {
                let labels = shape.labels(slot: slot, generation: generation)
                #expect(labels.count == 10)
                #expect(labels.first?.name == "__name__")
                #expect(labels.first?.value == shape.metricName(shape.metric(slot: slot)))
                #expect(labels == labels.sorted(), "slot \(slot) generation \(generation)")
                // Names strictly increasing: sorted and unique.
                #expect(zip(labels, labels.dropFirst()).allSatisfy { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) })
                #expect(labels.filter { $0.name == "loadgen_run" }.map(\.value) == ["abc123"])
                #expect(labels.allSatisfy { !$0.name.isEmpty && !$0.value.isEmpty })
            }
        }
    }

    @Test func labelSetsAreUniqueAcrossSlots() {
        let shape = Self.shape(series: 5000, metrics: 100)
        var seen = Set<[Label]>()
        for slot in 0..<shape.series {
            seen.insert(shape.labels(slot: slot, generation: 0))
        }
        #expect(seen.count == 5000)
    }

    @Test func labelSetsAreUniqueAcrossGenerations() {
        let shape = Self.shape(series: 600, metrics: 120)
        var seen = Set<[Label]>()
        for slot in 0..<shape.series {
            for generation in 0..<4 {
                seen.insert(shape.labels(slot: slot, generation: generation))
            }
        }
        #expect(seen.count == 600 * 4)
    }

    @Test func metricNamesBeyondTheBuiltInListGetASuffixAndStayUnique() {
        let shape = Self.shape(series: 600, metrics: 120)
        let names = (0..<120).map(shape.metricName)
        #expect(Set(names).count == 120)
        #expect(names[0] == "node_cpu_seconds_total")
        #expect(names[50] == "node_cpu_seconds_total_1")
        #expect(names[100] == "node_cpu_seconds_total_2")
        #expect(names[55] == names[5] + "_1")
    }

    @Test func runIDsKeepRunsApart() {
        let a = Self.shape(runID: "a")
        let b = Self.shape(runID: "b")
        #expect(a.labels(slot: 3, generation: 0) != b.labels(slot: 3, generation: 0))
    }

    // MARK: identify

    @Test(arguments: [(1000, 100), (600, 120), (7, 3), (1, 1), (5000, 50)])
    func identifyUndoesLabels(series: Int, metrics: Int) {
        let shape = Self.shape(series: series, metrics: metrics)
        for slot in stride(from: 0, to: series, by: max(1, series / 400)) {
            for generation in [0, 1, 2, 13, 1000] {
                let found = shape.identify(shape.labels(slot: slot, generation: generation))
                #expect(found?.slot == slot && found?.generation == generation, "slot \(slot) generation \(generation)")
            }
        }
        // Every slot of the last host, the one most likely to be off by one.
        for slot in max(0, series - metrics)..<series {
            let found = shape.identify(shape.labels(slot: slot, generation: 3))
            #expect(found?.slot == slot && found?.generation == 3)
        }
    }

    @Test func identifyRejectsAnotherRun() {
        let mine = Self.shape(runID: "mine")
        let theirs = Self.shape(runID: "theirs")
        #expect(mine.identify(theirs.labels(slot: 5, generation: 0)) == nil)
        #expect(mine.identify(theirs.labels(slot: 5, generation: 2)) == nil)
    }

    @Test func identifyRejectsAnExtraOrMissingLabel() {
        let shape = Self.shape()
        var extra = shape.labels(slot: 5, generation: 0)
        extra.append(Label(name: "zzz", value: "1"))
        #expect(shape.identify(extra) == nil)
        var missing = shape.labels(slot: 5, generation: 0)
        missing.removeAll { $0.name == "team" }
        #expect(shape.identify(missing) == nil)
        #expect(shape.identify([]) == nil)
        #expect(shape.identify(shape.labels(slot: 5, generation: 0).filter { $0.name != "__name__" }) == nil)
    }

    @Test func identifyRejectsAChangedLabelValue() {
        let shape = Self.shape()
        var labels = shape.labels(slot: 5, generation: 0)
        let index = labels.firstIndex { $0.name == "region" }!
        labels[index].value = "mars-1"
        #expect(shape.identify(labels) == nil)
    }

    @Test func identifyRejectsUnknownMetrics() {
        let shape = Self.shape(series: 1000, metrics: 10)
        func with(name: String) -> [Label] {
            var labels = shape.labels(slot: 0, generation: 0)
            labels[0].value = name
            return labels
        }
        #expect(shape.identify(with(name: "up")) == nil)
        // Real node_exporter names, but past this shape's --metrics.
        #expect(shape.identify(with(name: "node_filesystem_avail_bytes")) == nil)
        #expect(shape.identify(with(name: shape.metricName(10))) == nil)
        #expect(shape.identify(with(name: "node_load15")) != nil)  // metric 7: in range
        #expect(shape.identify(with(name: "node_cpu_seconds_total_1")) == nil)
        #expect(shape.identify(with(name: "node_cpu_seconds_total_0")) == nil)
        #expect(shape.identify(with(name: "node_cpu_seconds_total_01")) == nil)
        #expect(shape.identify(with(name: "node_cpu_seconds_total_")) == nil)
        #expect(shape.identify(with(name: "node_cpu_seconds_total")) != nil)
    }

    @Test(arguments: [
        "host-1", "host-1:9101", "node-1:9100", "host-:9100", "host-x:9100", "host-1-r0:9100", "host-1-r:9100",
        "host-1-1:9100", "host-1-r-1:9100", "host-1-r1-r2:9100", "host--1:9100", "host-+1:9100", "host-01:9100",
        "host-1-r01:9100", "host-999999:9100", "host-99999999999999999999:9100", "",
    ])
    func identifyRejectsBadInstances(instance: String) {
        let shape = Self.shape(series: 1000, metrics: 100)
        var labels = shape.labels(slot: 100, generation: 0)  // host 1
        let index = labels.firstIndex { $0.name == "instance" }!
        labels[index].value = instance
        #expect(shape.identify(labels) == nil)
    }

    /// A host number that parses but overflows `host * metrics` must be a foreign series, not a
    /// crash: `--verify` reads whatever the receiver holds under the run's labels.
    @Test func identifyDoesNotTrapOnAHugeHostNumber() async {
        await #expect(processExitsWith: .success) {
            let shape = SeriesShape(
                series: 1000, metrics: 100, intervalMs: 15_000, startMs: 1_700_000_000_000,
                churnPercent: 0, outOfOrder: 0, runID: "run-1"
            )
            var labels = shape.labels(slot: 100, generation: 0)
            let index = labels.firstIndex { $0.name == "instance" }!
            labels[index].value = "host-\(Int.max):9100"
            _ = shape.identify(labels)
        }
    }

    // MARK: Values

    @Test func countersNeverDecreaseWithinAGeneration() {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        let counters = (0..<shape.series).filter(shape.isCounter)
        #expect(counters.count > 100)
        var checked = 0
        for slot in counters {
            for tick in 1..<40 where shape.generation(slot: slot, tick: tick) == shape.generation(slot: slot, tick: tick - 1) {
                #expect(shape.value(slot: slot, tick: tick) >= shape.value(slot: slot, tick: tick - 1), "slot \(slot) tick \(tick)")
                checked += 1
            }
        }
        #expect(checked > 1000)
    }

    @Test func countersWithoutChurnRiseSteadily() {
        let shape = Self.shape(series: 200, metrics: 50)
        let slot = (0..<200).first(where: shape.isCounter)!
        let values = (0..<500).map { shape.value(slot: slot, tick: $0) }
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 <= $1 })
        // At least one per tick (the smallest step) on average.
        #expect(values[499] - values[0] >= 499)
        #expect(values.allSatisfy { $0 >= 0 && $0 == $0.rounded() })
    }

    @Test func countersRestartWhenChurnReplacesTheSlot() {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        var restarts = 0
        for slot in (0..<shape.series).filter(shape.isCounter) {
            for tick in 1..<30 where shape.generation(slot: slot, tick: tick) != shape.generation(slot: slot, tick: tick - 1) {
                // The new process counts from (nearly) zero: under half a step (at most 50)…
                #expect(shape.value(slot: slot, tick: tick) <= 50, "slot \(slot) tick \(tick)")
                // …so below the old one once that has run for two steps.
                if tick >= 3, shape.generation(slot: slot, tick: tick - 3) == shape.generation(slot: slot, tick: tick - 1) {
                    #expect(shape.value(slot: slot, tick: tick) < shape.value(slot: slot, tick: tick - 1), "slot \(slot) tick \(tick)")
                    restarts += 1
                }
            }
        }
        #expect(restarts > 100)
    }

    @Test func gaugesVary() {
        let shape = Self.shape(series: 200, metrics: 50)
        let gauges = (0..<200).filter { !shape.isCounter(slot: $0) }
        #expect(!gauges.isEmpty)
        for slot in gauges.prefix(20) {
            let values = (0..<100).map { shape.value(slot: slot, tick: $0) }
            #expect(Set(values.map(\.bitPattern)).count > 50, "slot \(slot)")
            #expect(values.allSatisfy { $0.isFinite })
            // Not a counter in disguise: it goes down somewhere.
            #expect(zip(values, values.dropFirst()).contains { $0 > $1 }, "slot \(slot)")
        }
    }

    @Test func valuesAreDeterministic() {
        let a = Self.shape(series: 1000, metrics: 100, churnPercent: 5, outOfOrder: 0.2)
        let b = Self.shape(series: 1000, metrics: 100, churnPercent: 5, outOfOrder: 0.2)
        for slot in stride(from: 0, to: 1000, by: 7) {
            for tick in [0, 1, 2, 19, 20, 21, 999, 100_000] {
                #expect(a.value(slot: slot, tick: tick).bitPattern == b.value(slot: slot, tick: tick).bitPattern)
                #expect(a.value(slot: slot, tick: tick).bitPattern == a.value(slot: slot, tick: tick).bitPattern)
                #expect(a.sampleTimestamp(slot: slot, tick: tick) == b.sampleTimestamp(slot: slot, tick: tick))
            }
        }
    }

    @Test func valuesDifferBetweenSlots() {
        let shape = Self.shape(series: 1000, metrics: 100)
        let gauges = (0..<1000).filter { !shape.isCounter(slot: $0) }
        let values = gauges.map { shape.value(slot: $0, tick: 10).bitPattern }
        #expect(Set(values).count == gauges.count)
        let counters = (0..<1000).filter(shape.isCounter)
        #expect(Set(counters.map { shape.value(slot: $0, tick: 10) }).count > counters.count / 2)
    }

    // MARK: Time

    @Test func startIsAlignedToTheInterval() {
        let shape = Self.shape(intervalMs: 15_000, startMs: Self.start + 7_123)
        #expect(shape.startMs % 15_000 == 0)
        #expect(shape.startMs <= Self.start + 7_123)
        #expect(shape.startMs > Self.start + 7_123 - 15_000)
        let aligned = Self.shape(intervalMs: 10_000, startMs: Self.start)
        #expect(aligned.startMs == Self.start)
    }

    @Test func timestampsStepByTheInterval() {
        let shape = Self.shape(intervalMs: 15_000, startMs: Self.start + 7_123)
        #expect(shape.timestamp(tick: 0) == shape.startMs)
        for tick in 1..<1000 {
            #expect(shape.timestamp(tick: tick) - shape.timestamp(tick: tick - 1) == 15_000)
        }
    }

    @Test(arguments: [Int64(10), 1000, 15_000, 60_000])
    func tickForTimestampInvertsBothTimestamps(intervalMs: Int64) {
        let shape = Self.shape(series: 300, metrics: 30, intervalMs: intervalMs, startMs: Self.start + 3, outOfOrder: 0.5)
        var late = 0
        for tick in 0..<200 {
            #expect(shape.tick(forTimestamp: shape.timestamp(tick: tick)) == tick)
            for slot in 0..<100 {
                let timestamp = shape.sampleTimestamp(slot: slot, tick: tick)
                #expect(shape.tick(forTimestamp: timestamp) == tick, "slot \(slot) tick \(tick)")
                if timestamp != shape.timestamp(tick: tick) { late += 1 }
            }
        }
        #expect(late > 500)
    }

    @Test func tickForTimestampRejectsOffGridTimestamps() {
        let shape = Self.shape(intervalMs: 15_000)
        let start = shape.startMs
        for timestamp in [start + 1, start + 2, start + 7_500, start + 14_998, start + 15_001, start - 2, start - 15_000, start - 15_001, start - 1_000_000] {
            #expect(shape.tick(forTimestamp: timestamp) == nil, "offset \(timestamp - start)")
        }
        // 1 ms before tick k−1 is tick k's out-of-order timestamp, even for k = 1.
        #expect(shape.tick(forTimestamp: start - 1) == 1)
        #expect(shape.tick(forTimestamp: start + 14_999) == 2)
    }

    // MARK: Out of order

    @Test func outOfOrderSamplesAreOneMillisecondBeforeThePreviousTick() {
        let shape = Self.shape(series: 100, metrics: 10, outOfOrder: 0.5)
        for slot in 0..<100 {
            for tick in 0..<50 {
                let expected = shape.isOutOfOrder(slot: slot, tick: tick)
                    ? shape.timestamp(tick: tick - 1) - 1 : shape.timestamp(tick: tick)
                #expect(shape.sampleTimestamp(slot: slot, tick: tick) == expected)
            }
        }
    }

    @Test func outOfOrderShareMatchesTheFraction() {
        let shape = Self.shape(series: 1000, metrics: 100, outOfOrder: 0.1)
        var late = 0
        for slot in 0..<1000 {
            for tick in 1...100 where shape.isOutOfOrder(slot: slot, tick: tick) { late += 1 }
        }
        let share = Double(late) / 100_000
        #expect(share >= 0.09 && share <= 0.11, "share \(share)")
    }

    @Test func tickZeroIsNeverOutOfOrder() {
        let all = Self.shape(series: 1000, metrics: 100, outOfOrder: 1)
        for slot in 0..<1000 {
            #expect(!all.isOutOfOrder(slot: slot, tick: 0))
            #expect(all.sampleTimestamp(slot: slot, tick: 0) == all.timestamp(tick: 0))
        }
    }

    @Test func outOfOrderZeroGivesNoneAndOneGivesAll() {
        let none = Self.shape(series: 500, metrics: 50, outOfOrder: 0)
        let all = Self.shape(series: 500, metrics: 50, outOfOrder: 1)
        for slot in 0..<500 {
            for tick in 1..<50 {
                #expect(!none.isOutOfOrder(slot: slot, tick: tick))
                #expect(none.sampleTimestamp(slot: slot, tick: tick) == none.timestamp(tick: tick))
                #expect(all.isOutOfOrder(slot: slot, tick: tick))
            }
        }
    }

    // MARK: Churn

    @Test func churnReplacesExactlyItsShareEveryTick() {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        #expect(shape.churnPerTick == 100)
        for tick in 1...35 {
            let changed = (0..<1000).filter { shape.generation(slot: $0, tick: tick) != shape.generation(slot: $0, tick: tick - 1) }
            #expect(changed.count == 100, "tick \(tick)")
            // By one generation, never more.
            #expect(changed.allSatisfy { shape.generation(slot: $0, tick: tick) == shape.generation(slot: $0, tick: tick - 1) + 1 })
        }
    }

    @Test func churnReplacesEverySlotOncePerCycle() {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        for slot in 0..<1000 {
            #expect(shape.generation(slot: slot, tick: 0) == 0)
            #expect(shape.generation(slot: slot, tick: 10) == 1)
            #expect(shape.generation(slot: slot, tick: 20) == 2)
            for cycle in 0..<3 {
                let changes = (cycle * 10 + 1...cycle * 10 + 10).filter {
                    shape.generation(slot: slot, tick: $0) != shape.generation(slot: slot, tick: $0 - 1)
                }
                #expect(changes.count == 1, "slot \(slot) cycle \(cycle)")
            }
        }
    }

    /// A share that doesn't divide the series still replaces the same number every tick, wrapping.
    @Test func churnThatDoesNotDivideTheSeriesWraps() {
        let shape = Self.shape(series: 7, metrics: 1, churnPercent: 43)
        #expect(shape.churnPerTick == 3)
        for tick in 1...30 {
            let changed = (0..<7).filter { shape.generation(slot: $0, tick: tick) != shape.generation(slot: $0, tick: tick - 1) }
            #expect(changed.count == 3, "tick \(tick)")
        }
        // After 7 ticks, 21 replacements: every slot three times.
        #expect((0..<7).allSatisfy { shape.generation(slot: $0, tick: 7) == 3 })
    }

    @Test func noChurnKeepsGenerationZero() {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 0)
        #expect(shape.churnPerTick == 0)
        for slot in stride(from: 0, to: 1000, by: 13) {
            #expect(shape.generation(slot: slot, tick: 1_000_000) == 0)
        }
    }

    @Test func churnChangesTheInstanceOnly() {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        let before = shape.labels(slot: 250, generation: shape.generation(slot: 250, tick: 2))
        let after = shape.labels(slot: 250, generation: shape.generation(slot: 250, tick: 3))
        #expect(before != after)
        let differing = zip(before, after).filter { $0 != $1 }.map(\.0.name)
        #expect(differing == ["instance"])
    }
}
