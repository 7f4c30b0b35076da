/// Values by connection id: open addressing with linear probing and a
/// multiplicative hash. Swift's Dictionary hashes an Int with SipHash; the
/// feed looks a connection up at each change and at its end, and that hashing
/// was a tenth of the feed's time.
struct IDTable<Value: Sendable>: Sendable {
    private static var empty: Int { .min }
    private var keys = [Int](repeating: IDTable.empty, count: 16)
    private var values = [Value?](repeating: nil, count: 16)
    private(set) var count = 0

    private var mask: Int { keys.count - 1 }

    @inline(__always) private func home(_ id: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(id)) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Where `id` is, if it is there.
    @inline(__always) func slot(of id: Int) -> Int? {
        var i = home(id)
        while keys[i] != Self.empty {
            if keys[i] == id { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    subscript(slot i: Int) -> Value {
        get { values[i]! }
        set { values[i] = newValue }
    }

    subscript(id: Int) -> Value? {
        get { slot(of: id).map { values[$0]! } }
        set {
            if let i = slot(of: id) {
                if let newValue { values[i] = newValue } else { remove(slot: i) }
            } else if let newValue {
                insert(newValue, for: id)
            }
        }
    }

    subscript(id: Int, default value: @autoclosure () -> Value) -> Value {
        get { self[id] ?? value() }
        set { self[id] = newValue }
    }

    @discardableResult
    mutating func removeValue(forKey id: Int) -> Value? {
        guard let i = slot(of: id) else { return nil }
        let value = values[i]
        remove(slot: i)
        return value
    }

    /// Every value in place, in no particular order (nothing may be added or removed meanwhile).
    mutating func forEachValue(_ body: (inout Value) -> Void) {
        for i in keys.indices where keys[i] != Self.empty { body(&values[i]!) }
    }

    mutating func removeAll() {
        self = IDTable()
    }

    private mutating func insert(_ value: Value, for id: Int) {
        precondition(id != Self.empty)
        if (count + 1) * 4 > keys.count * 3 { grow() }
        var i = home(id)
        while keys[i] != Self.empty { i = (i + 1) & mask }
        keys[i] = id
        values[i] = value
        count += 1
    }

    /// Backward-shift deletion: later entries of the probe run move up, so no tombstones are needed.
    private mutating func remove(slot: Int) {
        var hole = slot
        var j = (slot + 1) & mask
        while keys[j] != Self.empty {
            let ideal = home(keys[j])
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let stays = hole <= j ? (ideal > hole && ideal <= j) : (ideal > hole || ideal <= j)
            if !stays {
                keys[hole] = keys[j]
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        keys[hole] = Self.empty
        values[hole] = nil
        count -= 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [Int](repeating: Self.empty, count: oldKeys.count * 2)
        values = [Value?](repeating: nil, count: oldKeys.count * 2)
        count = 0
        for i in oldKeys.indices where oldKeys[i] != Self.empty { insert(oldValues[i]!, for: oldKeys[i]) }
    }
}
