import PacketDecode

/// Which way a segment travelled.
public enum Direction: Int, Sendable {
    case clientToServer = 0
    case serverToClient = 1

    public var reversed: Direction { self == .clientToServer ? .serverToClient : .clientToServer }
}

/// A count kept for each side of a connection.
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

/// How the client side of a connection was decided.
public enum ClientEvidence: String, Sendable {
    /// It sent the SYN.
    case syn
    /// It received the SYN/ACK (the SYN itself was not captured).
    case synAck
    /// Neither was captured: the side with the ephemeral-looking (higher) port.
    case ports
}

/// A TCP connection being tracked: who is client and server, and what each
/// side sent. Mutated in place in the flow table's slab, once per segment.
public struct Connection: Sendable {
    public var id: Int
    public var client: Endpoint
    public var server: Endpoint
    public var clientEvidence: ClientEvidence
    public var start: CaptureTime
    public var end: CaptureTime
    public var packets = PerSide(client: 0, server: 0)
    /// TCP payload bytes each way, as the IP lengths state them.
    public var payloadBytes = PerSide(client: 0, server: 0)

    public init(id: Int, firstSegment segment: TCPSegment, at time: CaptureTime) {
        self.id = id
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
            let sourceLooksLikeServer = segment.source.port < segment.destination.port
            client = sourceLooksLikeServer ? segment.destination : segment.source
            server = sourceLooksLikeServer ? segment.source : segment.destination
            clientEvidence = .ports
        }
    }

    /// The connection was already open (its SYN not captured) when capture began.
    public var midStream: Bool { clientEvidence != .syn }

    @inline(__always)
    public func direction(of segment: TCPSegment) -> Direction {
        segment.source == client ? .clientToServer : .serverToClient
    }

    /// Accounts one segment of this connection.
    @inline(__always)
    public mutating func ingest(_ segment: TCPSegment, at time: CaptureTime) {
        let direction = direction(of: segment)
        packets[direction] &+= 1
        payloadBytes[direction] &+= segment.payloadLength
        if time > end { end = time }
    }

    /// The finished record for reports.
    public var record: ConnectionRecord {
        ConnectionRecord(
            id: id, client: client, server: server, start: start, end: end, midStream: midStream,
            packets: packets, bytes: payloadBytes
        )
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
    public var packets: PerSide<Int>
    /// TCP payload bytes each way.
    public var bytes: PerSide<Int>

    public init(
        id: Int, client: Endpoint, server: Endpoint, start: CaptureTime, end: CaptureTime, midStream: Bool,
        packets: PerSide<Int>, bytes: PerSide<Int>
    ) {
        self.id = id
        self.client = client
        self.server = server
        self.start = start
        self.end = end
        self.midStream = midStream
        self.packets = packets
        self.bytes = bytes
    }

    public var duration: Double { CaptureTime.seconds(from: start, to: end) }
}
