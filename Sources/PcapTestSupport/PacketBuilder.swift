import PacketDecode

/// Builds packets layer by layer for tests: TCP segments, IPv4/IPv6 around
/// them, and every link-layer header PoolScope decodes.
public enum PacketBuilder {
    // MARK: - TCP

    public static func tcp(
        sourcePort: UInt16, destinationPort: UInt16, sequence: UInt32 = 1000, acknowledgment: UInt32 = 0,
        flags: TCPFlags, window: UInt16 = 65535, options: [UInt8] = [], payload: [UInt8] = []
    ) -> [UInt8] {
        precondition(options.count % 4 == 0, "pad options to 4 bytes")
        let dataOffset = UInt8((20 + options.count) / 4)
        var h: [UInt8] = []
        h += be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgment)
        h += [dataOffset << 4 | UInt8(flags.rawValue >> 8 & 1), UInt8(flags.rawValue & 0xFF)]
        h += be16(window) + [0, 0] + [0, 0]   // checksum (not checked), urgent pointer
        return h + options + payload
    }

    /// TCP options: MSS, SACK-permitted, timestamps, window scale (a typical SYN).
    public static func synOptions(mss: UInt16 = 1460, windowScale: UInt8 = 7, tsValue: UInt32 = 1, tsEcho: UInt32 = 0) -> [UInt8] {
        [2, 4] + be16(mss) + [4, 2] + [8, 10] + be32(tsValue) + be32(tsEcho) + [1, 3, 3, windowScale]
    }

    // MARK: - IP

    public static func ipv4(
        source: String, destination: String, protocol proto: UInt8 = 6, payload: [UInt8],
        options: [UInt8] = [], fragmentField: UInt16 = 0x4000, totalLength: UInt16? = nil, identification: UInt16 = 1
    ) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let headerLength = 20 + options.count
        var h: [UInt8] = [0x40 | UInt8(headerLength / 4), 0]
        h += be16(totalLength ?? UInt16(headerLength + payload.count))
        h += be16(identification) + be16(fragmentField) + [64, proto, 0, 0]
        h += be32(ipv4Value(source)) + be32(ipv4Value(destination))
        h += options
        let sum = checksum(h)
        h[10] = UInt8(sum >> 8)
        h[11] = UInt8(sum & 0xFF)
        return h + payload
    }

    /// An IPv6 packet; `extensions` are (header type, bytes) in order, each
    /// bytes' first octet left for the builder to fill with the next header.
    public static func ipv6(
        source: String, destination: String, nextHeader: UInt8 = 6, payload: [UInt8],
        extensions: [(type: UInt8, body: [UInt8])] = [], payloadLength: UInt16? = nil
    ) -> [UInt8] {
        var chain: [UInt8] = []
        let types = extensions.map(\.type) + [nextHeader]
        for (i, ext) in extensions.enumerated() {
            var body = ext.body
            body[0] = types[i + 1]
            chain += body
        }
        let first = extensions.first?.type ?? nextHeader
        var h: [UInt8] = [0x60, 0, 0, 0]
        h += be16(payloadLength ?? UInt16(chain.count + payload.count)) + [first, 64]
        h += ipv6Bytes(source) + ipv6Bytes(destination)
        return h + chain + payload
    }

    /// A generic IPv6 extension header (hop-by-hop, destination options,
    /// routing) of `units` 8-octet units, padded with PadN.
    public static func ipv6GenericExtension(units: Int = 1) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: units * 8)
        b[1] = UInt8(units - 1)
        b[2] = 1                       // PadN
        b[3] = UInt8(units * 8 - 4)
        return b
    }

    public static func ipv6Fragment(offset: UInt16, more: Bool, identification: UInt32 = 7) -> [UInt8] {
        [0, 0] + be16(offset << 3 | (more ? 1 : 0)) + be32(identification)
    }

    // MARK: - Link layers

    public static func ethernet(type: UInt16, payload: [UInt8], vlanTags: [(tpid: UInt16, tci: UInt16)] = []) -> [UInt8] {
        var f: [UInt8] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]
        for tag in vlanTags { f += be16(tag.tpid) + be16(tag.tci) }
        return f + be16(type) + payload
    }

    public static func linuxSLL(protocol proto: UInt16, payload: [UInt8]) -> [UInt8] {
        [0, 0] + be16(772) + be16(6) + [0, 0, 0, 0, 0, 0, 0, 0] + be16(proto) + payload
    }

    public static func linuxSLL2(protocol proto: UInt16, payload: [UInt8]) -> [UInt8] {
        be16(proto) + [0, 0] + be32(1) + be16(772) + [0, 6] + [0, 0, 0, 0, 0, 0, 0, 0] + payload
    }

    /// BSD loopback: the address family in the writer's byte order.
    public static func null(family: UInt32, bigEndian: Bool = false, payload: [UInt8]) -> [UInt8] {
        (bigEndian ? be32(family) : le32(family)) + payload
    }

    /// OpenBSD loopback: the address family in network byte order.
    public static func loop(family: UInt32, payload: [UInt8]) -> [UInt8] {
        be32(family) + payload
    }

    /// NFLOG: header, a prefix TLV, then the packet TLV (type 9).
    public static func nflog(family: UInt8, payload: [UInt8]) -> [UInt8] {
        var f: [UInt8] = [family, 0, 0, 0]
        f += le16(8) + le16(10) + [0x41, 0x42, 0x43, 0]           // NFULA_PREFIX "ABC\0"
        f += le16(UInt16(4 + payload.count)) + le16(9) + payload
        while f.count % 4 != 0 { f.append(0) }
        return f
    }

    public static func mpls(labels: [UInt32], payload: [UInt8]) -> [UInt8] {
        var f: [UInt8] = []
        for (i, label) in labels.enumerated() {
            let bottom: UInt32 = i == labels.count - 1 ? 0x100 : 0
            f += be32(label << 12 | bottom | 64)
        }
        return f + payload
    }

    // MARK: - Bytes

    public static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    public static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    public static func le32(_ v: UInt32) -> [UInt8] { be32(v).reversed() }

    public static func ipv4Value(_ text: String) -> UInt32 {
        guard let a = IPAddress(text), !a.isIPv6 else { preconditionFailure("not IPv4: \(text)") }
        return UInt32(a.low)
    }

    public static func ipv6Bytes(_ text: String) -> [UInt8] {
        guard let a = IPAddress(text), a.isIPv6 else { preconditionFailure("not IPv6: \(text)") }
        return (0..<8).map { UInt8(a.high >> (56 - 8 * UInt64($0)) & 0xFF) } + (0..<8).map { UInt8(a.low >> (56 - 8 * UInt64($0)) & 0xFF) }
    }

    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
