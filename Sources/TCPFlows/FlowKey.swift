import PacketDecode

/// A TCP 4-tuple with its two endpoints in a fixed order, so that both
/// directions of a connection map to the same key (gopacket's symmetric
/// FastHash). The hash is computed once per packet from plain integers.
public struct FlowKey: Hashable, Sendable {
    public var lower: Endpoint
    public var upper: Endpoint

    /// Orders the endpoints; `sourceIsLower` tells which way the packet went.
    @inlinable @inline(__always)
    public init(_ a: Endpoint, _ b: Endpoint) {
        if FlowKey.precedes(a, b) { lower = a; upper = b } else { lower = b; upper = a }
    }

    @inlinable @inline(__always)
    static func precedes(_ a: Endpoint, _ b: Endpoint) -> Bool {
        if a.address.high != b.address.high { return a.address.high < b.address.high }
        if a.address.low != b.address.low { return a.address.low < b.address.low }
        if a.address.isIPv6 != b.address.isIPv6 { return !a.address.isIPv6 }
        return a.port < b.port
    }

    @inlinable @inline(__always)
    public static func == (x: FlowKey, y: FlowKey) -> Bool {
        x.lower.port == y.lower.port && x.upper.port == y.upper.port
            && x.lower.address.low == y.lower.address.low && x.upper.address.low == y.upper.address.low
            && x.lower.address.high == y.lower.address.high && x.upper.address.high == y.upper.address.high
            && x.lower.address.isIPv6 == y.lower.address.isIPv6 && x.upper.address.isIPv6 == y.upper.address.isIPv6
    }

    /// A 64-bit mix of the key's words (multiply–xorshift; not keyed: the table
    /// caps its probe length, so a hostile capture costs time, not memory).
    @inlinable @inline(__always)
    public var hash64: UInt64 {
        var h = lower.address.low &* 0x9E37_79B9_7F4A_7C15
        h ^= upper.address.low &* 0xC2B2_AE3D_27D4_EB4F
        h ^= (lower.address.high ^ (upper.address.high &<< 1)) &* 0x1656_67B1_9E37_79F9
        h ^= (UInt64(lower.port) << 16 | UInt64(upper.port)) &* 0x85EB_CA77_C2B2_AE63
        h ^= h >> 29
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash64) }
}
