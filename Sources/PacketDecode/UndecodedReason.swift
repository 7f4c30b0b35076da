/// Why a packet did not yield a TCP segment. Every packet that is not decoded
/// is counted under exactly one of these, and the counts are in every report:
/// nothing is dropped silently.
public enum UndecodedReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// The capture's link type is not one the decoder reads (e.g. 802.11).
    case unsupportedLinkType
    /// A well-formed packet that does not carry TCP (ARP, UDP, ICMP, ...).
    case notTCP
    /// An IP fragment (other than an atomic one): set aside, never read as TCP.
    case fragment
    /// The capture cut the packet (snaplen) before the end of a header we need.
    case truncated
    /// A header whose fields contradict themselves or the packet's length.
    case malformed

    /// The key used in reports (`capture.undecoded`).
    public var description: String {
        switch self {
        case .unsupportedLinkType: "unsupported_link_type"
        case .notTCP: "not_tcp"
        case .fragment: "fragment"
        case .truncated: "truncated"
        case .malformed: "malformed"
        }
    }
}

/// Per-reason counts of undecoded packets; a fixed array, no allocation per packet.
public struct UndecodedCounts: Sendable, Equatable {
    public private(set) var counts = [Int](repeating: 0, count: UndecodedReason.allCases.count)

    public init() {}

    @inline(__always)
    public mutating func record(_ reason: UndecodedReason) {
        counts[reason.rawValue] &+= 1
    }

    public subscript(reason: UndecodedReason) -> Int {
        counts[reason.rawValue]
    }

    public var total: Int { counts.reduce(0, +) }

    public mutating func add(_ other: UndecodedCounts) {
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    /// The non-zero counts, in declaration order.
    public var nonZero: [(UndecodedReason, Int)] {
        UndecodedReason.allCases.compactMap { counts[$0.rawValue] > 0 ? ($0, counts[$0.rawValue]) : nil }
    }
}
