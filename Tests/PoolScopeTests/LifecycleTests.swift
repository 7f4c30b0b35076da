import PcapTestSupport
import PoolScope
import Testing

/// Runs a synthetic conversation through the analyzer in-process.
func analyze(_ conversations: [TCPConversation], settings: FlowSettings = FlowSettings()) -> Report {
    var frames = conversations.flatMap(\.frames)
    frames.sort { $0.timestamp < $1.timestamp }
    var analyzer = Analyzer(settings: settings)
    for f in frames {
        f.bytes.withUnsafeBytes { analyzer.ingest($0, wireLength: f.bytes.count, linkType: .ethernet, timestamp: f.timestamp) }
    }
    return analyzer.finish()
}

func analyze(_ conversation: TCPConversation, settings: FlowSettings = FlowSettings()) -> Report {
    analyze([conversation], settings: settings)
}

let t0: Int64 = 1_700_000_000_000_000_000
func at(_ frameIndex: Int, _ c: TCPConversation) -> CaptureTime { CaptureTime(nanoseconds: c.frames[frameIndex].timestamp) }

/// A connection after the handshake and one request/response (frames 0-5).
func established() -> TCPConversation {
    var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
    c.handshake()
    c.exchange(request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return c
}

// MARK: - Orderly close

@Suite struct OrderlyClose {
    @Test func clientClosesFirst_clientHoldsTimeWait() throws {
        var c = established()
        c.clientCloses()
        let r = try #require(analyze(c).connections.first)
        #expect(r.close == CloseRecord(kind: .fin, initiator: .client, at: at(6, c)))
        let tw = try #require(r.timeWait)
        #expect(tw.holder == .client)
        #expect(tw.start == at(8, c))                       // the client's ACK of the server's FIN
        #expect(tw.end.nanoseconds == at(8, c).nanoseconds + 60_000_000_000)
        #expect(!tw.estimated)
        #expect(tw.runningAtCaptureEnd)
        #expect(r.states == PerSide(client: "TIME-WAIT", server: "CLOSED"))
        #expect(r.zeekConnState == "SF")
        // No pure ACK from the server here (its response carries the ACK): no 'a'.
        #expect(r.zeekHistory == "ShADdFf")
        let h = try #require(r.handshake)
        #expect(h.syn == at(0, c) && h.synAck == at(1, c) && h.ack == at(2, c))
        #expect(h.rttClientMilliseconds == 1.0 && h.rttServerMilliseconds == 1.0)
        #expect(h.clientOptions.maximumSegmentSize == 1460 && h.clientOptions.windowScale == 7)
        #expect(h.clientOptions.sackPermitted && h.clientOptions.timestamps)
        #expect(h.synRetransmits == 0)
        let n = try #require(h.negotiated)
        #expect(n.maximumSegmentSize == 1460 && n.windowScale == 7 && n.sackPermitted && n.timestamps)
    }

    @Test func serverClosesFirst_serverHoldsTimeWait() throws {
        var c = established()
        c.serverCloses()
        let r = try #require(analyze(c).connections.first)
        #expect(r.close.kind == .fin && r.close.initiator == .server)
        #expect(r.timeWait?.holder == .server)
        #expect(r.timeWait?.start == at(8, c))
        #expect(r.states == PerSide(client: "CLOSED", server: "TIME-WAIT"))
        #expect(r.zeekHistory == "ShADdfFa")
    }

    @Test func simultaneousClose_bothHoldTimeWait() throws {
        var c = established()
        c.simultaneousClose()
        let r = try #require(analyze(c).connections.first)
        #expect(r.close.kind == .fin && r.close.initiator == .simultaneous)
        #expect(r.timeWait?.holder == .both)
        #expect(r.timeWait?.start == at(9, c))              // the later of the two final ACKs
        #expect(r.states == PerSide(client: "TIME-WAIT", server: "TIME-WAIT"))
        #expect(r.zeekConnState == "SF")
    }

    @Test func missingFinalAck_windowEstimatedFromPeerFin() throws {
        var c = established()
        c.fromClient([.fin, .ack])
        c.fromServer([.fin, .ack])                          // the client's last ACK was not captured
        let r = try #require(analyze(c).connections.first)
        let tw = try #require(r.timeWait)
        #expect(tw.holder == .client && tw.estimated && tw.start == at(7, c))
    }

    @Test func timeWaitOverBeforeCaptureEnds() throws {
        var c = established()
        c.clientCloses()
        var later = TCPConversation(client: ("10.0.0.3", 40001), server: ("10.0.0.2", 80), start: t0 + 45_000_000_000)
        later.handshake()
        var settings = FlowSettings()
        settings.timeWaitSeconds = 30
        let report = analyze([c, later], settings: settings)
        let tw = try #require(report.connections.first?.timeWait)
        #expect(tw.end.nanoseconds == at(8, c).nanoseconds + 30_000_000_000)
        #expect(!tw.runningAtCaptureEnd)
        #expect(report.capture.timeWaitSeconds == 30)
    }
}

// MARK: - Resets and refusals

@Suite struct Resets {
    @Test func refusedPort() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 81), start: t0)
        c.fromClient(.syn)
        c.fromServer([.rst, .ack])
        let r = try #require(analyze(c).connections.first)
        #expect(r.close == CloseRecord(kind: .refused, initiator: .server, at: at(1, c)))
        #expect(r.timeWait == nil)
        #expect(r.zeekConnState == "REJ")
        #expect(r.zeekHistory == "Sr")
        #expect(r.handshake?.synAck == nil)
    }

    @Test func resetDuringHandshake() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
        c.fromClient(.syn)
        c.fromServer([.syn, .ack])
        c.fromClient(.rst)
        let r = try #require(analyze(c).connections.first)
        #expect(r.close.kind == .rst && r.close.initiator == .client && r.close.resetPhase == .handshake)
    }

    @Test func resetOnIdleConnection_soLingerZero() throws {
        var c = established()
        c.fromClient([.rst, .ack])                         // close() with SO_LINGER 0
        let r = try #require(analyze(c).connections.first)
        #expect(r.close == CloseRecord(kind: .rst, initiator: .client, at: at(6, c), resetPhase: .idle))
        #expect(r.timeWait == nil)
        #expect(r.states == PerSide(client: "CLOSED", server: "CLOSED"))
        #expect(r.zeekConnState == "RSTO")
        #expect(r.zeekHistory == "ShADdR")
    }

    @Test func resetWithDataInFlight() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
        c.handshake()
        c.fromClient([.psh, .ack], payload: Array("GET /big HTTP/1.1\r\n\r\n".utf8))
        c.fromServer([.ack], payload: [UInt8](repeating: 65, count: 1000))   // not yet acknowledged
        c.fromServer(.rst)
        let r = try #require(analyze(c).connections.first)
        #expect(r.close.kind == .rst && r.close.initiator == .server && r.close.resetPhase == .open)
        #expect(r.zeekConnState == "RSTR")
    }

    @Test func resetAfterFin() throws {
        var c = established()
        c.fromClient([.fin, .ack])
        c.fromServer([.rst])
        let r = try #require(analyze(c).connections.first)
        #expect(r.close.kind == .rst && r.close.initiator == .server && r.close.resetPhase == .afterFin)
    }
}

// MARK: - Not closed

@Suite struct StillOpen {
    @Test func halfClosedWhileDataFlowsBack() throws {
        var c = established()
        c.fromClient([.fin, .ack])
        c.fromServer([.ack], payload: [UInt8](repeating: 66, count: 100))
        let r = try #require(analyze(c).connections.first)
        #expect(r.close == CloseRecord(kind: .halfClosed, initiator: .client, at: at(6, c)))
        #expect(r.states == PerSide(client: "FIN-WAIT-2", server: "CLOSE-WAIT"))
        #expect(r.timeWait == nil)
    }

    @Test func openAndIdleAtCaptureEnd() throws {
        let r = try #require(analyze(established()).connections.first)
        #expect(r.close == CloseRecord(kind: .open, midTransfer: false, trackingEnded: "capture_end"))
        #expect(r.states == PerSide(client: "ESTABLISHED", server: "ESTABLISHED"))
        #expect(r.zeekConnState == "S1")
    }

    @Test func openMidTransferAtCaptureEnd() throws {
        var c = established()
        c.fromServer([.ack], payload: [UInt8](repeating: 67, count: 500))
        let r = try #require(analyze(c).connections.first)
        #expect(r.close.kind == .open && r.close.midTransfer == true)
    }
}

// MARK: - Port reuse

/// A new connection on the same 4-tuple as `established()`, with new ISNs, `seconds` after it began.
func reconnection(after seconds: Double) -> TCPConversation {
    var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80),
                            start: t0 + Int64(seconds * 1e9), clientISN: 900_000, serverISN: 700_000)
    c.handshake()
    return c
}

@Suite struct PortReuse {
    @Test func newSynInsideTimeWaitStartsANewConnection() throws {
        var first = established()
        first.clientCloses()
        let second = reconnection(after: 10)
        let report = analyze([first, second])
        #expect(report.connections.count == 2)
        let (a, b) = (report.connections[0], report.connections[1])
        #expect(b.portReuse == PortReuseRecord(previousID: a.id, withinTimeWait: true))
        #expect(a.timeWait?.reusedAt == CaptureTime(nanoseconds: t0 + 10_000_000_000))
        #expect(a.timeWait?.runningAtCaptureEnd == false)
        #expect(b.handshake?.syn == CaptureTime(nanoseconds: t0 + 10_000_000_000))
    }

    /// After a reset nobody holds TIME_WAIT: reuse is linked, but not "within".
    @Test func reuseAfterAResetIsLinkedOutsideTimeWait() throws {
        var first = established()
        first.fromClient([.rst, .ack])
        let second = reconnection(after: 5)
        let report = analyze([first, second])
        #expect(report.connections.count == 2)
        #expect(report.connections[1].portReuse == PortReuseRecord(previousID: 1, withinTimeWait: false))
    }

    /// The server closed first and holds TIME_WAIT; the client may reuse its port at once.
    @Test func clientReusesPortWhileServerHoldsTimeWait() throws {
        var first = established()
        first.serverCloses()
        let second = reconnection(after: 1)
        let report = analyze([first, second])
        #expect(report.connections.count == 2)
        #expect(report.connections[1].portReuse == PortReuseRecord(previousID: 1, withinTimeWait: true))
        #expect(report.connections[0].timeWait?.holder == .server)
    }

    /// Closed connections are kept by a packed key when both ends are IPv4 and
    /// by their whole key otherwise: a reuse inside TIME_WAIT is linked, a new
    /// connection after it is not (nothing is kept once it ends), and a late
    /// segment after the close is not a connection, the same on both.
    @Test(arguments: [false, true])
    func reuseAndLateSegmentsOnBothKeyKinds(ipv6: Bool) throws {
        let (client, server) = ipv6 ? ("2001:db8::1", "2001:db8::2") : ("10.0.0.1", "10.0.0.2")
        func conversation(port: UInt16, start: Int64, isn: UInt32 = 1000) -> TCPConversation {
            var c = TCPConversation(client: (client, port), server: (server, 80), start: start, clientISN: isn, serverISN: isn + 5000)
            c.handshake()
            return c
        }
        // Port 40000: closed by the client, reused 10 s later (inside its 60 s TIME_WAIT).
        var a = conversation(port: 40000, start: t0)
        a.clientCloses()
        let a2 = conversation(port: 40000, start: t0 + 10_000_000_000, isn: 900_000)
        // Port 40001: closed by the client, used again 70 s later (after its TIME_WAIT).
        var b = conversation(port: 40001, start: t0 + 1_000_000)
        b.clientCloses()
        let b2 = conversation(port: 40001, start: t0 + 70_000_000_000, isn: 800_000)
        // Port 40002: closed, then a stray ACK 5 s later: not a new connection.
        var c = conversation(port: 40002, start: t0 + 2_000_000)
        c.clientCloses()
        var stray = TCPConversation(client: (client, 40002), server: (server, 80), start: t0 + 5_000_000_000,
                                    clientISN: 1100, serverISN: 6100)
        stray.fromClient(.ack)
        let report = analyze([a, a2, b, b2, c, stray])
        #expect(report.connections.count == 5)
        let byStart = report.connections.sorted { $0.start < $1.start }
        let (first, reusedInside, second, third, reusedAfter) = (byStart[0], byStart[3], byStart[1], byStart[2], byStart[4])
        #expect(reusedInside.portReuse == PortReuseRecord(previousID: first.id, withinTimeWait: true))
        #expect(first.timeWait?.reusedAt == CaptureTime(nanoseconds: t0 + 10_000_000_000))
        #expect(reusedAfter.portReuse == nil)
        #expect(second.timeWait?.reusedAt == nil && second.timeWait?.runningAtCaptureEnd == false)
        #expect(third.portReuse == nil)
        #expect(report.capture.tracking.segmentsAfterClose == 1)
    }

    /// A reuse frees its tombstone's place, and a later close takes it. The
    /// first tombstone's queue entry must then neither remove the later one
    /// nor hold back the tombstones queued after it.
    @Test func aReusedTombstonesPlaceTakenByALaterOne() throws {
        func closed(port: UInt16, start: Int64, isn: UInt32 = 1000) -> TCPConversation {
            var c = TCPConversation(client: ("10.0.0.1", port), server: ("10.0.0.2", 80), start: start, clientISN: isn, serverISN: isn + 5000)
            c.handshake()
            c.clientCloses()
            return c
        }
        func syn(port: UInt16, at start: Int64) -> TCPConversation {
            var c = TCPConversation(client: ("10.0.0.1", port), server: ("10.0.0.2", 80), start: start, clientISN: 700_000, serverISN: 705_000)
            c.fromClient(.syn)
            return c
        }
        let second: Int64 = 1_000_000_000
        let a = closed(port: 40000, start: t0)                     // kept first, until t0 + 60 s
        let c = closed(port: 40002, start: t0 + 1_000_000)         // kept next, until about t0 + 60 s
        let reuseA = syn(port: 40000, at: t0 + 10 * second)        // frees a's place
        let b = closed(port: 40001, start: t0 + 10 * second + 500_000_000)  // takes it, until t0 + 70.5 s
        let afterC = syn(port: 40002, at: t0 + 63 * second)        // c's window is over
        let insideB = syn(port: 40001, at: t0 + 65 * second)       // b's is not
        let report = analyze([a, c, reuseA, b, afterC, insideB])
        let byStart = report.connections.sorted { $0.start < $1.start }
        #expect(byStart.count == 6)
        let (first, third, fourth) = (byStart[0], byStart[3], byStart[5])
        #expect(byStart[2].portReuse == PortReuseRecord(previousID: first.id, withinTimeWait: true))
        #expect(byStart[4].portReuse == nil, "c's tombstone went when its window ended")
        #expect(fourth.portReuse == PortReuseRecord(previousID: third.id, withinTimeWait: true))
    }

    /// A port reused inside its TIME_WAIT after the pools' last look, moments
    /// before the capture ends: the window still ends at the new SYN, for the
    /// pool (one TIME_WAIT at a time) as for the host.
    @Test func portReusedAfterThePoolsLastLook() throws {
        func exchange(_ c: inout TCPConversation) {
            c.handshake()
            c.exchange(request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", response: "HTTP/1.1 204 No Content\r\n\r\n")
            c.clientCloses()
        }
        var first = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
        exchange(&first)
        // 2 s on, another client's SYN: the tracker's sweep reports the first
        // connection (past its linger), and the pools take their look.
        var other = TCPConversation(client: ("10.0.0.9", 50000), server: ("10.0.0.2", 80), start: t0 + 2_000_000_000)
        other.fromClient(.syn)
        // 50 ms later, inside the first's TIME_WAIT and before the next look, its port again.
        var second = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0 + 2_050_000_000,
                                     clientISN: 900_000, serverISN: 905_000)
        exchange(&second)
        let report = analyze([first, other, second])
        let byStart = report.connections.sorted { $0.start < $1.start }
        #expect(byStart.count == 3)
        #expect(byStart[2].portReuse == PortReuseRecord(previousID: byStart[0].id, withinTimeWait: true))
        let pool = try #require(report.pools.first { $0.client.description == "10.0.0.1" })
        #expect(pool.connections == 2 && pool.peakTimeWaitClient == 1)
        #expect(report.capture.timeWaitHosts.map(\.peak) == [1])
        #expect(report.capture.timeWaitHosts.map(\.connections) == [2])
    }

    /// The live count of TIME_WAIT: windows someone holds, not connections reset.
    @Test func timeWaitNowCountsHeldWindowsOnly() throws {
        var analyzer = Analyzer()
        var frames: [TCPConversation.Frame] = []
        for i in 0..<6 {
            var c = TCPConversation(client: ("10.0.0.1", UInt16(40000 + i)), server: ("10.0.0.2", 80), start: t0 + Int64(i) * 1_000_000)
            c.handshake()
            if i < 4 { c.clientCloses() } else { c.fromClient([.rst, .ack]) }
            frames += c.frames
        }
        // A packet 3 s on, past the tracker's linger and sweep: the closed ones are kept as closed.
        var later = TCPConversation(client: ("10.0.0.9", 50000), server: ("10.0.0.2", 80), start: t0 + 3_000_000_000)
        later.fromClient(.syn)
        frames += later.frames
        frames.sort { $0.timestamp < $1.timestamp }
        for f in frames {
            f.bytes.withUnsafeBytes { analyzer.ingest($0, wireLength: f.bytes.count, linkType: .ethernet, timestamp: f.timestamp) }
        }
        #expect(analyzer.snapshot().timeWaitNow == 4)
        #expect(analyzer.snapshot().liveConnections == 1)
    }

    @Test func retransmittedSynIsTheSameConnection() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
        c.fromClient(.syn)
        c.resend(fromClient: true, flags: .syn, sequence: 1000, payload: [])
        c.fromServer([.syn, .ack])
        c.fromClient(.ack)
        let report = analyze(c)
        #expect(report.connections.count == 1)
        #expect(report.connections.first?.handshake?.synRetransmits == 1)
        #expect(report.connections.first?.handshake?.syn == at(0, c))
    }
}

// MARK: - Data accounting

@Suite struct DataAccounting {
    @Test func retransmissionCountedOnce() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
        c.handshake()
        let seq = c.nextServerSequence
        c.fromServer([.ack], payload: [UInt8](repeating: 1, count: 300))
        c.resend(fromClient: false, flags: [.ack], sequence: seq, payload: [UInt8](repeating: 1, count: 300))
        c.fromClient(.ack)
        let r = try #require(analyze(c).connections.first)
        #expect(r.bytes == PerSide(client: 0, server: 300))
        #expect(r.retransmittedSegments == PerSide(client: 0, server: 1))
        #expect(r.zeekHistory == "ShAdt")   // the last ACK repeats the handshake's A
    }

    @Test func outOfOrderAndGap() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
        c.handshake()
        let base = c.nextServerSequence
        // Bytes 0-99 arrive after 100-199; bytes 300-399 are never captured.
        c.resend(fromClient: false, flags: .ack, sequence: base &+ 100, payload: [UInt8](repeating: 2, count: 100))
        c.resend(fromClient: false, flags: .ack, sequence: base, payload: [UInt8](repeating: 1, count: 100))
        c.resend(fromClient: false, flags: .ack, sequence: base &+ 200, payload: [UInt8](repeating: 3, count: 100))
        c.resend(fromClient: false, flags: .ack, sequence: base &+ 400, payload: [UInt8](repeating: 5, count: 100))
        let r = try #require(analyze(c).connections.first)
        #expect(r.bytes.server == 400)
        #expect(r.outOfOrderSegments.server == 1)
        #expect(r.retransmittedSegments.server == 0)
        #expect(r.missedBytes.server == 100)
    }

    @Test func sequenceWraparound() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0,
                                clientISN: 0xFFFF_FF00, serverISN: 0xFFFF_FFF0)
        c.handshake()
        for _ in 0..<4 { c.fromClient([.ack], payload: [UInt8](repeating: 7, count: 100)) }
        for _ in 0..<3 { c.fromServer([.ack], payload: [UInt8](repeating: 8, count: 50)) }
        c.clientCloses()
        let r = try #require(analyze(c).connections.first)
        #expect(r.bytes == PerSide(client: 400, server: 150))
        #expect(r.retransmittedSegments == PerSide(client: 0, server: 0))
        #expect(r.missedBytes == PerSide(client: 0, server: 0))
        #expect(r.close.kind == .fin && r.timeWait?.holder == .client)
        #expect(r.zeekOriginatorBytes == 400 && r.zeekResponderBytes == 150)
    }
}

// MARK: - Mid-stream

@Suite struct MidStream {
    /// Ports would make 5000 the server; the request line says otherwise.
    @Test func httpRequestDecidesTheClient() throws {
        var c = TCPConversation(client: ("10.0.0.1", 5000), server: ("10.0.0.2", 8080), start: t0)
        c.exchange(request: "GET / HTTP/1.1\r\n\r\n", response: "HTTP/1.1 204 No Content\r\n\r\n")
        let r = try #require(analyze(c).connections.first)
        #expect(r.client.description == "10.0.0.1:5000")
        #expect(r.clientEvidence == "http_request")
        #expect(r.midStream)
        #expect(r.handshake == nil)
    }

    @Test func synAckWithoutSynDecidesTheClient() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: t0)
        c.fromServer([.syn, .ack])
        c.fromClient(.ack)
        let r = try #require(analyze(c).connections.first)
        #expect(r.client.description == "10.0.0.1:40000" && r.clientEvidence == "syn_ack" && r.midStream)
        #expect(r.zeekHistory.hasPrefix("^h"))
    }
}

// MARK: - Memory follows live connections

@Suite struct BoundedTracking {
    @Test func idleConnectionsAreReportedAfterTheTimeout() throws {
        var quiet = established()
        quiet.step = 1_000_000
        var busy = TCPConversation(client: ("10.0.0.9", 40009), server: ("10.0.0.2", 80), start: t0 + 20_000_000_000)
        busy.handshake()
        var settings = FlowSettings()
        settings.idleTimeoutSeconds = 10
        let report = analyze([quiet, busy], settings: settings)
        #expect(report.capture.tracking.idleTimeouts == 1)
        #expect(report.connections.first?.close.trackingEnded == "idle_timeout")
    }

    @Test func maxConnectionsEvictsTheLeastRecentlyActive() throws {
        var conversations: [TCPConversation] = []
        for i in 0..<25 {
            var c = TCPConversation(client: ("10.0.1.\(i)", 40000), server: ("10.0.0.2", 80), start: t0 + Int64(i) * 1_000_000)
            c.handshake()
            conversations.append(c)
        }
        var settings = FlowSettings()
        settings.maxConnections = 10
        let report = analyze(conversations, settings: settings)
        #expect(report.connections.count == 25)
        #expect(report.capture.tracking.evictions >= 15)
        #expect(report.capture.tracking.peakLiveConnections <= 10)
        #expect(report.connections.filter { $0.close.trackingEnded == "evicted" }.count == report.capture.tracking.evictions)
    }

    /// 3,000 short connections over 300 s, about one every 100 ms: tracked
    /// connections stay near those of the last few seconds, not the capture's.
    @Test func liveConnectionsStayBoundedOverALongCapture() throws {
        var analyzer = Analyzer()
        var reported = 0
        for i in 0..<3000 {
            var c = TCPConversation(client: ("10.1.0.1", UInt16(32768 + i)), server: ("10.0.0.2", 80),
                                    start: t0 + Int64(i) * 100_000_000)
            c.handshake()
            c.exchange(request: "GET / HTTP/1.1\r\n\r\n", response: "HTTP/1.1 204 No Content\r\n\r\n")
            c.clientCloses()
            for f in c.frames {
                f.bytes.withUnsafeBytes { analyzer.ingest($0, wireLength: f.bytes.count, linkType: .ethernet, timestamp: f.timestamp) }
            }
            #expect(analyzer.liveConnections <= 70, "connection \(i)")
        }
        let report = analyzer.finish()
        reported = report.connections.count
        #expect(reported == 3000)
        #expect(report.capture.tracking.peakLiveConnections <= 70)
        // 60 s of TIME_WAIT at 10 closes per second: about 600 held at once.
        #expect(report.capture.timeWaitHosts.count == 1)
        let host = try #require(report.capture.timeWaitHosts.first)
        #expect(host.host.description == "10.1.0.1")
        #expect(host.connections == 3000)
        #expect(host.peak == 600)
    }
}
