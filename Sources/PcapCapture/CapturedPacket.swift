/// One packet as a capture source delivers it.
///
/// `bytes` points into libpcap's buffer and is valid only until the source's
/// next `next()` call; decode it in place, copy what must outlive it.
public struct CapturedPacket {
    /// Nanoseconds since the Unix epoch (microsecond files are scaled up).
    public var timestamp: Int64
    /// The packet's length on the wire; `bytes.count` is what was captured.
    public var wireLength: Int
    public var bytes: UnsafeRawBufferPointer
    /// The link-layer header type (a DLT_ value).
    public var linkType: Int32
    /// Which of a merged capture's sources this came from (0 for a single source).
    public var sourceIndex: Int
}

/// What a read from a capture source produced.
public enum PacketReadResult {
    case packet(CapturedPacket)
    /// A live capture's read timeout passed with no packet; call again.
    case timeout
    /// The end of the file, or a live capture was told to stop.
    case end
    /// Reading stopped at a fault; what was read before it stands.
    case failed(CaptureError)
}

/// A source of captured packets: a savefile, several merged, or an interface.
public protocol PacketSource: AnyObject {
    /// The next packet; its bytes stay valid until the following call.
    func next() -> PacketReadResult
}
