import Foundation
import PoolScope
import Testing

@Suite struct JSONWriting {
    @Test func escapesEverythingRFC8259Requires() throws {
        let hostile = "a\"b\\c\nd\re\tf\u{01}g\u{1F}</script>é✓"
        let literal = JSONText.quoted(hostile)
        #expect(literal == "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f</script>é✓\"")
        // And it parses back to the same string.
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
        #expect(parsed == [hostile])
    }

    @Test func integersAndTimestampsAreExact() {
        var json = JSONText()
        json.beginObject()
        json.field("zero", 0)
        json.field("negative", -42)
        json.field("big", Int.max)
        json.field("min", Int.min)
        json.field("micro", epochNanoseconds: 1_700_000_000_000_001_999, nanosecondDigits: false)
        json.field("nano", epochNanoseconds: 1_700_000_000_000_001_999, nanosecondDigits: true)
        json.field("epoch", epochNanoseconds: 0, nanosecondDigits: false)
        json.field("none", epochNanoseconds: nil, nanosecondDigits: false)
        json.field("flag", true)
        json.beginArray("list")
        json.value("x")
        json.value("y")
        json.endArray()
        json.endObject()
        #expect(json.text == #"{"zero":0,"negative":-42,"big":9223372036854775807,"min":-9223372036854775808,"#
            + #""micro":1700000000.000001,"nano":1700000000.000001999,"epoch":0.000000,"none":null,"flag":true,"list":["x","y"]}"#)
    }

    /// JSONText keeps its bytes in a buffer of its own: a copy must not see
    /// the original's later writes, nor the original a copy's, and `reset()`
    /// starts a record afresh (commas included) in the same buffer.
    @Test func copiesAreIndependentAndResetStartsOver() {
        var a = JSONText(reservingCapacity: 1)
        a.beginObject()
        a.field("n", 7)
        var b = a
        a.field("ms", 1.5, decimals: 3)
        b.field("ms", -0.25, decimals: 2)
        a.field("digits", 1_234_567_890_123)
        a.endObject()
        b.endObject()
        #expect(a.text == #"{"n":7,"ms":1.500,"digits":1234567890123}"#)
        #expect(b.text == #"{"n":7,"ms":-0.25}"#)
        a.reset()
        a.beginArray()
        for i in [5, 10, 99, 100, 1_000_000] { a.rawNumber(i) }
        a.endArray()
        a.newline()
        #expect(a.text == "[5,10,99,100,1000000]\n")
        #expect(a.bytes == Array(a.text.utf8))
        // Keys are constants, except a name from data, which is escaped.
        a.reset()
        a.beginObject()
        a.field(named: "not_\"tcp\"", 2)
        a.field(named: "none", nil)
        a.endObject()
        #expect(a.text == #"{"not_\"tcp\"":2,"none":null}"#)
    }
}

@Suite struct TimeFormatting {
    @Test(arguments: [
        (Int64(0), "1970-01-01 00:00:00.000000"),
        (951_782_400_000_000_000, "2000-02-29 00:00:00.000000"),
        (1_795_558_820_712_076_000, "2026-11-24 22:20:20.712076"),
        (4_102_444_799_999_999_000, "2099-12-31 23:59:59.999999"),
    ])
    func utcCalendar(nanoseconds: Int64, expected: String) {
        #expect(TimeText.utc(CaptureTime(nanoseconds: nanoseconds)) == expected)
    }

    @Test func durations() {
        #expect(TimeText.seconds(1.3062704) == "1.306270")
        #expect(TimeText.seconds(0) == "0.000000")
    }
}

@Suite struct ReportShape {
    /// The JSON contract's fixed names, read back from a real fixture's report.
    @Test func jsonHasTheContractFields() throws {
        let report = try CaptureRun.analyzeFiles([Paths.fixture("go-default-pool.pcap")])
        let json = try parseJSON(JSONReport.render(report))
        #expect(json["schema"] as? String == "poolscope.report/1")
        let capture = try #require(json["capture"] as? [String: Any])
        for key in ["packets", "bytes", "first", "last", "undecoded"] { #expect(capture[key] != nil, "capture.\(key)") }
        let connection = try #require((json["connections"] as? [[String: Any]])?.first)
        for key in ["id", "client", "server", "start", "end", "mid_stream", "bytes", "packets"] {
            #expect(connection[key] != nil, "connections[].\(key)")
        }
        #expect((connection["client"] as? [String: Any])?["ip"] as? String == "127.0.0.1")
        #expect(((connection["bytes"] as? [String: Any])?["client"] as? Int) == report.connections[0].bytes.client)
    }
}
