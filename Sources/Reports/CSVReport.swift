import HTTPStreams
import PacketDecode
import TCPFlows

/// `--format csv`: one row per connection under a header row, quoted as RFC
/// 4180 says (fields with a comma, quote or line break in quotes, quotes
/// doubled, CRLF line ends).
public enum CSVReport {
    public static let header = [
        "id", "client_ip", "client_port", "server_ip", "server_port", "start", "end", "duration_s", "mid_stream",
        "packets_client", "packets_server", "bytes_client", "bytes_server", "protocol", "sni", "requests", "responses",
        "unknown_gaps", "close_kind", "close_initiator", "close_at", "time_wait_holder", "time_wait_start", "time_wait_end",
        "port_reuse_of", "zeek_conn_state", "zeek_history",
    ]

    public static func render(_ report: Report) -> String {
        var out = line(header)
        let ns = report.capture.nanosecondTimestamps
        for c in report.connections { out += line(row(c, nanoseconds: ns)) }
        return out
    }

    static func row(_ c: ConnectionRecord, nanoseconds ns: Bool) -> [String] {
        func time(_ t: CaptureTime?) -> String {
            guard let t else { return "" }
            var json = JSONText()
            json.rawNumber(epochNanoseconds: t.nanoseconds, nanosecondDigits: ns)
            return json.text
        }
        return [
            String(c.id), c.client.address.description, String(c.client.port), c.server.address.description, String(c.server.port),
            time(c.start), time(c.end), TimeText.seconds(c.duration), c.midStream ? "true" : "false",
            String(c.packets.client), String(c.packets.server), String(c.bytes.client), String(c.bytes.server),
            c.http.protocolName, c.http.tls?.serverName ?? "", c.http.requests.map(String.init) ?? "",
            c.http.responses.map(String.init) ?? "", String(c.http.unknownGaps),
            c.close.kind.rawValue, c.close.initiator?.rawValue ?? "", time(c.close.at),
            c.timeWait?.holder.rawValue ?? "", time(c.timeWait?.start), time(c.timeWait?.end),
            c.portReuse.map { String($0.previousID) } ?? "", c.zeekConnState, c.zeekHistory,
        ]
    }

    static func line(_ fields: [String]) -> String {
        fields.map(quote).joined(separator: ",") + "\r\n"
    }

    /// RFC 4180 §2: quote a field that holds a comma, a quote or a line break; double its quotes.
    public static func quote(_ field: String) -> String {
        // Bytes, not Characters: "\r\n" is one Character and would match neither.
        guard field.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }) else {
            return field
        }
        return "\"" + field.replacingQuotes() + "\""
    }
}

extension String {
    func replacingQuotes() -> String {
        var out = ""
        for ch in self { out += ch == "\"" ? "\"\"" : String(ch) }
        return out
    }
}
