/// The link-layer header type of a capture, as libpcap's `pcap_datalink`
/// reports it (a DLT_ value; libpcap maps a file's LINKTYPE_ to these).
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    /// BSD loopback, address family in host byte order. The corresponding C constant is `DLT_NULL`.
    @inlinable public static var null: LinkType { LinkType(rawValue: 0) }
    /// Ethernet II (and 802.3). The corresponding C constant is `DLT_EN10MB`.
    @inlinable public static var ethernet: LinkType { LinkType(rawValue: 1) }
    /// Raw IP, version from the first nibble. The corresponding C constant is `DLT_RAW` (Linux value).
    @inlinable public static var raw: LinkType { LinkType(rawValue: 12) }
    /// OpenBSD loopback, address family in network byte order. The corresponding C constant is `DLT_LOOP`.
    @inlinable public static var loop: LinkType { LinkType(rawValue: 108) }
    /// Linux cooked capture v1. The corresponding C constant is `DLT_LINUX_SLL`.
    @inlinable public static var linuxSLL: LinkType { LinkType(rawValue: 113) }
    /// Raw IPv4. The corresponding C constant is `DLT_IPV4`.
    @inlinable public static var ipv4: LinkType { LinkType(rawValue: 228) }
    /// Raw IPv6. The corresponding C constant is `DLT_IPV6`.
    @inlinable public static var ipv6: LinkType { LinkType(rawValue: 229) }
    /// Linux netfilter NFLOG. The corresponding C constant is `DLT_NFLOG`.
    @inlinable public static var nflog: LinkType { LinkType(rawValue: 239) }
    /// Linux cooked capture v2 (`tcpdump -i any`). The corresponding C constant is `DLT_LINUX_SLL2`.
    @inlinable public static var linuxSLL2: LinkType { LinkType(rawValue: 276) }

    /// Whether the decoder understands this link type.
    public var isSupported: Bool {
        switch self {
        case .null, .ethernet, .raw, .loop, .linuxSLL, .ipv4, .ipv6, .nflog, .linuxSLL2: true
        default: false
        }
    }

    /// libpcap's name for the type (`EN10MB`, `LINUX_SLL2`, ...).
    public var description: String {
        switch self {
        case .null: "NULL"
        case .ethernet: "EN10MB"
        case .raw: "RAW"
        case .loop: "LOOP"
        case .linuxSLL: "LINUX_SLL"
        case .ipv4: "IPV4"
        case .ipv6: "IPV6"
        case .nflog: "NFLOG"
        case .linuxSLL2: "LINUX_SLL2"
        default: "DLT_\(rawValue)"
        }
    }
}
