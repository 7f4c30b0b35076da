import HTTPStreams
import PacketDecode
import PoolInference
import TCPFlows

/// The `--format json` document and the `--format ndjson` records.
/// Field names follow the schema in `schema/poolscope.report.schema.json`.
public enum JSONReport {
    /// The whole report as one JSON document (one line, newline-terminated).
    public static func render(_ report: Report) -> String {
        var text = ""
        render(report) { text += $0 }
        return text
    }

    /// The same document in pieces (one per connection), so a large report is
    /// written as it is made rather than held whole.
    public static func render(_ report: Report, to write: (String) -> Void) {
        var head = JSONText()
        head.beginObject()
        head.field("schema", Report.schema)
        writeCapture(report.capture, into: &head)
        writePools(report.pools, nanoseconds: report.capture.nanosecondTimestamps, into: &head)
        head.beginArray("connections")
        write(head.text)
        let ns = report.capture.nanosecondTimestamps
        for (i, connection) in report.connections.enumerated() {
            var json = JSONText(reservingCapacity: 2048)
            json.beginObject()
            writeConnectionFields(connection, nanoseconds: ns, into: &json)
            json.endObject()
            write(i == 0 ? json.text : "," + json.text)
        }
        write("]}\n")
    }

    /// One connection as a standalone NDJSON record; `files` names the inputs,
    /// so each record says which file it came from.
    public static func record(_ connection: ConnectionRecord, nanoseconds: Bool, files: [String] = []) -> String {
        var json = JSONText()
        writeRecord(connection, nanoseconds: nanoseconds, files: files, into: &json)
        return json.text
    }

    /// One NDJSON line (with its newline) appended to `json`: a stream reuses
    /// one JSONText (`reset()`) rather than building a String per record.
    public static func writeRecord(_ connection: ConnectionRecord, nanoseconds: Bool, files: [String] = [], into json: inout JSONText) {
        json.beginObject()
        json.field("schema", Report.schema)
        json.field("type", "connection")
        if connection.sourceIndex < files.count { json.field("file", files[connection.sourceIndex]) }
        writeConnectionFields(connection, nanoseconds: nanoseconds, into: &json)
        json.endObject()
        json.newline()
    }

    /// The capture summary (and the pools) as a standalone NDJSON record (the stream's last line).
    public static func captureRecord(_ capture: CaptureSummary, pools: [PoolReport] = []) -> String {
        var json = JSONText()
        json.beginObject()
        json.field("schema", Report.schema)
        json.field("type", "capture")
        writeCapture(capture, into: &json)
        writePools(pools, nanoseconds: capture.nanosecondTimestamps, into: &json)
        json.endObject()
        return json.text + "\n"
    }

    static func writePools(_ pools: [PoolReport], nanoseconds ns: Bool, into json: inout JSONText) {
        json.beginArray("pools")
        for p in pools {
            json.beginObject()
            json.field("client", p.client.description)
            json.beginObject("server")
            json.field("ip", p.server.address.description)
            json.field("port", Int(p.server.port))
            json.endObject()
            json.field("name", p.name)
            json.field("connections", p.connections)
            json.field("requests", p.requests)
            json.field("hidden_request_connections", p.hiddenRequestConnections)
            json.field("reuse_ratio", p.reuseRatio, decimals: 3)
            json.field("single_request_share", p.singleRequestShare, decimals: 3)
            json.field("peak_open", p.peakOpen)
            json.field("peak_active", p.peakActive)
            json.field("peak_idle", p.peakIdle)
            json.field("peak_time_wait_client", p.peakTimeWaitClient)
            json.field("peak_time_wait_server", p.peakTimeWaitServer)
            json.field("requests_per_second", p.requestsPerSecond, decimals: 3)
            json.field("idle_reused", p.idleReused)
            json.field("closed_after_response_while_others_idle", p.closedAfterResponseWhileOthersIdle)
            json.beginObject("idle_closes")
            json.field("client", p.idleClosesByClient)
            json.field("server", p.idleClosesByServer)
            json.endObject()
            json.beginObject("closes_per_second")
            json.field("client", p.closesPerSecondClient, decimals: 3)
            json.field("server", p.closesPerSecondServer, decimals: 3)
            json.endObject()
            json.field("port_exhaustion_s", p.portExhaustionSeconds, decimals: 1)
            json.beginObject("inferred")
            writeInferred("max_idle_per_host", p.inferred.maxIdlePerHost.map { ($0.observations, $0.evidence) }, into: &json) { $0.field("value", p.inferred.maxIdlePerHost?.value) }
            writeInferred("client_idle_timeout_s", p.inferred.clientIdleTimeout.map { ($0.observations, $0.evidence) }, into: &json) { $0.field("value", p.inferred.clientIdleTimeout?.value, decimals: 3) }
            writeInferred("server_idle_timeout_s", p.inferred.serverIdleTimeout.map { ($0.observations, $0.evidence) }, into: &json) { $0.field("value", p.inferred.serverIdleTimeout?.value, decimals: 3) }
            writeInferred("max_conns_per_host", p.inferred.maxConnsPerHost.map { ($0.observations, $0.evidence) }, into: &json) { $0.field("value", p.inferred.maxConnsPerHost?.value) }
            writeInferred("keep_alive", p.inferred.keepAlive.map { ($0.observations, $0.evidence) }, into: &json) { $0.field("value", p.inferred.keepAlive?.value) }
            json.endObject()
            json.beginArray("findings")
            for f in p.findings {
                json.beginObject()
                json.field("code", f.code)
                json.field("severity", f.severity)
                json.field("message", f.message)
                json.field("advice", f.advice)
                json.beginArray("connection_ids")
                for id in f.connectionIDs { json.rawNumber(id) }
                json.endArray()
                json.field("connection_count", f.connectionCount)
                json.endObject()
            }
            json.endArray()
            json.beginArray("requests_per_second_timeline")
            for point in p.requestsPerSecondTimeline {
                json.beginArray()
                json.rawNumber(epochNanoseconds: point.time, nanosecondDigits: ns)
                json.rawNumber(point.count)
                json.endArray()
            }
            json.endArray()
            json.beginArray("timeline")
            for t in p.timeline {
                json.beginArray()
                json.rawNumber(epochNanoseconds: t.time, nanosecondDigits: ns)
                json.rawNumber(t.open)
                json.rawNumber(t.active)
                json.rawNumber(t.idle)
                json.endArray()
            }
            json.endArray()
            json.endObject()
        }
        json.endArray()
    }

    /// An inferred setting: null when not observed, else {value, observations, evidence}.
    static func writeInferred(_ key: StaticString, _ support: (Int, String)?, into json: inout JSONText, value: (inout JSONText) -> Void) {
        guard let (observations, evidence) = support else {
            json.field(key, nil as String?)
            return
        }
        json.beginObject(key)
        value(&json)
        json.field("observations", observations)
        json.field("evidence", evidence)
        json.endObject()
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
            json.field(named: reason.description, count)
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
        json.beginObject("tracking")
        json.field("peak_live_connections", c.tracking.peakLiveConnections)
        json.field("evictions", c.tracking.evictions)
        json.field("idle_timeouts", c.tracking.idleTimeouts)
        json.field("segments_after_close", c.tracking.segmentsAfterClose)
        json.endObject()
        json.field("time_wait_seconds", c.timeWaitSeconds, decimals: 3)
        json.beginArray("time_wait_hosts")
        for h in c.timeWaitHosts {
            json.beginObject()
            json.field("ip", h.host.description)
            json.field("connections", h.connections)
            json.field("peak", h.peak)
            json.field("peak_at", epochNanoseconds: h.peakAt.nanoseconds, nanosecondDigits: ns)
            json.beginArray("timeline")
            for point in h.timeline {
                json.beginArray()
                json.rawNumber(epochNanoseconds: point.time.nanoseconds, nanosecondDigits: ns)
                json.rawNumber(point.count)
                json.endArray()
            }
            json.endArray()
            json.endObject()
        }
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
        writePerSide("bytes", c.bytes, into: &json)
        writePerSide("packets", c.packets, into: &json)
        json.field("client_evidence", c.clientEvidence)
        if let h = c.handshake {
            json.beginObject("handshake")
            json.field("syn", epochNanoseconds: h.syn?.nanoseconds, nanosecondDigits: ns)
            json.field("syn_ack", epochNanoseconds: h.synAck?.nanoseconds, nanosecondDigits: ns)
            json.field("ack", epochNanoseconds: h.ack?.nanoseconds, nanosecondDigits: ns)
            json.field("rtt_client_ms", h.rttClientMilliseconds, decimals: 3)
            json.field("rtt_server_ms", h.rttServerMilliseconds, decimals: 3)
            json.field("syn_retransmits", h.synRetransmits)
            json.field("syn_ack_retransmits", h.synAckRetransmits)
            json.beginObject("options")
            writeOptions("client", h.clientOptions, into: &json)
            writeOptions("server", h.serverOptions, into: &json)
            json.endObject()
            if let n = h.negotiated {
                json.beginObject("negotiated")
                json.field("mss", n.maximumSegmentSize)
                json.field("window_scaling", n.windowScale != nil)
                json.field("sack", n.sackPermitted)
                json.field("timestamps", n.timestamps)
                json.endObject()
            } else {
                json.field("negotiated", nil as String?)
            }
            json.endObject()
        } else {
            json.field("handshake", nil as String?)
        }
        writePerSide("retransmitted_segments", c.retransmittedSegments, into: &json)
        writePerSide("out_of_order_segments", c.outOfOrderSegments, into: &json)
        writePerSide("missed_bytes", c.missedBytes, into: &json)
        json.beginObject("reassembly")
        writePerSide("gaps", c.streamGaps, into: &json)
        writePerSide("gap_bytes", c.streamGapBytes, into: &json)
        writePerSide("conflicting_overlaps", c.conflictingOverlaps, into: &json)
        json.endObject()
        json.beginObject("close")
        json.field("kind", c.close.kind.rawValue)
        json.field("initiator", c.close.initiator?.rawValue)
        json.field("at", epochNanoseconds: c.close.at?.nanoseconds, nanosecondDigits: ns)
        if let phase = c.close.resetPhase { json.field("phase", phase.rawValue) }
        if let midTransfer = c.close.midTransfer { json.field("mid_transfer", midTransfer) }
        if let ended = c.close.trackingEnded { json.field("tracking_ended", ended) }
        json.endObject()
        if let tw = c.timeWait {
            json.beginObject("time_wait")
            json.field("holder", tw.holder.rawValue)
            json.field("start", epochNanoseconds: tw.start.nanoseconds, nanosecondDigits: ns)
            json.field("end", epochNanoseconds: tw.end.nanoseconds, nanosecondDigits: ns)
            json.field("estimated", tw.estimated)
            json.field("running_at_capture_end", tw.runningAtCaptureEnd)
            json.field("reused_at", epochNanoseconds: tw.reusedAt?.nanoseconds, nanosecondDigits: ns)
            json.endObject()
        } else {
            json.field("time_wait", nil as String?)
        }
        writePerSide("states", c.states, into: &json)
        if let reuse = c.portReuse {
            json.beginObject("port_reuse")
            json.field("previous_id", reuse.previousID)
            json.field("within_time_wait", reuse.withinTimeWait)
            json.endObject()
        } else {
            json.field("port_reuse", nil as String?)
        }
        writeHTTP(c.http, nanoseconds: ns, into: &json)
        json.beginObject("zeek")
        json.field("conn_state", c.zeekConnState)
        json.field("history", c.zeekHistory)
        json.field("missed_bytes", c.zeekMissedBytes)
        json.field("orig_bytes", c.zeekOriginatorBytes)
        json.field("resp_bytes", c.zeekResponderBytes)
        json.field("orig_is_client", c.zeekOriginatorIsClient)
        json.endObject()
    }

    static func writeHTTP(_ h: HTTPSummary, nanoseconds ns: Bool, into json: inout JSONText) {
        json.beginObject("http")
        json.field("protocol", h.protocolName)
        json.field("requests", h.requests)
        json.field("responses", h.responses)
        json.field("unknown_gaps", h.unknownGaps)
        json.field("upgraded", h.upgraded)
        if let tls = h.tls {
            json.beginObject("tls")
            json.field("sni", tls.serverName)
            json.field("alpn", tls.alpn)
            json.beginArray("alpn_offered")
            for p in tls.offeredALPN { json.value(p) }
            json.endArray()
            json.endObject()
        } else {
            json.field("tls", nil as String?)
        }
        json.field("estimated_exchanges", h.estimatedExchanges)
        json.beginArray("transactions")
        for t in h.transactions {
            json.beginObject()
            json.field("method", t.method)
            json.field("host", t.host)
            json.field("target", t.target)
            if t.targetTruncated { json.field("target_truncated", true) }
            json.field("status", t.status)
            json.field("request_start", epochNanoseconds: t.requestStart, nanosecondDigits: ns)
            json.field("request_end", epochNanoseconds: t.requestEnd, nanosecondDigits: ns)
            json.field("response_start", epochNanoseconds: t.responseStart, nanosecondDigits: ns)
            json.field("response_end", epochNanoseconds: t.responseEnd, nanosecondDigits: ns)
            json.field("request_bytes", t.requestBytes)
            json.field("response_bytes", t.responseBytes)
            json.field("idle_before_s", t.idleBefore, decimals: 6)
            json.field("position", t.position)
            if t.interimResponses > 0 { json.field("interim_responses", t.interimResponses) }
            json.endObject()
        }
        json.endArray()
        if h.transactionsTruncated { json.field("transactions_truncated", true) }
        json.endObject()
    }

    /// A `{"client": ..., "server": ...}` object.
    static func writePerSide(_ key: StaticString, _ v: PerSide<Int>, into json: inout JSONText) {
        json.beginObject(key)
        json.field("client", v.client)
        json.field("server", v.server)
        json.endObject()
    }

    static func writePerSide(_ key: StaticString, _ v: PerSide<String>, into json: inout JSONText) {
        json.beginObject(key)
        json.field("client", v.client)
        json.field("server", v.server)
        json.endObject()
    }

    static func writeOptions(_ key: StaticString, _ o: HandshakeOptions, into json: inout JSONText) {
        json.beginObject(key)
        json.field("mss", o.maximumSegmentSize)
        json.field("window_scale", o.windowScale)
        json.field("sack_permitted", o.sackPermitted)
        json.field("timestamps", o.timestamps)
        json.endObject()
    }
}
