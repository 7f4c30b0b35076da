/// Numbers appended in ascending order, about two bytes each: the gap since
/// the previous one as a LEB128 varint, and every 16th number whole, with
/// where its block starts, to search by.
///
/// A sharded analysis keeps the packet number that opened each connection
/// until the end, to number connections as one thread would. As Ints that was
/// 8 bytes a connection (up to 16 with an array's room to grow) for the whole
/// capture, the one thing a sharded run kept that grew with the capture. A
/// gap is about twice a connection's packets: one byte. (Every 64th number
/// whole made a search decode 32 gaps on average: renumbering a report's
/// finding ids then cost 1.7% of a two-thread run.)
public struct AscendingIDs: Sendable {
    static let blockSize = 16
    private var gaps: [UInt8] = []
    private var blockFirst: [Int] = []
    private var blockStart: [Int] = []
    private var last = Int.min
    public private(set) var count = 0

    public init() {}

    public mutating func append(_ id: Int) {
        precondition(id >= last, "AscendingIDs: \(id) after \(last)")
        if count % Self.blockSize == 0 {
            blockFirst.append(id)
            blockStart.append(gaps.count)
        } else {
            LEB128.append(UInt64(id - last), to: &gaps)
        }
        last = id
        count += 1
    }

    /// How many of the numbers are below `id`. Through buffer pointers: a
    /// sharded run's merge asks this for every connection id a report names
    /// (twice, one per shard): through the arrays' checked subscripts, the
    /// search was a fifth of the merge.
    public func countBelow(_ id: Int) -> Int {
        blockFirst.withUnsafeBufferPointer { firsts in
            // The last block that starts below `id`.
            let block = partitionPoint(firsts.count) { firsts[$0] >= id } &- 1
            guard block >= 0 else { return 0 }
            return blockStart.withUnsafeBufferPointer { starts in
                gaps.withUnsafeBufferPointer { gaps in
                    var below = block &* Self.blockSize &+ 1
                    var value = firsts[block]
                    var i = starts[block]
                    let end = block &+ 1 < starts.count ? starts[block &+ 1] : gaps.count
                    while i < end {
                        value &+= Int(LEB128.read(gaps, at: &i))
                        guard value < id else { break }
                        below &+= 1
                    }
                    return below
                }
            }
        }
    }
}
