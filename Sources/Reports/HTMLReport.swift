import HTTPStreams
import PacketDecode
import PoolInference
import TCPFlows

/// `poolscope report`: one self-contained HTML file (inline CSS and SVG; no
/// scripts, fonts or fetches) with the pools and findings, a chart of open,
/// idle and TIME_WAIT connections over time per pool, and a timeline with one
/// lane per connection: handshake, each request and response, idle gaps, FIN
/// and RST marks, the TIME_WAIT tail shaded, coloured by who closed.
///
/// Every string that came from the capture is escaped. Lanes are capped per
/// pool (`laneLimit`), so a capture of 10,000 connections stays a few MB.
public enum HTMLReport {
    public static let laneLimit = 400
    /// Pools drawn in full (the busiest); the next `poolRowLimit` get a table row each.
    public static let detailedPoolLimit = 20
    public static let poolRowLimit = 200
    static let width = 1100.0
    static let laneHeight = 14.0
    static let left = 150.0

    public static func render(_ report: Report) -> String {
        let c = report.capture
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>PoolScope report</title>
        <style>
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fbfcfe}
        h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 6px} h3{font-size:15px;margin:14px 0 4px}
        .summary,.pool{background:#fff;border:1px solid #dde3ec;border-radius:8px;padding:12px 16px;margin:10px 0}
        .muted{color:#667085} .finding{border-left:4px solid #f0a020;padding:4px 10px;margin:6px 0;background:#fff8ec}
        .finding.critical{border-color:#d92d20;background:#fff1f0} .finding.info{border-color:#2e90fa;background:#eff8ff}
        .code{font-family:ui-monospace,Menlo,monospace;font-weight:600} svg{display:block;margin:6px 0}
        table{border-collapse:collapse} td{padding:1px 10px 1px 0} .legend span{display:inline-block;margin-right:14px}
        .sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle;border-radius:2px}
        </style></head><body>
        <h1>PoolScope report</h1>
        <div class="summary"><div>\(escape(c.sources.map(\.name).joined(separator: ", ")))</div>
        <div class="muted">\(c.packets) packets, \(c.bytes) bytes, \(report.connections.count) connections
        """
        if let first = c.first, let last = c.last {
            html += ", \(escape(TimeText.utc(first))) to \(escape(TimeText.utc(last))) UTC (\(TimeText.seconds(c.duration)) s)"
        }
        html += "</div>"
        for fault in c.faults { html += "<div class=\"finding critical\">input fault: \(escape(fault))</div>" }
        html += "</div>\n"
        html += legend()
        let groups = Dictionary(grouping: report.connections) { PoolKey(client: $0.client.address, server: $0.server) }
        let start = c.first?.nanoseconds ?? 0
        let end = max(c.last?.nanoseconds ?? start, start + 1)
        // The busiest pools in full, then a row each for the next ones, then a count.
        let ranked = report.pools.enumerated().sorted { ($0.element.findings.isEmpty ? 0 : 1, $0.element.connections) > ($1.element.findings.isEmpty ? 0 : 1, $1.element.connections) }.map(\.element)
        for pool in ranked.prefix(detailedPoolLimit) {
            let members = (groups[PoolKey(client: pool.client, server: pool.server)] ?? []).filter {
                pool.name == nil || ($0.http.tls?.serverName ?? $0.http.transactions.first?.host) == pool.name
            }
            html += poolSection(pool, members, start: start, end: end)
        }
        if ranked.count > detailedPoolLimit {
            html += "<h2>More pools</h2><table><tr class=\"muted\"><td>client</td><td>server</td><td>connections</td><td>requests</td><td>findings</td></tr>"
            for pool in ranked.dropFirst(detailedPoolLimit).prefix(poolRowLimit) {
                html += "<tr><td>\(escape(pool.client.description))</td><td>\(escape(pool.server.description))</td><td>\(pool.connections)</td>"
                html += "<td>\(pool.requests)</td><td>\(escape(pool.findings.map(\.code).joined(separator: ", ")))</td></tr>"
            }
            html += "</table>"
            let hidden = ranked.count - detailedPoolLimit - min(poolRowLimit, ranked.count - detailedPoolLimit)
            if hidden > 0 { html += "<div class=\"muted\">\(hidden) more pools not listed (the JSON report has them all)</div>" }
        }
        let pooled = Set(report.pools.map { PoolKey(client: $0.client, server: $0.server) })
        let rest = report.connections.filter { !pooled.contains(PoolKey(client: $0.client.address, server: $0.server)) }
        if !rest.isEmpty {
            html += "<h2>Other connections</h2>" + lanes(rest, start: start, end: end)
        }
        html += "</body></html>\n"
        return html
    }

    struct PoolKey: Hashable {
        var client: IPAddress
        var server: Endpoint
    }

    static func poolSection(_ p: PoolReport, _ members: [ConnectionRecord], start: Int64, end: Int64) -> String {
        var html = "<div class=\"pool\"><h2>client \(escape(p.client.description)) &rarr; \(escape(p.server.description))"
        if let name = p.name, name != p.server.description, name != p.server.address.description {
            html += " <span class=\"muted\">(\(escape(name)))</span>"
        }
        html += "</h2><div>\(p.connections) connections, "
        html += p.hiddenRequestConnections == p.connections ? "requests hidden (TLS or HTTP/2)" : "\(p.requests) requests"
        if let r = p.reuseRatio { html += " (\(TextReport.format(r)) per connection)" }
        html += "; at most \(p.peakOpen) open, \(p.peakActive) busy, \(p.peakIdle) idle at once; TIME_WAIT at most \(p.peakTimeWaitClient) on the client, \(p.peakTimeWaitServer) on the server</div>"
        var inferred: [String] = []
        if let m = p.inferred.maxIdlePerHost { inferred.append("max idle per host <b>\(m.value)</b> <span class=\"muted\">(\(escape(m.evidence)))</span>") }
        if let m = p.inferred.maxConnsPerHost { inferred.append("max connections per host <b>\(m.value)</b>") }
        if let t = p.inferred.clientIdleTimeout { inferred.append("client idle timeout <b>\(TextReport.format(t.value)) s</b>") }
        if let t = p.inferred.serverIdleTimeout { inferred.append("server idle timeout <b>\(TextReport.format(t.value)) s</b>") }
        if let k = p.inferred.keepAlive { inferred.append("keep-alive <b>\(k.value ? "on" : "off")</b>") }
        if !inferred.isEmpty { html += "<div>inferred: " + inferred.joined(separator: "; ") + "</div>" }
        for f in p.findings {
            html += "<div class=\"finding \(escape(f.severity))\"><span class=\"code\">\(escape(f.code))</span> \(escape(f.message))<br><span class=\"muted\">advice: \(escape(f.advice))</span></div>"
        }
        if p.findings.isEmpty { html += "<div class=\"finding info\">no pooling problem found</div>" }
        html += "<h3>Open, idle and TIME_WAIT over time</h3>" + chart(p, members, start: start, end: end)
        html += "<h3>Connections</h3>" + lanes(members, start: start, end: end)
        return html + "</div>\n"
    }

    // MARK: - Drawing

    static func x(_ t: Int64, _ start: Int64, _ end: Int64) -> Double {
        let f = Double(t - start) / Double(end - start)
        return left + max(0, min(1, f)) * (width - left - 10)
    }

    /// An SVG coordinate to a tenth of a pixel.
    static func n(_ v: Double) -> String { String((v * 10).rounded() / 10) }

    static func chart(_ p: PoolReport, _ members: [ConnectionRecord], start: Int64, end: Int64) -> String {
        let height = 120.0
        // TIME_WAIT held toward this server, from the members' windows, as steps.
        var tw: [(Int64, Int)] = []
        for c in members { if let w = c.timeWait { tw.append((w.start.nanoseconds, 1)); tw.append((min(w.end.nanoseconds, w.reusedAt?.nanoseconds ?? .max), -1)) } }
        tw.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var twSteps: [(Int64, Int)] = []
        var count = 0
        for (t, d) in tw { count += d; twSteps.append((t, count)) }
        let peak = max(1, p.timeline.map(\.open).max() ?? 1, twSteps.map(\.1).max() ?? 1)
        func y(_ v: Int) -> Double { height - 8 - Double(v) / Double(peak) * (height - 20) }
        func steps(_ points: [(Int64, Int)], _ color: String, _ label: String, dashed: Bool = false) -> String {
            guard !points.isEmpty else { return "" }
            var d = "M\(n(x(points[0].0, start, end))),\(n(y(0)))"
            var previous = 0
            for (t, v) in points {
                let px = n(x(t, start, end))
                d += " L\(px),\(n(y(previous))) L\(px),\(n(y(v)))"
                previous = v
            }
            d += " L\(n(width - 10)),\(n(y(previous)))"
            let dash = dashed ? " stroke-dasharray=\"5 3\"" : ""
            return "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(dashed ? 2.4 : 1.6)\"\(dash)><title>\(label)</title></path>"
        }
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"open, idle and TIME_WAIT connections over time\">"
        svg += "<line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(width - 10)\" y2=\"\(y(0))\" stroke=\"#c8d0dc\"/>"
        svg += "<text x=\"4\" y=\"\(n(y(peak) + 4))\" font-size=\"11\" fill=\"#667085\">\(peak)</text><text x=\"4\" y=\"\(n(y(0)))\" font-size=\"11\" fill=\"#667085\">0</text>"
        svg += steps(p.timeline.map { ($0.time, $0.open) }, "#175cd3", "open connections")
        svg += steps(p.timeline.map { ($0.time, $0.idle) }, "#12b76a", "idle connections", dashed: true)
        svg += steps(twSteps, "#b54708", "connections in TIME_WAIT")
        return svg + "</svg>"
    }

    static func lanes(_ connections: [ConnectionRecord], start: Int64, end: Int64) -> String {
        let shown = connections.prefix(laneLimit)
        let height = Double(shown.count) * laneHeight + 24
        var svg = "<svg class=\"lanes\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"one lane per connection\">"
        // Time axis: capture start and end.
        svg += "<text x=\"\(left)\" y=\"12\" font-size=\"11\" fill=\"#667085\">\(escape(TimeText.utcTimeOfDay(CaptureTime(nanoseconds: start))))</text>"
        svg += "<text x=\"\(width - 10)\" y=\"12\" font-size=\"11\" fill=\"#667085\" text-anchor=\"end\">\(escape(TimeText.utcTimeOfDay(CaptureTime(nanoseconds: end)))) UTC</text>"
        for (i, c) in shown.enumerated() {
            let top = 20 + Double(i) * laneHeight
            let mid = top + laneHeight / 2
            let closeAt = c.close.at?.nanoseconds ?? c.end.nanoseconds
            let closer = c.close.initiator
            let color = closer == .client ? "#7a5af8" : closer == .server ? "#dd2590" : closer == .simultaneous ? "#f79009" : "#98a2b3"
            svg += "<g class=\"lane\"><title>\(escape(laneTitle(c)))</title>"
            svg += "<text x=\"4\" y=\"\(n(mid + 4))\" font-size=\"10\" fill=\"#344054\">\(c.id) :\(c.client.port)</text>"
            // The connection's life, as a thin line (idle), then what happened on it.
            svg += "<line x1=\"\(n(x(c.start.nanoseconds, start, end)))\" y1=\"\(n(mid))\" x2=\"\(n(x(closeAt, start, end)))\" y2=\"\(n(mid))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            if let h = c.handshake, let syn = h.syn, let ack = h.ack ?? h.synAck {
                svg += rect(x(syn.nanoseconds, start, end), x(ack.nanoseconds, start, end), top + 3, laneHeight - 6, "#475467", "handshake")
            }
            for t in c.http.transactions.prefix(200) {
                let done = t.responseEnd ?? closeAt
                svg += rect(x(t.requestStart, start, end), x(done, start, end), top + 2, laneHeight - 4, color,
                            "\(t.method) \(t.target) \(t.status.map(String.init) ?? "-")")
            }
            if let tw = c.timeWait {
                let twEnd = min(tw.end.nanoseconds, tw.reusedAt?.nanoseconds ?? .max)
                svg += rect(x(tw.start.nanoseconds, start, end), x(twEnd, start, end), top + 4, laneHeight - 8, "#fdb022", "TIME_WAIT (\(tw.holder.rawValue))", opacity: 0.45)
            }
            if c.close.kind == .rst || c.close.kind == .refused {
                let px = x(closeAt, start, end)
                svg += "<path d=\"M\(n(px - 4)),\(n(top + 2)) L\(n(px + 4)),\(n(top + laneHeight - 2)) M\(n(px + 4)),\(n(top + 2)) L\(n(px - 4)),\(n(top + laneHeight - 2))\" stroke=\"#d92d20\" stroke-width=\"2\"/>"
            } else if c.close.kind == .fin || c.close.kind == .halfClosed {
                let px = x(closeAt, start, end)
                svg += "<path d=\"M\(n(px)),\(n(top + 1)) L\(n(px + 5)),\(n(mid)) L\(n(px)),\(n(top + laneHeight - 1)) Z\" fill=\"\(color)\"/>"
            }
            svg += "</g>"
        }
        svg += "</svg>"
        if connections.count > shown.count {
            svg += "<div class=\"muted\">\(connections.count - shown.count) more connections not drawn (the first \(shown.count) are)</div>"
        }
        return svg
    }

    static func rect(_ x1: Double, _ x2: Double, _ y: Double, _ h: Double, _ color: String, _ title: String, opacity: Double = 1) -> String {
        "<rect x=\"\(n(x1))\" y=\"\(n(y))\" width=\"\(n(max(1.5, x2 - x1)))\" height=\"\(n(h))\" fill=\"\(color)\" fill-opacity=\"\(opacity)\" rx=\"2\"><title>\(escape(title))</title></rect>"
    }

    static func laneTitle(_ c: ConnectionRecord) -> String {
        var text = "\(c.client) -> \(c.server): \(c.http.requests.map { "\($0) requests" } ?? c.http.protocolName), "
        text += TextReport.closeText(c.close)
        if let tw = c.timeWait { text += ", TIME_WAIT on the \(tw.holder.rawValue)" }
        return text
    }

    static func legend() -> String {
        """
        <div class="legend muted"><span><i class="sw" style="background:#7a5af8"></i>closed by client</span>\
        <span><i class="sw" style="background:#dd2590"></i>closed by server</span>\
        <span><i class="sw" style="background:#f79009"></i>simultaneous</span>\
        <span><i class="sw" style="background:#98a2b3"></i>open</span>\
        <span><i class="sw" style="background:#475467"></i>handshake</span>\
        <span><i class="sw" style="background:#fdb022;opacity:.6"></i>TIME_WAIT</span>\
        <span style="color:#d92d20">&#x2715; RST</span>\
        <span>&#x25B6; FIN</span>\
        <span><i class="sw" style="background:#175cd3"></i>open</span><span><i class="sw" style="background:#12b76a"></i>idle</span>\
        <span><i class="sw" style="background:#b54708"></i>TIME_WAIT (chart)</span></div>
        """
    }

    /// HTML text and attribute escaping: every string from a capture goes through here.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
