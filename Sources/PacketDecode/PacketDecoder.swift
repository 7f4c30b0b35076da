/// Decodes a captured packet, link layer to TCP, without copying or allocating.
///
/// Each layer checks its header length against the captured bytes once and
/// then reads fields at fixed offsets. Lengths the headers claim are checked
/// against what was on the wire (`wireLength`): a header claiming more than the
/// wire carried is `malformed`; a header the snaplen cut is `truncated`. A
/// payload the snaplen cut is normal and still decodes (the segment says so).
public enum PacketDecoder {
    /// Decodes `bytes` (the captured part of a packet `wireLength` long on the wire).
    @inlinable
    public static func decode(_ bytes: UnsafeRawBufferPointer, wireLength: Int, linkType: LinkType) -> DecodedPacket {
        decodeLink(bytes, wireLength: max(wireLength, bytes.count), linkType: linkType)
    }

    /// The endpoints of an Ethernet frame (no VLAN tag) carrying IPv4 and TCP,
    /// read at fixed offsets, when `decode(_:wireLength:linkType: .ethernet)`
    /// would return a TCP segment with exactly these endpoints; nil for every
    /// other packet. For sharded analysis: a shard finds that a packet is not
    /// its own without decoding it. Each check mirrors one of the decoder's.
    public static func ethernetIPv4TCPEndpoints(_ p: UnsafeRawBufferPointer, wireLength: Int) -> (source: Endpoint, destination: Endpoint)? {
        ethernetIPv4TCPEnds(p, wireLength: wireLength).map {
            (Endpoint(address: IPAddress(ipv4: $0.source), port: $0.sourcePort),
             Endpoint(address: IPAddress(ipv4: $0.destination), port: $0.destinationPort))
        }
    }

    /// The raw addresses and ports of such a packet: plain integers, returned
    /// in registers and inlined into the caller (the Endpoint pair, built and
    /// returned through memory, cost 86 instructions a packet in every shard).
    public struct IPv4TCPEnds: Sendable {
        public var source: UInt32, destination: UInt32
        public var sourcePort: UInt16, destinationPort: UInt16
        @inlinable init(source: UInt32, destination: UInt32, sourcePort: UInt16, destinationPort: UInt16) {
            self.source = source; self.destination = destination
            self.sourcePort = sourcePort; self.destinationPort = destinationPort
        }
    }

    /// Where a plain Ethernet/IPv4 frame's TCP segment lies, when the decoder
    /// would read it as one: each check mirrors one of `decodeLink`,
    /// `decodeIPv4` and `decodeTCP`'s (the tests hold them to it). Inlined
    /// into the two readings below, which take what they need of it.
    @usableFromInline
    struct EthernetIPv4TCPLayout {
        /// Offset of the TCP header in the frame.
        @usableFromInline let tcp: Int
        /// The segment's length on the wire (from the IP total length) and captured.
        @usableFromInline let wire: Int
        @usableFromInline let captured: Int
        @usableFromInline let dataOffset: Int

        @inlinable @inline(__always)
        init?(_ p: UnsafeRawBufferPointer, wireLength: Int) {
            guard p.count >= 34, p.be16(12) == 0x0800 else { return nil }
            let versionAndLength = Int(p.u8(14))
            let headerLength = (versionAndLength & 0x0F) &* 4
            guard versionAndLength >> 4 == 4, headerLength >= 20, p.count >= 14 &+ headerLength else { return nil }
            let wireRemaining = max(wireLength, p.count) &- 14
            var totalLength = Int(p.be16(16))
            if totalLength == 0 { totalLength = wireRemaining }
            guard totalLength >= headerLength, totalLength <= wireRemaining, p.be16(20) & 0x3FFF == 0, p.u8(23) == 6 else { return nil }
            tcp = 14 &+ headerLength
            wire = totalLength &- headerLength
            // Never more than the IP length gives it (Ethernet pads short frames).
            captured = min(p.count, 14 &+ totalLength) &- tcp
            guard wire >= 20, captured >= 20 else { return nil }
            dataOffset = Int(p.u8(tcp &+ 12) >> 4) &* 4
            guard dataOffset >= 20, dataOffset <= wire, captured >= dataOffset else { return nil }
        }
    }

    /// `ethernetIPv4TCPEndpoints` as raw integers, inlined into the caller: it
    /// runs for every packet in every shard, and the optimiser had left it a
    /// call (inlined, a two-thread run takes 1.9% fewer instructions).
    @inlinable @inline(__always)
    public static func ethernetIPv4TCPEnds(_ p: UnsafeRawBufferPointer, wireLength: Int) -> IPv4TCPEnds? {
        guard let at = EthernetIPv4TCPLayout(p, wireLength: wireLength) else { return nil }
        return IPv4TCPEnds(source: p.be32(26), destination: p.be32(30), sourcePort: p.be16(at.tcp), destinationPort: p.be16(at.tcp &+ 2))
    }

    /// The segment `decode(_:wireLength:linkType: .ethernet)` returns for a
    /// plain Ethernet/IPv4 frame carrying TCP, built where the caller inlines
    /// it; nil for every other packet, which `decode` then reads (and names).
    /// (Through `decode`, the common case was a call that returned an enum
    /// through memory, which the caller then copied out: 20 M of a one-thread
    /// run's 652 M instructions on the 10,000-connection capture.)
    @inlinable @inline(__always)
    public static func ethernetIPv4TCPSegment(_ p: UnsafeRawBufferPointer, wireLength: Int) -> TCPSegment? {
        guard let at = EthernetIPv4TCPLayout(p, wireLength: wireLength) else { return nil }
        let tcp = at.tcp
        // As `tail(from:)` gives it: no base address when nothing was captured.
        let payload = at.dataOffset < at.captured
            ? UnsafeRawBufferPointer(rebasing: p[(tcp &+ at.dataOffset)..<(tcp &+ at.captured)]) : UnsafeRawBufferPointer(start: nil, count: 0)
        return TCPSegment(
            source: Endpoint(address: IPAddress(ipv4: p.be32(26)), port: p.be16(tcp)),
            destination: Endpoint(address: IPAddress(ipv4: p.be32(30)), port: p.be16(tcp &+ 2)),
            sequenceNumber: p.be32(tcp &+ 4),
            acknowledgmentNumber: p.be32(tcp &+ 8),
            flags: TCPFlags(rawValue: p.be16(tcp &+ 12) & 0x01FF),
            window: p.be16(tcp &+ 14),
            payloadLength: at.wire &- at.dataOffset,
            payload: payload,
            optionBytes: UnsafeRawBufferPointer(rebasing: p[(tcp &+ 20)..<(tcp &+ at.dataOffset)])
        )
    }

    /// The addresses and ports an Ethernet frame of EtherType IPv4 (no VLAN
    /// tag) names where IPv4 and TCP keep them, whether or not the rest makes
    /// a segment the decoder accepts; nil for another EtherType or a frame too
    /// short to hold them. When `ethernetIPv4TCPEnds` answers, it answers the
    /// same.
    ///
    /// For sharded analysis: a few loads tell a shard which one a TCP segment
    /// would be; only a shard that sees another's goes on to check that it is
    /// one (`ethernetIPv4TCPEnds`), and the owner decodes it (which checks).
    /// (Checking first, every shard did so for its own packets too, before
    /// decoding them: a tenth of a shard's instructions outside TCP and HTTP.)
    @inlinable @inline(__always)
    public static func ethernetIPv4Ends(_ p: UnsafeRawBufferPointer) -> IPv4TCPEnds? {
        guard p.count >= 38, p.be16(12) == 0x0800 else { return nil }
        let tcp = 14 &+ Int(p.u8(14) & 0x0F) &* 4
        guard p.count >= tcp &+ 4 else { return nil }
        return IPv4TCPEnds(source: p.be32(26), destination: p.be32(30), sourcePort: p.be16(tcp), destinationPort: p.be16(tcp &+ 2))
    }

    /// `ethernetIPv4Ends` as endpoints.
    public static func ethernetIPv4Endpoints(_ p: UnsafeRawBufferPointer) -> (source: Endpoint, destination: Endpoint)? {
        ethernetIPv4Ends(p).map {
            (Endpoint(address: IPAddress(ipv4: $0.source), port: $0.sourcePort),
             Endpoint(address: IPAddress(ipv4: $0.destination), port: $0.destinationPort))
        }
    }

    // MARK: - Link layer

    @usableFromInline
    static func decodeLink(_ p: UnsafeRawBufferPointer, wireLength: Int, linkType: LinkType) -> DecodedPacket {
        switch linkType {
        case .ethernet:
            guard p.count >= 14 else { return .undecoded(.truncated) }
            return decodeEtherType(p.be16(12), p, at: 14, wireLength: wireLength)
        case .linuxSLL:
            // 16-byte header; the protocol field is an EtherType for IP.
            guard p.count >= 16 else { return .undecoded(.truncated) }
            return decodeEtherType(p.be16(14), p, at: 16, wireLength: wireLength)
        case .linuxSLL2:
            // 20-byte header with the protocol first.
            guard p.count >= 20 else { return .undecoded(.truncated) }
            return decodeEtherType(p.be16(0), p, at: 20, wireLength: wireLength)
        case .null, .loop:
            // A 4-byte address family: DLT_NULL in the writer's byte order,
            // DLT_LOOP in network order. AF_INET6 differs by OS (10 Linux,
            // 24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin).
            guard p.count >= 4 else { return .undecoded(.truncated) }
            var family = p.be32(0)
            if linkType == .null && family & 0xFFFF_0000 != 0 { family = p.le32(0) }
            switch family {
            case 2: return decodeIPv4(p, at: 4, wireLength: wireLength)
            case 10, 24, 28, 30: return decodeIPv6(p, at: 4, wireLength: wireLength)
            default: return .undecoded(.notTCP)
            }
        case .raw:
            return decodeIPByVersion(p, at: 0, wireLength: wireLength)
        case .ipv4:
            return decodeIPv4(p, at: 0, wireLength: wireLength)
        case .ipv6:
            return decodeIPv6(p, at: 0, wireLength: wireLength)
        case .nflog:
            return decodeNFLOG(p, wireLength: wireLength)
        default:
            return .undecoded(.unsupportedLinkType)
        }
    }

    /// Dispatches on an EtherType, walking 802.1Q / 802.1ad VLAN tags, an MPLS
    /// label stack and PPPoE session headers on the way to IP.
    @inlinable @inline(__always)
    static func decodeEtherType(_ type: UInt16, _ p: UnsafeRawBufferPointer, at start: Int, wireLength: Int) -> DecodedPacket {
        var type = type
        var offset = start
        while type == 0x8100 || type == 0x88A8 || type == 0x9100 {
            guard p.count >= offset + 4 else { return .undecoded(.truncated) }
            type = p.be16(offset + 2)
            offset += 4
        }
        switch type {
        case 0x0800:
            return decodeIPv4(p, at: offset, wireLength: wireLength)
        case 0x86DD:
            return decodeIPv6(p, at: offset, wireLength: wireLength)
        case 0x8847, 0x8848:
            // MPLS: labels until the bottom-of-stack bit; the payload's first
            // nibble then tells IPv4 from IPv6.
            while true {
                guard p.count >= offset + 4 else { return .undecoded(.truncated) }
                let entry = p.be32(offset)
                offset += 4
                if entry & 0x100 != 0 { break }
            }
            return decodeIPByVersion(p, at: offset, wireLength: wireLength)
        case 0x8864:
            // PPPoE session: 6-byte header, then the 2-byte PPP protocol.
            guard p.count >= offset + 8 else { return .undecoded(.truncated) }
            switch p.be16(offset + 6) {
            case 0x0021: return decodeIPv4(p, at: offset + 8, wireLength: wireLength)
            case 0x0057: return decodeIPv6(p, at: offset + 8, wireLength: wireLength)
            default: return .undecoded(.notTCP)
            }
        default:
            return .undecoded(.notTCP)
        }
    }

    @usableFromInline
    static func decodeIPByVersion(_ p: UnsafeRawBufferPointer, at offset: Int, wireLength: Int) -> DecodedPacket {
        guard p.count > offset else { return .undecoded(.truncated) }
        switch p.u8(offset) >> 4 {
        case 4: return decodeIPv4(p, at: offset, wireLength: wireLength)
        case 6: return decodeIPv6(p, at: offset, wireLength: wireLength)
        default: return .undecoded(.notTCP)
        }
    }

    /// NFLOG: a 4-byte header (address family first), then type-length-value
    /// records in host byte order, each padded to 4 bytes; type 9 is the packet.
    @usableFromInline
    static func decodeNFLOG(_ p: UnsafeRawBufferPointer, wireLength: Int) -> DecodedPacket {
        guard p.count >= 4 else { return .undecoded(.truncated) }
        let family = p.u8(0)
        var offset = 4
        while true {
            guard p.count >= offset + 4 else { return .undecoded(.truncated) }
            let length = Int(p.le16(offset))
            let type = p.le16(offset + 2)
            guard length >= 4 else { return .undecoded(.malformed) }
            if type == 9 {
                let payload = offset + 4
                let wire = min(wireLength, offset + length)
                switch family {
                case 2: return decodeIPv4(p.prefix(upTo: wire), at: payload, wireLength: wire)
                case 10: return decodeIPv6(p.prefix(upTo: wire), at: payload, wireLength: wire)
                default: return .undecoded(.notTCP)
                }
            }
            offset += (length + 3) & ~3
        }
    }

    // MARK: - IP

    @inlinable @inline(__always)
    static func decodeIPv4(_ p: UnsafeRawBufferPointer, at offset: Int, wireLength: Int) -> DecodedPacket {
        let ip = p.tail(from: offset)
        let wireRemaining = wireLength - offset
        guard ip.count >= 20 else { return .undecoded(.truncated) }
        let versionAndLength = ip.u8(0)
        guard versionAndLength >> 4 == 4 else { return .undecoded(.malformed) }
        let headerLength = Int(versionAndLength & 0x0F) * 4
        guard headerLength >= 20 else { return .undecoded(.malformed) }
        guard ip.count >= headerLength else { return .undecoded(.truncated) }
        var totalLength = Int(ip.be16(2))
        // Segmentation offload: a locally sent packet captured before the NIC
        // split it may carry total length 0; its length is what was captured.
        if totalLength == 0 { totalLength = wireRemaining }
        guard totalLength >= headerLength, totalLength <= wireRemaining else { return .undecoded(.malformed) }
        // More-fragments set or a non-zero offset: a fragment, never read as TCP.
        guard ip.be16(6) & 0x3FFF == 0 else { return .undecoded(.fragment) }
        guard ip.u8(9) == 6 else { return .undecoded(.notTCP) }
        let source = IPAddress(ipv4: ip.be32(12))
        let destination = IPAddress(ipv4: ip.be32(16))
        // Ethernet pads short frames: the IP length, not the frame, ends the segment.
        let segment = ip.prefix(upTo: totalLength).tail(from: headerLength)
        return decodeTCP(segment, wireLength: totalLength - headerLength, source: source, destination: destination)
    }

    /// The IPv6 extension headers that share the generic (next, length) layout
    /// in 8-octet units: hop-by-hop, routing, destination options, mobility,
    /// HIP, shim6.
    @usableFromInline
    static func isGenericIPv6Extension(_ header: UInt8) -> Bool {
        header == 0 || header == 43 || header == 60 || header == 135 || header == 139 || header == 140
    }

    @usableFromInline
    static func decodeIPv6(_ p: UnsafeRawBufferPointer, at offset: Int, wireLength: Int) -> DecodedPacket {
        let ip = p.tail(from: offset)
        let wireRemaining = wireLength - offset
        guard ip.count >= 40 else { return .undecoded(.truncated) }
        guard ip.u8(0) >> 4 == 6 else { return .undecoded(.malformed) }
        let declared = Int(ip.be16(4))
        // Payload length 0: a jumbogram or an offloaded segment; use what the wire carried.
        let totalLength = declared == 0 ? wireRemaining : 40 + declared
        guard totalLength <= wireRemaining else { return .undecoded(.malformed) }
        let source = IPAddress(ipv6High: ip.be64(8), low: ip.be64(16))
        let destination = IPAddress(ipv6High: ip.be64(24), low: ip.be64(32))
        let packet = ip.prefix(upTo: totalLength)
        var next = ip.u8(6)
        var headerEnd = 40
        // Walk the extension header chain to TCP. Each step advances by at
        // least 8 bytes, so the walk ends within the packet's length.
        while true {
            if next == 6 {
                return decodeTCP(packet.tail(from: headerEnd), wireLength: totalLength - headerEnd,
                                 source: source, destination: destination)
            }
            if isGenericIPv6Extension(next) || next == 51 {
                guard packet.count >= headerEnd + 2 else { return .undecoded(.truncated) }
                let units = Int(packet.u8(headerEnd + 1))
                // AH counts its length in 4-octet units, minus 2; the rest in 8-octet units, minus 1.
                let length = next == 51 ? (units + 2) * 4 : (units + 1) * 8
                next = packet.u8(headerEnd)
                headerEnd += length
                guard headerEnd <= totalLength else { return .undecoded(.malformed) }
            } else if next == 44 {
                guard packet.count >= headerEnd + 8 else { return .undecoded(.truncated) }
                // An atomic fragment (offset 0, no more fragments, RFC 6946) is
                // a whole packet and decodes on; any other is set aside.
                guard packet.be16(headerEnd + 2) & 0xFFF9 == 0 else { return .undecoded(.fragment) }
                next = packet.u8(headerEnd)
                headerEnd += 8
                guard headerEnd <= totalLength else { return .undecoded(.malformed) }
            } else {
                return .undecoded(.notTCP)
            }
        }
    }

    // MARK: - TCP

    @inlinable @inline(__always)
    static func decodeTCP(_ t: UnsafeRawBufferPointer, wireLength: Int, source: IPAddress, destination: IPAddress) -> DecodedPacket {
        guard wireLength >= 20 else { return .undecoded(.malformed) }
        guard t.count >= 20 else { return .undecoded(.truncated) }
        let dataOffset = Int(t.u8(12) >> 4) * 4
        guard dataOffset >= 20, dataOffset <= wireLength else { return .undecoded(.malformed) }
        guard t.count >= dataOffset else { return .undecoded(.truncated) }
        let segment = TCPSegment(
            source: Endpoint(address: source, port: t.be16(0)),
            destination: Endpoint(address: destination, port: t.be16(2)),
            sequenceNumber: t.be32(4),
            acknowledgmentNumber: t.be32(8),
            flags: TCPFlags(rawValue: t.be16(12) & 0x01FF),
            window: t.be16(14),
            payloadLength: wireLength - dataOffset,
            payload: t.prefix(upTo: wireLength).tail(from: dataOffset),
            optionBytes: UnsafeRawBufferPointer(rebasing: t[20..<dataOffset])
        )
        return .tcp(segment)
    }
}
