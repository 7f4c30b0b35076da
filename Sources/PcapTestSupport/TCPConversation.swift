import PacketDecode

/// Synthesises a whole TCP connection as Ethernet/IP frames, tracking both
/// sides' sequence numbers, for tests of flows and (later) lifecycles. The
/// smoltcp-style template: each call appends one segment and advances time.
public struct TCPConversation {
    public struct Frame {
        public var timestamp: Int64
        public var bytes: [UInt8]
    }

    public let client: (ip: String, port: UInt16)
    public let server: (ip: String, port: UInt16)
    public private(set) var frames: [Frame] = []
    public var clock: Int64
    /// Nanoseconds between segments.
    public var step: Int64 = 1_000_000
    private var clientSequence: UInt32
    private var serverSequence: UInt32

    public init(client: (String, UInt16), server: (String, UInt16), start: Int64 = 1_700_000_000_000_000_000,
                clientISN: UInt32 = 1000, serverISN: UInt32 = 5000) {
        self.client = (client.0, client.1)
        self.server = (server.0, server.1)
        clock = start
        clientSequence = clientISN
        serverSequence = serverISN
    }

    var isIPv6: Bool { client.ip.contains(":") }

    public mutating func fromClient(_ flags: TCPFlags, payload: [UInt8] = []) {
        append(fromClient: true, flags: flags, payload: payload)
    }

    public mutating func fromServer(_ flags: TCPFlags, payload: [UInt8] = []) {
        append(fromClient: false, flags: flags, payload: payload)
    }

    /// The next sequence number each side would send.
    public var nextClientSequence: UInt32 { clientSequence }
    public var nextServerSequence: UInt32 { serverSequence }

    /// Sends a segment at an explicit sequence number, without moving the
    /// side's next sequence (a retransmission, or data sent out of order).
    public mutating func resend(fromClient: Bool, flags: TCPFlags, sequence: UInt32, payload: [UInt8]) {
        let saved = fromClient ? clientSequence : serverSequence
        if fromClient { clientSequence = sequence } else { serverSequence = sequence }
        append(fromClient: fromClient, flags: flags, payload: payload)
        if fromClient { clientSequence = saved } else { serverSequence = saved }
    }

    /// Moves a side's sequence on without sending: bytes the capture never saw.
    public mutating func skip(fromClient: Bool, bytes: UInt32) {
        if fromClient { clientSequence &+= bytes } else { serverSequence &+= bytes }
    }

    /// Lets time pass with no packet.
    public mutating func wait(seconds: Double) {
        clock += Int64(seconds * 1e9)
    }

    /// The server closes first: FIN, FIN/ACK, ACK.
    public mutating func serverCloses() {
        fromServer([.fin, .ack])
        fromClient([.fin, .ack])
        fromServer(.ack)
    }

    /// Both FINs cross on the wire, then each side acknowledges the other's.
    public mutating func simultaneousClose() {
        // Neither FIN acknowledges the other: each is sent before the other arrives.
        resend(fromClient: true, flags: [.fin, .ack], sequence: clientSequence, payload: [])
        resend(fromClient: false, flags: [.fin, .ack], sequence: serverSequence, payload: [])
        clientSequence &+= 1
        serverSequence &+= 1
        fromClient(.ack)
        fromServer(.ack)
    }

    /// SYN, SYN/ACK, ACK.
    public mutating func handshake() {
        fromClient(.syn)
        fromServer([.syn, .ack])
        fromClient(.ack)
    }

    /// A request and its response, each acknowledged.
    public mutating func exchange(request: String, response: String) {
        fromClient([.psh, .ack], payload: Array(request.utf8))
        fromServer([.psh, .ack], payload: Array(response.utf8))
        fromClient(.ack)
    }

    /// The client closes first: FIN, FIN/ACK, ACK.
    public mutating func clientCloses() {
        fromClient([.fin, .ack])
        fromServer([.fin, .ack])
        fromClient(.ack)
    }

    private mutating func append(fromClient: Bool, flags: TCPFlags, payload: [UInt8]) {
        let (src, dst) = fromClient ? (client, server) : (server, client)
        let seq = fromClient ? clientSequence : serverSequence
        let ack = flags.contains(.ack) ? (fromClient ? serverSequence : clientSequence) : 0
        let options = flags.contains(.syn) ? PacketBuilder.synOptions() : []
        let segment = PacketBuilder.tcp(sourcePort: src.port, destinationPort: dst.port, sequence: seq,
                                        acknowledgment: ack, flags: flags, options: options, payload: payload)
        var advance = UInt32(payload.count)
        if flags.contains(.syn) { advance &+= 1 }
        if flags.contains(.fin) { advance &+= 1 }
        if fromClient { clientSequence &+= advance } else { serverSequence &+= advance }
        let frame: [UInt8]
        if isIPv6 {
            frame = PacketBuilder.ethernet(type: 0x86DD, payload: PacketBuilder.ipv6(source: src.ip, destination: dst.ip, payload: segment))
        } else {
            frame = PacketBuilder.ethernet(type: 0x0800, payload: PacketBuilder.ipv4(source: src.ip, destination: dst.ip, payload: segment))
        }
        frames.append(Frame(timestamp: clock, bytes: frame))
        clock += step
    }

    /// The frames as a classic pcap file.
    public func pcap(byteOrder: PcapFileWriter.ByteOrder = .little, nanosecond: Bool = false) -> [UInt8] {
        var writer = PcapFileWriter(linkType: LinkType.ethernet.rawValue, byteOrder: byteOrder, nanosecond: nanosecond)
        for f in frames { writer.append(f.bytes, timestamp: f.timestamp) }
        return writer.bytes
    }
}
