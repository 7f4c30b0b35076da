/// What one side of a connection sent, and where it stands: PoolScope's own
/// passive model of an endpoint (the Zeek model is separate).
public struct SideTrack: Sendable {
    public var packets = 0
    /// Payload bytes, each byte counted once (retransmissions are not).
    public var payloadBytes = 0
    /// Segments whose payload had been seen before.
    public var retransmittedSegments = 0
    /// Segments that filled a hole left by a later one.
    public var outOfOrderSegments = 0
    public var state = TCPState.closed

    public var isn: UInt32?
    /// SYNs (or SYN/ACKs) sent with that ISN after the first.
    public var synRetransmits = 0
    public var synTime: CaptureTime?
    public var options = HandshakeOptions()

    public var finTime: CaptureTime?
    /// The sequence number of the FIN itself.
    public var finSequence: UInt32 = 0
    /// When this side acknowledged the peer's FIN.
    public var ackedPeerFinTime: CaptureTime?
    public var rstTime: CaptureTime?
    public var lastPayloadTime: CaptureTime?
    public var lastTime: CaptureTime?

    /// One past the highest payload byte sent (valid once `sequenceKnown`).
    var highestSequence: UInt32 = 0
    var sequenceKnown = false
    /// Highest acknowledgment number this side sent (valid once `ackKnown`).
    var highestAck: UInt32 = 0
    var ackKnown = false
    /// Ranges skipped by a later segment and not yet filled. Rare (loss or
    /// reordering), so an array that allocates only then; capped.
    var holes: [Range<UInt64>] = []
    var holeBase: UInt32 = 0
    var sentPayload = false

    public init() {}

    /// Payload bytes never seen: the holes still open.
    public var missedBytes: Int { holes.reduce(0) { $0 + $1.count } }

    /// Everything this side sent has been acknowledged by the peer.
    func allAcknowledged(byPeer peer: SideTrack) -> Bool {
        !sentPayload || (peer.ackKnown && SequenceSpace.delta(peer.highestAck, highestSequence) >= 0)
    }

    /// The SYN fixes where this side's data starts: bytes before the first
    /// captured segment are then a gap, not "before the stream".
    mutating func startSequence(afterSYN isn: UInt32) {
        guard !sequenceKnown else { return }
        sequenceKnown = true
        highestSequence = isn &+ 1
        holeBase = isn &+ 1
    }

    /// Accounts the payload `[start, start+length)` in sequence space.
    /// Inlined for the usual case, the next bytes in order; the rest in a call.
    @inline(__always)
    mutating func accountPayload(start: UInt32, length: Int, at time: CaptureTime) {
        if length > 0 && sequenceKnown && start == highestSequence {
            lastPayloadTime = time
            sentPayload = true
            payloadBytes += length
            highestSequence = start &+ UInt32(truncatingIfNeeded: length)
            return
        }
        accountPayloadInAnyOrder(start: start, length: length, at: time)
    }

    mutating func accountPayloadInAnyOrder(start: UInt32, length: Int, at time: CaptureTime) {
        guard length > 0 else { return }
        lastPayloadTime = time
        sentPayload = true
        let end = start &+ UInt32(truncatingIfNeeded: length)
        guard sequenceKnown else {
            sequenceKnown = true
            highestSequence = end
            holeBase = start
            payloadBytes += length
            return
        }
        let d = SequenceSpace.delta(start, highestSequence)
        if d >= 0 {
            // Past a gap: bytes [highest, start) were not (yet) seen.
            if d > 0 && holes.count < 64 { holes.append(offset(highestSequence)..<offset(start)) }
            payloadBytes += length
            highestSequence = end
        } else {
            // Starts below the highest byte: fills a hole (out of order), or repeats (retransmission).
            let range = offset(start)..<offset(start) + UInt64(length)
            let newAbove = SequenceSpace.delta(end, highestSequence)
            var filled = 0
            if !holes.isEmpty {
                var remaining: [Range<UInt64>] = []
                for hole in holes {
                    let low = max(hole.lowerBound, range.lowerBound), high = min(hole.upperBound, range.upperBound)
                    guard low < high else { remaining.append(hole); continue }
                    filled += Int(high - low)
                    if hole.lowerBound < low { remaining.append(hole.lowerBound..<low) }
                    if high < hole.upperBound { remaining.append(high..<hole.upperBound) }
                }
                holes = remaining
            }
            if newAbove > 0 {
                payloadBytes += Int(newAbove)
                highestSequence = end
            }
            payloadBytes += filled
            if filled > 0 { outOfOrderSegments += 1 } else { retransmittedSegments += 1 }
        }
    }

    /// Distance from the first payload byte, in 64 bits (wrap-safe within 2 GiB).
    private func offset(_ seq: UInt32) -> UInt64 {
        UInt64(UInt32(bitPattern: Int32(SequenceSpace.delta(seq, holeBase)))) & 0xFFFF_FFFF
    }

    mutating func noteAck(_ ack: UInt32) {
        if !ackKnown || SequenceSpace.delta(ack, highestAck) > 0 {
            highestAck = ack
            ackKnown = true
        }
    }
}
