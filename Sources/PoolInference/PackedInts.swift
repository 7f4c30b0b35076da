import TCPFlows

/// Signed integers appended, and read back in order, as zigzag LEB128
/// varints. What a pool keeps that fills toward its bound as a capture goes
/// on (its timeline, its idle-close samples) is mostly small numbers, gaps
/// and counts: 1 to 5 bytes each, where Int64s and Int32s were 8 and 4.
///
/// At most 64 KB (a timeline or a sample is bounded well below). The bytes
/// past `used` are room, written in place: an array's append per byte, or
/// of a few bytes, cost more than the encoding.
struct PackedInts: Sendable {
    private var bytes: [UInt8] = []
    private(set) var used: UInt16 = 0

    /// Writes up to four values straight into the room past the bytes in
    /// use (a timeline point's): one room check and one uniqueness check.
    struct Writer {
        fileprivate let base: UnsafeMutableRawPointer
        fileprivate var end: Int

        @inline(__always)
        mutating func put(_ value: Int64) {
            LEB128.store(LEB128.zigzag(value), at: base, &end)
        }
    }

    /// Room for four varints.
    static let groupBytes = 40

    @inline(__always)
    mutating func append(_ write: (inout Writer) -> Void) {
        let at = Int(used)
        if bytes.count - at < Self.groupBytes {
            // Room grows by a quarter (an array's own growth doubles): its
            // spare room would be a third of what these keep.
            bytes.reserveCapacity(at + at / 4 + Self.groupBytes + 8)
            bytes.append(contentsOf: repeatElement(0, count: bytes.capacity - bytes.count))
        }
        used = UInt16(bytes.withUnsafeMutableBytes { room in
            var writer = Writer(base: room.baseAddress!, end: at)
            write(&writer)
            return writer.end
        })
    }

    mutating func append(_ value: Int64) {
        append { $0.put(value) }
    }

    /// The value whose bytes start at `offset`.
    func value(at offset: Int) -> Int64 {
        var at = offset
        return LEB128.unzigzag(LEB128.read(bytes, at: &at))
    }

    /// Drops the bytes from `offset` on (where a value started).
    mutating func removeFrom(_ offset: Int) {
        used = UInt16(offset)
    }

    /// Empties it, keeping its room (it fills again).
    mutating func removeAll() {
        used = 0
    }

    /// The bytes in use, rewritten in place; `body` returns how many it kept.
    mutating func rewrite(_ body: (UnsafeMutableBufferPointer<UInt8>) -> Int) {
        let n = Int(used)
        used = UInt16(bytes.withUnsafeMutableBufferPointer { body(UnsafeMutableBufferPointer(rebasing: $0[0..<n])) })
    }

    /// Reads the values from the first, in the order they were appended.
    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var at = 0

        var atEnd: Bool { at >= bytes.count }

        /// The next value; only while not `atEnd`.
        @inline(__always)
        mutating func next() -> Int64 {
            LEB128.unzigzag(LEB128.read(bytes, at: &at))
        }
    }

    func withReader<R>(_ body: (inout Reader) -> R) -> R {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: UnsafeBufferPointer(rebasing: buffer[0..<Int(used)]))
            return body(&reader)
        }
    }
}
