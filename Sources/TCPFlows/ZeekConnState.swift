/// Zeek's view of a TCP connection: each endpoint's observer-side state, the
/// `history` string and the `conn_state` verdict, computed by the rules Zeek
/// documents and implements (scripts/base/protocols/conn/main.zeek,
/// TCPSessionAdapter.cc, TCP_Endpoint.cc), so PoolScope's output can be
/// cross-checked against Zeek's conn.log and tested against Zeek's baselines.
///
/// Zeek orients a connection by its own rules (the originator is the first
/// packet's sender unless a port heuristic flips it, marked `^`), which can
/// differ from PoolScope's client/server; the model keeps its own roles.
/// Differences kept on purpose are listed in the README.
public struct ZeekConnState: Sendable {
    /// TCP_ENDPOINT_* in Zeek.
    public enum EndpointState: Sendable {
        case inactive, synSent, synAckSent, partial, established, closed, reset
    }

    struct Endpoint: Sendable {
        var state = EndpointState.inactive
        var previousState = EndpointState.inactive
        var startSeq: UInt32 = 0
        var lastSeq: UInt32 = 0
        var ackSeq: UInt32 = 0
        var seqWraps: UInt64 = 0
        var ackWraps: UInt64 = 0
        var finCount = 0
        /// One past the FIN's octet, relative (Zeek's FIN_seq).
        var finRelative: UInt64 = 0
        var lastSYN: UInt64 = 0
        var lastFIN: UInt64 = 0
        var lastRST: UInt64 = 0
        var retransmits = ScaledCounter()
        var zeroWindows = ScaledCounter()
        var gaps = ScaledCounter()
        var didClose = false
        /// Relative sequence up to which payload was captured without a hole
        /// (the first data byte is 1), and captured ranges beyond a hole.
        var dataSeenThrough: UInt64 = 1
        var dataAhead: [Range<UInt64>] = []

        /// Notes captured payload `[start, end)`. Inlined for the usual case,
        /// data in order with nothing held ahead (a call per segment was a
        /// fifth of what this costs).
        @inline(__always)
        mutating func sawData(_ start: UInt64, _ end: UInt64) {
            if start <= dataSeenThrough && dataAhead.isEmpty {
                if end > dataSeenThrough { dataSeenThrough = end }
                return
            }
            sawDataOutOfOrder(start, end)
        }

        mutating func sawDataOutOfOrder(_ start: UInt64, _ end: UInt64) {
            guard end > start else { return }
            if start <= dataSeenThrough {
                if end > dataSeenThrough { dataSeenThrough = end }
                // Ranges received ahead may now join up.
                var joined = true
                while joined && !dataAhead.isEmpty {
                    joined = false
                    for (i, r) in dataAhead.enumerated() where r.lowerBound <= dataSeenThrough {
                        if r.upperBound > dataSeenThrough { dataSeenThrough = r.upperBound }
                        dataAhead.remove(at: i)
                        joined = true
                        break
                    }
                }
            } else if dataAhead.count < 32 {
                dataAhead.append(start..<end)
            }
        }

        /// The peer acknowledged through `acked`: returns the bytes below it
        /// never captured. Inlined for the usual answer, none (nothing above
        /// what was seen is acknowledged).
        @inline(__always)
        mutating func acknowledged(through acked: UInt64) -> Int {
            acked > dataSeenThrough ? acknowledgedPastSeen(through: acked) : 0
        }

        mutating func acknowledgedPastSeen(through acked: UInt64) -> Int {
            guard acked > dataSeenThrough, acked - dataSeenThrough < 1 << 31 else { return 0 }
            var missing = Int(acked - dataSeenThrough)
            for r in dataAhead {
                let low = max(r.lowerBound, dataSeenThrough), high = min(r.upperBound, acked)
                if low < high { missing -= Int(high - low) }
            }
            dataAhead.removeAll { $0.upperBound <= acked }
            dataSeenThrough = acked
            sawData(acked, acked)   // joins anything now contiguous
            return missing
        }

        mutating func setState(_ s: EndpointState) {
            previousState = state
            state = s
        }

        mutating func initialize(start: UInt32, last: UInt32) {
            startSeq = start
            ackSeq = start
            lastSeq = last
            seqWraps = 0
            ackWraps = 0
        }

        mutating func updateLastSeq(_ seq: UInt32) {
            if seq < lastSeq { seqWraps += 1 }
            lastSeq = seq
        }

        mutating func updateAckSeq(_ seq: UInt32) {
            if seq < ackSeq { ackWraps += 1 }
            ackSeq = seq
        }

        func relative(_ seq: UInt32, wraps: UInt64) -> UInt64 {
            (wraps << 32 | UInt64(seq)) &- UInt64(startSeq)
        }

        /// Zeek's Size(): payload bytes from sequence numbers (the larger of
        /// the highest sequence sent and the highest acknowledged).
        func size(peer: Endpoint) -> Int {
            if previousState == .synSent && state == .reset && peer.state == .inactive { return 0 }
            let last = seqWraps << 32 | UInt64(lastSeq)
            let ack = ackWraps << 32 | UInt64(ackSeq)
            var size = (last > ack ? last : ack) &- UInt64(startSeq)
            if size != 0 { size -= 1 }                     // the SYN's octet
            if finCount > 0 && size != 0 { size -= 1 }     // the FIN's octet
            return size > UInt64(Int32.max) * 4 ? 0 : Int(size)
        }
    }

    /// Letters logged at the 1st, 10th, 100th... occurrence (t, w, g, c).
    struct ScaledCounter: Sendable {
        var count: UInt32 = 0
        var threshold: UInt32 = 1
        mutating func hit() -> Bool {
            count &+= 1
            guard count == threshold else { return false }
            threshold = threshold > UInt32.max / 10 ? UInt32.max : threshold * 10
            return true
        }
    }

    /// The history string and what it has recorded, per direction.
    struct HistoryLog: Sendable {
        /// The letters, ASCII: the first 24 in place (Zeek's repeated letters
        /// come at 1, 10, 100... repeats, so histories are short), the rest in
        /// `more`. Appending to a String per letter was most of the model's time.
        private var first = (UInt64(0), UInt64(0), UInt64(0))
        private var count = 0
        private var more: [UInt8] = []
        var seen: UInt32 = 0
        var missedBytes = 0

        /// Records `code` the first time `bit` is seen in this direction; returns whether it had been seen.
        mutating func check(_ bit: UInt32, _ code: UInt8, isOriginator: Bool) -> Bool {
            let mask = isOriginator ? bit : bit << 16
            if seen & mask == 0 {
                seen |= mask
                add(code, isOriginator: isOriginator)
                return false
            }
            return true
        }

        /// `code` is an ASCII capital; the responder's is its lower case (a
        /// String lower-cased per call was most of the history's cost).
        mutating func add(_ code: UInt8, isOriginator: Bool) {
            append(isOriginator ? code : code | 0x20)
        }

        mutating func append(_ letter: UInt8) {
            if count < 24 {
                let shift = UInt64(count % 8) * 8
                switch count / 8 {
                case 0: first.0 |= UInt64(letter) << shift
                case 1: first.1 |= UInt64(letter) << shift
                default: first.2 |= UInt64(letter) << shift
                }
            } else {
                more.append(letter)
            }
            count += 1
        }

        /// The letters read in place: in little-endian words, letter i is byte
        /// i of `first` (an array built per connection for its history was
        /// 1.3% of a run's instructions).
        var text: String {
            let words = (first.0.littleEndian, first.1.littleEndian, first.2.littleEndian)
            let head = withUnsafeBytes(of: words) { String(decoding: UnsafeRawBufferPointer(rebasing: $0[0..<min(count, 24)]), as: UTF8.self) }
            return more.isEmpty ? head : head + String(decoding: more, as: UTF8.self)
        }
    }

    /// Which PoolScope side Zeek calls the originator.
    public private(set) var originatorIsClient: Bool
    private var log = HistoryLog()
    private var originator = Endpoint()
    private var responder = Endpoint()

    // The getters are inlined: `Connection.finish` reads them from its
    // state in place, and each call first copied the whole model.
    @inline(__always) public var history: String { log.text }
    /// Bytes Zeek would count as missed (content gaps).
    @inline(__always) public var missedBytes: Int { log.missedBytes }

    // Bits of `historySeen`, per direction (responder's shifted by 16).
    private static let synBit: UInt32 = 1, finBit: UInt32 = 2, rstBit: UInt32 = 4, finRstBit: UInt32 = 8
    private static let dataBit: UInt32 = 16, ackBit: UInt32 = 32, multiFlagBit: UInt32 = 64

    /// Ports Zeek treats as likely servers when it orients a connection whose
    /// SYN it did not see (its `likely_server_ports`, from the analyzers'
    /// registered ports; approximated by the well-known range and common
    /// service ports).
    static func isLikelyServerPort(_ port: UInt16) -> Bool {
        port < 1024 || [1080, 3128, 5000, 6379, 6666, 6667, 6668, 6669, 8000, 8008, 8080, 8443, 8888, 9200].contains(port)
    }

    /// Orients the connection from its first packet, as Zeek's WantConnection does.
    public init(firstFlags flags: TCPFlagsView, sourceIsClient: Bool, sourcePort: UInt16, destinationPort: UInt16) {
        var flip = false
        if !flags.syn || flags.ack {
            if flags.syn && flags.ack {
                // A SYN/ACK's sender answers a SYN: it is the responder.
                flip = true
            } else if ZeekConnState.isLikelyServerPort(sourcePort) {
                flip = ZeekConnState.isLikelyServerPort(destinationPort) ? (!flags.syn && sourcePort < destinationPort) : true
            }
        }
        originatorIsClient = flip ? !sourceIsClient : sourceIsClient
        if flip { log.append(UInt8(ascii: "^")) }
    }

    /// The flag bits the model reads (decoupled from the decoder's types).
    public struct TCPFlagsView: Sendable {
        public var syn: Bool, ack: Bool, fin: Bool, rst: Bool
        public init(syn: Bool, ack: Bool, fin: Bool, rst: Bool) {
            self.syn = syn; self.ack = ack; self.fin = fin; self.rst = rst
        }
    }

    // MARK: - Per segment

    /// Feeds one segment, sent by the client (`fromClient`) or the server.
    /// `capturedLength` is how much of the payload the capture holds: bytes
    /// the snaplen cut are, as in Zeek, content never seen (a gap once acked).
    public mutating func process(fromClient: Bool, flags: TCPFlagsView, sequence: UInt32, acknowledgment: UInt32,
                                 payloadLength len: Int, capturedLength: Int, window: UInt16) {
        // Endpoints and log are distinct stored properties, mutated in place.
        if fromClient == originatorIsClient {
            Self.step(isOriginator: true, endpoint: &originator, peer: &responder, log: &log, flags: flags, sequence: sequence,
                      acknowledgment: acknowledgment, len: len, capturedLength: capturedLength, window: window)
        } else {
            Self.step(isOriginator: false, endpoint: &responder, peer: &originator, log: &log, flags: flags, sequence: sequence,
                      acknowledgment: acknowledgment, len: len, capturedLength: capturedLength, window: window)
        }
    }

    private static func step(isOriginator: Bool, endpoint: inout Endpoint, peer: inout Endpoint, log: inout HistoryLog,
                             flags: TCPFlagsView, sequence: UInt32, acknowledgment: UInt32, len: Int, capturedLength: Int,
                             window: UInt16) {

        let segmentLength = SequenceSpace.segmentLength(payload: len, syn: flags.syn, fin: flags.fin, rst: flags.rst)
        let onePast = sequence &+ UInt32(truncatingIfNeeded: segmentLength)

        // init_endpoint
        switch endpoint.state {
        case .inactive:
            if flags.syn {
                endpoint.initialize(start: sequence, last: onePast)
            } else {
                // A partial connection: number bytes as though a SYN was seen.
                endpoint.initialize(start: sequence &- 1, last: sequence)
            }
        case .synSent, .synAckSent:
            if flags.syn && sequence != endpoint.startSeq { endpoint.initialize(start: sequence, last: onePast) }
        case .established, .partial:
            if flags.syn { endpoint.initialize(start: sequence, last: onePast) }
        case .reset:
            if flags.syn && endpoint.previousState == .inactive { endpoint.initialize(start: sequence, last: onePast) }
        case .closed:
            break
        }

        let relativeSeq = relativeSequence(endpoint, sequence, last: endpoint.lastSeq, wraps: endpoint.seqWraps)

        // update_history
        let bits = (flags.syn ? 1 : 0) + (flags.fin ? 1 : 0) + (flags.rst ? 1 : 0)
        if bits > 1 {
            if flags.fin && flags.rst {
                _ = log.check(Self.finRstBit, UInt8(ascii: "I"), isOriginator: isOriginator)
            } else {
                _ = log.check(Self.multiFlagBit, UInt8(ascii: "Q"), isOriginator: isOriginator)
            }
        } else if bits == 1 {
            if flags.syn {
                let code = flags.ack ? UInt8(ascii: "H") : UInt8(ascii: "S")
                if log.check(Self.synBit, code, isOriginator: isOriginator) && relativeSeq != endpoint.lastSYN {
                    log.add(code, isOriginator: isOriginator)
                }
                endpoint.lastSYN = relativeSeq
            }
            if flags.fin {
                let finSeq = relativeSeq &+ UInt64(len)
                if log.check(Self.finBit, UInt8(ascii: "F"), isOriginator: isOriginator) && finSeq != endpoint.lastFIN {
                    log.add(UInt8(ascii: "F"), isOriginator: isOriginator)
                }
                endpoint.lastFIN = finSeq
            }
            if flags.rst {
                if log.check(Self.rstBit, UInt8(ascii: "R"), isOriginator: isOriginator) && relativeSeq != endpoint.lastRST {
                    log.add(UInt8(ascii: "R"), isOriginator: isOriginator)
                }
                endpoint.lastRST = relativeSeq
            }
        } else if len > 0 {
            _ = log.check(Self.dataBit, UInt8(ascii: "D"), isOriginator: isOriginator)
        } else if flags.ack {
            _ = log.check(Self.ackBit, UInt8(ascii: "A"), isOriginator: isOriginator)
        }

        // update_window: a zero window, unless with or after a RST or after the peer's FIN.
        if window == 0 && !flags.rst && peer.state != .closed && endpoint.state != .reset && !flags.syn {
            if endpoint.zeroWindows.hit() { log.add(UInt8(ascii: "W"), isOriginator: isOriginator) }
        }

        if flags.fin {
            endpoint.finCount += 1
            endpoint.finRelative = relativeSeq &+ UInt64(segmentLength)
        }

        // Acknowledgments: start the peer's numbering, or advance its ack point.
        var relativeAck: UInt64 = 0
        if flags.ack {
            if peer.state == .inactive {
                relativeAck = 1
                peer.initialize(start: acknowledgment &- 1, last: acknowledgment &- 1)
            } else {
                relativeAck = relativeSequence(peer, acknowledgment, last: peer.ackSeq, wraps: peer.ackWraps)
                if !flags.rst && SequenceSpace.delta(acknowledgment, peer.ackSeq) > 0 {
                    peer.updateAckSeq(acknowledgment)
                }
            }
        }

        // update_last_seq: advance, or count a retransmission.
        let deltaLast = SequenceSpace.delta(onePast, endpoint.lastSeq)
        let tooLarge: Int32 = 1_048_576
        if (flags.syn || flags.rst) && (deltaLast > tooLarge || deltaLast < -tooLarge) {
            // Untrusted sequence numbers on a SYN or RST.
        } else if flags.fin && endpoint.lastSeq == endpoint.startSeq &+ 1 {
            endpoint.updateLastSeq(onePast)
        } else if endpoint.state == .reset {
            // Nothing after a RST is trusted.
        } else if deltaLast > 0 {
            endpoint.updateLastSeq(onePast)
        } else if len > 0 {
            if endpoint.retransmits.hit() { log.add(UInt8(ascii: "T"), isOriginator: isOriginator) }
        }

        updateStateMachine(&endpoint, &peer, isOriginator: isOriginator, flags: flags, sequence: sequence,
                           acknowledgment: acknowledgment, len: len)

        // Data seen, for gap detection.
        if len > 0 && !flags.rst {
            let dataStart = flags.syn ? relativeSeq &+ 1 : relativeSeq
            endpoint.sawData(dataStart, dataStart &+ UInt64(min(capturedLength, len)))
        }

        // An acknowledgment above the peer's captured data reveals a content
        // gap. The bytes count as missed; the history letter is left out when
        // the acknowledgment comes with a FIN or RST, which Zeek does not
        // trust at the very end of a connection.
        if flags.ack && peer.state != .inactive && relativeAck > 1 {
            var through = relativeAck
            if peer.finCount > 0 && peer.finRelative > 0 { through = min(through, peer.finRelative - 1) }   // not the FIN's octet
            let missing = peer.acknowledged(through: through)
            if missing > 0 {
                log.missedBytes += missing
                if !flags.fin && !flags.rst && peer.gaps.hit() { log.add(UInt8(ascii: "G"), isOriginator: !isOriginator) }
            }
        }
    }

    private static func relativeSequence(_ e: Endpoint, _ value: UInt32, last: UInt32, wraps: UInt64) -> UInt64 {
        var w = wraps
        let d = SequenceSpace.delta(value, last)
        if d < 0 { if w > 0 && value > last { w -= 1 } } else if d > 0 { if value < last { w += 1 } }
        if w == 0 {
            let r = SequenceSpace.delta(value, e.startSeq)
            return r < 0 ? 0 : UInt64(r)
        }
        return e.relative(value, wraps: w)
    }

    private static func updateStateMachine(_ endpoint: inout Endpoint, _ peer: inout Endpoint, isOriginator: Bool,
                                             flags: TCPFlagsView, sequence: UInt32, acknowledgment: UInt32, len: Int) {
        switch endpoint.state {
        case .inactive:
            if flags.syn {
                if isOriginator {
                    endpoint.setState(flags.ack ? .synAckSent : .synSent)
                } else {
                    if !flags.ack && peer.state == .synAckSent && sequence == endpoint.startSeq {
                        // SYN/SYN-ACK reversal: Zeek flips the roles here.
                        peer.setState(.established)
                    }
                    if peer.state == .synSent { peer.setState(.established) }
                    endpoint.setState(.established)
                }
            }
            if flags.fin { endpoint.setState(.closed) }
            if flags.rst { endpoint.setState(.reset) }
            if endpoint.state == .inactive {
                if !isOriginator && len == 0 && peer.state == .synSent {
                    // An ACK of the SYN before the SYN/ACK: not a partial connection.
                } else if flags.ack && peer.state == .established {
                    // The SYN was missed but the SYN/ACK seen: establish.
                    endpoint.setState(.established)
                } else {
                    endpoint.setState(.partial)
                }
            }
        case .synSent, .synAckSent:
            if flags.fin { endpoint.setState(.closed) }
            if flags.rst { endpoint.setState(.reset) }
        case .established, .partial:
            if flags.syn && endpoint.state == .partial && peer.state == .inactive && !flags.ack {
                endpoint.setState(.synSent)
            }
            if flags.fin && !flags.rst {
                endpoint.setState(.closed)
                if peer.state == .reset && peer.previousState == .closed {
                    // The peer sent a FIN then a RST: a normal termination.
                    peer.setState(.closed)
                }
            }
            if flags.rst { endpoint.setState(.reset) }
        case .closed:
            if flags.rst && peer.state != .closed { endpoint.setState(.reset) }
        case .reset:
            break
        }
    }

    // MARK: - Verdict

    /// Zeek's conn_state for the connection as it stands.
    @inline(__always) public var connState: String {
        let os = originator.state, rs = responder.state
        let oInactive = os == .inactive || os == .partial
        let rInactive = rs == .inactive || rs == .partial
        if rs == .reset {
            if os == .synSent || os == .synAckSent
                || (os == .reset && originator.size(peer: responder) == 0 && responder.size(peer: originator) == 0) {
                return "REJ"
            }
            return oInactive ? "RSTRH" : "RSTR"
        }
        if os == .reset {
            if rInactive {
                return ZeekConnState.looksLikeSynThenReset(log.text) ? "RSTOS0" : "OTH"
            }
            return "RSTO"
        }
        if rs == .closed && os == .closed { return "SF" }
        if os == .closed { return rInactive ? "SH" : "S2" }
        if rs == .closed { return oInactive ? "SHR" : "S3" }
        if os == .synSent && rs == .inactive { return "S0" }
        if os == .established && rs == .established { return "S1" }
        return "OTH"
    }

    /// `/\^?S[^HAFGIQ]*R.*/` on the history.
    static func looksLikeSynThenReset(_ h: String) -> Bool {
        var s = Substring(h)
        if s.first == "^" { s = s.dropFirst() }
        guard s.first == "S" else { return false }
        for c in s.dropFirst() {
            if c == "R" { return true }
            if "HAFGIQ".contains(c) { return false }
        }
        return false
    }

    /// Payload bytes by sequence numbers, as Zeek's orig_bytes / resp_bytes.
    @inline(__always) public var originatorBytes: Int { originator.size(peer: responder) }
    @inline(__always) public var responderBytes: Int { responder.size(peer: originator) }
}
