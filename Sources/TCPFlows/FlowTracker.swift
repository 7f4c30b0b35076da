import HTTPStreams
import PacketDecode

/// Settings that shape connection tracking (CLI: --time-wait, --idle-timeout,
/// --max-connections).
public struct FlowSettings: Sendable {
    /// 2·MSL: how long the active closer holds TIME_WAIT. Linux's fixed
    /// TCP_TIMEWAIT_LEN is 60 s; Windows uses 240 s, macOS 30 s.
    public var timeWaitSeconds: Double = 60
    /// A connection with no packet for this long is reported and forgotten.
    public var idleTimeoutSeconds: Double = 600
    /// At most this many connections are tracked; beyond it the least
    /// recently active are reported and forgotten (counted as evictions).
    public var maxConnections = 1_000_000
    /// After a connection closes, its late segments (the last ACK, the peer's
    /// FIN after a RST, a retransmitted FIN) still count for this long, like
    /// Zeek's tcp_close_delay (5 s there). 1 s keeps every late segment in the
    /// corpus and the fixtures, and bounds what a fast-closing client leaves
    /// tracked (at 10,000 closes/s, 5 s held 50,000 finished connections).
    public var closeLingerSeconds: Double = 1

    public init() {}
}

/// Counters about tracking itself, for the capture summary.
public struct FlowTrackingStats: Sendable, Equatable {
    /// Connections reported early because --max-connections was reached.
    public var evictions = 0
    /// Connections reported because they were idle past --idle-timeout.
    public var idleTimeouts = 0
    /// Segments of a connection already reported (after its linger).
    public var segmentsAfterClose = 0
    /// Most connections tracked at once.
    public var peakLiveConnections = 0
    public init() {}
}

/// A new SYN reused a 4-tuple inside the TIME_WAIT window of an earlier
/// connection that was already reported.
public struct PortReuseEvent: Sendable, Equatable {
    public var previousID: Int
    public var at: CaptureTime
}

/// Turns decoded TCP segments into connections and finished records.
///
/// Memory follows live connections: a connection is reported and its state
/// freed once it has closed (after a short linger for late segments), been
/// idle past the idle timeout, or been evicted. A closed connection leaves a
/// small tombstone (its id and TIME_WAIT end) until its window ends, so that a
/// new SYN on the same 4-tuple is recognised as port reuse, inside the window
/// or not. Records are reported before the capture ends: a record's
/// `time_wait.running_at_capture_end` then says whether the window was running
/// when it was reported, and a later reuse arrives as a `PortReuseEvent`
/// (the Analyzer settles both at the end for whole-capture reports).
///
/// Connections are numbered 1, 2, ... in the order their first packet was seen.
/// Finished connections collect in `finishedOutlines` (and the records
/// wanted in `finished`); the caller drains them.
public struct FlowTracker {
    public let settings: FlowSettings
    public private(set) var stats = FlowTrackingStats()
    /// Every connection finished since the last `takeFinished`, in the order they finished.
    public private(set) var finishedOutlines: [ConnectionOutline] = []
    /// The records of those whose record was wanted (`recordLimit`), in the same order.
    public private(set) var finished: [ConnectionRecord] = []
    /// How many connections, the first opened, get a whole record when they
    /// finish (nil: every one); the others get an outline only
    /// (`ConnectionOutline`). A report that keeps the first connections by
    /// id keeps those: every connection finishes by the capture's end.
    public var recordLimit: Int?
    private var opened = 0
    /// Reuses of reported connections' 4-tuples inside their TIME_WAIT, since the last drain.
    public private(set) var reuses: [PortReuseEvent] = []

    private var table = FlowTable<FlowKey, Connection>()
    private var closed = ClosedFlows()
    private var nextID = 1
    @usableFromInline var now = Int64.min
    @usableFromInline var nextSweep = Int64.min

    public init(settings: FlowSettings = FlowSettings()) {
        self.settings = settings
    }

    /// Connections tracked right now.
    public var liveConnections: Int { table.count }

    /// Open connections with no request outstanding, and requests seen on open
    /// connections (for a live view: one pass over the live table).
    public var liveActivity: (idle: Int, requests: Int) {
        var idle = 0, requests = 0
        for slot in table.occupiedSlots {
            let http = table[slot: slot].app.http
            if !table[slot: slot].isClosed && !http.hasOutstandingRequest { idle += 1 }
            requests += http.requestsSoFar
        }
        return (idle, requests)
    }

    /// Closed connections whose TIME_WAIT window is still running at the latest packet.
    public var timeWaitNow: Int { closed.timeWaitRunning(at: now) }

    /// The input file the packets being ingested come from.
    public var currentSource = 0

    /// Sharded analysis (see `Analyzer`): each shard tracks the flows whose
    /// key hash falls to it but sees every packet's time, so all shards sweep
    /// at the same packets. Then a connection's id is the number of the packet
    /// that opened it (renumbered 1, 2, ... when the shards are merged), and
    /// the live count is sampled before each sweep, so the merged peak is exact:
    /// between sweeps a shard's live count only grows.
    public var sharded = false
    /// Sharded: the ids (packet numbers) of the connections opened, ascending.
    public private(set) var openedIDs = AscendingIDs()
    /// Sharded: live connections just before each sweep, and at the end.
    public private(set) var liveBeforeSweep: [Int32] = []

    /// The latest packet time.
    public var latest: Int64 { now }
    /// When the next sweep is due: `advance(to:)` a time before it only moves the clock.
    @inlinable public var nextSweepTime: Int64 { nextSweep }

    /// What the pool analysis reads of an open connection.
    public struct LiveView {
        public var id: Int
        /// Its pool's key and its start: given once, with the first view whose name is settled.
        public var identity: Identity?
        public var transactions: [HTTPTransaction]
        /// Its close, once both sides sent a FIN or either a RST (as the record will say it).
        public var close: Close?

        public struct Identity {
            public var client: Endpoint
            public var server: Endpoint
            public var start: Int64
            /// TLS SNI, or the first request's Host.
            public var name: String?
        }

        public struct Close {
            public var at: Int64
            public var initiator: CloseInitiator?
            public var isReset: Bool
        }
    }

    /// Connections with packets since the last `forEachLive` (slot and id: a
    /// slot may be freed and taken by another connection in between).
    private var touched: [(slot: Int, id: Int)] = []

    /// Notes a connection's packet for `forEachLive`: its flag is on the
    /// cache line the packet just updated, so walking only these is cheaper
    /// than reading every tracked connection (1.5 KB apart) each time.
    @inline(__always)
    private mutating func ingestAndTouch(_ slot: Int, _ segment: TCPSegment, at time: CaptureTime) {
        // One access to the slot for both (a second one checked the slot and the slab's uniqueness again).
        let firstTouch: Int? = table.withSlot(slot) { c in
            c.ingest(segment, at: time)
            guard !c.poolTouched else { return nil }
            c.poolTouched = true
            return c.id
        }
        if let id = firstTouch { touched.append((slot, id)) }
    }

    /// Calls `body` with each tracked connection whose requests, responses or
    /// close changed since the last call (of those that had a packet since):
    /// a connection in mid-transfer is not looked at again.
    public mutating func forEachLive(_ body: (LiveView) -> Void) {
        for (slot, id) in touched where table.holds(slot: slot) && table[slot: slot].id == id {
            // In place: the conversation's getters, called through the subscript's
            // read accessor, copied the whole conversation (and retained all its buffers).
            let view: LiveView? = table.withSlot(slot) { c in
                c.poolTouched = false
                let closed = c.isClosed
                let progress = c.app.http.progress &* 2 &+ (closed ? 1 : 0)
                guard progress != c.poolProgressSeen else { return nil }
                c.poolProgressSeen = progress
                let transactions = c.app.http.transactionsSoFar
                var identity: LiveView.Identity?
                if !c.poolNamed {
                    // Its pool is known once a request or a TLS hello is seen.
                    let tls = c.app.http.tlsSoFar
                    if tls != nil || !transactions.isEmpty {
                        c.poolNamed = true
                        identity = LiveView.Identity(client: c.client, server: c.server, start: c.start.nanoseconds,
                                                     name: tls?.serverName ?? transactions.first?.host)
                    }
                }
                var close: LiveView.Close?
                if closed, case let record = c.closeRecord(trackingEnded: "capture_end"), let at = record.at {
                    close = LiveView.Close(at: at.nanoseconds, initiator: record.initiator, isReset: record.kind == .rst)
                }
                return LiveView(id: id, identity: identity, transactions: transactions, close: close)
            }
            if let view { body(view) }
        }
        touched.removeAll(keepingCapacity: true)
    }

    /// A packet of another shard: only its time counts here. Inlinable: a
    /// sharded run calls it for every other shard's packet, and the call was
    /// most of what such a packet cost after its header was read.
    @inlinable @inline(__always)
    public mutating func advance(to time: CaptureTime) {
        if time.nanoseconds > now { now = time.nanoseconds }
        if now >= nextSweep { sweep() }
    }

    /// Tracks one segment. `packetNumber` (from 1) names a connection it opens
    /// when `sharded`.
    @inline(__always)
    public mutating func ingest(_ segment: TCPSegment, at time: CaptureTime, packetNumber: Int = 0) {
        advance(to: time)
        let key = FlowKey(segment.source, segment.destination)
        let hash = key.hash64
        if let slot = table.slot(for: key, hash: hash) {
            // Only a bare SYN can reuse the 4-tuple: check nothing else per packet.
            let bareSYN = segment.flags.contains(.syn) && !segment.flags.contains(.ack)
            if !bareSYN || !table[slot: slot].isReusedBy(segment, at: time) {
                ingestAndTouch(slot, segment, at: time)
                return
            }
            // A new SYN with a new ISN: the port is reused. A connection never
            // seen to close ends its tracking here.
            finalize(slot: slot, trackingEnded: table[slot: slot].isClosed ? "capture_end" : "port_reused")
        }
        var reuse: PortReuseRecord?
        if let place = closed.place(of: key) {
            guard segment.flags.contains(.syn) && !segment.flags.contains(.ack) else {
                stats.segmentsAfterClose += 1
                return
            }
            let tombstone = closed.remove(at: place)
            let within = time.nanoseconds < tombstone.timeWaitEnd ?? .min
            if within {
                reuses.append(PortReuseEvent(previousID: tombstone.id, at: time))
            }
            reuse = PortReuseRecord(previousID: tombstone.id, withinTimeWait: within)
        }
        if table.count >= settings.maxConnections { evict() }
        let id: Int
        if sharded {
            id = packetNumber
            openedIDs.append(id)
        } else {
            id = nextID
            nextID += 1
        }
        // Built in its slot and updated there: a Connection is about 1.5 KB,
        // and building it aside then inserting it copied it once more.
        let wanted = recordLimit.map { opened < $0 } ?? true
        opened += 1
        let slot = table.insert(for: key) { $0.initialize(to: Connection(id: id, firstSegment: segment, at: time, recordWanted: wanted)) }
        table[slot: slot].portReuse = reuse
        table[slot: slot].sourceIndex = currentSource
        ingestAndTouch(slot, segment, at: time)
        if table.count > stats.peakLiveConnections { stats.peakLiveConnections = table.count }
    }

    /// Takes the records and outlines finished so far: swapped with `buffer`
    /// and `outlines`, which must be empty. The caller hands the emptied
    /// buffers back (`returnFinished`), so one pair serves every batch: a
    /// sweep may finish thousands of records of 700 bytes, and building each
    /// batch's array anew, by doubling, mapped and unmapped megabytes every
    /// second, each new page faulted in.
    public mutating func takeFinished(into buffer: inout [ConnectionRecord], outlines: inout [ConnectionOutline]) {
        precondition(buffer.isEmpty && outlines.isEmpty, "FlowTracker.takeFinished: the buffers are not empty")
        swap(&buffer, &finished)
        swap(&outlines, &finishedOutlines)
    }

    /// Gives back the buffers `takeFinished` handed out, emptied with their capacity kept.
    public mutating func returnFinished(_ buffer: inout [ConnectionRecord], outlines: inout [ConnectionOutline]) {
        buffer.removeAll(keepingCapacity: true)
        outlines.removeAll(keepingCapacity: true)
        if finished.isEmpty { swap(&buffer, &finished) }
        if finishedOutlines.isEmpty { swap(&outlines, &finishedOutlines) }
    }

    /// Takes the reuse events so far.
    public mutating func drainReuses() -> [PortReuseEvent] {
        defer { reuses.removeAll() }
        return reuses
    }

    /// Ends tracking (the capture is over at `captureEnd`) and finishes every
    /// connection and every record still waiting out its TIME_WAIT.
    public mutating func finish(captureEnd: CaptureTime) {
        while !finish(captureEnd: captureEnd, atMost: .max) {}
    }

    /// Finishes at most `atMost` of the connections still tracked; true once
    /// none is left (then `finish` is done). Between calls the caller drains
    /// `finished`: 12,000 connections open at the end of the benchmark capture
    /// made a 17 MB batch of records at once.
    public mutating func finish(captureEnd: CaptureTime, atMost: Int) -> Bool {
        if !finishing {
            finishing = true
            if sharded { liveBeforeSweep.append(Int32(table.count)) }
            now = max(now, captureEnd.nanoseconds)
        }
        for slot in table.occupiedSlots.prefix(atMost) {
            finalize(slot: slot, trackingEnded: "capture_end")
        }
        guard table.count == 0 else { return false }
        // Nothing is tracked any more: the slabs go before the reports are made.
        table = FlowTable<FlowKey, Connection>(initialCapacity: 16)
        closed = ClosedFlows()
        return true
    }
    private var finishing = false

    // MARK: - Finishing

    private mutating func finalize(slot: Int, trackingEnded: String) {
        // Finished where it lies, then dropped there: moving a 1.5 KB
        // Connection out of the table first was a copy per connection.
        let captureEnd = CaptureTime(nanoseconds: now)
        let outline: ConnectionOutline
        if table[slot: slot].recordWanted {
            let record = table[slot: slot].finish(timeWaitSeconds: settings.timeWaitSeconds, captureEnd: captureEnd,
                                                  trackingEnded: trackingEnded)
            outline = ConnectionOutline(record)
            finished.append(record)
        } else {
            outline = table[slot: slot].outline(timeWaitSeconds: settings.timeWaitSeconds, captureEnd: captureEnd,
                                                trackingEnded: trackingEnded)
        }
        let (isClosed, end) = (table[slot: slot].isClosed, table[slot: slot].end.nanoseconds)
        table.discard(slot: slot)
        // What the tombstone needs, read before the outline is handed on (moved, not copied).
        let (id, key, timeWaitEnd) = (outline.id, FlowKey(outline.client, outline.server), outline.timeWait?.end.nanoseconds)
        finishedOutlines.append(outline)
        guard isClosed else { return }
        // A tombstone until its TIME_WAIT window (or one 2·MSL after the
        // close) has passed, to recognise reuse of the 4-tuple.
        closed.keep(ClosedFlows.Tombstone(id: id, timeWaitEnd: timeWaitEnd, unheldExpiry: end + Int64(settings.timeWaitSeconds * 1e9)),
                    for: key)
    }

    /// Once per second of capture time: report closed connections whose
    /// linger is over and idle ones, and release records whose TIME_WAIT ended.
    @usableFromInline mutating func sweep() {
        if sharded { liveBeforeSweep.append(Int32(table.count)) }
        nextSweep = now + 1_000_000_000
        let linger = Int64(settings.closeLingerSeconds * 1e9)
        let idle = Int64(settings.idleTimeoutSeconds * 1e9)
        for slot in table.occupiedSlots {
            let (closed, end) = (table[slot: slot].isClosed, table[slot: slot].end.nanoseconds)
            if closed {
                if end + linger <= now { finalize(slot: slot, trackingEnded: "capture_end") }
            } else if end + idle <= now {
                stats.idleTimeouts += 1
                finalize(slot: slot, trackingEnded: "idle_timeout")
            }
        }
        closed.expire(now: now)
    }

    /// Reports the least recently active eighth of the connections.
    private mutating func evict() {
        var candidates = table.occupiedSlots.map { (table[slot: $0].end.nanoseconds, $0) }
        candidates.sort { $0.0 < $1.0 }
        for (_, slot) in candidates.prefix(max(1, candidates.count / 8)) {
            stats.evictions += 1
            finalize(slot: slot, trackingEnded: "evicted")
        }
    }
}

/// TIME_WAIT per host: how many connections each IP held in TIME_WAIT at
/// once, over time (what `ss -tan state time-wait` shows). Swept online
/// with the pools (PoolInference's `PoolSweeper`).
public enum TimeWaitLedger {
    /// One host's TIME_WAIT load.
    public struct HostLoad: Sendable, Equatable {
        public var host: IPAddress
        /// Connections whose TIME_WAIT this host held.
        public var connections: Int
        public var peak: Int
        public var peakAt: CaptureTime
        /// (time, connections in TIME_WAIT) at each change, thinned to at most 200 points
        /// (each kept point the maximum of its stretch).
        public var timeline: [(time: CaptureTime, count: Int)]

        public init(host: IPAddress, connections: Int, peak: Int, peakAt: CaptureTime, timeline: [(time: CaptureTime, count: Int)]) {
            self.host = host
            self.connections = connections
            self.peak = peak
            self.peakAt = peakAt
            self.timeline = timeline
        }

        public static func == (a: HostLoad, b: HostLoad) -> Bool {
            a.host == b.host && a.connections == b.connections && a.peak == b.peak && a.peakAt == b.peakAt
                && a.timeline.elementsEqual(b.timeline, by: { $0.time == $1.time && $0.count == $1.count })
        }
    }
}
