/// LEB128 varints: seven bits a byte, the low ones first, the high bit set on
/// every byte but the last. A signed value goes zigzag-encoded first (0, -1,
/// 1, -2, ... as 0, 1, 2, 3, ...), so that a small one of either sign takes a
/// byte. (A sharded run's opened-packet record, and a pool's packed timeline
/// and samples.)
public enum LEB128 {
    @inlinable @inline(__always)
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Stores a varint at `base + n`, moving `n` past it (room is the caller's).
    @inlinable @inline(__always)
    public static func store(_ value: UInt64, at base: UnsafeMutableRawPointer, _ n: inout Int) {
        var v = value
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: n, as: UInt8.self)
            n += 1
            v >>= 7
        }
        base.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: n, as: UInt8.self)
        n += 1
    }

    /// The varint at `i` in a buffer holding whole varints; `i` moves past it.
    @inlinable @inline(__always)
    public static func read(_ bytes: UnsafeBufferPointer<UInt8>, at i: inout Int) -> UInt64 {
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

    /// Moves `i` past the varint there, unread.
    @inlinable @inline(__always)
    public static func skip(_ bytes: UnsafeBufferPointer<UInt8>, at i: inout Int) {
        while bytes[i] >= 0x80 { i += 1 }
        i += 1
    }

    /// The same in an array.
    @inlinable @inline(__always)
    public static func read(_ bytes: [UInt8], at i: inout Int) -> UInt64 {
        bytes.withUnsafeBufferPointer { read($0, at: &i) }
    }

    @inlinable @inline(__always)
    public static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    @inlinable @inline(__always)
    public static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }
}
