import HTTPStreams
import PacketDecode
import PoolInference
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
    /// `connectionLimit`: list at most this many connections (nil: all), the
    /// rest summarised. `colour`: ANSI colours for severities (a terminal only).
    public static func render(_ report: Report, connectionLimit: Int? = nil, colour: Bool = false) -> String {
        var out = ""
        let c = report.capture
        out += summary(c)
        out += "\n"
        out += pools(report.pools, colour: colour, limit: connectionLimit == nil ? nil : 20)
        let shown = connectionLimit.map { Array(report.connections.prefix($0)) } ?? report.connections
        let total = report.connections.count + report.connectionsNotKept
        out += connectionTable(shown, total: total, nanoseconds: c.nanosecondTimestamps)
        if shown.count < total {
            out += "... \(total - shown.count) more connections (--connections all to list them)\n"
        }
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

    /// Each pool in plain words: what it is doing, what it appears set to, what to change.
    /// Pools with findings first, then the busiest; `limit` of them in full, the rest counted.
    public static func pools(_ pools: [PoolReport], colour: Bool = false, limit: Int? = nil) -> String {
        guard !pools.isEmpty else { return "" }
        var out = "pools: \(pools.count)\n"
        // The pools' places are ranked, not the reports: sorting a server's
        // 65,000 reports moved each several times and held a second array of them.
        let ranked = pools.indices.sorted { a, b in
            (pools[a].findings.isEmpty ? 0 : 1, pools[a].connections, -a) > (pools[b].findings.isEmpty ? 0 : 1, pools[b].connections, -b)
        }
        let shown = limit.map { ranked.prefix($0) } ?? ranked[...]
        for p in shown.lazy.map({ pools[$0] }) {
            let named = p.name.flatMap { $0 == p.server.description || $0 == p.server.address.description ? nil : $0 }
            let server = p.server.description + (named.map { " (\($0))" } ?? "")
            out += "  client \(p.client) -> \(server): \(p.connections) connection\(p.connections == 1 ? "" : "s")"
            if p.hiddenRequestConnections == p.connections {
                out += ", requests hidden (TLS or HTTP/2)"
            } else {
                out += ", \(p.requests) request\(p.requests == 1 ? "" : "s")"
                if let ratio = p.reuseRatio { out += " (\(format(ratio)) per connection)" }
            }
            out += "; at most \(p.peakOpen) open, \(p.peakActive) busy, \(p.peakIdle) idle at once\n"
            var settings: [String] = []
            if let m = p.inferred.maxIdlePerHost {
                settings.append("keeps at most \(m.value) idle connection\(m.value == 1 ? "" : "s")" + (m.value == 2 ? " (like Go's default MaxIdleConnsPerHost = 2)" : ""))
            }
            if let k = p.inferred.keepAlive { settings.append(k.value ? "keep-alive on" : "keep-alive off") }
            if let t = p.inferred.clientIdleTimeout { settings.append("client closes idle connections after \(format(t.value)) s") }
            if let t = p.inferred.serverIdleTimeout { settings.append("server closes idle connections after \(format(t.value)) s") }
            if let m = p.inferred.maxConnsPerHost { settings.append("at most \(m.value) connections (requests queue in the client)") }
            if !settings.isEmpty { out += "    inferred: \(settings.joined(separator: "; "))\n" }
            if p.peakTimeWaitClient > 0 || p.peakTimeWaitServer > 0 {
                out += "    TIME_WAIT: at most \(p.peakTimeWaitClient) on the client, \(p.peakTimeWaitServer) on the server"
                if let s = p.portExhaustionSeconds { out += "; client ports exhausted in \(format(s)) s at this rate" }
                out += "\n"
            }
            for f in p.findings {
                let tag = "[\(f.severity)]"
                let painted = colour ? (f.severity == "info" ? "\u{1B}[36m\(tag)\u{1B}[0m" : f.severity == "warning" ? "\u{1B}[33m\(tag)\u{1B}[0m" : "\u{1B}[31;1m\(tag)\u{1B}[0m") : tag
                out += "    \(painted) \(f.code): \(f.message)\n"
                out += "      advice: \(f.advice)\n"
            }
            if p.findings.isEmpty { out += "    no pooling problem found\n" }
        }
        if shown.count < ranked.count {
            let withFindings = ranked.dropFirst(shown.count).filter { !pools[$0].findings.isEmpty }.count
            out += "  ... \(ranked.count - shown.count) more pools, \(withFindings) with findings (--connections all, or --format json, for all)\n"
        }
        return out + "\n"
    }

    public static func format(_ v: Double) -> String {
        let rounded = (v * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
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

    public static func connectionTable(_ connections: [ConnectionRecord], total: Int? = nil, nanoseconds: Bool) -> String {
        var out = "connections: \(total ?? connections.count)\n"
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
