// Big-endian reads over a captured byte range.
//
// The decoders check a header's length once, against the captured bytes, and
// then read fields at fixed offsets inside it; these helpers are those reads.
// They are unaligned loads (capture buffers have no alignment promise).

extension UnsafeRawBufferPointer {
    @inlinable @inline(__always)
    func u8(_ offset: Int) -> UInt8 {
        self[offset]
    }

    @inlinable @inline(__always)
    func be16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    func be32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    func be64(_ offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    func le16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    func le32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The bytes from `offset` to the end (or an empty view past the end).
    @inlinable @inline(__always)
    func tail(from offset: Int) -> UnsafeRawBufferPointer {
        offset >= count ? UnsafeRawBufferPointer(start: nil, count: 0) : UnsafeRawBufferPointer(rebasing: self[offset...])
    }

    /// The first `length` bytes (or all of them when fewer were captured).
    @inlinable @inline(__always)
    func prefix(upTo length: Int) -> UnsafeRawBufferPointer {
        length >= count ? self : UnsafeRawBufferPointer(rebasing: self[..<Swift.max(0, length)])
    }
}
