/// The RFC 9293 connection states, as a passive observer can infer them for
/// one endpoint from the segments it sends and receives. LISTEN is never
/// seen on the wire; an endpoint is CLOSED until its first segment.
public enum TCPState: String, Sendable, CaseIterable {
    case closed = "CLOSED"
    case synSent = "SYN-SENT"
    case synReceived = "SYN-RECEIVED"
    case established = "ESTABLISHED"
    case finWait1 = "FIN-WAIT-1"
    case finWait2 = "FIN-WAIT-2"
    case closeWait = "CLOSE-WAIT"
    case closing = "CLOSING"
    case lastAck = "LAST-ACK"
    case timeWait = "TIME-WAIT"
}

/// The handshake options one side offered on its SYN or SYN/ACK.
public struct HandshakeOptions: Sendable, Equatable {
    public var maximumSegmentSize: Int?
    public var windowScale: Int?
    public var sackPermitted = false
    public var timestamps = false

    public init() {}
}
