#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a `FlowTable` is keyed by: a 4-tuple, whole (`FlowKey`) or packed
/// (`PackedIPv4FlowKey`), with a 64-bit hash of plain integers.
public protocol FlowTableKey: Equatable {
    var hash64: UInt64 { get }
}

extension FlowKey: FlowTableKey {}

/// An open-addressing hash table from a 4-tuple to a slot in a slab of values.
///
/// Built for the per-packet path: lookups hash plain integers once, probe
/// linearly over a flat array of (hash, slot) words, and allocate nothing
/// unless the table grows. Values live in a contiguous slab and freed slots
/// are reused, so memory follows the number of live flows. Removal uses
/// backward-shift deletion (no tombstones), so probe lengths stay short in a
/// long capture where flows come and go.
public struct FlowTable<Key: FlowTableKey, Value> {
    /// Each word is `hash high 32 bits << 32 | (slot + 1)`; 0 is empty.
    @usableFromInline var index: [UInt64]
    @usableFromInline var mask: Int
    /// Keys and values by slot. Values live in raw memory rather than in a
    /// `[Value?]`: reading a field of an element there went through a copy of
    /// the whole value (a Connection is about 1 KB with a dozen references),
    /// which the once-a-second sweep over every live connection paid for each.
    @usableFromInline var slab: Slab
    public private(set) var count = 0
    /// The index grows when more than this many quarters of it are taken.
    @usableFromInline let maxLoadQuarters: Int

    /// `maxLoad`: the share of index words in use before it doubles, 0.5 or
    /// 0.75 (linear probing: a miss probes about 2.5 words at 0.5, 8.5 at 0.75).
    public init(initialCapacity: Int = 1024, maxLoad: Double = 0.5) {
        precondition(maxLoad == 0.5 || maxLoad == 0.75, "FlowTable: maxLoad is 0.5 or 0.75")
        maxLoadQuarters = maxLoad == 0.5 ? 2 : 3
        var size = 16
        while size < initialCapacity * 2 { size <<= 1 }
        index = [UInt64](repeating: 0, count: size)
        mask = size - 1
        slab = Slab(capacity: 16)
    }

    /// The slot holding `key`, or nil. Inlinable, as the lookup below: so a
    /// table of another module's values is specialised there, not generic.
    @inlinable @inline(__always)
    public func slot(for key: Key) -> Int? {
        slot(for: key, hash: key.hash64)
    }

    /// The slot holding `key`, given its precomputed `hash64`.
    @inlinable @inline(__always)
    public func slot(for key: Key, hash: UInt64) -> Int? {
        let tag = hash >> 32
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = index[i]
            if word == 0 { return nil }
            if word >> 32 == tag {
                let s = Int(word & 0xFFFF_FFFF) - 1
                if slab.keys[s] == key { return s }
            }
            i = (i + 1) & mask
        }
    }

    /// Stores a new value for a key that is not in the table; returns its slot.
    @discardableResult
    public mutating func insert(_ value: __owned Value, for key: Key) -> Int {
        insert(for: key) { $0.initialize(to: value) }
    }

    /// Stores a new value for a key that is not in the table, initialised by
    /// `initialize` in its slot; returns the slot. (A Connection is about
    /// 1.5 KB: built aside and then stored, it was copied once more.)
    @discardableResult @inline(__always)
    public mutating func insert(for key: Key, _ initialize: (UnsafeMutablePointer<Value>) -> Void) -> Int {
        if (count + 1) * 4 > index.count * maxLoadQuarters { grow() }
        unshare()
        // 1.5x, not 2x: a Connection is about 1.5 KB, and the slab's slack is memory held.
        if slab.isFull { slab = slab.grown(to: slab.capacity + slab.capacity / 2) }
        let s = slab.claim(for: key)
        initialize(slab.values + s)
        place(hash: key.hash64, slot: s)
        count += 1
        return s
    }

    /// The value in a slot, for reading and in-place mutation.
    public subscript(slot s: Int) -> Value {
        @inline(__always) _read {
            precondition(slab.occupied[s], "FlowTable: empty slot")
            yield slab.values[s]
        }
        @inline(__always) _modify {
            precondition(slab.occupied[s], "FlowTable: empty slot")
            unshare()
            yield &slab.values[s]
        }
    }

    /// Runs `body` on the value in a slot, in place (reading a large value's
    /// computed properties from another module through the subscript copied it).
    @inline(__always)
    public mutating func withSlot<R>(_ s: Int, _ body: (inout Value) -> R) -> R {
        precondition(slab.occupied[s], "FlowTable: empty slot")
        unshare()
        return body(&slab.values[s])
    }

    /// Whether `slot` holds an entry (a slot kept from `insert` may have been freed and reused).
    public func holds(slot s: Int) -> Bool {
        s >= 0 && s < slab.used && slab.occupied[s]
    }

    /// Removes the entry in `slot` and returns its value.
    @discardableResult
    public mutating func remove(slot s: Int) -> Value {
        unlink(slot: s)
        return slab.release(s)
    }

    /// Removes the entry in `slot`, its value deinitialised in place.
    public mutating func discard(slot s: Int) {
        unlink(slot: s)
        slab.discard(s)
    }

    /// Takes the entry in `slot` out of the index (its value is still in the slab).
    private mutating func unlink(slot s: Int) {
        precondition(slab.occupied[s], "FlowTable: empty slot")
        unshare()
        let key = slab.keys[s]
        let hash = key.hash64
        var i = Int(truncatingIfNeeded: hash) & mask
        let word = (hash >> 32) << 32 | UInt64(s + 1)
        while index[i] != word { i = (i + 1) & mask }
        // Backward-shift: pull later entries of the same probe run into the hole.
        var hole = i
        var j = (i + 1) & mask
        while index[j] != 0 {
            let home = Int(truncatingIfNeeded: slab.keys[Int(index[j] & 0xFFFF_FFFF) - 1].hash64) & mask
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
        count -= 1
    }

    /// Every occupied slot, in slot order.
    public var occupiedSlots: [Int] {
        (0..<slab.used).filter { slab.occupied[$0] }
    }

    private mutating func place(hash: UInt64, slot s: Int) {
        var i = Int(truncatingIfNeeded: hash) & mask
        while index[i] != 0 { i = (i + 1) & mask }
        index[i] = (hash >> 32) << 32 | UInt64(s + 1)
    }

    private mutating func grow() {
        index = [UInt64](repeating: 0, count: index.count * 2)
        mask = index.count - 1
        for s in 0..<slab.used where slab.occupied[s] {
            place(hash: slab.keys[s].hash64, slot: s)
        }
    }

    /// Copy-on-write, as Array does: a copied table shares its slab until one side changes.
    @inline(__always)
    private mutating func unshare() {
        if !isKnownUniquelyReferenced(&slab) { slab = slab.copy() }
    }

    /// Slots: keys, an occupancy flag, and values in raw memory (initialised
    /// only where occupied). Freed slots are reused, so memory follows the
    /// number of live flows. The buffers are `let` (a class's `var` is read
    /// through a dynamic exclusivity check), so growing makes a new slab.
    /// A lookup among 10,000 flows: 8.9 ns (`make bench-micro`).
    @usableFromInline
    final class Slab {
        @usableFromInline let keys: UnsafeMutablePointer<Key>
        let occupied: UnsafeMutablePointer<Bool>
        let values: UnsafeMutablePointer<Value>
        let capacity: Int
        /// What changes as slots are claimed and freed, behind a pointer: a
        /// class's stored `var`s are checked for exclusive access at run time
        /// on every use (swift_beginAccess at each claim, discard and insert,
        /// for connections and tombstones: 0.6% of a run's instructions).
        private let state: UnsafeMutablePointer<State>
        private struct State {
            /// Slots ever handed out (all below have a key and an occupancy flag).
            var used = 0
            var freeSlots: [Int32] = []
        }
        var used: Int {
            @inline(__always) get { state.pointee.used }
            @inline(__always) set { state.pointee.used = newValue }
        }
        var freeSlots: [Int32] {
            @inline(__always) _read { yield state.pointee.freeSlots }
            @inline(__always) _modify { yield &state.pointee.freeSlots }
        }

        /// Set when `grown` took the buffers (and the state) over: nothing left to free here.
        private var handedOver = false

        /// The buffers come from malloc (and go back with free), so that
        /// `grown` can realloc them.
        init(capacity: Int) {
            self.capacity = capacity
            keys = Self.buffer(Key.self, capacity)
            occupied = Self.buffer(Bool.self, capacity)
            values = Self.buffer(Value.self, capacity)
            state = .allocate(capacity: 1)
            state.initialize(to: State())
        }

        private init(keys: UnsafeMutablePointer<Key>, occupied: UnsafeMutablePointer<Bool>, values: UnsafeMutablePointer<Value>,
                     capacity: Int, state: UnsafeMutablePointer<State>) {
            self.keys = keys
            self.occupied = occupied
            self.values = values
            self.capacity = capacity
            self.state = state
        }

        private static func buffer<T>(_ type: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
            precondition(MemoryLayout<T>.alignment <= 16, "FlowTable: malloc's alignment")
            guard let raw = malloc(max(1, count * MemoryLayout<T>.stride)) else { fatalError("FlowTable: out of memory") }
            return raw.bindMemory(to: T.self, capacity: count)
        }

        private static func resized<T>(_ pointer: UnsafeMutablePointer<T>, _ count: Int) -> UnsafeMutablePointer<T> {
            guard let raw = realloc(pointer, max(1, count * MemoryLayout<T>.stride)) else { fatalError("FlowTable: out of memory") }
            return raw.bindMemory(to: T.self, capacity: count)
        }

        deinit {
            guard !handedOver else { return }
            for s in 0..<used where occupied[s] { (values + s).deinitialize(count: 1) }
            keys.deinitialize(count: used)
            free(keys)
            free(occupied)
            free(values)
            state.deinitialize(count: 1)
            state.deallocate()
        }

        /// This slab's slots with room for `capacity`, its buffers taken over
        /// and enlarged with realloc: glibc remaps a large block's pages rather
        /// than copy them, so the old and new buffers are never both resident
        /// (copying had made a growing slab of connections, 16 MB growing to
        /// 24 MB, the run's peak). Swift values move bitwise.
        func grown(to capacity: Int) -> Slab {
            precondition(capacity >= self.capacity)
            handedOver = true
            return Slab(keys: Self.resized(keys, capacity), occupied: Self.resized(occupied, capacity),
                        values: Self.resized(values, capacity), capacity: capacity, state: state)
        }

        var isFull: Bool { freeSlots.isEmpty && used == capacity }

        /// A free slot for `key` (its value uninitialised); the slab must not be full.
        func claim(for key: Key) -> Int {
            if let free = freeSlots.popLast() {
                occupied[Int(free)] = true
                keys[Int(free)] = key
                return Int(free)
            }
            (keys + used).initialize(to: key)
            occupied[used] = true
            used += 1
            return used - 1
        }

        func release(_ s: Int) -> Value {
            occupied[s] = false
            freeSlots.append(Int32(s))
            return (values + s).move()
        }

        func discard(_ s: Int) {
            occupied[s] = false
            freeSlots.append(Int32(s))
            (values + s).deinitialize(count: 1)
        }

        /// A copy of every slot (copy-on-write: a copied table shares its slab until one side changes).
        func copy() -> Slab {
            let other = Slab(capacity: capacity)
            other.keys.initialize(from: keys, count: used)
            other.occupied.initialize(from: occupied, count: used)
            other.used = used
            other.freeSlots = freeSlots
            for s in 0..<used where occupied[s] { (other.values + s).initialize(to: values[s]) }
            return other
        }
    }
}
