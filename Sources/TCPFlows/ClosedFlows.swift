import PacketDecode

/// Reported, closed connections, each kept by its 4-tuple until its TIME_WAIT
/// window (or, when nobody held one, 2·MSL after its close) has passed: what
/// tells a new SYN on the same 4-tuple from a new connection, and a late
/// segment from one that opens mid-stream.
///
/// There is one for every connection closed within the last 2·MSL (95,000 at
/// the end of the 1 GB benchmark capture, as many as the kernels held in
/// TIME_WAIT), so each is packed: two IPv4 endpoints in a 12-byte key (a
/// `FlowKey` takes 48), the id and the window's end in 16 bytes, and an
/// 8-byte entry in the expiry queue: about 55 bytes with the index and the
/// arrays' room to grow, where a `FlowKey` table of tombstones and a queue
/// naming them by id took 140. Other keys (IPv6) keep their whole `FlowKey`.
struct ClosedFlows {
    /// What is kept of a closed connection: enough to link a reuse.
    struct Tombstone {
        /// The connection's id, negated when nobody held a TIME_WAIT (ids start at 1).
        private var signedID: Int
        /// When it stops being kept: the end of its TIME_WAIT window, or 2·MSL after its close.
        let expiry: Int64

        /// `unheldExpiry`: when it stops being kept if nobody held a TIME_WAIT.
        init(id: Int, timeWaitEnd: Int64?, unheldExpiry: Int64) {
            precondition(id > 0, "ClosedFlows: connection ids start at 1")
            signedID = timeWaitEnd == nil ? -id : id
            expiry = timeWaitEnd ?? unheldExpiry
        }

        var id: Int { abs(signedID) }
        /// The end of its TIME_WAIT window, if anyone held one.
        var timeWaitEnd: Int64? { signedID > 0 ? expiry : nil }
    }

    /// A place in one of the two tables: a slot of `ipv4` (0 and up) or of `other` (below 0).
    typealias Place = Int

    /// Looked up once a connection (its SYN), not once a packet: a fuller index.
    private var ipv4 = FlowTable<PackedIPv4FlowKey, Tombstone>(initialCapacity: 256, maxLoad: 0.75)
    private var other = FlowTable<FlowKey, Tombstone>(initialCapacity: 16)
    /// Tombstones in the order they were kept (close to expiry order: each is
    /// kept at the sweep after its close); `head` is the next to check.
    private var queue: [Entry] = []
    private var head = 0

    /// A tombstone's place, and its id's low 32 bits to tell it from a later
    /// one a reuse made room for there (8 bytes: one for every window
    /// running; with its expiry as well, it was 16). Ids 2^32 apart are not
    /// kept at once: they are connections, or packets, 2^32 apart.
    private struct Entry {
        var place: Int32
        var id: UInt32

        init(place: Place, id: Int) {
            self.place = Int32(place)
            self.id = UInt32(truncatingIfNeeded: id)
        }
    }

    func place(of key: FlowKey) -> Place? {
        if let packed = PackedIPv4FlowKey(key) { return ipv4.slot(for: packed) }
        return other.slot(for: key).map { -1 - $0 }
    }

    /// Takes the tombstone at `place` out.
    mutating func remove(at place: Place) -> Tombstone {
        place >= 0 ? ipv4.remove(slot: place) : other.remove(slot: -1 - place)
    }

    /// Keeps a tombstone for `key`, in place of any kept for it before.
    mutating func keep(_ tombstone: Tombstone, for key: FlowKey) {
        let place: Place
        if let packed = PackedIPv4FlowKey(key) {
            if let old = ipv4.slot(for: packed) { ipv4.remove(slot: old) }
            place = ipv4.insert(tombstone, for: packed)
        } else {
            if let old = other.slot(for: key) { other.remove(slot: old) }
            place = -1 - other.insert(tombstone, for: key)
        }
        queue.append(Entry(place: place, id: tombstone.id))
    }

    /// Drops the tombstones whose time has come, in the order they were kept.
    mutating func expire(now: Int64) {
        while head < queue.count {
            let e = queue[head]
            // A reuse took this one's tombstone (its place may hold a later
            // one now): nothing to wait for.
            if let tombstone = self.tombstone(for: e) {
                guard tombstone.expiry <= now else { break }
                _ = remove(at: Int(e.place))
            }
            head += 1
        }
        if head > 4096 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    /// Tombstones of windows still running at `now` whose holder kept a TIME_WAIT.
    func timeWaitRunning(at now: Int64) -> Int {
        queue[head...].reduce(0) { n, e in
            guard let tombstone = tombstone(for: e), tombstone.expiry > now, tombstone.timeWaitEnd != nil else { return n }
            return n + 1
        }
    }

    /// The tombstone an entry was queued for, if it is still kept.
    private func tombstone(for e: Entry) -> Tombstone? {
        let place = Int(e.place)
        guard place >= 0 ? ipv4.holds(slot: place) : other.holds(slot: -1 - place) else { return nil }
        let tombstone = tombstone(at: place)
        return UInt32(truncatingIfNeeded: tombstone.id) == e.id ? tombstone : nil
    }

    private func tombstone(at place: Place) -> Tombstone {
        place >= 0 ? ipv4[slot: place] : other[slot: -1 - place]
    }
}

/// A 4-tuple of two IPv4 endpoints, exactly, in 12 bytes (three 32-bit
/// words, so no padding: a UInt64 of both addresses made it 16).
struct PackedIPv4FlowKey: FlowTableKey {
    /// The lower endpoint's address, and the upper's.
    var lowerAddress: UInt32
    var upperAddress: UInt32
    /// The lower endpoint's port in the high half, the upper's in the low.
    var ports: UInt32

    @inline(__always)
    init?(_ key: FlowKey) {
        let (a, b) = (key.lower.address, key.upper.address)
        guard !a.isIPv6, !b.isIPv6, a.high == 0, b.high == 0, a.low <= UInt64(UInt32.max), b.low <= UInt64(UInt32.max) else { return nil }
        lowerAddress = UInt32(a.low)
        upperAddress = UInt32(b.low)
        ports = UInt32(key.lower.port) << 16 | UInt32(key.upper.port)
    }

    @inline(__always)
    var hash64: UInt64 {
        var h = (UInt64(lowerAddress) << 32 | UInt64(upperAddress)) &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(ports) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }
}
