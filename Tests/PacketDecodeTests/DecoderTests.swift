import PacketDecode
import PcapTestSupport
import Testing

typealias B = PacketBuilder

/// A client SYN 10.0.0.1:50000 -> 10.0.0.2:80 with the usual options.
let synSegment = B.tcp(sourcePort: 50000, destinationPort: 80, sequence: 0xFFFF_FF00, flags: .syn, options: B.synOptions())
let ipv4Syn = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment)
let ipv6Syn = B.ipv6(source: "2001:db8::1", destination: "2001:db8::2", payload: synSegment)
let requestSegment = B.tcp(sourcePort: 50000, destinationPort: 80, sequence: 7, acknowledgment: 9, flags: [.psh, .ack],
                           payload: Array("GET / HTTP/1.1\r\n\r\n".utf8))

func decode(_ frame: [UInt8], _ link: LinkType, wireLength: Int? = nil) -> DecodedPacket {
    frame.withUnsafeBytes { PacketDecoder.decode($0, wireLength: wireLength ?? frame.count, linkType: link) }
}

/// The segment's fields copied out (the segment itself only lives inside the closure).
struct Fields: Equatable {
    var source: String
    var destination: String
    var sequence: UInt32
    var acknowledgment: UInt32
    var flags: String
    var payloadLength: Int
    var captured: Int
}

func fields(_ frame: [UInt8], _ link: LinkType, wireLength: Int? = nil) -> Fields? {
    frame.withUnsafeBytes { raw -> Fields? in
        guard case .tcp(let s) = PacketDecoder.decode(raw, wireLength: wireLength ?? frame.count, linkType: link) else { return nil }
        return Fields(source: s.source.description, destination: s.destination.description, sequence: s.sequenceNumber,
                      acknowledgment: s.acknowledgmentNumber, flags: s.flags.description,
                      payloadLength: s.payloadLength, captured: s.payload.count)
    }
}

func reason(_ frame: [UInt8], _ link: LinkType, wireLength: Int? = nil) -> UndecodedReason? {
    if case .undecoded(let r) = decode(frame, link, wireLength: wireLength) { return r }
    return nil
}

let expectedSyn = Fields(source: "10.0.0.1:50000", destination: "10.0.0.2:80", sequence: 0xFFFF_FF00,
                         acknowledgment: 0, flags: "S", payloadLength: 0, captured: 0)
let expectedSyn6 = Fields(source: "[2001:db8::1]:50000", destination: "[2001:db8::2]:80", sequence: 0xFFFF_FF00,
                          acknowledgment: 0, flags: "S", payloadLength: 0, captured: 0)

// MARK: - Link layers

@Suite struct LinkLayers {
    @Test func ethernetIPv4() {
        #expect(fields(B.ethernet(type: 0x0800, payload: ipv4Syn), .ethernet) == expectedSyn)
    }

    @Test func ethernetIPv6() {
        #expect(fields(B.ethernet(type: 0x86DD, payload: ipv6Syn), .ethernet) == expectedSyn6)
    }

    @Test func vlan8021Q() {
        let frame = B.ethernet(type: 0x0800, payload: ipv4Syn, vlanTags: [(0x8100, 42)])
        #expect(fields(frame, .ethernet) == expectedSyn)
    }

    @Test func vlan8021adQinQ() {
        let frame = B.ethernet(type: 0x86DD, payload: ipv6Syn, vlanTags: [(0x88A8, 100), (0x8100, 42)])
        #expect(fields(frame, .ethernet) == expectedSyn6)
    }

    @Test func mplsLabelStack() {
        let frame = B.ethernet(type: 0x8847, payload: B.mpls(labels: [16, 17], payload: ipv4Syn))
        #expect(fields(frame, .ethernet) == expectedSyn)
    }

    @Test func linuxCookedV1() {
        #expect(fields(B.linuxSLL(protocol: 0x0800, payload: ipv4Syn), .linuxSLL) == expectedSyn)
        #expect(fields(B.linuxSLL(protocol: 0x86DD, payload: ipv6Syn), .linuxSLL) == expectedSyn6)
    }

    @Test func linuxCookedV2() {
        #expect(fields(B.linuxSLL2(protocol: 0x0800, payload: ipv4Syn), .linuxSLL2) == expectedSyn)
        #expect(fields(B.linuxSLL2(protocol: 0x86DD, payload: ipv6Syn), .linuxSLL2) == expectedSyn6)
    }

    @Test(arguments: [UInt32(24), 28, 30, 10])
    func bsdNullIPv6Families(family: UInt32) {
        #expect(fields(B.null(family: family, payload: ipv6Syn), .null) == expectedSyn6)
        #expect(fields(B.null(family: family, bigEndian: true, payload: ipv6Syn), .null) == expectedSyn6)
    }

    @Test func bsdNullIPv4BothByteOrders() {
        #expect(fields(B.null(family: 2, payload: ipv4Syn), .null) == expectedSyn)
        #expect(fields(B.null(family: 2, bigEndian: true, payload: ipv4Syn), .null) == expectedSyn)
    }

    @Test func openBSDLoop() {
        #expect(fields(B.loop(family: 2, payload: ipv4Syn), .loop) == expectedSyn)
        #expect(fields(B.loop(family: 24, payload: ipv6Syn), .loop) == expectedSyn6)
    }

    @Test func rawAndBareIP() {
        #expect(fields(ipv4Syn, .raw) == expectedSyn)
        #expect(fields(ipv6Syn, .raw) == expectedSyn6)
        #expect(fields(ipv4Syn, .ipv4) == expectedSyn)
        #expect(fields(ipv6Syn, .ipv6) == expectedSyn6)
    }

    @Test func nflog() {
        #expect(fields(B.nflog(family: 2, payload: ipv4Syn), .nflog) == expectedSyn)
        #expect(fields(B.nflog(family: 10, payload: ipv6Syn), .nflog) == expectedSyn6)
    }

    @Test func unsupportedLinkType() {
        #expect(reason(ipv4Syn, LinkType(rawValue: 105)) == .unsupportedLinkType)   // IEEE 802.11
    }

    @Test func nonIPIsNotTCP() {
        let arp = B.ethernet(type: 0x0806, payload: [UInt8](repeating: 0, count: 28))
        #expect(reason(arp, .ethernet) == .notTCP)
        #expect(reason(B.null(family: 7, payload: ipv4Syn), .null) == .notTCP)
    }
}

// MARK: - IP

@Suite struct IPLayers {
    @Test func ipv4WithOptions() {
        let packet = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, options: [1, 1, 1, 0])
        #expect(fields(packet, .ipv4) == expectedSyn)
    }

    @Test func ipv4FragmentsAreSetAside() {
        // More-fragments set on the first fragment; then a later fragment.
        let first = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, fragmentField: 0x2000)
        let later = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: [1, 2, 3, 4, 5, 6, 7, 8], fragmentField: 0x0003)
        #expect(reason(first, .ipv4) == .fragment)
        #expect(reason(later, .ipv4) == .fragment)
    }

    @Test func ipv4NotTCP() {
        let udp = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", protocol: 17, payload: [0, 53, 0, 53, 0, 8, 0, 0])
        #expect(reason(udp, .ipv4) == .notTCP)
    }

    @Test func ethernetPaddingIsNotPayload() {
        // A 60-byte minimum frame: padding after the IP packet is not TCP payload.
        let frame = B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2",
                                                             payload: B.tcp(sourcePort: 1, destinationPort: 2, flags: .ack)))
            + [UInt8](repeating: 0xEE, count: 6)
        #expect(fields(frame, .ethernet)?.payloadLength == 0)
        #expect(fields(frame, .ethernet)?.captured == 0)
    }

    @Test func ipv6ExtensionChainIsWalked() {
        let packet = B.ipv6(source: "2001:db8::1", destination: "2001:db8::2", payload: synSegment,
                            extensions: [(0, B.ipv6GenericExtension(units: 1)), (43, B.ipv6GenericExtension(units: 2)),
                                         (60, B.ipv6GenericExtension(units: 1))])
        #expect(fields(packet, .ipv6) == expectedSyn6)
    }

    @Test func ipv6AtomicFragmentDecodes() {
        let packet = B.ipv6(source: "2001:db8::1", destination: "2001:db8::2", payload: synSegment,
                            extensions: [(44, B.ipv6Fragment(offset: 0, more: false))])
        #expect(fields(packet, .ipv6) == expectedSyn6)
    }

    @Test func ipv6RealFragmentsAreSetAside() {
        let first = B.ipv6(source: "2001:db8::1", destination: "2001:db8::2", payload: synSegment,
                           extensions: [(44, B.ipv6Fragment(offset: 0, more: true))])
        let later = B.ipv6(source: "2001:db8::1", destination: "2001:db8::2", payload: [UInt8](repeating: 0, count: 16),
                           extensions: [(44, B.ipv6Fragment(offset: 4, more: false))])
        #expect(reason(first, .ipv6) == .fragment)
        #expect(reason(later, .ipv6) == .fragment)
    }

    @Test func ipv6NotTCP() {
        let icmp = B.ipv6(source: "::1", destination: "::1", nextHeader: 58, payload: [128, 0, 0, 0, 0, 0, 0, 0])
        #expect(reason(icmp, .ipv6) == .notTCP)
    }

    @Test func ipv6ExtensionLongerThanPacketIsMalformed() {
        var ext = B.ipv6GenericExtension(units: 1)
        ext[1] = 200   // claims 1608 bytes
        let packet = B.ipv6(source: "::1", destination: "::1", payload: synSegment, extensions: [(60, ext)])
        #expect(reason(packet, .ipv6) == .malformed)
    }

    @Test func ipv4LengthBeyondWireIsMalformed() {
        let packet = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, totalLength: 1500)
        #expect(reason(packet, .ipv4) == .malformed)
    }

    @Test func ipv4HeaderLengthBelowMinimumIsMalformed() {
        var packet = ipv4Syn
        packet[0] = 0x44
        #expect(reason(packet, .ipv4) == .malformed)
    }

    @Test func ipVersionMismatchIsMalformed() {
        #expect(reason(ipv6Syn, .ipv4) == .malformed)
        #expect(reason(ipv4Syn, .ipv6) == .truncated || reason(ipv4Syn, .ipv6) == .malformed)
    }
}

// MARK: - TCP

@Suite struct TCPLayer {
    @Test func headerFields() {
        let packet = B.ipv4(source: "192.168.1.10", destination: "93.184.216.34", payload: requestSegment)
        let f = fields(packet, .ipv4)
        #expect(f == Fields(source: "192.168.1.10:50000", destination: "93.184.216.34:80", sequence: 7, acknowledgment: 9,
                            flags: "P.", payloadLength: 18, captured: 18))
    }

    @Test func synOptions() {
        let options = ipv4Syn.withUnsafeBytes { raw -> TCPOptions? in
            guard case .tcp(let s) = PacketDecoder.decode(raw, wireLength: raw.count, linkType: .ipv4) else { return nil }
            return s.parseOptions()
        }
        #expect(options?.maximumSegmentSize == 1460)
        #expect(options?.windowScale == 7)
        #expect(options?.sackPermitted == true)
        #expect(options?.timestamp?.value == 1)
        #expect(options?.timestamp?.echoReply == 0)
        #expect(options?.malformed == false)
    }

    @Test func sackBlocks() {
        let sack: [UInt8] = [1, 1, 5, 18] + B.be32(100) + B.be32(200) + B.be32(300) + B.be32(400)
        let options = sack.withUnsafeBytes { TCPOptions(parsing: $0) }
        #expect(options.sackBlockCount == 2)
        #expect(options.sackBlocks.map { [$0.left, $0.right] } == [[100, 200], [300, 400]])
    }

    @Test(arguments: [
        [2, 4, 5],            // MSS cut short
        [3, 2, 7, 0],         // window scale with the wrong length
        [8, 40, 0, 0],        // length past the end
        [254, 1, 0, 0],       // length below 2
    ] as [[UInt8]])
    func malformedOptionsAreFlaggedNotFatal(bytes: [UInt8]) {
        let options = bytes.withUnsafeBytes { TCPOptions(parsing: $0) }
        #expect(options.malformed)
    }

    @Test func dataOffsetBelowFiveIsMalformed() {
        var segment = synSegment
        segment[12] = 0x40
        #expect(reason(B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: segment), .ipv4) == .malformed)
    }

    @Test func dataOffsetBeyondSegmentIsMalformed() {
        var segment = B.tcp(sourcePort: 1, destinationPort: 2, flags: .ack)
        segment[12] = 0xF0   // 60-byte header in a 20-byte segment
        #expect(reason(B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: segment), .ipv4) == .malformed)
    }

    @Test func snaplenCutPayloadStillDecodes() {
        let frame = B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: requestSegment))
        let cut = Array(frame.prefix(14 + 20 + 20 + 5))
        let f = fields(cut, .ethernet, wireLength: frame.count)
        #expect(f?.payloadLength == 18)
        #expect(f?.captured == 5)
    }

    @Test func snaplenCutHeaderIsTruncated() {
        let frame = B.ethernet(type: 0x0800, payload: ipv4Syn)
        #expect(reason(Array(frame.prefix(14 + 20 + 10)), .ethernet, wireLength: frame.count) == .truncated)
        #expect(reason(Array(frame.prefix(14 + 20 + 24)), .ethernet, wireLength: frame.count) == .truncated)  // options cut
    }

    @Test func flagNotation() {
        #expect(TCPFlags([.syn, .ack]).description == "S.")
        #expect(TCPFlags([.fin, .psh, .ack]).description == "FP.")
        #expect(TCPFlags([.rst]).description == "R")
    }
}

// MARK: - Robustness

@Suite struct Robustness {
    static let frames: [(String, [UInt8], LinkType)] = [
        ("ethernet", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: requestSegment)), .ethernet),
        ("vlan-v6", B.ethernet(type: 0x86DD, payload: ipv6Syn, vlanTags: [(0x8100, 1)]), .ethernet),
        ("mpls", B.ethernet(type: 0x8847, payload: B.mpls(labels: [1, 2, 3], payload: ipv4Syn)), .ethernet),
        ("sll2", B.linuxSLL2(protocol: 0x0800, payload: ipv4Syn), .linuxSLL2),
        ("nflog", B.nflog(family: 10, payload: ipv6Syn), .nflog),
        ("v6-ext", B.ipv6(source: "::1", destination: "::2", payload: synSegment,
                          extensions: [(0, B.ipv6GenericExtension()), (44, B.ipv6Fragment(offset: 0, more: false))]), .ipv6),
    ]

    /// Every prefix of every packet, as snaplen-cut captures would hold it,
    /// decodes to a segment or a reason without trapping; and a cut before
    /// the end of the TCP header is never reported as a segment.
    @Test(arguments: frames.map(\.0))
    func everyPrefixDecodesWithoutTrapping(name: String) {
        let (_, frame, link) = Robustness.frames.first { $0.0 == name }!
        let headerEnd = frame.count - (name == "ethernet" ? 18 : 0)
        for length in 0...frame.count {
            let outcome = decode(Array(frame.prefix(length)), link, wireLength: frame.count)
            if length < headerEnd, case .tcp = outcome {
                Issue.record("\(name): a \(length)-byte prefix decoded as TCP")
            }
        }
        if case .tcp = decode(frame, link) {} else { Issue.record("\(name): the whole frame did not decode") }
    }

    /// Random bytes under every link type: never a trap.
    @Test func randomBytesNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        let links: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .null, .loop, .raw, .ipv4, .ipv6, .nflog]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...120, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Steer some inputs past the first headers.
            if length > 20, Bool.random(using: &generator) { bytes[0] = 0x45; bytes[9] = 6 }
            _ = decode(bytes, links.randomElement(using: &generator)!, wireLength: length + Int.random(in: 0...40, using: &generator))
        }
    }
}

// MARK: - Addresses

@Suite struct Addresses {
    @Test(arguments: [
        ("::1", "::1"), ("2001:0db8:0:0:0:0:0:1", "2001:db8::1"), ("fe80::", "fe80::"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("::", "::"), ("10.1.2.3", "10.1.2.3"),
    ])
    func canonicalText(input: String, expected: String) {
        #expect(IPAddress(input)?.description == expected)
    }

    @Test func rejectsNonsense() {
        #expect(IPAddress("1.2.3") == nil)
        #expect(IPAddress("1::2::3") == nil)
        #expect(IPAddress("256.1.1.1") == nil)
        #expect(IPAddress("12345::") == nil)
    }
}

// MARK: - The sharding fast path

/// `ethernetIPv4TCPEndpoints` lets a shard skip another shard's packets
/// without decoding them: whenever it answers, the decoder must return a TCP
/// segment with exactly those endpoints, and it must answer for plain
/// Ethernet/IPv4/TCP. Every way a frame can fail the decoder, it must fail too.
@Suite struct ShardingFastPath {
    static func agrees(_ frame: [UInt8], wireLength: Int? = nil) -> (fast: String?, decoded: String?) {
        frame.withUnsafeBytes { raw in
            let wire = wireLength ?? frame.count
            let fast = PacketDecoder.ethernetIPv4TCPEndpoints(raw, wireLength: wire).map { "\($0.source) \($0.destination)" }
            var decoded: String?
            if case .tcp(let s) = PacketDecoder.decode(raw, wireLength: wire, linkType: .ethernet) { decoded = "\(s.source) \(s.destination)" }
            return (fast, decoded)
        }
    }

    /// `ethernetIPv4Endpoints` names the owner without checking: whenever the
    /// checked fast path answers, it answers the same, and whenever it answers
    /// for a frame the decoder reads as TCP, it names the segment's endpoints
    /// (VLAN and IPv6 frames it leaves to the decoder; for a frame that is not
    /// TCP it says what is at the offsets).
    static func ownerIsTheSegments(_ frame: [UInt8], wireLength: Int? = nil, _ name: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) {
        let (fast, decoded) = agrees(frame, wireLength: wireLength)
        let loose = frame.withUnsafeBytes { PacketDecoder.ethernetIPv4Endpoints($0).map { "\($0.source) \($0.destination)" } }
        if let decoded, let loose { #expect(loose == decoded, "\(name)", sourceLocation: sourceLocation) }
        if let fast { #expect(loose == fast, "\(name)", sourceLocation: sourceLocation) }
    }

    @Test func answersForPlainTCP() {
        let frame = B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: requestSegment))
        let (fast, decoded) = Self.agrees(frame)
        #expect(fast == "10.0.0.1:50000 10.0.0.2:80")
        #expect(fast == decoded)
        // IP options move TCP: still the same endpoints.
        let withOptions = B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: requestSegment,
                                                                 options: [1, 1, 1, 0]))
        #expect(Self.agrees(withOptions).fast == "10.0.0.1:50000 10.0.0.2:80")
        #expect(Self.agrees(withOptions).decoded == "10.0.0.1:50000 10.0.0.2:80")
        Self.ownerIsTheSegments(frame, "plain")
        Self.ownerIsTheSegments(withOptions, "IP options")
        // Not TCP, or too short to be: read where they would be, or nothing.
        let udp = B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", protocol: 17, payload: synSegment))
        #expect(udp.withUnsafeBytes { PacketDecoder.ethernetIPv4Endpoints($0).map { "\($0.source) \($0.destination)" } }
                == "10.0.0.1:50000 10.0.0.2:80")
        #expect(Array(frame.prefix(37)).withUnsafeBytes { PacketDecoder.ethernetIPv4Endpoints($0) } == nil)
        let ipv6 = B.ethernet(type: 0x86DD, payload: ipv6Syn)
        #expect(ipv6.withUnsafeBytes { PacketDecoder.ethernetIPv4Endpoints($0) } == nil)
    }

    @Test func silentWheneverTheDecoderIsNotSure() {
        let ip = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment)
        var badOffset = synSegment; badOffset[12] = 0x40                       // data offset 16 < 20
        var longOffset = synSegment; longOffset[12] = 0xF0                     // 60 > the segment
        let cases: [(String, [UInt8], Int?)] = [
            ("fragment", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, fragmentField: 0x2000)), nil),
            ("not TCP", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", protocol: 17, payload: synSegment)), nil),
            ("VLAN", B.ethernet(type: 0x0800, payload: ip, vlanTags: [(0x8100, 7)]), nil),
            ("IPv6", B.ethernet(type: 0x86DD, payload: ipv6Syn), nil),
            ("IP total length past the frame", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, totalLength: 2000)), nil),
            ("IP total length under its header", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, totalLength: 16)), nil),
            ("TCP data offset too small", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: badOffset)), nil),
            ("TCP data offset past the segment", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: longOffset)), nil),
            ("snaplen cut in the TCP header", Array(B.ethernet(type: 0x0800, payload: ip).prefix(14 + 20 + 10)), 14 + ip.count),
            ("snaplen cut in the IP header", Array(B.ethernet(type: 0x0800, payload: ip).prefix(14 + 12)), 14 + ip.count),
        ]
        for (name, frame, wire) in cases {
            let (fast, decoded) = Self.agrees(frame, wireLength: wire)
            #expect(fast == nil, "\(name): fast path answered \(fast ?? "")")
            if let fast { #expect(fast == decoded, "\(name)") }
            Self.ownerIsTheSegments(frame, wireLength: wire, name)
        }
        // A cut payload (not header) still decodes: the fast path may answer, and must agree.
        let cut = Array(B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: requestSegment)).prefix(60))
        let (fast, decoded) = Self.agrees(cut, wireLength: 14 + 20 + requestSegment.count)
        #expect(fast != nil && fast == decoded)
        Self.ownerIsTheSegments(cut, wireLength: 14 + 20 + requestSegment.count, "cut payload")
    }

    /// A segment as the analysis reads it, its byte ranges as offsets in the frame (nil: no base address).
    static func describe(_ s: TCPSegment, in raw: UnsafeRawBufferPointer) -> String {
        func place(_ b: UnsafeRawBufferPointer) -> String { b.baseAddress.map { "\($0 - raw.baseAddress!)+\(b.count)" } ?? "nil+\(b.count)" }
        return "\(s.source) \(s.destination) seq \(s.sequenceNumber) ack \(s.acknowledgmentNumber) flags \(s.flags.rawValue) "
            + "win \(s.window) length \(s.payloadLength) payload \(place(s.payload)) options \(place(s.optionBytes))"
    }

    /// `ethernetIPv4TCPSegment`, the analysis's way in for most packets, gives
    /// the decoder's segment field for field (payload and options at the same
    /// bytes) for every plain Ethernet/IPv4/TCP frame the decoder reads as TCP,
    /// and nothing for every other frame, which the decoder then reads.
    @Test func inPlaceSegmentIsTheDecoders() {
        let ip = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment)
        var badOffset = synSegment; badOffset[12] = 0x40
        var longOffset = synSegment; longOffset[12] = 0xF0
        let ack = B.tcp(sourcePort: 80, destinationPort: 50000, sequence: 9, acknowledgment: 25, flags: .ack, window: 0)
        let request = B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: requestSegment))
        let cases: [(String, [UInt8], Int?, Bool)] = [
            ("plain", request, nil, true),
            ("SYN with options", B.ethernet(type: 0x0800, payload: ip), nil, true),
            ("IP options", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: requestSegment,
                                                                  options: [1, 1, 1, 0])), nil, true),
            ("a bare ACK, padded to 60 bytes", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.2", destination: "10.0.0.1", payload: ack))
                + [UInt8](repeating: 0, count: 6), nil, true),
            ("IP total length 0 (offload)", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2",
                                                                                   payload: requestSegment, totalLength: 0)), nil, true),
            ("payload cut by the snaplen", Array(request.prefix(60)), request.count, true),
            ("cut where the payload starts", Array(request.prefix(14 + 20 + 20)), request.count, true),
            ("wire length under the capture", request, 20, true),
            ("fragment", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, fragmentField: 0x2000)), nil, false),
            ("not TCP", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", protocol: 17, payload: synSegment)), nil, false),
            ("VLAN", B.ethernet(type: 0x0800, payload: ip, vlanTags: [(0x8100, 7)]), nil, false),
            ("IPv6", B.ethernet(type: 0x86DD, payload: ipv6Syn), nil, false),
            ("IP total length past the frame", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, totalLength: 2000)), nil, false),
            ("IP total length under its header", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: synSegment, totalLength: 16)), nil, false),
            ("TCP data offset too small", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: badOffset)), nil, false),
            ("TCP data offset past the segment", B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: longOffset)), nil, false),
            ("snaplen cut in the TCP header", Array(B.ethernet(type: 0x0800, payload: ip).prefix(14 + 20 + 10)), 14 + ip.count, false),
            ("snaplen cut in the IP header", Array(B.ethernet(type: 0x0800, payload: ip).prefix(14 + 12)), 14 + ip.count, false),
        ]
        for (name, frame, wire, isPlainTCP) in cases {
            frame.withUnsafeBytes { raw in
                let wireLength = wire ?? frame.count
                let inPlace = PacketDecoder.ethernetIPv4TCPSegment(raw, wireLength: wireLength).map { Self.describe($0, in: raw) }
                var decoded: String?
                if case .tcp(let s) = PacketDecoder.decode(raw, wireLength: wireLength, linkType: .ethernet) { decoded = Self.describe(s, in: raw) }
                if isPlainTCP {
                    #expect(inPlace != nil && inPlace == decoded, "\(name)")
                } else {
                    #expect(inPlace == nil, "\(name): \(inPlace ?? "")")
                }
            }
        }
        // The cut where the payload starts leaves none captured: no base address, as the decoder gives it.
        let cut = Array(request.prefix(14 + 20 + 20))
        #expect(cut.withUnsafeBytes { PacketDecoder.ethernetIPv4TCPSegment($0, wireLength: request.count)?.payload.baseAddress } == nil)
    }
}
