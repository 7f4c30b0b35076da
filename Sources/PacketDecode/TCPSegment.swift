/// A decoded TCP segment: header fields as values, payload and options as
/// views into the captured bytes.
///
/// The views borrow the capture buffer and are valid only until the capture
/// source delivers its next packet (libpcap reuses its buffer); copy what must
/// outlive the packet. This is gopacket's zero-copy contract.
public struct TCPSegment {
    public var source: Endpoint
    public var destination: Endpoint
    public var sequenceNumber: UInt32
    public var acknowledgmentNumber: UInt32
    public var flags: TCPFlags
    public var window: UInt16
    /// Payload length on the wire, from the IP length fields.
    public var payloadLength: Int
    /// The payload bytes that were captured: shorter than `payloadLength`
    /// when the capture's snaplen cut the packet.
    public var payload: UnsafeRawBufferPointer
    /// The raw option list (between the fixed header and the payload).
    public var optionBytes: UnsafeRawBufferPointer

    @inlinable
    public init(
        source: Endpoint, destination: Endpoint, sequenceNumber: UInt32, acknowledgmentNumber: UInt32,
        flags: TCPFlags, window: UInt16, payloadLength: Int,
        payload: UnsafeRawBufferPointer, optionBytes: UnsafeRawBufferPointer
    ) {
        self.source = source
        self.destination = destination
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.payloadLength = payloadLength
        self.payload = payload
        self.optionBytes = optionBytes
    }

    /// The snaplen cut some of this segment's payload.
    public var isPayloadTruncated: Bool { payload.count < payloadLength }

    /// Parses the option list (MSS, window scale, SACK, timestamps).
    public func parseOptions() -> TCPOptions { TCPOptions(parsing: optionBytes) }
}

/// What the decoder made of one captured packet.
public enum DecodedPacket {
    case tcp(TCPSegment)
    case undecoded(UndecodedReason)
}
