import PacketDecode
import TCPFlows

/// The `--format json` document and the `--format ndjson` records.
/// Field names follow the schema in `schema/poolscope.report.schema.json`.
public enum JSONReport {
    /// The whole report as one JSON document (one line, newline-terminated).
    public static func render(_ report: Report) -> String {
        var json = JSONText(reservingCapacity: 1024 + 400 * report.connections.count)
        json.beginObject()
        json.field("schema", Report.schema)
        writeCapture(report.capture, into: &json)
        json.beginArray("connections")
        for connection in report.connections {
            json.beginObject()
            writeConnectionFields(connection, nanoseconds: report.capture.nanosecondTimestamps, into: &json)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.text + "\n"
    }

    /// One connection as a standalone NDJSON record.
    public static func record(_ connection: ConnectionRecord, nanoseconds: Bool) -> String {
        var json = JSONText()
        json.beginObject()
        json.field("schema", Report.schema)
        json.field("type", "connection")
        writeConnectionFields(connection, nanoseconds: nanoseconds, into: &json)
        json.endObject()
        return json.text + "\n"
    }

    /// The capture summary as a standalone NDJSON record (the stream's last line).
    public static func captureRecord(_ capture: CaptureSummary) -> String {
        var json = JSONText()
        json.beginObject()
        json.field("schema", Report.schema)
        json.field("type", "capture")
        writeCapture(capture, into: &json)
        json.endObject()
        return json.text + "\n"
    }

    static func writeCapture(_ c: CaptureSummary, into json: inout JSONText) {
        let ns = c.nanosecondTimestamps
        json.beginObject("capture")
        json.field("packets", c.packets)
        json.field("bytes", c.bytes)
        json.field("first", epochNanoseconds: c.first?.nanoseconds, nanosecondDigits: ns)
        json.field("last", epochNanoseconds: c.last?.nanoseconds, nanosecondDigits: ns)
        json.beginObject("undecoded")
        for (reason, count) in c.undecoded.nonZero {
            json.field(reason.description, count)
        }
        json.endObject()
        json.field("tcp_packets", c.tcpPackets)
        json.field("payload_truncated_packets", c.payloadTruncatedPackets)
        json.beginArray("sources")
        for s in c.sources {
            json.beginObject()
            json.field(s.isLive ? "interface" : "file", s.name)
            json.field("link_type", s.linkType)
            json.field("snaplen", s.snapshotLength)
            json.endObject()
        }
        json.endArray()
        if let live = c.live {
            json.beginObject("live")
            json.field("received", live.received)
            json.field("dropped", live.dropped)
            json.field("interface_dropped", live.interfaceDropped)
            json.endObject()
        }
        json.beginArray("faults")
        for f in c.faults { json.value(f) }
        json.endArray()
        json.endObject()
    }

    static func writeConnectionFields(_ c: ConnectionRecord, nanoseconds ns: Bool, into json: inout JSONText) {
        json.field("id", c.id)
        json.beginObject("client")
        json.field("ip", c.client.address.description)
        json.field("port", Int(c.client.port))
        json.endObject()
        json.beginObject("server")
        json.field("ip", c.server.address.description)
        json.field("port", Int(c.server.port))
        json.endObject()
        json.field("start", epochNanoseconds: c.start.nanoseconds, nanosecondDigits: ns)
        json.field("end", epochNanoseconds: c.end.nanoseconds, nanosecondDigits: ns)
        json.field("mid_stream", c.midStream)
        json.beginObject("bytes")
        json.field("client", c.bytes.client)
        json.field("server", c.bytes.server)
        json.endObject()
        json.beginObject("packets")
        json.field("client", c.packets.client)
        json.field("server", c.packets.server)
        json.endObject()
    }
}
