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

/// Reads a classic pcap file's records (either byte order, us or ns), for
/// tests that cut packets out of a real capture.
public struct PcapFileReader {
    public struct Record {
        public var timestamp: Int64
        public var wireLength: Int
        public var bytes: [UInt8]
    }

    public let linkType: Int32
    public let records: [Record]

    public init?(bytes: [UInt8]) {
        guard bytes.count >= 24 else { return nil }
        let magic = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let swapped: Bool, nano: Bool
        switch magic {
        case 0xA1B2_C3D4: (swapped, nano) = (false, false)
        case 0xA1B2_3C4D: (swapped, nano) = (false, true)
        case 0xD4C3_B2A1: (swapped, nano) = (true, false)
        case 0x4D3C_B2A1: (swapped, nano) = (true, true)
        default: return nil
        }
        func u32(_ at: Int) -> UInt32 {
            let v = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
            return swapped ? v.byteSwapped : v
        }
        linkType = Int32(bitPattern: u32(20))
        var records: [Record] = []
        var p = 24
        while p + 16 <= bytes.count {
            let captured = Int(u32(p + 8))
            guard p + 16 + captured <= bytes.count else { break }
            let ts = Int64(u32(p)) * 1_000_000_000 + Int64(u32(p + 4)) * (nano ? 1 : 1000)
            records.append(Record(timestamp: ts, wireLength: Int(u32(p + 12)), bytes: Array(bytes[(p + 16)..<(p + 16 + captured)])))
            p += 16 + captured
        }
        self.records = records
    }
}
