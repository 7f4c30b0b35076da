import HTTPStreams
import PacketDecode

/// The application layer of a connection: each direction reassembled in
/// order, feeding the HTTP analysis.
struct ApplicationStreams: Sendable {
    var client = StreamReassembler()
    var server = StreamReassembler()
    var http: HTTPConversation

    /// Delivers a segment's payload in order to HTTP (and any gap it reveals).
    mutating func payload(fromClient: Bool, start: UInt32, length: Int, captured: UnsafeRawBufferPointer, at time: Int64) {
        if fromClient {
            client.receive(start: start, length: length, captured: captured,
                           deliver: { http.receive($0, fromClient: true, at: time) }, gap: { _ in http.gap(fromClient: true) })
        } else {
            server.receive(start: start, length: length, captured: captured,
                           deliver: { http.receive($0, fromClient: false, at: time) }, gap: { _ in http.gap(fromClient: false) })
        }
    }

    /// The side that sent `ack` has the other side's bytes below it.
    /// Inlined for the usual case, an acknowledgment of bytes already
    /// delivered (or not past the next byte): nothing to do.
    @inline(__always)
    mutating func acknowledged(byClient: Bool, _ ack: UInt32, at time: Int64) {
        if (byClient ? server : client).hasDelivered(through: ack) { return }
        acknowledgedPastDelivered(byClient: byClient, ack, at: time)
    }

    mutating func acknowledgedPastDelivered(byClient: Bool, _ ack: UInt32, at time: Int64) {
        if byClient {
            server.acknowledged(ack, deliver: { http.receive($0, fromClient: false, at: time) }, gap: { _ in http.gap(fromClient: false) })
        } else {
            client.acknowledged(ack, deliver: { http.receive($0, fromClient: true, at: time) }, gap: { _ in http.gap(fromClient: true) })
        }
    }

    /// A side finished sending (FIN or RST) or the capture ended.
    mutating func ended(fromClient: Bool, at time: Int64) {
        if fromClient {
            client.flush(deliver: { http.receive($0, fromClient: true, at: time) }, gap: { _ in http.gap(fromClient: true) })
        } else {
            server.flush(deliver: { http.receive($0, fromClient: false, at: time) }, gap: { _ in http.gap(fromClient: false) })
        }
        http.close(fromClient: fromClient, at: time)
    }
}

/// Which way a segment travelled.
public enum Direction: Int, Sendable {
    case clientToServer = 0
    case serverToClient = 1

    public var reversed: Direction { self == .clientToServer ? .serverToClient : .clientToServer }
}

/// A value kept for each side of a connection.
public struct PerSide<T: Sendable & Equatable>: Sendable, Equatable {
    public var client: T
    public var server: T

    public init(client: T, server: T) {
        self.client = client
        self.server = server
    }

    @inline(__always)
    public subscript(direction: Direction) -> T {
        get { direction == .clientToServer ? client : server }
        set { if direction == .clientToServer { client = newValue } else { server = newValue } }
    }
}

/// How the client side of a connection was decided, strongest first.
public enum ClientEvidence: String, Sendable {
    /// It sent the SYN.
    case syn
    /// It received the SYN/ACK (the SYN itself was not captured).
    case synAck = "syn_ack"
    /// It sent an HTTP request line (or the other side a status line).
    case httpRequest = "http_request"
    /// Nothing better: the side with the ephemeral-looking (higher) port.
    case ports
}

/// A TCP connection being tracked: both endpoints' passive state, the
/// handshake, data accounting, close events, and Zeek's view alongside.
/// Mutated in place in the flow table's slab, once per segment.
public struct Connection: Sendable {
    public var id: Int
    public private(set) var client: Endpoint
    public private(set) var server: Endpoint
    public private(set) var clientEvidence: ClientEvidence
    public var start: CaptureTime
    public var end: CaptureTime
    public private(set) var clientSide = SideTrack()
    public private(set) var serverSide = SideTrack()
    public private(set) var zeek: ZeekConnState
    private var events = Events()
    private(set) var app: ApplicationStreams
    public var portReuse: PortReuseRecord?
    /// Which input file the connection's first packet came from (0 for a single file).
    public var sourceIndex = 0
    /// The HTTP progress and close the pool analysis last saw (`FlowTracker.forEachLive`).
    var poolProgressSeen = -1
    /// On the tracker's list of connections with packets since the pool analysis last looked.
    var poolTouched = false
    /// The pool analysis was given its pool's key.
    var poolNamed = false
    /// A report will want its whole record (`finish`); otherwise its outline
    /// (`outline`) is all that is made: its requests' targets are not kept,
    /// nor is Zeek's view of it followed.
    public let recordWanted: Bool

    @inline(__always)
    public init(id: Int, firstSegment segment: TCPSegment, at time: CaptureTime, recordWanted: Bool = true) {
        self.id = id
        self.recordWanted = recordWanted
        start = time
        end = time
        let flags = segment.flags
        if flags.contains(.syn) && !flags.contains(.ack) {
            client = segment.source
            server = segment.destination
            clientEvidence = .syn
        } else if flags.contains(.syn) && flags.contains(.ack) {
            client = segment.destination
            server = segment.source
            clientEvidence = .synAck
        } else {
            // Mid-stream: servers listen on low, fixed ports; clients get
            // ephemeral ones (32768-60999 on Linux, 49152-65535 per IANA).
            // The first payload may still overrule this (see `ingest`).
            let sourceLooksLikeServer = segment.source.port < segment.destination.port
            client = sourceLooksLikeServer ? segment.destination : segment.source
            server = sourceLooksLikeServer ? segment.source : segment.destination
            clientEvidence = .ports
            clientSide.state = .established
            serverSide.state = .established
        }
        app = ApplicationStreams(http: HTTPConversation(openedAt: time.nanoseconds, midStream: clientEvidence != .syn,
                                                        keepsTargets: recordWanted))
        zeek = ZeekConnState(
            firstFlags: .init(syn: flags.contains(.syn), ack: flags.contains(.ack), fin: flags.contains(.fin), rst: flags.contains(.rst)),
            sourceIsClient: segment.source == client, sourcePort: segment.source.port, destinationPort: segment.destination.port)
    }

    /// The connection was already open (its SYN not captured) when capture began.
    public var midStream: Bool { clientEvidence != .syn }

    @inline(__always)
    public func direction(of segment: TCPSegment) -> Direction {
        segment.source == client ? .clientToServer : .serverToClient
    }

    /// Both sides sent FIN, or a RST ended it: late segments may still come.
    public var isClosed: Bool {
        (clientSide.finTime != nil && serverSide.finTime != nil) || clientSide.rstTime != nil || serverSide.rstTime != nil
    }

    /// Whether `segment` is a SYN that opens a new connection on this 4-tuple
    /// (a new ISN after this one closed, or after it fell silent for a second
    /// without a close being seen), rather than a retransmitted SYN.
    public func isReusedBy(_ segment: TCPSegment, at time: CaptureTime) -> Bool {
        guard segment.flags.contains(.syn), !segment.flags.contains(.ack) else { return false }
        let newISN = segment.source != client || segment.sequenceNumber != clientSide.isn
        if isClosed { return newISN }
        return newISN && time.nanoseconds - end.nanoseconds >= 1_000_000_000
    }

    // MARK: - Per segment

    /// Accounts one segment of this connection.
    public mutating func ingest(_ segment: TCPSegment, at time: CaptureTime) {
        if clientEvidence == .ports && !events.sawPayload && segment.payload.count > 0 { decideRolesFromPayload(segment) }
        let direction = direction(of: segment)
        let flags = segment.flags
        if time > end { end = time }
        // Zeek's view is the record's alone (its conn_state, history and
        // byte counts): a connection no report shows skips it (9% of the
        // instructions of a run whose text report lists 50 connections).
        if recordWanted {
            zeek.process(fromClient: direction == .clientToServer,
                         flags: .init(syn: flags.contains(.syn), ack: flags.contains(.ack), fin: flags.contains(.fin), rst: flags.contains(.rst)),
                         sequence: segment.sequenceNumber, acknowledgment: segment.acknowledgmentNumber,
                         payloadLength: segment.payloadLength, capturedLength: segment.payload.count, window: segment.window)
        }
        // The two sides are distinct stored properties: both are mutated in
        // place (copying them out and back cost more than the rest of the packet).
        if direction == .clientToServer {
            Self.apply(segment, at: time, fromClient: true, midStream: midStream, sender: &clientSide, receiver: &serverSide,
                       events: &events, app: &app)
        } else {
            Self.apply(segment, at: time, fromClient: false, midStream: midStream, sender: &serverSide, receiver: &clientSide,
                       events: &events, app: &app)
        }
    }


    /// Connection-level facts the per-segment step records.
    struct Events: Sendable {
        var handshakeAckTime: CaptureTime?
        /// The second FIN's sender had not acknowledged the first FIN when it sent its own.
        var simultaneousClose = false
        var resetPhase: ResetPhase?
        var firstResetFromClient: Bool?
        var sawPayload = false
    }

    private static func apply(_ segment: TCPSegment, at time: CaptureTime, fromClient: Bool, midStream: Bool,
                              sender: inout SideTrack, receiver: inout SideTrack, events: inout Events,
                              app: inout ApplicationStreams) {
        let flags = segment.flags
        let syn = flags.contains(.syn), ack = flags.contains(.ack), fin = flags.contains(.fin), rst = flags.contains(.rst)
        sender.packets += 1
        sender.lastTime = time

        if syn {
            noteSyn(segment, ack: ack, sender: &sender, at: time)
            // The stream starts after the SYN's octet.
            if fromClient { app.client.begin(at: segment.sequenceNumber &+ 1) } else { app.server.begin(at: segment.sequenceNumber &+ 1) }
        }

        if ack && !rst {
            sender.noteAck(segment.acknowledgmentNumber)
            if receiver.sentPayload {
                // Data ends where the FIN is: its acknowledgment is not a missing byte.
                var acked = segment.acknowledgmentNumber
                if receiver.finTime != nil && SequenceSpace.delta(acked, receiver.finSequence) > 0 { acked = receiver.finSequence }
                app.acknowledged(byClient: fromClient, acked, at: time.nanoseconds)
            }
            // The handshake's third segment: the client acknowledges the SYN/ACK.
            if !syn && fromClient && events.handshakeAckTime == nil, let serverISN = receiver.isn,
               segment.acknowledgmentNumber == serverISN &+ 1 {
                events.handshakeAckTime = time
                if sender.state == .synSent { sender.state = .established }
                if receiver.state == .synReceived { receiver.state = .established }
            }
            // An acknowledgment of the peer's FIN moves both ends along.
            if receiver.finTime != nil, sender.ackedPeerFinTime == nil,
               SequenceSpace.delta(segment.acknowledgmentNumber, receiver.finSequence) > 0 {
                sender.ackedPeerFinTime = time
                switch sender.state {
                case .finWait1: sender.state = .closing
                case .finWait2: sender.state = .timeWait
                case .closing, .timeWait, .lastAck, .closed, .closeWait: break
                default: sender.state = .closeWait
                }
                switch receiver.state {
                case .finWait1: receiver.state = .finWait2
                case .closing: receiver.state = .timeWait
                case .lastAck: receiver.state = .closed
                default: break
                }
            }
        }

        if !rst && segment.payloadLength > 0 {
            events.sawPayload = true
            let first = syn ? segment.sequenceNumber &+ 1 : segment.sequenceNumber
            sender.accountPayload(start: first, length: segment.payloadLength, at: time)
            app.payload(fromClient: fromClient, start: first, length: segment.payloadLength, captured: segment.payload,
                        at: time.nanoseconds)
        }

        if fin && !rst && sender.finTime == nil {
            app.ended(fromClient: fromClient, at: time.nanoseconds)
            sender.finTime = time
            sender.finSequence = segment.sequenceNumber &+ UInt32(truncatingIfNeeded: segment.payloadLength) &+ (syn ? 1 : 0)
            if receiver.finTime != nil && sender.ackedPeerFinTime == nil { events.simultaneousClose = true }
            switch sender.state {
            case .closeWait: sender.state = .lastAck
            case .closing, .timeWait, .lastAck, .closed, .finWait2: break
            default: sender.state = .finWait1
            }
        }

        if rst && sender.rstTime == nil && receiver.rstTime == nil {
            sender.rstTime = time
            events.firstResetFromClient = fromClient
            let clientState = fromClient ? sender.state : receiver.state
            let established = events.handshakeAckTime != nil || midStream || clientState == .established
            if !established {
                events.resetPhase = .handshake
            } else if sender.finTime != nil || receiver.finTime != nil {
                events.resetPhase = .afterFin
            } else if sender.allAcknowledged(byPeer: receiver) && receiver.allAcknowledged(byPeer: sender) {
                events.resetPhase = .idle
            } else {
                events.resetPhase = .open
            }
            sender.state = .closed
            receiver.state = .closed
        }
    }

    private static func noteSyn(_ segment: TCPSegment, ack: Bool, sender: inout SideTrack, at time: CaptureTime) {
        if sender.isn == nil {
            sender.isn = segment.sequenceNumber
            sender.startSequence(afterSYN: segment.sequenceNumber)
            sender.synTime = time
            let parsed = segment.parseOptions()
            var options = HandshakeOptions()
            options.maximumSegmentSize = parsed.maximumSegmentSize.map(Int.init)
            options.windowScale = parsed.windowScale.map(Int.init)
            options.sackPermitted = parsed.sackPermitted
            options.timestamps = parsed.timestamp != nil
            sender.options = options
            if sender.state == .closed { sender.state = ack ? .synReceived : .synSent }
        } else if sender.isn == segment.sequenceNumber {
            sender.synRetransmits += 1
        }
    }

    /// For a connection first seen mid-stream: the first payload tells the
    /// client (an HTTP request line) from the server (a status line).
    private mutating func decideRolesFromPayload(_ segment: TCPSegment) {
        let fromSource: Bool?
        if HTTPStartLine.isRequest(segment.payload) {
            fromSource = true
        } else if HTTPStartLine.isResponse(segment.payload) {
            fromSource = false
        } else {
            fromSource = nil
        }
        guard let sourceIsClient = fromSource else { return }
        let newClient = sourceIsClient ? segment.source : segment.destination
        if newClient != client {
            swap(&client, &server)
            swap(&clientSide, &serverSide)
        }
        clientEvidence = .httpRequest
    }

    // MARK: - Verdict

    /// The finished record. `captureEnd` is the capture's last packet time,
    /// `timeWaitSeconds` the 2·MSL to apply, `trackingEnded` why tracking
    /// stopped if the connection never closed.
    public func record(timeWaitSeconds: Double, captureEnd: CaptureTime, trackingEnded: String = "capture_end") -> ConnectionRecord {
        var copy = self
        return copy.finish(timeWaitSeconds: timeWaitSeconds, captureEnd: captureEnd, trackingEnded: trackingEnded)
    }

    /// The record, ending the streams in place: for a connection being
    /// forgotten (`record` on a copy duplicated its HTTP state, transactions
    /// included, for every connection).
    public mutating func finish(timeWaitSeconds: Double, captureEnd: CaptureTime, trackingEnded: String = "capture_end") -> ConnectionRecord {
        let (close, timeWait) = endTracking(timeWaitSeconds: timeWaitSeconds, captureEnd: captureEnd, trackingEnded: trackingEnded)
        var handshake: HandshakeRecord?
        if clientSide.synTime != nil || serverSide.synTime != nil {
            handshake = HandshakeRecord(
                syn: clientSide.synTime, synAck: serverSide.synTime, ack: events.handshakeAckTime,
                synRetransmits: clientSide.synRetransmits, synAckRetransmits: serverSide.synRetransmits,
                clientOptions: clientSide.options, serverOptions: serverSide.options)
        }
        return ConnectionRecord(
            id: id, client: client, server: server, start: start, end: end, midStream: midStream,
            clientEvidence: clientEvidence.rawValue,
            packets: PerSide(client: clientSide.packets, server: serverSide.packets),
            bytes: PerSide(client: clientSide.payloadBytes, server: serverSide.payloadBytes),
            retransmittedSegments: PerSide(client: clientSide.retransmittedSegments, server: serverSide.retransmittedSegments),
            outOfOrderSegments: PerSide(client: clientSide.outOfOrderSegments, server: serverSide.outOfOrderSegments),
            missedBytes: PerSide(client: clientSide.missedBytes, server: serverSide.missedBytes),
            handshake: handshake, close: close, timeWait: timeWait,
            states: PerSide(client: clientSide.state.rawValue, server: serverSide.state.rawValue),
            portReuse: portReuse, zeekConnState: zeek.connState, zeekHistory: zeek.history,
            zeekMissedBytes: zeek.missedBytes, zeekOriginatorBytes: zeek.originatorBytes,
            zeekResponderBytes: zeek.responderBytes, zeekOriginatorIsClient: zeek.originatorIsClient,
            http: app.http.summary, sourceIndex: sourceIndex,
            streamGaps: PerSide(client: app.client.gaps, server: app.server.gaps),
            streamGapBytes: PerSide(client: app.client.gapBytes, server: app.server.gapBytes),
            conflictingOverlaps: PerSide(client: app.client.conflictingOverlaps, server: app.server.conflictingOverlaps))
    }

    /// What `finish` would put in the record's outline, without the record.
    public mutating func outline(timeWaitSeconds: Double, captureEnd: CaptureTime, trackingEnded: String = "capture_end") -> ConnectionOutline {
        let (close, timeWait) = endTracking(timeWaitSeconds: timeWaitSeconds, captureEnd: captureEnd, trackingEnded: trackingEnded)
        return ConnectionOutline(id: id, client: client, server: server, start: start, close: close, timeWait: timeWait,
                                 requests: app.http.requests, serverName: app.http.tlsSoFar?.serverName,
                                 transactions: app.http.transactionsSoFar)
    }

    /// Tracking ends: what the streams still hold is delivered, then the close and TIME_WAIT are decided.
    private mutating func endTracking(timeWaitSeconds: Double, captureEnd: CaptureTime, trackingEnded: String) -> (CloseRecord, TimeWaitRecord?) {
        app.ended(fromClient: true, at: end.nanoseconds)
        app.ended(fromClient: false, at: end.nanoseconds)
        let close = closeRecord(trackingEnded: trackingEnded)
        var timeWait = timeWaitRecord(close: close, seconds: timeWaitSeconds)
        if var tw = timeWait {
            tw.runningAtCaptureEnd = tw.end > captureEnd
            timeWait = tw
        }
        return (close, timeWait)
    }

    /// Inlined: `forEachLive` calls it on a connection in place, and a call
    /// took a copy of the whole connection (1.5 KB) first.
    @inline(__always)
    func closeRecord(trackingEnded: String) -> CloseRecord {
        let clientFin = clientSide.finTime, serverFin = serverSide.finTime
        if let clientFin, let serverFin {
            let initiator: CloseInitiator = events.simultaneousClose ? .simultaneous : (clientFin <= serverFin ? .client : .server)
            return CloseRecord(kind: .fin, initiator: initiator, at: min(clientFin, serverFin))
        }
        if let fromClient = events.firstResetFromClient {
            let at = fromClient ? clientSide.rstTime : serverSide.rstTime
            // A SYN answered only by the server's RST: the port was closed.
            if !fromClient && clientSide.isn != nil && serverSide.isn == nil && events.handshakeAckTime == nil {
                return CloseRecord(kind: .refused, initiator: .server, at: at)
            }
            return CloseRecord(kind: .rst, initiator: fromClient ? .client : .server, at: at, resetPhase: events.resetPhase)
        }
        if let clientFin {
            return CloseRecord(kind: .halfClosed, initiator: .client, at: clientFin)
        }
        if let serverFin {
            return CloseRecord(kind: .halfClosed, initiator: .server, at: serverFin)
        }
        let inFlight = !clientSide.allAcknowledged(byPeer: serverSide) || !serverSide.allAcknowledged(byPeer: clientSide)
        return CloseRecord(kind: .open, initiator: nil, at: nil, midTransfer: inFlight, trackingEnded: trackingEnded)
    }

    /// The active closer enters TIME_WAIT when it acknowledges the peer's FIN
    /// (RFC 9293 §3.6); after a simultaneous close both sides do.
    func timeWaitRecord(close: CloseRecord, seconds: Double) -> TimeWaitRecord? {
        guard close.kind == .fin, let initiator = close.initiator else { return nil }
        let holder: TimeWaitHolder
        var start: CaptureTime
        var estimated = false
        switch initiator {
        case .client, .server:
            // The two times read from the sides in place (taking the sides as a
            // pair copied two SideTracks, and their arrays' references, per connection).
            let byClient = initiator == .client
            holder = byClient ? .client : .server
            if let acked = byClient ? clientSide.ackedPeerFinTime : serverSide.ackedPeerFinTime {
                start = acked
            } else {
                start = (byClient ? serverSide.finTime : clientSide.finTime)!
                estimated = true
            }
        case .simultaneous:
            holder = .both
            let starts = [clientSide.ackedPeerFinTime ?? serverSide.finTime!, serverSide.ackedPeerFinTime ?? clientSide.finTime!]
            start = starts.max()!
            estimated = clientSide.ackedPeerFinTime == nil || serverSide.ackedPeerFinTime == nil
        }
        let end = CaptureTime(nanoseconds: start.nanoseconds + Int64((seconds * 1e9).rounded()))
        return TimeWaitRecord(holder: holder, start: start, end: end, estimated: estimated, runningAtCaptureEnd: false, reusedAt: nil)
    }
}
