import Foundation
import SluiceCodec
import Testing

import SluiceQuery

@Suite struct PromAPIJSONTests {
    @Test func strings() {
        #expect(PromAPIJSON.success(strings: ["a", "b"]) == #"{"status":"success","data":["a","b"]}"#)
        #expect(PromAPIJSON.success(strings: []) == #"{"status":"success","data":[]}"#)
    }

    @Test func series() {
        let body = PromAPIJSON.success(series: [
            [Label(name: "__name__", value: "up"), Label(name: "job", value: "x")],
            [Label(name: "__name__", value: "down")],
            [],
        ])
        #expect(body == #"{"status":"success","data":[{"__name__":"up","job":"x"},{"__name__":"down"},{}]}"#)
        #expect(PromAPIJSON.success(series: []) == #"{"status":"success","data":[]}"#)
    }

    @Test func error() {
        #expect(
            PromAPIJSON.error(type: "bad_data", message: #"1:1: parse error: unexpected "x""#)
                == #"{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected \"x\""}"#)
    }

    @Test func warningsOnlyWhenThereAreSome() {
        #expect(
            PromAPIJSON.success(strings: ["a"], warnings: ["node b: timeout", "c"])
                == #"{"status":"success","data":["a"],"warnings":["node b: timeout","c"]}"#)
        #expect(
            PromAPIJSON.success(series: [[Label(name: "a", value: "1")]], warnings: ["partial"])
                == #"{"status":"success","data":[{"a":"1"}],"warnings":["partial"]}"#)
        #expect(
            PromAPIJSON.error(type: "unavailable", message: "m", warnings: ["w"])
                == #"{"status":"error","errorType":"unavailable","error":"m","warnings":["w"]}"#)
        #expect(PromAPIJSON.success(strings: ["a"], warnings: []) == #"{"status":"success","data":["a"]}"#)
    }

    @Test func escapesAsGoDoes() {
        let value = "q\"b\\s/\n\r\t\u{0}\u{1}\u{8}\u{C}\u{1F}<>&\u{7F}\u{2028}\u{2029}\u{2027}\u{E9}e\u{301}\u{1F600}"
        let expected =
            #""q\"b\\s/\n\r\t\u0000\u0001\u0008\u000c\u001f\u003c\u003e\u0026"# + "\u{7F}"
            + #"\u2028\u2029"# + "\u{2027}\u{E9}e\u{301}\u{1F600}\""
        #expect(PromAPIJSON.success(strings: [value]) == #"{"status":"success","data":["# + expected + "]}")
    }

    @Test func bodiesParseBackToTheirStrings() throws {
        // Every ASCII character and some multi-byte ones, in names, values and messages.
        let ascii = String(String.UnicodeScalarView((0..<128).map { Unicode.Scalar(UInt8($0)) }))
        let tricky = [ascii, "", "\u{2028}x\u{2029}", "\u{E2}\u{80}", "\u{1F600}\u{FFFF}", "e\u{301}", "\u{E2}\u{80}\u{A8}"]

        let strings = try decode(PromAPIJSON.success(strings: tricky, warnings: tricky))
        #expect(strings["data"] as? [String] == tricky)
        #expect(strings["warnings"] as? [String] == tricky)

        let labels = tricky.enumerated().map { Label(name: "n\($0.offset)\($0.element)", value: $0.element) }
        let series = try decode(PromAPIJSON.success(series: [labels]))
        let object = (series["data"] as? [[String: String]])?.first
        for label in labels {
            #expect(object?[label.name].map { Array($0.utf8) } == Array(label.value.utf8))
        }

        let error = try decode(PromAPIJSON.error(type: "bad_data", message: ascii))
        #expect(error["status"] as? String == "error")
        #expect(error["errorType"] as? String == "bad_data")
        #expect(error["error"] as? String == ascii)
    }

    func decode(_ body: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8))
        return try #require(object as? [String: Any])
    }
}
