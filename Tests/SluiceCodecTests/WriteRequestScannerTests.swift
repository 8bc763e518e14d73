import Testing
@testable import SluiceCodec

@Suite struct WriteRequestScannerTests {
    /// Scans `request`'s encoding and returns the series' label sets and counts.
    static func scan(
        _ bytes: [UInt8], limits: WriteRequestScanner.Limits = .init(), decodeEachSeries: Bool = false
    ) throws(CodecError) -> (WriteRequestScanner.Summary, [[Label]]) {
        let codec = MessageCodec()
        let scanner = WriteRequestScanner(limits: limits)
        var labelSets: [[Label]] = []
        let summary = try bytes.withBytes { (raw) throws(CodecError) in
            try scanner.scan(raw) { (series) throws(CodecError) in
                labelSets.append(series.labels.map { label in
                    Label(
                        name: String(decoding: UnsafeRawBufferPointer(rebasing: raw[label.name]), as: UTF8.self),
                        value: String(decoding: UnsafeRawBufferPointer(rebasing: raw[label.value]), as: UTF8.self)
                    )
                })
                guard decodeEachSeries else { return }
                // The series bytes alone decode as the same series.
                var one: [UInt8] = [0x0A]
                var n = series.message.count
                while n >= 0x80 { one.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
                one.append(UInt8(n))
                one += raw[series.message]
                let decoded = try codec.decodeWriteRequest(one)
                #expect(decoded.timeseries.count == 1)
                #expect(decoded.timeseries.first?.samples.count == series.samples)
            }
        }
        return (summary, labelSets)
    }

    static func encode(_ request: WriteRequest) -> [UInt8] {
        MessageCodec().encoded { $0.encode(request, appendingTo: $1) }
    }

    @Test(arguments: Fixtures.remoteWrite)
    func agreesWithTheFullDecoder(_ body: Fixtures.Body) throws {
        let protobuf = try Snappy.decompress(body.bytes, limit: 32 << 20)
        let request = try MessageCodec().decodeWriteRequest(protobuf)
        let (summary, labelSets) = try Self.scan(protobuf, decodeEachSeries: true)
        #expect(summary.series == request.timeseries.count)
        #expect(summary.samples == request.sampleCount)
        #expect(summary.exemplars == request.exemplarCount)
        #expect(summary.histograms == request.histogramCount)
        #expect(labelSets == request.timeseries.map(\.labels))
    }

    @Test(arguments: Fixtures.remoteWrite)
    func truncatedBodiesNeverPassWhereTheDecoderFails(_ body: Fixtures.Body) throws {
        let protobuf = try Snappy.decompress(body.bytes, limit: 32 << 20)
        let codec = MessageCodec()
        // Every 97th cut, to keep the debug run short; each either fails in both or passes in both.
        for cut in stride(from: 0, to: protobuf.count, by: 97) {
            let prefix = Array(protobuf[..<cut])
            let decoded = try? codec.decodeWriteRequest(prefix)
            let scanned = try? Self.scan(prefix)
            if let decoded, let scanned {
                #expect(scanned.0.series == decoded.timeseries.count)
            } else if decoded == nil {
                #expect(scanned == nil, "scanner accepted a body cut at \(cut) that the decoder rejects")
            }
        }
    }

    /// `trustsLabels` (insert's parts in `sluice up`) skips only the label rules: the same series and
    /// ranges on real bodies, label-rule breaks pass, and every truncation still fails.
    @Test(arguments: Fixtures.remoteWrite)
    func trustingLabelsKeepsEveryStructureCheck(_ body: Fixtures.Body) throws {
        let protobuf = try Snappy.decompress(body.bytes, limit: 32 << 20)
        func ranges(_ bytes: [UInt8], trusted: Bool) throws(CodecError) -> [[WriteRequestScanner.LabelRange]] {
            let scanner = WriteRequestScanner()
            scanner.trustsLabels = trusted
            var out: [[WriteRequestScanner.LabelRange]] = []
            _ = try bytes.withBytes { (raw) throws(CodecError) in
                try scanner.scan(raw) { (series) throws(CodecError) in out.append(Array(series.labels)) }
            }
            return out
        }
        #expect(try ranges(protobuf, trusted: true) == ranges(protobuf, trusted: false))
        for cut in stride(from: 1, to: protobuf.count, by: 97) where (try? ranges(Array(protobuf[..<cut]), trusted: false)) == nil {
            #expect((try? ranges(Array(protobuf[..<cut]), trusted: true)) == nil, "a body cut at \(cut) passed when trusted")
        }
        let unsorted = Self.series([Label(name: "zone", value: "a"), Label(name: "job", value: "b")])
        #expect((try? ranges(unsorted, trusted: false)) == nil)
        #expect(try ranges(unsorted, trusted: true).count == 1)
    }

    static let up = Label(name: "__name__", value: "up")

    static func series(_ labels: [Label]) -> [UInt8] {
        encode(WriteRequest(timeseries: [TimeSeries(labels: labels, samples: [Sample(timestamp: 1, value: 1)])]))
    }

    static func rejection(_ labels: [Label], limits: WriteRequestScanner.Limits = .init()) -> String? {
        do {
            _ = try scan(series(labels), limits: limits)
            return nil
        } catch {
            #expect(error.code == .invalidSeries)
            return error.message
        }
    }

    @Test func validSeriesPass() {
        #expect(Self.rejection([Self.up, Label(name: "job", value: "node")]) == nil)
        #expect(Self.rejection([Label(name: "__name__", value: "ns:metric_total"), Label(name: "a_1", value: "ünï ✓")]) == nil)
    }

    @Test func invalidLabelsAreRejected() {
        #expect(Self.rejection([Label(name: "job", value: "x")])?.contains("no __name__") == true)
        #expect(Self.rejection([Self.up, Label(name: "", value: "x")])?.contains("empty name") == true)
        #expect(Self.rejection([Self.up, Label(name: "job", value: "")])?.contains("empty value") == true)
        #expect(Self.rejection([Self.up, Label(name: "1job", value: "x")])?.contains("invalid label name") == true)
        #expect(Self.rejection([Self.up, Label(name: "jo-b", value: "x")])?.contains("invalid label name") == true)
        #expect(Self.rejection([Label(name: "__name__", value: "bad-name")])?.contains("invalid metric name") == true)
        #expect(Self.rejection([Self.up, Label(name: "job", value: "a"), Label(name: "job", value: "b")])?.contains("duplicate") == true)
        #expect(Self.rejection([Self.up, Label(name: "zone", value: "a"), Label(name: "job", value: "b")])?.contains("not sorted") == true)
    }

    @Test func nulInALabelIsRejected() {
        // Built by hand: libprotobuf-c's C strings cannot even encode it, and would cut it on decode.
        let label: [UInt8] = [0x0A, 0x03] + Array("job".utf8) + [0x12, 0x03, UInt8(ascii: "a"), 0x00, UInt8(ascii: "b")]
        let name: [UInt8] = [0x0A, 0x08] + Array("__name__".utf8) + [0x12, 0x02] + Array("up".utf8)
        let series: [UInt8] = [0x0A, UInt8(name.count)] + name + [0x0A, UInt8(label.count)] + label
        let body: [UInt8] = [0x0A, UInt8(series.count)] + series
        do {
            _ = try Self.scan(body)
            Issue.record("a NUL byte in a label value was accepted")
        } catch {
            #expect(error.code == .invalidSeries)
            #expect(error.message.contains("NUL"))
        }
    }

    @Test func invalidUTF8IsRejected() throws {
        var bytes = Self.series([Self.up, Label(name: "job", value: "abc")])
        let at = try #require(bytes.firstIndex(of: UInt8(ascii: "b")))
        bytes[at] = 0xFF
        #expect(throws: CodecError.self) { try Self.scan(bytes) }
    }

    @Test func limitsApply() {
        var limits = WriteRequestScanner.Limits()
        limits.maxLabelNamesPerSeries = 2
        #expect(Self.rejection([Self.up, Label(name: "a", value: "1"), Label(name: "b", value: "2")], limits: limits) != nil)
        limits = .init()
        limits.maxLabelNameLength = 3
        #expect(Self.rejection([Self.up], limits: limits)?.contains("name longer") == true)
        limits = .init()
        limits.maxLabelValueLength = 1
        #expect(Self.rejection([Self.up], limits: limits)?.contains("longer") == true)
        limits = .init()
        limits.maxSeriesPerRequest = 1
        let two = Self.encode(WriteRequest(timeseries: [TimeSeries(labels: [Self.up]), TimeSeries(labels: [Self.up])]))
        #expect(throws: CodecError.self) { try Self.scan(two, limits: limits) }
    }

    @Test func metadataIsCollected() throws {
        let request = WriteRequest(
            timeseries: [TimeSeries(labels: [Self.up], samples: [Sample(timestamp: 1, value: 1)])],
            metadata: [MetricMetadata(type: .gauge, metricFamilyName: "up", help: "Up.")]
        )
        let (summary, _) = try Self.scan(Self.encode(request))
        #expect(summary.metadata.count == 1)
        #expect(summary.series == 1)
    }

    @Test func wrongWireTypesAreRejected() {
        // TimeSeries field 2 (samples) as a varint.
        let bytes: [UInt8] = [0x0A, 0x02, 0x10, 0x01]
        #expect(throws: CodecError.self) { try Self.scan(bytes) }
        #expect(throws: CodecError.self) { try MessageCodec().decodeWriteRequest(bytes) }
    }

    /// Name characters are classified by arithmetic, not a table: every byte must be judged as
    /// Prometheus' character classes judge it.
    @Test func nameCharacterClassesMatchPrometheus() {
        let letters = Set(WriteRequestScanner.letters.utf8)
        let digits = Set("0123456789".utf8)
        for value in 0...255 {
            let byte = UInt8(value)
            for colon in [false, true] {
                let start = letters.contains(byte) || (colon && byte == UInt8(ascii: ":"))
                #expect(WriteRequestScanner.isNameStart(byte, colon: colon) == start, "byte \(byte)")
                #expect(WriteRequestScanner.isNameCharacter(byte, colon: colon) == (start || digits.contains(byte)), "byte \(byte)")
            }
        }
        for (text, label, metric) in [("a", true, true), ("_a1", true, true), ("1a", false, false), ("a:b", false, true),
                                       (":a", false, true), ("", false, false), ("a-b", false, false), ("é", false, false)] {
            Array(text.utf8).withUnsafeBytes { bytes in
                #expect(WriteRequestScanner.isValidLabelName(bytes) == label, "\(text)")
                #expect(WriteRequestScanner.isValidMetricName(bytes) == metric, "\(text)")
            }
        }
    }

    /// Names longer than eight bytes are checked a word at a time: every byte value at every place of
    /// a word must be judged as the byte classifier judges it.
    @Test func nameWordsAgreeWithTheByteClassifier() {
        var generator = SystemRandomNumberGenerator()
        let nameBytes = Array((WriteRequestScanner.letters + "0123456789:").utf8)
        for colon in [false, true] {
            for position in 0..<8 {
                for value in 0...255 {
                    var bytes = (0..<8).map { _ in nameBytes.randomElement(using: &generator)! }
                    if !colon { bytes = bytes.map { $0 == UInt8(ascii: ":") ? UInt8(ascii: "_") : $0 } }
                    bytes[position] = UInt8(value)
                    let expected = bytes.allSatisfy { WriteRequestScanner.isNameCharacter($0, colon: colon) }
                    let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                    #expect(WriteRequestScanner.isNameWord(word, colon: colon) == expected, "\(bytes) colon \(colon)")
                }
            }
        }
        // Whole names of every length, with one bad byte at every place.
        for length in 1...24 {
            for position in 0..<length {
                var name = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                name[position] = UInt8(ascii: "-")
                name.withUnsafeBytes { #expect(!WriteRequestScanner.isValidLabelName($0)) }
                name[position] = UInt8(ascii: "Z")
                name.withUnsafeBytes { #expect(WriteRequestScanner.isValidLabelName($0)) }
            }
        }
    }

    /// The value check reads words, the last one overlapping: a bad byte anywhere, at every length,
    /// is found.
    @Test func labelValueCheckFindsABadByteAnywhere() {
        for length in 1...40 {
            for position in 0..<length {
                for bad: [UInt8] in [[0], [0xFF], [0xC3, 0x28]] {
                    var bytes = [UInt8](repeating: UInt8(ascii: "v"), count: length)
                    bytes.replaceSubrange(position..<min(length, position + bad.count), with: bad.prefix(length - position))
                    bytes.withUnsafeBytes { #expect(!WriteRequestScanner.isValidLabelValue($0), "\(bytes)") }
                }
                var good = [UInt8](repeating: UInt8(ascii: "v"), count: length)
                if position + 2 <= length { good.replaceSubrange(position..<position + 2, with: [0xC3, 0xA9]) }
                good.withUnsafeBytes { #expect(WriteRequestScanner.isValidLabelValue($0), "\(good)") }
            }
        }
    }

    /// A body built byte by byte, so that labels may hold what no encoder writes (a NUL, a bad UTF-8
    /// byte): one series per label list, each with one sample.
    static func rawBody(_ series: [[(name: [UInt8], value: [UInt8])]]) -> [UInt8] {
        func field(_ key: UInt8, _ inner: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [key]
            var n = inner.count
            while n >= 0x80 { out.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
            return out + [UInt8(n)] + inner
        }
        let sample: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x10, 0x01]
        return series.flatMap { labels in
            field(0x0A, labels.flatMap { field(0x0A, field(0x0A, $0.name) + field(0x12, $0.value)) } + field(0x12, sample))
        }
    }

    /// A label whose bytes repeat the previous series' label at the same place skips its own checks
    /// (they passed there); any label that differs is checked in full. A bad label after a run of good
    /// series, at every place and of every kind, is still rejected.
    @Test func aLabelIsCheckedWheneverItDiffersFromThePreviousSeries() {
        func pair(_ name: String, _ value: [UInt8]) -> (name: [UInt8], value: [UInt8]) { (Array(name.utf8), value) }
        let good = [pair("__name__", Array("up".utf8)), pair("instance", Array("host:9100".utf8)), pair("job", Array("node".utf8)), pair("zone", Array("a".utf8))]
        let bad: [(index: Int, label: (name: [UInt8], value: [UInt8]))] = [
            (0, pair("__name__", Array("bad-name".utf8))),
            (1, pair("instance", [])),
            (1, pair("in-stance", Array("x".utf8))),
            (2, pair("job", [0x6E, 0x00, 0x64])),
            (2, pair("job", [0x6E, 0xFF, 0x64])),
            (2, pair("instance", Array("x".utf8))),   // a duplicate name
            (3, pair("a", Array("x".utf8))),          // out of order
        ]
        for (index, label) in bad {
            var labels = good
            labels[index] = label
            #expect(throws: CodecError.self, "\(label) at \(index)") { try Self.scan(Self.rawBody([good, good, labels, good])) }
        }
        #expect(throws: Never.self) { try Self.scan(Self.rawBody([good, good, good])) }
    }

    /// A run of labels that repeats the previous series' byte for byte is taken over in one piece
    /// (`adoptLabels`): the labels come out as a parse would give them, and every rule still holds
    /// at the run's edges.
    @Test func aRepeatedRunOfLabelsIsTakenOverAndItsEdgesAreChecked() throws {
        func labels(_ pairs: [(String, String)]) -> [(name: [UInt8], value: [UInt8])] {
            pairs.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        }
        let first = [("__name__", "m"), ("b", "1"), ("c", "1"), ("d", "1")]
        // The run starts after the label that differs, wherever that is.
        for index in 0..<first.count {
            var next = first
            next[index].1 += "2"
            let (summary, sets) = try Self.scan(Self.rawBody([first, next, next, first].map(labels)))
            #expect(summary.samples == 4)
            #expect(sets.map { $0.map { [$0.name, $0.value] } } == [first, next, next, first].map { $0.map { [$0.0, $0.1] } })
        }
        // The label before the run is ordered against the run's first.
        #expect(throws: CodecError.self) { try Self.scan(Self.rawBody([first, [("__name__", "m"), ("x", "1"), ("c", "1"), ("d", "1")]].map(labels))) }
        #expect(throws: CodecError.self) { try Self.scan(Self.rawBody([first, [("__name__", "m"), ("c", "0"), ("c", "1"), ("d", "1")]].map(labels))) }
        // `__name__` inside the run counts; without it anywhere the series is rejected.
        let named = [("__a", "x"), ("__name__", "m"), ("z", "1")]
        #expect(throws: Never.self) { try Self.scan(Self.rawBody([named, [("__a", "y"), ("__name__", "m"), ("z", "1")]].map(labels))) }
        #expect(throws: CodecError.self) { try Self.scan(Self.rawBody([named, [("__a", "y"), ("__nam", "m"), ("z", "1")]].map(labels))) }
    }

    /// A run is only labels that lie back to back: where the previous series had a sample between
    /// two labels, the same bytes again are parsed, and the sample counted.
    @Test func aRunNeverSkipsAFieldBetweenLabels() throws {
        func field(_ key: UInt8, _ inner: [UInt8]) -> [UInt8] { [key, UInt8(inner.count)] + inner }
        func label(_ name: String, _ value: String) -> [UInt8] { field(0x0A, field(0x0A, Array(name.utf8)) + field(0x12, Array(value.utf8))) }
        let sample: [UInt8] = field(0x12, [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x10, 0x01])
        let series = label("__name__", "m") + sample + label("z", "1")
        let body = field(0x0A, series) + field(0x0A, series) + field(0x0A, label("__name__", "m") + label("z", "1") + sample + sample)
        let (summary, sets) = try Self.scan(body)
        #expect(summary.samples == 4)
        #expect(sets.count == 3 && sets.allSatisfy { $0 == [Label(name: "__name__", value: "m"), Label(name: "z", value: "1")] })
    }

    /// Bodies of series that each change the one before at random (a value, a name, a label added or
    /// dropped, a bad byte, two labels swapped) are judged as a plain check of every label judges
    /// them, and give the same label sets.
    @Test func seriesThatRepeatEachOtherAreJudgedAsEveryLabelAlone() {
        var random = SplitMix64(seed: 15)
        let names = ["__name__", "__a", "b", "cluster", "instance", "job", "le", "zone"]
        func isName(_ text: [UInt8], metric: Bool) -> Bool {
            guard let first = text.first, first == 0x5F || (first | 0x20) &- 0x61 < 26 || (metric && first == 0x3A) else { return false }
            return text.allSatisfy { $0 == 0x5F || ($0 | 0x20) &- 0x61 < 26 || $0 &- 0x30 < 10 || (metric && $0 == 0x3A) }
        }
        func isValid(_ labels: [(name: [UInt8], value: [UInt8])]) -> Bool {
            for (index, label) in labels.enumerated() {
                guard isName(label.name, metric: false), !label.value.isEmpty, !label.value.contains(0),
                      String(validating: label.value, as: UTF8.self) != nil else { return false }
                if index > 0, !labels[index - 1].name.lexicographicallyPrecedes(label.name) { return false }
                if label.name == Array("__name__".utf8), !isName(label.value, metric: true) { return false }
            }
            return labels.contains { $0.name == Array("__name__".utf8) }
        }
        for _ in 0..<3000 {
            var current = names.filter { _ in random.next() % 2 == 0 }.map { (name: Array($0.utf8), value: Array("v1".utf8)) }
            var body: [[(name: [UInt8], value: [UInt8])]] = []
            for _ in 0..<5 {
                body.append(current)
                guard !current.isEmpty else { continue }
                let at = Int(random.next() % UInt64(current.count))
                switch random.next() % 8 {
                case 0: current[at].value = Array("v\(random.next() % 3)".utf8)
                case 1: current[at].value = [[0x00, 0xFF, 0x2D, 0x3A][Int(random.next() % 4)]] + current[at].value.dropFirst()
                case 2: current[at].name[current[at].name.count - 1] = [0x2D, 0x3A, 0x61][Int(random.next() % 3)]
                case 3: current.remove(at: at)
                case 4: current.insert((Array(names[Int(random.next() % UInt64(names.count))].utf8), Array("v1".utf8)), at: at)
                case 5: if at > 0 { current.swapAt(at, at - 1) }
                case 6: current[at].value = []
                default: break
                }
            }
            let scanned = try? Self.scan(Self.rawBody(body))
            #expect((scanned != nil) == body.allSatisfy(isValid), "\(body.map { $0.map { String(decoding: $0.name, as: UTF8.self) + "=" + String(decoding: $0.value, as: UTF8.self) } })")
            if let scanned {
                #expect(scanned.1.map { $0.map { [Array($0.name.utf8), Array($0.value.utf8)] } } == body.map { $0.map { [$0.name, $0.value] } })
            }
        }
    }

    /// A scanner reused for the next body forgets the last one's series: a body that is the one
    /// before with a label made bad in place must be rejected, though the bad label sits at the very
    /// offsets of the good one (FuzzRemoteWrite found the read of stale ranges past a shorter body).
    @Test func aReusedScannerDoesNotCompareWithTheLastBody() throws {
        let good = Self.rawBody([[(Array("__name__".utf8), Array("up".utf8)), (Array("job".utf8), Array("node".utf8))]])
        var bad = good
        let at = try #require(bad.firstIndex(of: UInt8(ascii: "o")))
        bad[at] = 0xFF
        let scanner = WriteRequestScanner()
        _ = try good.withUnsafeBytes { (raw) throws(CodecError) in try scanner.scan(raw) { _ in } }
        #expect(throws: CodecError.self) {
            _ = try bad.withUnsafeBytes { (raw) throws(CodecError) in try scanner.scan(raw) { _ in } }
        }
    }

    /// Names and values shorter than eight bytes are checked as one word read past their end, inside
    /// the body: a bad byte at every place of every short length is found, and the bytes after the
    /// label never decide.
    @Test func shortNamesAndValuesAreCheckedAsWords() {
        let up = (name: Array("__name__".utf8), value: Array("up".utf8))
        for length in 1..<8 {
            for position in 0..<length {
                for bad: UInt8 in [0x2D, 0x00, 0xFF, 0x80] {
                    var name = [UInt8](repeating: UInt8(ascii: "n"), count: length)
                    name[position] = bad
                    #expect(throws: CodecError.self, "name \(name)") { try Self.scan(Self.rawBody([[up, (name, Array("x".utf8))]])) }
                    // "-" is a valid value byte, though not a valid name byte.
                    guard bad != 0x2D else { continue }
                    var value = [UInt8](repeating: UInt8(ascii: "v"), count: length)
                    value[position] = bad
                    #expect(throws: CodecError.self, "value \(value)") { try Self.scan(Self.rawBody([[up, (Array("job".utf8), value)]])) }
                }
            }
            let name = [UInt8](repeating: UInt8(ascii: "n"), count: length)
            let value = [UInt8](repeating: UInt8(ascii: "v"), count: length)
            #expect(throws: Never.self) { try Self.scan(Self.rawBody([[up, (name, value)]])) }
            #expect(throws: CodecError.self) { try Self.scan(Self.rawBody([[up, ([UInt8(ascii: "9")] + name.dropFirst(), value)]])) }
        }
    }

    @Test func metricNameLabelIsRecognised() {
        WriteRequestScanner.metricNameLabel.withUnsafeBytes { #expect(WriteRequestScanner.isMetricNameLabel($0)) }
        Array("__name_".utf8).withUnsafeBytes { #expect(!WriteRequestScanner.isMetricNameLabel($0)) }
        Array("__name__x".utf8).withUnsafeBytes { #expect(!WriteRequestScanner.isMetricNameLabel($0)) }
    }

    /// Labels and samples in the usual shape take a fast path; every other shape of the same message
    /// must be judged as the full decoder judges it.
    @Test func unusualShapesOfLabelsAndSamplesAgreeWithTheDecoder() {
        func message(_ field: UInt8, _ inner: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [field << 3 | 2]
            var n = inner.count
            while n >= 0x80 { out.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
            out.append(UInt8(n))
            return out + inner
        }
        func text(_ field: UInt8, _ string: String) -> [UInt8] { message(field, Array(string.utf8)) }
        let name = text(1, "__name__") + text(2, "up")
        let value: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F]
        let labels: [[UInt8]] = [
            name,
            text(2, "up") + text(1, "__name__"),                       // value first
            text(1, "__name__") + text(2, "up") + [0x18, 0x01],        // an unknown field after
            text(1, "__name__") + text(2, String(repeating: "u", count: 200)), // a value of 2-byte length
            text(1, "__name__") + text(2, "up") + text(2, "down"),     // the value twice: the last wins
            text(1, "__name__"),                                       // no value
            text(1, "__name__") + [0x12, 0x05, 0x75],                  // a value cut short
            [0x0A, 0x08] + Array("__name__".utf8) + [0x10, 0x01],      // the value as a varint
        ]
        let samples: [[UInt8]] = [
            value + [0x10, 0x01],
            [0x10, 0x01],                                              // value 0, left out
            value + [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01], // timestamp -1
            value + [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x02], // overflows 64 bits
            value + [0x10, 0x81],                                      // timestamp cut short
            value + [0x10, 0x01, 0x18, 0x01],                          // an unknown field after
            [0x10, 0x01] + value,                                      // timestamp first
            value,                                                     // no timestamp
            [0x09, 0, 0],                                              // value cut short
            value + [0x11, 0, 0, 0, 0, 0, 0, 0, 0],                    // field 2 as fixed64
        ]
        let codec = MessageCodec()
        for label in labels {
            for sample in samples {
                let body = message(1, message(1, label) + message(2, sample))
                let decoded = try? codec.decodeWriteRequest(body)
                let scanned = try? Self.scan(body)
                #expect(decoded != nil || scanned == nil, "label \(label) sample \(sample): the scanner accepts what the decoder rejects")
                if let decoded, let scanned {
                    #expect(scanned.1 == decoded.timeseries.map(\.labels))
                }
            }
        }
    }
}
