/// LEB128 varints: seven bits a byte, the low ones first, the high bit set on
/// every byte but the last. A signed value goes zigzag-encoded first (0, -1,
/// 1, -2, ... as 0, 1, 2, 3, ...), so that a small one of either sign takes a
/// byte.
public enum LEB128 {
    @inline(__always)
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// The varint at `i`, which moves past it.
    @inline(__always)
    public static func read(_ bytes: [UInt8], at i: inout Int) -> UInt64 {
        var byte = bytes[i]
        i += 1
        var value = UInt64(byte & 0x7F), shift: UInt64 = 0
        while byte >= 0x80 {
            byte = bytes[i]
            i += 1
            shift += 7
            value |= UInt64(byte & 0x7F) << shift
        }
        return value
    }

    @inline(__always)
    public static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    @inline(__always)
    public static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }
}

/// Signed integers appended, and read back in order, as zigzag LEB128
/// varints. What a pool keeps that fills toward its bound as a capture goes
/// on (its timeline, its idle-close samples) is mostly small numbers, gaps
/// and counts: 1 to 5 bytes each, where Int64s and Int32s were 8 and 4.
public struct PackedInts: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public var isEmpty: Bool { bytes.isEmpty }

    public mutating func append(_ value: Int64) {
        // Room grows by a quarter (a varint is at most 10 bytes): doubling's
        // spare room would be a third of what these keep.
        if bytes.capacity - bytes.count < 10 { bytes.reserveCapacity(bytes.count + bytes.count / 4 + 16) }
        LEB128.append(LEB128.zigzag(value), to: &bytes)
    }

    /// Drops the last `k` bytes (whole values: where one started, from `bytes.count`).
    public mutating func removeLast(_ k: Int) {
        bytes.removeLast(k)
    }

    /// Empties it, keeping its room (it fills again).
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Reads the values from the first, in the order they were appended.
    public struct Reader {
        let bytes: [UInt8]
        var at = 0

        public var atEnd: Bool { at >= bytes.count }

        /// The next value; only while not `atEnd`.
        public mutating func next() -> Int64 {
            LEB128.unzigzag(LEB128.read(bytes, at: &at))
        }
    }

    public var reader: Reader { Reader(bytes: bytes) }
}
