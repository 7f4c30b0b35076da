/// 32-bit TCP sequence arithmetic (RFC 9293 §3.4): comparisons by signed
/// wrapping difference, so they hold across the 2^32 wrap.
public enum SequenceSpace {
    /// `a - b` as a signed distance in sequence space.
    @inline(__always)
    public static func delta(_ a: UInt32, _ b: UInt32) -> Int32 {
        Int32(bitPattern: a &- b)
    }

    /// `a` comes after `b`.
    @inline(__always)
    public static func after(_ a: UInt32, _ b: UInt32) -> Bool { delta(a, b) > 0 }

    /// Sequence space a segment occupies: its payload, plus one for SYN and for
    /// FIN. A RST's payload is not part of the stream (Zeek's get_segment_len).
    @inline(__always)
    public static func segmentLength(payload: Int, syn: Bool, fin: Bool, rst: Bool) -> Int {
        (rst ? 0 : payload) + (syn ? 1 : 0) + (fin ? 1 : 0)
    }
}
