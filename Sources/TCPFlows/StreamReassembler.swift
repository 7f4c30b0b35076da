/// Puts one direction's payload back in sequence order for the application
/// layer: each byte is delivered once (the first copy wins; a later copy that
/// disagrees is counted), out-of-order segments wait in a bounded buffer, and
/// bytes the capture never had are reported as a gap of known size.
struct StreamReassembler: Sendable {
    /// Out-of-order payload held per direction at most (bytes).
    static let bufferLimit = 64 * 1024

    /// The next byte to deliver (valid once `started`).
    var next: UInt32 = 0
    var started = false
    /// Segments ahead of `next`, sorted by sequence. Empty unless there was
    /// loss or reordering, so it allocates only then.
    var ahead: [(sequence: UInt32, bytes: [UInt8])] = []
    var aheadBytes = 0
    var conflictingOverlaps = 0
    var gaps = 0
    var gapBytes = 0

    /// Where the stream starts when the SYN was seen.
    mutating func begin(at sequence: UInt32) {
        if !started { next = sequence; started = true }
    }

    /// Delivers what of `[start, start + length)` is new, in order, then any
    /// buffered segments that now follow on. `captured` may be shorter than
    /// `length` (snaplen): the rest is a gap.
    mutating func receive(start: UInt32, length: Int, captured: UnsafeRawBufferPointer,
                          deliver: (UnsafeRawBufferPointer) -> Void, gap: (Int) -> Void) {
        guard length > 0 else { return }
        if !started { begin(at: start) }
        let d = Int(SequenceSpace.delta(start, next))
        if d > 0 {
            // Ahead of the stream: keep it for later, within the bound.
            if aheadBytes + captured.count <= Self.bufferLimit && captured.count == length {
                insertAhead(start, Array(captured))
                return
            }
            // No room: the bytes before it are lost.
            declareGap(d, gap: gap)
        }
        let skip = max(0, -Int(SequenceSpace.delta(start, next)))
        guard skip < length else { return }              // all seen before: a retransmission
        deliverPart(captured, from: skip, length: length, deliver: deliver, gap: gap)
        drainAhead(deliver: deliver, gap: gap)
    }

    /// Whether an acknowledgment through `ack` leaves `acknowledged` nothing
    /// to do: the stream has not started, or `ack` is not past the next byte.
    @inline(__always)
    func hasDelivered(through ack: UInt32) -> Bool {
        !started || SequenceSpace.delta(ack, next) <= 0
    }

    /// The peer acknowledged up to `ack`: bytes below it that never came are lost.
    mutating func acknowledged(_ ack: UInt32, deliver: (UnsafeRawBufferPointer) -> Void, gap: (Int) -> Void) {
        guard !hasDelivered(through: ack) else { return }
        let d = Int(SequenceSpace.delta(ack, next))
        guard d < 1 << 30 else { return }
        if let first = ahead.first, SequenceSpace.delta(first.sequence, ack) < 0 {
            declareGap(Int(SequenceSpace.delta(first.sequence, next)), gap: gap)
            drainAhead(deliver: deliver, gap: gap)
            return
        }
        declareGap(d, gap: gap)
        drainAhead(deliver: deliver, gap: gap)
    }

    /// The direction ended (FIN, RST or capture end): deliver what waits, with its gaps.
    mutating func flush(deliver: (UnsafeRawBufferPointer) -> Void, gap: (Int) -> Void) {
        while let first = ahead.first {
            let d = Int(SequenceSpace.delta(first.sequence, next))
            if d > 0 { declareGap(d, gap: gap) }
            drainAhead(deliver: deliver, gap: gap)
        }
    }

    private mutating func declareGap(_ size: Int, gap: (Int) -> Void) {
        gaps += 1
        gapBytes += size
        next = next &+ UInt32(truncatingIfNeeded: size)
        gap(size)
    }

    private mutating func deliverPart(_ captured: UnsafeRawBufferPointer, from skip: Int, length: Int,
                                      deliver: (UnsafeRawBufferPointer) -> Void, gap: (Int) -> Void) {
        if skip < captured.count {
            deliver(UnsafeRawBufferPointer(rebasing: captured[skip...]))
        }
        let uncaptured = length - max(skip, captured.count)
        next = next &+ UInt32(truncatingIfNeeded: length - skip)
        if uncaptured > 0 {
            gaps += 1
            gapBytes += uncaptured
            gap(uncaptured)
        }
    }

    private mutating func insertAhead(_ sequence: UInt32, _ bytes: [UInt8]) {
        var i = ahead.count
        while i > 0 && SequenceSpace.delta(ahead[i - 1].sequence, sequence) > 0 { i -= 1 }
        if i > 0, ahead[i - 1].sequence == sequence {
            if ahead[i - 1].bytes.prefix(bytes.count) != bytes.prefix(ahead[i - 1].bytes.count) { conflictingOverlaps += 1 }
            return
        }
        ahead.insert((sequence, bytes), at: i)
        aheadBytes += bytes.count
    }

    private mutating func drainAhead(deliver: (UnsafeRawBufferPointer) -> Void, gap: (Int) -> Void) {
        while let first = ahead.first, SequenceSpace.delta(first.sequence, next) <= 0 {
            ahead.removeFirst()
            aheadBytes -= first.bytes.count
            let skip = Int(-SequenceSpace.delta(first.sequence, next))
            if skip < first.bytes.count {
                first.bytes.withUnsafeBytes { deliverPart($0, from: skip, length: first.bytes.count, deliver: deliver, gap: gap) }
            }
        }
    }
}
