/// The TCP options PoolScope reads (RFC 9293 §3.2, RFC 7323, RFC 2018).
///
/// Parsed on demand from a segment's option bytes (`TCPSegment.parseOptions()`),
/// so segments whose options nobody asks about cost nothing. A malformed option
/// list stops parsing and sets `malformed`; what was read before it is kept.
public struct TCPOptions: Sendable, Equatable {
    /// Maximum segment size (kind 2), on SYNs.
    public var maximumSegmentSize: UInt16?
    /// Window scale shift count (kind 3), on SYNs.
    public var windowScale: UInt8?
    /// SACK permitted (kind 4), on SYNs.
    public var sackPermitted = false
    /// Timestamps (kind 8): TSval and TSecr.
    public var timestamp: (value: UInt32, echoReply: UInt32)? {
        get { hasTimestamp ? (timestampValue, timestampEchoReply) : nil }
        set {
            hasTimestamp = newValue != nil
            timestampValue = newValue?.value ?? 0
            timestampEchoReply = newValue?.echoReply ?? 0
        }
    }
    /// Number of SACK blocks (kind 5); the first four are in `sackBlocks`.
    public var sackBlockCount = 0
    /// SACK blocks as (left edge, right edge), at most four fit in an option list.
    public var sackBlocks: [(left: UInt32, right: UInt32)] {
        (0..<min(sackBlockCount, 4)).map { sackBlock($0) }
    }
    /// The option list ran past its end or had an impossible length.
    public var malformed = false

    private var hasTimestamp = false
    private var timestampValue: UInt32 = 0
    private var timestampEchoReply: UInt32 = 0
    // Fixed storage for four SACK blocks (left << 32 | right): no allocation per parse.
    private var sackStorage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    private func sackBlock(_ i: Int) -> (left: UInt32, right: UInt32) {
        let v = [sackStorage.0, sackStorage.1, sackStorage.2, sackStorage.3][i]
        return (UInt32(truncatingIfNeeded: v >> 32), UInt32(truncatingIfNeeded: v))
    }

    private mutating func setSackBlock(_ i: Int, left: UInt32, right: UInt32) {
        let v = UInt64(left) << 32 | UInt64(right)
        switch i {
        case 0: sackStorage.0 = v
        case 1: sackStorage.1 = v
        case 2: sackStorage.2 = v
        default: sackStorage.3 = v
        }
    }

    public init() {}

    public static func == (a: TCPOptions, b: TCPOptions) -> Bool {
        a.maximumSegmentSize == b.maximumSegmentSize && a.windowScale == b.windowScale
            && a.sackPermitted == b.sackPermitted && a.hasTimestamp == b.hasTimestamp
            && a.timestampValue == b.timestampValue && a.timestampEchoReply == b.timestampEchoReply
            && a.sackBlockCount == b.sackBlockCount && a.malformed == b.malformed
            && a.sackBlocks.elementsEqual(b.sackBlocks, by: { $0 == $1 })
    }

    /// Reads an option list (the bytes between the fixed TCP header and the payload).
    public init(parsing bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        while i < n {
            let kind = bytes.u8(i)
            if kind == 0 { break }                 // end of option list
            if kind == 1 { i += 1; continue }      // no-operation
            guard i + 1 < n else { malformed = true; break }
            let length = Int(bytes.u8(i + 1))
            guard length >= 2, i + length <= n else { malformed = true; break }
            switch (kind, length) {
            case (2, 4):
                maximumSegmentSize = bytes.be16(i + 2)
            case (3, 3):
                windowScale = bytes.u8(i + 2)
            case (4, 2):
                sackPermitted = true
            case (5, _) where (length - 2) % 8 == 0:
                let blocks = (length - 2) / 8
                for b in 0..<blocks where sackBlockCount + b < 4 {
                    setSackBlock(sackBlockCount + b, left: bytes.be32(i + 2 + 8 * b), right: bytes.be32(i + 6 + 8 * b))
                }
                sackBlockCount += blocks
            case (8, 10):
                hasTimestamp = true
                timestampValue = bytes.be32(i + 2)
                timestampEchoReply = bytes.be32(i + 6)
            case (2, _), (3, _), (4, _), (5, _), (8, _):
                malformed = true           // a known kind with the wrong length
            default:
                break                      // other kinds: skipped by their length
            }
            if malformed { break }
            i += length
        }
    }
}
