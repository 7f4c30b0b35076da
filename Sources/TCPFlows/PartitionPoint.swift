/// The first index in 0..<count where `isAtOrPast` holds, for a predicate
/// false then true along the indices (binary search). Package-wide, from the
/// lowest module that needs it: `AscendingIDs` finds a block with it, the
/// pool sweep keeps idle starts in order, and the Analyzer places kept records.
@inlinable @inline(__always)
package func partitionPoint(_ count: Int, _ isAtOrPast: (Int) -> Bool) -> Int {
    var low = 0, high = count
    while low < high {
        // Both are within 0...count, a collection's size: their sum cannot
        // overflow, and a shift halves it (checked `/ 2` on a signed sum cost
        // the finding-id renumbering a fifth more instructions).
        let mid = (low &+ high) >> 1
        if isAtOrPast(mid) { high = mid } else { low = mid &+ 1 }
    }
    return low
}
