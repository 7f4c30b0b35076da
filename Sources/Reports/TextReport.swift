import PacketDecode
import TCPFlows

/// The plain-text report: the capture summary, then one line per connection.
public enum TextReport {
    public static func render(_ report: Report) -> String {
        var out = ""
        let c = report.capture
        out += summary(c)
        out += "\n"
        out += connectionTable(report.connections, nanoseconds: c.nanosecondTimestamps)
        return out
    }

    public static func summary(_ c: CaptureSummary) -> String {
        var out = ""
        let names = c.sources.map { $0.isLive ? "interface \($0.name)" : ($0.name == "-" ? "<stdin>" : $0.name) }
        out += "capture: \(names.joined(separator: ", "))"
        let links = Set(c.sources.map(\.linkType)).sorted()
        if !links.isEmpty { out += " (\(links.joined(separator: ", ")))" }
        out += "\n"
        out += "  packets \(c.packets), bytes \(c.bytes), TCP segments \(c.tcpPackets)"
        if c.payloadTruncatedPackets > 0 { out += ", \(c.payloadTruncatedPackets) with payload cut by snaplen" }
        out += "\n"
        if let first = c.first, let last = c.last {
            out += "  time    \(TimeText.utc(first, nanoseconds: c.nanosecondTimestamps)) to "
            out += "\(TimeText.utc(last, nanoseconds: c.nanosecondTimestamps)) UTC (\(TimeText.seconds(c.duration)) s)\n"
        }
        let undecoded = c.undecoded.nonZero
        if !undecoded.isEmpty {
            out += "  undecoded \(c.undecoded.total): "
            out += undecoded.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            out += "\n"
        }
        if let live = c.live {
            out += "  libpcap received \(live.received), dropped \(live.dropped), interface dropped \(live.interfaceDropped)\n"
        }
        for fault in c.faults {
            out += "  fault: \(fault)\n"
        }
        return out
    }

    public static func connectionTable(_ connections: [ConnectionRecord], nanoseconds: Bool) -> String {
        var out = "connections: \(connections.count)\n"
        guard !connections.isEmpty else { return out }
        let header = ["id", "client", "server", "first (UTC)", "last (UTC)", "pkts c>s", "pkts s>c", "bytes c>s", "bytes s>c", ""]
        var rows: [[String]] = [header]
        for c in connections {
            rows.append([
                String(c.id), c.client.description, c.server.description,
                TimeText.utcTimeOfDay(c.start, nanoseconds: nanoseconds),
                TimeText.utcTimeOfDay(c.end, nanoseconds: nanoseconds),
                String(c.packets.client), String(c.packets.server),
                String(c.bytes.client), String(c.bytes.server),
                c.midStream ? "mid-stream" : "",
            ])
        }
        let rightAligned: Set<Int> = [0, 5, 6, 7, 8]
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[i] - cell.count)
                line += i == 0 ? "" : "  "
                line += rightAligned.contains(i) ? padding + cell : cell + (i == row.count - 1 ? "" : padding)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        return out
    }
}
