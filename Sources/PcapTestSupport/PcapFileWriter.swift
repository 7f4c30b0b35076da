/// Writes classic pcap files for tests, in either byte order and with micro-
/// or nanosecond timestamps, and lets a test write broken records on purpose.
public struct PcapFileWriter {
    public enum ByteOrder: Sendable { case little, big }

    public let linkType: UInt32
    public let byteOrder: ByteOrder
    public let nanosecond: Bool
    public private(set) var bytes: [UInt8] = []

    public init(linkType: Int32, byteOrder: ByteOrder = .little, nanosecond: Bool = false, snaplen: UInt32 = 262_144) {
        self.linkType = UInt32(bitPattern: linkType)
        self.byteOrder = byteOrder
        self.nanosecond = nanosecond
        put32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        put16(2)        // version 2.4
        put16(4)
        put32(0)        // thiszone
        put32(0)        // sigfigs
        put32(snaplen)
        put32(self.linkType)
    }

    /// Appends a record. `timestamp` is nanoseconds since the epoch (cut to
    /// microseconds in a microsecond file); `wireLength` defaults to the
    /// frame's length (give more to describe a snaplen-cut packet).
    public mutating func append(_ frame: [UInt8], timestamp: Int64, wireLength: Int? = nil) {
        let seconds = UInt32(truncatingIfNeeded: timestamp / 1_000_000_000)
        let fraction = timestamp % 1_000_000_000
        put32(seconds)
        put32(UInt32(nanosecond ? fraction : fraction / 1000))
        put32(UInt32(frame.count))
        put32(UInt32(wireLength ?? frame.count))
        bytes += frame
    }

    /// Appends a record header claiming `capturedLength` bytes, followed by
    /// `body` (which may be shorter, to cut the file mid-record).
    public mutating func appendRaw(capturedLength: UInt32, wireLength: UInt32, body: [UInt8], timestamp: Int64 = 0) {
        put32(UInt32(timestamp / 1_000_000_000))
        put32(0)
        put32(capturedLength)
        put32(wireLength)
        bytes += body
    }

    /// Drops the last `count` bytes (a file cut off mid-record).
    public mutating func truncate(by count: Int) {
        bytes.removeLast(min(count, bytes.count))
    }

    private mutating func put16(_ v: UInt16) {
        switch byteOrder {
        case .little: bytes += [UInt8(v & 0xFF), UInt8(v >> 8)]
        case .big: bytes += [UInt8(v >> 8), UInt8(v & 0xFF)]
        }
    }

    private mutating func put32(_ v: UInt32) {
        switch byteOrder {
        case .little: bytes += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
        case .big: bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
    }
}
