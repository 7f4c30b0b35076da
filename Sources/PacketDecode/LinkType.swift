/// The link-layer header type of a capture, as libpcap's `pcap_datalink`
/// reports it (a DLT_ value; libpcap maps a file's LINKTYPE_ to these).
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// BSD loopback, address family in host byte order. The corresponding C constant is `DLT_NULL`.
    public static let null = LinkType(rawValue: 0)
    /// Ethernet II (and 802.3). The corresponding C constant is `DLT_EN10MB`.
    public static let ethernet = LinkType(rawValue: 1)
    /// Raw IP, version from the first nibble. The corresponding C constant is `DLT_RAW` (Linux value).
    public static let raw = LinkType(rawValue: 12)
    /// OpenBSD loopback, address family in network byte order. The corresponding C constant is `DLT_LOOP`.
    public static let loop = LinkType(rawValue: 108)
    /// Linux cooked capture v1. The corresponding C constant is `DLT_LINUX_SLL`.
    public static let linuxSLL = LinkType(rawValue: 113)
    /// Raw IPv4. The corresponding C constant is `DLT_IPV4`.
    public static let ipv4 = LinkType(rawValue: 228)
    /// Raw IPv6. The corresponding C constant is `DLT_IPV6`.
    public static let ipv6 = LinkType(rawValue: 229)
    /// Linux netfilter NFLOG. The corresponding C constant is `DLT_NFLOG`.
    public static let nflog = LinkType(rawValue: 239)
    /// Linux cooked capture v2 (`tcpdump -i any`). The corresponding C constant is `DLT_LINUX_SLL2`.
    public static let linuxSLL2 = LinkType(rawValue: 276)

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
