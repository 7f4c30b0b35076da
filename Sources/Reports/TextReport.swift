import HTTPStreams
import PacketDecode
import TCPFlows

extension String {
    var trimmedRight: String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

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
        let t = c.tracking
        if t.evictions > 0 || t.idleTimeouts > 0 {
            out += "  tracking: \(t.evictions) connections evicted (--max-connections), \(t.idleTimeouts) idle past --idle-timeout\n"
        }
        for host in c.timeWaitHosts.prefix(5) {
            out += "  TIME_WAIT \(host.host): \(host.connections) connections, at most \(host.peak) at once"
            out += " (at \(TimeText.utcTimeOfDay(host.peakAt))), 2*MSL = \(TimeText.compactSeconds(c.timeWaitSeconds)) s\n"
        }
        return out
    }

    /// `7`, `1+1 unknown`, `tls poolscope.test`, `2 websocket`.
    static func requestsText(_ h: HTTPSummary) -> String {
        guard let requests = h.requests else {
            if let tls = h.tls { return "tls \(tls.serverName ?? "")".trimmedRight }
            return h.protocolName == "unknown" ? "-" : h.protocolName
        }
        var text = String(requests)
        if h.unknownGaps > 0 { text += "+\(h.unknownGaps) unknown" }
        if let up = h.upgraded { text += " \(up)" }
        return text
    }

    /// `fin by client`, `rst by server (idle)`, `refused`, `open (idle)`.
    static func closeText(_ close: CloseRecord) -> String {
        switch close.kind {
        case .fin, .halfClosed:
            return "\(close.kind.rawValue) by \(close.initiator?.rawValue ?? "?")"
        case .rst:
            return "rst by \(close.initiator?.rawValue ?? "?")" + (close.resetPhase.map { " (\($0.rawValue))" } ?? "")
        case .refused:
            return "refused"
        case .open:
            var text = "open"
            if close.trackingEnded == "idle_timeout" { text += " (idle timeout)" } else if close.trackingEnded == "evicted" { text += " (evicted)" } else if let mid = close.midTransfer { text += mid ? " (mid-transfer)" : " (idle)" }
            return text
        }
    }

    /// `client 60.0 s` (+ `~` when estimated, `running` at capture end).
    static func timeWaitText(_ tw: TimeWaitRecord?) -> String {
        guard let tw else { return "" }
        var text = "\(tw.holder.rawValue) \(TimeText.utcTimeOfDay(tw.start))\(tw.estimated ? "~" : "")"
        if let reused = tw.reusedAt { text += " reused after \(TimeText.seconds(CaptureTime.seconds(from: tw.start, to: reused))) s" } else if tw.runningAtCaptureEnd { text += " running" }
        return text
    }

    public static func connectionTable(_ connections: [ConnectionRecord], nanoseconds: Bool) -> String {
        var out = "connections: \(connections.count)\n"
        guard !connections.isEmpty else { return out }
        let header = ["id", "client", "server", "first (UTC)", "duration", "pkts c>s", "pkts s>c", "bytes c>s", "bytes s>c",
                      "requests", "close", "TIME_WAIT from", "zeek", ""]
        var rows: [[String]] = [header]
        for c in connections {
            rows.append([
                String(c.id), c.client.description, c.server.description,
                TimeText.utcTimeOfDay(c.start, nanoseconds: nanoseconds),
                TimeText.seconds(c.duration),
                String(c.packets.client), String(c.packets.server),
                String(c.bytes.client), String(c.bytes.server),
                requestsText(c.http),
                closeText(c.close), timeWaitText(c.timeWait), "\(c.zeekConnState) \(c.zeekHistory)",
                c.midStream ? "mid-stream" : "",
            ])
        }
        let rightAligned: Set<Int> = [0, 4, 5, 6, 7, 8, 9]
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
