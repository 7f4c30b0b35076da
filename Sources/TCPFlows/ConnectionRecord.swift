import HTTPStreams
import PacketDecode

/// How a connection ended (the JSON contract's `close.kind`).
public enum CloseKind: String, Sendable {
    /// Orderly: both sides sent FIN.
    case fin
    /// Reset by one side.
    case rst
    /// The SYN was answered by a RST.
    case refused
    /// One FIN only: data may still flow the other way, or the capture ended first.
    case halfClosed = "half-closed"
    /// Still open when the capture ended (or when PoolScope stopped tracking it).
    case open
}

/// Who closed (`close.initiator`): the first FIN's sender, or the RST's.
public enum CloseInitiator: String, Sendable {
    case client, server, simultaneous
}

/// When a RST came, for `close.kind == rst`.
public enum ResetPhase: String, Sendable {
    /// Before the handshake completed.
    case handshake
    /// With data in flight.
    case open
    /// After a FIN from either side.
    case afterFin = "after_fin"
    /// On an established connection with nothing in flight.
    case idle
}

/// Who holds TIME_WAIT (`time_wait.holder`).
public enum TimeWaitHolder: String, Sendable {
    case client, server, both
}

public struct HandshakeRecord: Sendable, Equatable {
    public var syn: CaptureTime?
    public var synAck: CaptureTime?
    public var ack: CaptureTime?
    public var synRetransmits: Int
    public var synAckRetransmits: Int
    public var clientOptions: HandshakeOptions
    public var serverOptions: HandshakeOptions

    /// What the two offers agree on (RFC 9293 §3.7.1, RFC 7323, RFC 2018): the
    /// smaller MSS; window scaling, SACK and timestamps only if both offered them.
    /// Nil until both the SYN and the SYN/ACK were seen.
    public var negotiated: HandshakeOptions? {
        guard syn != nil, synAck != nil else { return nil }
        var n = HandshakeOptions()
        switch (clientOptions.maximumSegmentSize, serverOptions.maximumSegmentSize) {
        case let (c?, s?): n.maximumSegmentSize = min(c, s)
        case let (c, s): n.maximumSegmentSize = c ?? s
        }
        if clientOptions.windowScale != nil && serverOptions.windowScale != nil { n.windowScale = serverOptions.windowScale }
        n.sackPermitted = clientOptions.sackPermitted && serverOptions.sackPermitted
        n.timestamps = clientOptions.timestamps && serverOptions.timestamps
        return n
    }

    /// SYN → SYN/ACK, seen from the capture point: the client side's RTT share.
    public var rttClientMilliseconds: Double? {
        guard let syn, let synAck else { return nil }
        return CaptureTime.seconds(from: syn, to: synAck) * 1000
    }

    /// SYN/ACK → ACK: the server side's share.
    public var rttServerMilliseconds: Double? {
        guard let synAck, let ack else { return nil }
        return CaptureTime.seconds(from: synAck, to: ack) * 1000
    }
}

public struct CloseRecord: Sendable, Equatable {
    public var kind: CloseKind
    public var initiator: CloseInitiator?
    /// The first FIN, the RST, or nil for `open`.
    public var at: CaptureTime?
    public var resetPhase: ResetPhase?
    /// For `open`: whether data was in flight when tracking ended.
    public var midTransfer: Bool?
    /// Why tracking ended without a close: "capture_end", "idle_timeout", "evicted", or
    /// "port_reused" (a new SYN on its 4-tuple after it fell silent).
    public var trackingEnded: String?

    public init(kind: CloseKind, initiator: CloseInitiator? = nil, at: CaptureTime? = nil, resetPhase: ResetPhase? = nil,
                midTransfer: Bool? = nil, trackingEnded: String? = nil) {
        self.kind = kind
        self.initiator = initiator
        self.at = at
        self.resetPhase = resetPhase
        self.midTransfer = midTransfer
        self.trackingEnded = trackingEnded
    }
}

public struct TimeWaitRecord: Sendable, Equatable {
    public var holder: TimeWaitHolder
    public var start: CaptureTime
    public var end: CaptureTime
    /// The holder's ACK of the peer's FIN was not captured: the window starts at the peer's FIN.
    public var estimated: Bool
    public var runningAtCaptureEnd: Bool
    /// A new SYN on the same 4-tuple inside the window.
    public var reusedAt: CaptureTime?
}

public struct PortReuseRecord: Sendable, Equatable {
    public var previousID: Int
    public var withinTimeWait: Bool

    public init(previousID: Int, withinTimeWait: Bool) {
        self.previousID = previousID
        self.withinTimeWait = withinTimeWait
    }
}

/// What PoolScope reports about one connection: a plain value, made once the
/// connection is finished (or the capture ends).
public struct ConnectionRecord: Sendable, Equatable {
    public var id: Int
    public var client: Endpoint
    public var server: Endpoint
    public var start: CaptureTime
    public var end: CaptureTime
    public var midStream: Bool
    /// How the client side was decided: "syn", "syn_ack", "http_request", "ports".
    public var clientEvidence: String
    public var packets: PerSide<Int>
    /// TCP payload bytes each way, each byte once (retransmissions not counted again).
    public var bytes: PerSide<Int>
    public var retransmittedSegments: PerSide<Int>
    public var outOfOrderSegments: PerSide<Int>
    public var missedBytes: PerSide<Int>
    public var handshake: HandshakeRecord?
    public var close: CloseRecord
    public var timeWait: TimeWaitRecord?
    /// Final RFC 9293 state of each endpoint as seen from the wire.
    public var states: PerSide<String>
    public var portReuse: PortReuseRecord?
    public var zeekConnState: String
    public var zeekHistory: String
    /// Zeek's missed_bytes and its sequence-number sizes (orig_bytes, resp_bytes), in Zeek's orientation.
    public var zeekMissedBytes: Int
    public var zeekOriginatorBytes: Int
    public var zeekResponderBytes: Int
    /// Zeek's originator is PoolScope's client (false when Zeek's heuristic oriented it the other way).
    public var zeekOriginatorIsClient: Bool
    /// What HTTP analysis found on the connection's streams.
    public var http: HTTPSummary
    /// Which input file its first packet came from (an index into the capture's sources).
    public var sourceIndex: Int
    /// Reassembly of each direction: stretches never captured and their bytes,
    /// and retransmitted bytes that disagreed with the first copy.
    public var streamGaps: PerSide<Int>
    public var streamGapBytes: PerSide<Int>
    public var conflictingOverlaps: PerSide<Int>

    public var duration: Double { CaptureTime.seconds(from: start, to: end) }
}

/// What the pool analysis and the capture's counts read of every finished
/// connection. Every connection gets one; the whole record (704 bytes, a
/// dozen Strings and arrays) is made only for a connection a report keeps or
/// streams: a text report keeps 50, and building, copying and destroying a
/// record for each of the rest was 3% of a run's instructions.
public struct ConnectionOutline: Sendable {
    public var id: Int
    public var client: Endpoint
    public var server: Endpoint
    public var start: CaptureTime
    public var close: CloseRecord
    public var timeWait: TimeWaitRecord?
    /// `HTTPSummary.requests`: nil when the streams were not readable HTTP/1.x.
    public var requests: Int?
    /// The TLS hello's server name, when one was read.
    public var serverName: String?
    public var transactions: [HTTPTransaction]

    public init(id: Int, client: Endpoint, server: Endpoint, start: CaptureTime, close: CloseRecord, timeWait: TimeWaitRecord?,
                requests: Int?, serverName: String?, transactions: [HTTPTransaction]) {
        self.id = id
        self.client = client
        self.server = server
        self.start = start
        self.close = close
        self.timeWait = timeWait
        self.requests = requests
        self.serverName = serverName
        self.transactions = transactions
    }

    /// A record's outline.
    public init(_ record: ConnectionRecord) {
        self.init(id: record.id, client: record.client, server: record.server, start: record.start, close: record.close,
                  timeWait: record.timeWait, requests: record.http.requests, serverName: record.http.tls?.serverName,
                  transactions: record.http.transactions)
    }
}
