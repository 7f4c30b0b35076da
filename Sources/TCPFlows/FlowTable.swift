/// An open-addressing hash table from FlowKey to a slot in a slab of values.
///
/// Built for the per-packet path: lookups hash plain integers once, probe
/// linearly over a flat array of (hash, slot) words, and allocate nothing
/// unless the table grows. Values live in a contiguous slab and freed slots
/// are reused, so memory follows the number of live flows. Removal uses
/// backward-shift deletion (no tombstones), so probe lengths stay short in a
/// long capture where flows come and go.
public struct FlowTable<Value> {
    /// Each word is `hash high 32 bits << 32 | (slot + 1)`; 0 is empty.
    private var index: [UInt64]
    private var mask: Int
    public private(set) var keys: [FlowKey] = []
    public private(set) var values: [Value?] = []
    private var freeSlots: [Int32] = []
    public private(set) var count = 0

    public init(initialCapacity: Int = 1024) {
        var size = 16
        while size < initialCapacity * 2 { size <<= 1 }
        index = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    /// The slot holding `key`, or nil.
    @inline(__always)
    public func slot(for key: FlowKey) -> Int? {
        slot(for: key, hash: key.hash64)
    }

    /// The slot holding `key`, given its precomputed `hash64`.
    public func slot(for key: FlowKey, hash: UInt64) -> Int? {
        let tag = hash >> 32
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = index[i]
            if word == 0 { return nil }
            if word >> 32 == tag {
                let s = Int(word & 0xFFFF_FFFF) - 1
                if keys[s] == key { return s }
            }
            i = (i + 1) & mask
        }
    }

    /// Stores a new value for a key that is not in the table; returns its slot.
    @discardableResult
    public mutating func insert(_ value: Value, for key: FlowKey) -> Int {
        if (count + 1) * 2 > index.count { grow() }
        let s: Int
        if let free = freeSlots.popLast() {
            s = Int(free)
            keys[s] = key
            values[s] = value
        } else {
            s = keys.count
            keys.append(key)
            values.append(value)
        }
        place(hash: key.hash64, slot: s)
        count += 1
        return s
    }

    /// The value in a slot, for reading and in-place mutation.
    public subscript(slot s: Int) -> Value {
        _read { yield values[s]! }
        // In place: moving a large value out and back cost a memmove per packet.
        _modify { yield &values[s]! }
    }

    /// Removes the entry in `slot` and returns its value.
    @discardableResult
    public mutating func remove(slot s: Int) -> Value {
        let key = keys[s]
        let hash = key.hash64
        var i = Int(truncatingIfNeeded: hash) & mask
        let word = (hash >> 32) << 32 | UInt64(s + 1)
        while index[i] != word { i = (i + 1) & mask }
        // Backward-shift: pull later entries of the same probe run into the hole.
        var hole = i
        var j = (i + 1) & mask
        while index[j] != 0 {
            let home = Int(truncatingIfNeeded: keys[Int(index[j] & 0xFFFF_FFFF) - 1].hash64) & mask
            // Move j into the hole if its home is not in (hole, j] cyclically.
            let distanceToHome = (j - home) & mask
            let distanceToHole = (j - hole) & mask
            if distanceToHome >= distanceToHole {
                index[hole] = index[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        index[hole] = 0
        let value = values[s].take()!
        freeSlots.append(Int32(s))
        count -= 1
        return value
    }

    /// Every occupied slot, in slot order.
    public var occupiedSlots: [Int] {
        values.indices.filter { values[$0] != nil }
    }

    private mutating func place(hash: UInt64, slot s: Int) {
        var i = Int(truncatingIfNeeded: hash) & mask
        while index[i] != 0 { i = (i + 1) & mask }
        index[i] = (hash >> 32) << 32 | UInt64(s + 1)
    }

    private mutating func grow() {
        index = [UInt64](repeating: 0, count: index.count * 2)
        mask = index.count - 1
        for s in values.indices where values[s] != nil {
            place(hash: keys[s].hash64, slot: s)
        }
    }
}
