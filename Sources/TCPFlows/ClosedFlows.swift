import PacketDecode

/// Reported, closed connections, each kept by its 4-tuple until its TIME_WAIT
/// window (or, when nobody held one, 2·MSL after its close) has passed: what
/// tells a new SYN on the same 4-tuple from a new connection, and a late
/// segment from one that opens mid-stream.
///
/// There is one for every connection closed within the last 2·MSL (95,000 at
/// the end of the 1 GB benchmark capture, as many as the kernels held in
/// TIME_WAIT), so each is packed: two IPv4 endpoints in a 16-byte key (a
/// `FlowKey` takes 48), the id and the window's end in 16 bytes, and a
/// 16-byte entry in the expiry queue: about 75 bytes with the index and the
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
    private var queue: [Expiry] = []
    private var head = 0

    private struct Expiry {
        var at: Int64
        var place: Int32
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
        queue.append(Expiry(at: tombstone.expiry, place: Int32(place)))
    }

    /// Drops the tombstones whose time has come.
    mutating func expire(now: Int64) {
        while head < queue.count && queue[head].at <= now {
            let e = queue[head]
            head += 1
            // The place may have been freed (a reuse took the tombstone) and
            // taken by a later one; that one, with a later expiry, stays. One
            // with the same expiry goes now either way.
            if holds(e) { _ = remove(at: Int(e.place)) }
        }
        if head > 4096 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    /// Tombstones of windows still running at `now` whose holder kept a TIME_WAIT.
    func timeWaitRunning(at now: Int64) -> Int {
        queue[head...].reduce(0) { n, e in
            guard e.at > now, holds(e), tombstone(at: Int(e.place)).timeWaitEnd != nil else { return n }
            return n + 1
        }
    }

    private func holds(_ e: Expiry) -> Bool {
        let place = Int(e.place)
        let held = place >= 0 ? ipv4.holds(slot: place) : other.holds(slot: -1 - place)
        return held && tombstone(at: place).expiry == e.at
    }

    private func tombstone(at place: Place) -> Tombstone {
        place >= 0 ? ipv4[slot: place] : other[slot: -1 - place]
    }
}

/// A 4-tuple of two IPv4 endpoints, exactly, in 16 bytes.
struct PackedIPv4FlowKey: FlowTableKey {
    /// The lower endpoint's address in the high half, the upper's in the low.
    var addresses: UInt64
    /// The lower endpoint's port in the high half, the upper's in the low.
    var ports: UInt32

    @inline(__always)
    init?(_ key: FlowKey) {
        let (a, b) = (key.lower.address, key.upper.address)
        guard !a.isIPv6, !b.isIPv6, a.high == 0, b.high == 0, a.low <= UInt64(UInt32.max), b.low <= UInt64(UInt32.max) else { return nil }
        addresses = a.low << 32 | b.low
        ports = UInt32(key.lower.port) << 16 | UInt32(key.upper.port)
    }

    @inline(__always)
    var hash64: UInt64 {
        var h = addresses &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(ports) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }
}
