import HTTPStreams
import PacketDecode
import TCPFlows

/// Turns connections into pool events as they happen, in capture time.
///
/// Online: what is kept follows live connections (a few words each, while
/// they are open), TIME_WAIT windows still running, and each pool's counters
/// (`PoolTally`), never the number of connections or requests a capture
/// holds. Fed three ways: `observe` with each open connection whose requests,
/// responses or close changed (every `PoolSettings.tickSeconds` of capture
/// time), `finish` with each finished record (its TIME_WAIT, and its close if
/// not seen yet), and `reuse` when a new SYN cuts a reported connection's
/// TIME_WAIT short. `tick` hands the events since the last tick to a
/// `PoolSweeper`, which orders them and sweeps each pool's life.
///
/// The sweeper trails the capture by `sweepDelay` (a tick, and the grace
/// before an idle stretch is known not to end in the client's close), and by
/// `timeWaitDelay` for TIME_WAIT windows, known only when a record is finished
/// (the tracker's linger after the last packet, at its once-a-second sweep). A
/// connection that carries no request for longer than that after its SYN is
/// counted from when its first request (or its end) is seen.
///
/// One feed per analysis shard: a connection's events come from the shard
/// that tracks it, and the sweeper merges the shards' batches.
public struct PoolFeed: Sendable {
    public let settings: PoolSettings
    let grace: Int64
    let delay: Int64
    let timeWaitDelay: Int64

    /// Pools by a hash of their client and server (a pool's key hashed with
    /// SipHash, name and all, was most of a new connection's cost here); the
    /// few pools that share one are told apart by their whole key.
    var poolsByHosts = IDTable<[Int32]>()
    var tallies: [PoolTally] = []
    var connections = IDTable<Conn>()
    var batch = PoolBatch()
    /// TIME_WAIT windows still running, soonest end first.
    var timeWaitEnds = TimeWaitHeap()
    /// New SYNs that cut a window short since the last tick (`reuse`).
    var cuts: [(id: Int, at: Int64)] = []

    /// What is kept of a connection between its events (a few words, while it
    /// is open and, when it never closed, to the end of the capture).
    struct Conn: Sendable {
        var pool: Int32
        /// Transactions whose request start, and response end, were handed on.
        var requests: Int32 = 0
        var responses: Int32 = 0
        /// The last response's end while no request followed it (Int64.min: none).
        var lastDone = Int64.min
        /// That idle stretch's start was handed on already (it had lasted past the delay).
        var idleStartSent = false
        /// The last response's end is not handed on yet: it goes as one event
        /// with the idle start, once what follows it is known (a request, a
        /// close within the grace, or nothing for the delay).
        var responsePending = false
        /// Finished without a close: open, and any idle stretch running, to the capture's end.
        var openAtEnd = false
        /// Its close was handed on (seen on the open connection, or from its record).
        var closeSent = false
        /// Requests whose response never ended (a later one did): busy until the close.
        var unanswered: Int32 = 0
    }

    /// A TIME_WAIT window still running (24 bytes: there is one for every
    /// connection closed within the last 2·MSL, and 3 s more; its hosts are its
    /// pool's). Kept in the heap of ends only: an index by connection id, for
    /// the rare window a new SYN cuts short, was 40 bytes more a window.
    struct RunningTimeWait: Sendable {
        var end: Int64
        var id: Int
        var pool: Int32
        var holder: TimeWaitHolder
        /// It lasted (a pool counts only those; a host's timeline every one).
        var lasted: Bool
    }
    var hostIndex: [IPAddress: Int32] = [:]
    var hosts: [IPAddress] = []
    /// Each pool's client and server, as indices into `hosts` (-1: not named
    /// yet; a host is named at its first TIME_WAIT).
    var poolHosts: [(client: Int32, server: Int32)] = []

    private mutating func hosts(of pool: Int32) -> (client: Int32, server: Int32) {
        if poolHosts[Int(pool)].client < 0 {
            let key = tallies[Int(pool)].key
            poolHosts[Int(pool)] = (host(key.client), host(key.server.address))
        }
        return poolHosts[Int(pool)]
    }

    private mutating func host(_ address: IPAddress) -> Int32 {
        if let known = hostIndex[address] { return known }
        let i = Int32(hosts.count)
        hostIndex[address] = i
        hosts.append(address)
        batch.newHosts.append(address)
        return i
    }

    enum IdleEnd { case reuse, clientClose, serverClose, captureEnd }

    /// Sweepers the events go to, each sweeping the pools whose key hashes to it.
    let shares: Int
    /// Each pool's share.
    var poolShare: [Int32] = []

    public init(settings: PoolSettings = PoolSettings(), shares: Int = 1) {
        self.settings = settings
        self.shares = shares
        batch.events = Array(repeating: [], count: shares)
        grace = Int64(settings.closeAfterResponseGrace * 1e9)
        delay = Int64(settings.sweepDelay * 1e9)
        timeWaitDelay = Int64(settings.timeWaitDelay * 1e9)
    }

    // MARK: - Input

    /// An open connection whose requests, responses or close changed since the
    /// last look (`FlowTracker.forEachLive`). Not counted until its pool is
    /// known (its first request, or TLS hello).
    public mutating func observe(_ view: FlowTracker.LiveView) {
        if let i = connections.slot(of: view.id) {
            let c = connections[slot: i]
            guard !c.closeSent else { return }
            guard c.requests < view.transactions.count || view.close != nil
                    || (c.responses < c.requests && view.transactions[Int(c.responses)].responseEnd != nil) else { return }
            var changed = c
            update(&changed, view)
            // By index: nothing above inserts into `connections`, so it still names this entry.
            connections[slot: i] = changed
        } else {
            guard let o = view.identity else { return }
            var c = register(id: view.id, key: PoolKey(client: o.client.address, server: o.server, name: o.name), start: o.start)
            update(&c, view)
            connections[view.id] = c
        }
    }

    private mutating func update(_ c: inout Conn, _ view: FlowTracker.LiveView) {
        if let close = view.close {
            sendClose(&c, view.id, view.transactions, at: close.at, byClient: close.initiator == .client, reset: close.isReset)
        } else {
            advance(&c, view.id, view.transactions, end: nil)
        }
    }

    /// Finished connections, in the order they finished: for each, the rest
    /// of its requests, its close, its TIME_WAIT, and the pool's counts. Each
    /// outline's fields are read where it lies: lent one at a time, a record
    /// was copied first (704 bytes, and a dozen references retained and
    /// released), whatever the loop or the parameter's convention.
    public mutating func finish(each records: [ConnectionOutline]) {
        for i in records.indices { finish(records, i) }
    }

    private mutating func finish(_ records: [ConnectionOutline], _ i: Int) {
        let id = records[i].id
        let xs = records[i].transactions
        var c = connections.removeValue(forKey: id)
            ?? register(id: id, key: PoolKey(client: records[i].client.address, server: records[i].server,
                                             name: records[i].serverName ?? xs.first?.host),
                        start: records[i].start.nanoseconds)
        let pool = c.pool
        tallies[Int(pool)].add(records, i, limit: settings.connectionIDLimit)
        if c.closeSent {
            // Its close was seen while it was open: what followed is not the pool's.
        } else if let at = records[i].close.at {
            sendClose(&c, id, xs, at: at.nanoseconds, byClient: records[i].close.initiator == .client,
                      reset: records[i].close.kind == .rst)
        } else {
            advance(&c, id, xs, end: nil)
            c.openAtEnd = true
            connections[id] = c
        }
        if let tw = records[i].timeWait {
            let end = min(tw.end.nanoseconds, tw.reusedAt?.nanoseconds ?? .max)
            let start = tw.start.nanoseconds
            let running = RunningTimeWait(end: end, id: id, pool: pool, holder: tw.holder, lasted: end > start)
            sendTimeWait(running, at: start, +1)
            timeWaitEnds.push(running)
        }
    }

    /// The close (at its first FIN or RST): the requests and responses
    /// before it, responses not seen to end busy until it, and the last idle
    /// stretch, ended by it or, when the client closed within the grace after
    /// its response, not an idle stretch at all.
    private mutating func sendClose(_ c: inout Conn, _ id: Int, _ xs: [HTTPTransaction], at end: Int64, byClient: Bool, reset: Bool) {
        let pool = c.pool
        advance(&c, id, xs, end: end)
        while c.responses < c.requests {
            let x = xs[Int(c.responses)]
            emit(pool, PoolEvent(.active, at: max(min(x.responseEnd ?? end, end), x.requestStart), -1))
            c.responses += 1
        }
        endUnanswered(&c, at: end)
        emit(pool, PoolEvent(.open, at: end, -1))
        if c.lastDone != .min {
            if byClient && end - c.lastDone <= grace && !reset && !c.idleStartSent {
                // Closed right after its response: not kept idle.
                flushResponse(&c)
                emit(pool, PoolEvent(.capClosure, at: end, payload: Int64(id)))
                c.lastDone = .min
            } else {
                endIdle(&c, at: end, byClient ? .clientClose : .serverClose)
            }
        }
        c.closeSent = true
    }

    /// A new SYN on a reported connection's 4-tuple inside its TIME_WAIT: the window ends there.
    /// Handed on at the next tick, long before the sweep reaches it (it
    /// trails by `timeWaitDelay`).
    public mutating func reuse(previousID: Int, at time: Int64) {
        cuts.append((previousID, time))
    }

    /// Ends the windows new SYNs cut short since the last tick, and drops
    /// them: found by a walk over the running windows, at most once a tick and
    /// only when a port was reused inside its window. An index by id cost 40
    /// bytes a window in every capture; the walk costs a capture where nearly
    /// every SYN reuses a port (one client, one server, 200,000 connections in
    /// 30 s) about 5% more time.
    private mutating func applyCuts() {
        guard !cuts.isEmpty else { return }
        var cutAt: [Int: Int64] = [:]
        // The first SYN ends it; later ones find it ended.
        for cut in cuts where cutAt[cut.id] == nil { cutAt[cut.id] = cut.at }
        cuts.removeAll()
        var ended: [(RunningTimeWait, Int64)] = []
        // A window that had ended by then ends when it did, from the heap.
        // (The tracker reports a reuse only inside the window; the index by
        // id had dropped such a window without ending it.)
        timeWaitEnds.removeAll { w in
            guard let time = cutAt[w.id], time < w.end else { return false }
            ended.append((w, time))
            return true
        }
        for (w, time) in ended { sendTimeWait(w, at: time, -1) }
    }

    /// Every `PoolSettings.tickSeconds` of capture time, after the open
    /// connections were observed: idle stretches that have lasted past the
    /// delay, TIME_WAIT windows ended, and the batch for the sweeper, which may
    /// sweep up to `now` less the delay.
    public mutating func tick(now: Int64) -> PoolBatch {
        var none: PoolBatch?
        return tick(now: now, reusing: &none)
    }

    /// `tick(now:)`, the next batch filling `spare`'s buffers (taken from it) when there is one.
    public mutating func tick(now: Int64, reusing spare: inout PoolBatch?) -> PoolBatch {
        let through = now &- delay
        let timeWaitThrough = now &- timeWaitDelay
        var table = IDTable<Conn>()
        swap(&table, &connections)
        table.forEachValue { c in
            guard c.lastDone != .min, !c.idleStartSent, !c.closeSent, c.lastDone <= through else { return }
            // Still idle well past the grace: kept idle, whatever ends it.
            if c.responsePending {
                emit(c.pool, PoolEvent(.response, at: c.lastDone, PoolEvent.idleStarts, kept: true))
                c.responsePending = false
            } else {
                emit(c.pool, PoolEvent(.idle, at: c.lastDone, +1, payload: c.lastDone, kept: true))
            }
            c.idleStartSent = true
        }
        swap(&table, &connections)
        applyCuts()
        while let top = timeWaitEnds.top, top.end <= timeWaitThrough {
            timeWaitEnds.pop()
            sendTimeWait(top, at: top.end, -1)
        }
        return takeBatch(through: through, timeWaitThrough: timeWaitThrough, reusing: &spare)
    }

    /// The capture ended: connections never closed end there, and every
    /// TIME_WAIT window still running ends when it would (the hosts' timelines
    /// show them running out). The last batch.
    public mutating func end(captureEnd: Int64) -> PoolBatch {
        var table = IDTable<Conn>()
        swap(&table, &connections)
        table.forEachValue { c in
            guard !c.closeSent else { return }
            // A record finishes every connection before this; any not finished is open at the end too.
            emit(c.pool, PoolEvent(.open, at: captureEnd, -1))
            while c.responses < c.requests {
                emit(c.pool, PoolEvent(.active, at: captureEnd, -1))
                c.responses += 1
            }
            endUnanswered(&c, at: captureEnd)
            if c.lastDone != .min && c.lastDone <= captureEnd { endIdle(&c, at: captureEnd, .captureEnd) }
            flushResponse(&c)
        }
        connections.removeAll()
        // In any order: the hosts' queues sort them (popping the heap for each was 95,000 pops).
        applyCuts()
        var running = TimeWaitHeap()
        swap(&running, &timeWaitEnds)
        running.forEach { w in sendTimeWait(w, at: w.end, -1, pool: false) }
        return takeBatch(through: .max, timeWaitThrough: .max)
    }

    // MARK: - Events

    private mutating func takeBatch(through: Int64, timeWaitThrough: Int64) -> PoolBatch {
        var none: PoolBatch?
        return takeBatch(through: through, timeWaitThrough: timeWaitThrough, reusing: &none)
    }

    private mutating func takeBatch(through: Int64, timeWaitThrough: Int64, reusing spare: inout PoolBatch?) -> PoolBatch {
        var taken = PoolBatch()
        taken.events = Array(repeating: [], count: shares)
        swap(&taken, &batch)
        if shares > 1, spare?.events.count == shares {
            // An earlier batch of this feed that both sweepers are done with
            // (the sharded run hands them back, a tick or two later): its
            // mappings again. New ones each tick were page faults on first
            // writes, and unmapping each stopped the other core to flush its
            // TLB (627 unmappings and 23,000 faults on the 1 GB capture;
            // BENCHMARKS.md, session 12). Moved out of `spare`, so that it is
            // emptied in place, not copied.
            var reused: PoolBatch?
            swap(&reused, &spare)
            reused!.clear()
            swap(&batch, &reused!)
        } else if shares > 1 {
            // A sharded run's batches are not given back here (`recycle`): a
            // tick's go to both sweepers. Grown in steps inside glibc's heap,
            // among the pools' long-lived buffers, they left it fragmented
            // (4.0 MiB free at the 1 GB capture's peak on two threads, 0.6 on
            // one). Reserved past the mmap threshold (`poolscope` fixes it at
            // 256 KB), each is a mapping of its own, of which only the pages
            // written are resident, returned whole.
            for i in batch.events.indices { batch.events[i].reserveCapacity(Self.mappedBatchBytes / MemoryLayout<PoolEvent>.stride) }
            batch.hostEvents.reserveCapacity(Self.mappedBatchBytes / MemoryLayout<HostTimeWaitEvent>.stride)
        }
        taken.through = through
        taken.timeWaitThrough = timeWaitThrough
        return taken
    }

    /// A sharded run's batch buffers start this large (see `takeBatch`).
    static let mappedBatchBytes = 264 * 1024

    /// Takes a batch's buffers back once the sweeper has emptied it: a
    /// second's events are megabytes, and a new buffer every second was
    /// memory the kernel zeroed again each time.
    public mutating func recycle(_ emptied: inout PoolBatch) {
        guard batch.events.allSatisfy({ $0.isEmpty }), emptied.events.count == batch.events.count else { return }
        swap(&batch.events, &emptied.events)
        swap(&batch.hostEvents, &emptied.hostEvents)
    }

    @inline(__always)
    private mutating func emit(_ pool: Int32, _ event: PoolEvent) {
        var e = event
        e.pool = pool
        batch.events[Int(poolShare[Int(pool)])].append(e)
    }

    /// A pool's client and server mixed into one word (never Int.min, the id table's empty mark).
    @inline(__always)
    static func hostsHash(_ key: PoolKey) -> Int {
        var h = key.client.low &* 0x9E37_79B9_7F4A_7C15 ^ key.client.high
        h = (h ^ key.server.address.low) &* 0xBF58_476D_1CE4_E5B9 ^ key.server.address.high
        h = (h ^ UInt64(key.server.port)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: h >> 1)
    }

    private mutating func register(id: Int, key: PoolKey, start: Int64) -> Conn {
        let pool: Int32
        let hash = Self.hostsHash(key)
        if let known = poolsByHosts[hash]?.first(where: { tallies[Int($0)].key == key }) {
            pool = known
        } else {
            pool = Int32(tallies.count)
            poolsByHosts[hash, default: []].append(pool)
            tallies.append(PoolTally(key: key))
            poolHosts.append((-1, -1))
            poolShare.append(Int32(PoolSweeper.share(of: key, among: shares)))
            batch.newPools.append(key)
        }
        tallies[Int(pool)].firstID = min(tallies[Int(pool)].firstID, id)
        emit(pool, PoolEvent(.open, at: start, +1))
        // Only a pool whose every connection so far carried one request can
        // make the finding this check serves (connection-per-request).
        if tallies[Int(pool)].singleRequestIDs != nil { emit(pool, PoolEvent(.opened, at: start, payload: start)) }
        return Conn(pool: pool)
    }

    /// Hands on the requests and responses not yet handed on, in order: a
    /// response before the next request (the idle stretch between them), a
    /// request without waiting for an earlier response (pipelining). With
    /// `end` (the close), responses after it are left to the caller.
    private mutating func advance(_ c: inout Conn, _ id: Int, _ xs: [HTTPTransaction], end: Int64?) {
        while true {
            if c.responses < c.requests, let done = xs[Int(c.responses)].responseEnd, done <= end ?? .max {
                sendResponse(&c, xs, done: done)
            } else if c.responses < c.requests, xs[Int(c.responses)].responseEnd == nil,
                      xs[(Int(c.responses) + 1)...].contains(where: { $0.responseEnd != nil }) {
                // Never answered (a later response ended): busy until the close, no idle stretch after it.
                c.unanswered += 1
                c.responses += 1
            } else if Int(c.requests) < xs.count {
                sendRequest(&c, xs)
            } else {
                return
            }
        }
    }

    /// A request's start, as one event with the end of the idle stretch
    /// before it (when there was one, and the request came after it).
    private mutating func sendRequest(_ c: inout Conn, _ xs: [HTTPTransaction]) {
        let i = Int(c.requests)
        let start = xs[i].requestStart
        var flags: Int8 = 0
        // A request the moment the previous response ended (its end already handed on).
        if i >= 1, i - 1 < Int(c.responses), let previous = xs[i - 1].responseEnd, start - previous < 2_000_000 {
            flags |= PoolEvent.handoff
        }
        c.requests += 1
        var idleStart: Int64 = 0, kept = false
        if c.lastDone != .min {
            if start >= c.lastDone {
                if let stretch = endIdle(&c, at: start, .reuse, carried: true) {
                    flags |= PoolEvent.idleEnds
                    (idleStart, kept) = stretch
                }
            } else {
                // Sent before the previous response ended: an idle stretch of no length.
                endIdle(&c, at: c.lastDone, .reuse)
            }
        }
        emit(c.pool, PoolEvent(.request, at: start, flags, payload: idleStart, kept: kept))
    }

    private mutating func sendResponse(_ c: inout Conn, _ xs: [HTTPTransaction], done: Int64) {
        let j = Int(c.responses)
        let start = xs[j].requestStart
        c.responses += 1
        c.lastDone = done
        c.idleStartSent = false
        if j + 1 < Int(c.requests) {
            // The next request went out before this response ended (pipelining), or was handed on first.
            emit(c.pool, PoolEvent(.active, at: max(done, start), -1))
            c.responsePending = false
            let next = xs[j + 1].requestStart
            if next - done < 2_000_000 { emit(c.pool, PoolEvent(.handoff, at: next)) }
            endIdle(&c, at: max(done, next), .reuse)
        } else if done >= start {
            c.responsePending = true
        } else {
            emit(c.pool, PoolEvent(.active, at: start, -1))
            c.responsePending = false
        }
    }

    /// Requests whose response never ended (a later one did): busy until `end`.
    private mutating func endUnanswered(_ c: inout Conn, at end: Int64) {
        while c.unanswered > 0 {
            emit(c.pool, PoolEvent(.active, at: end, -1))
            c.unanswered -= 1
        }
    }

    /// A pending response's end, with no idle stretch after it.
    private mutating func flushResponse(_ c: inout Conn) {
        guard c.responsePending else { return }
        emit(c.pool, PoolEvent(.response, at: c.lastDone, 0))
        c.responsePending = false
    }

    /// Ends the idle stretch from `c.lastDone`: its events (when it lasted at
    /// all), the pool's counts, and for a close, how long it had been idle.
    /// `carried`: the end goes with the caller's event; returned, if the stretch lasted.
    @discardableResult
    private mutating func endIdle(_ c: inout Conn, at end: Int64, _ endedBy: IdleEnd, carried: Bool = false) -> (Int64, Bool)? {
        let start = c.lastDone
        let kept = c.idleStartSent || end - start > grace
        let lasted = c.idleStartSent || end > start
        if c.responsePending {
            emit(c.pool, PoolEvent(.response, at: start, lasted ? PoolEvent.idleStarts : 0, kept: kept))
            c.responsePending = false
        } else if !c.idleStartSent && lasted {
            emit(c.pool, PoolEvent(.idle, at: start, +1, payload: start, kept: kept))
        }
        // An idle close's duration rides on the stretch's end (or, for a stretch of no length, comes alone).
        let closedBy: UInt8 = endedBy == .clientClose ? 1 : endedBy == .serverClose ? 2 : 0
        var carriedEnd: (Int64, Bool)?
        if lasted {
            if carried {
                carriedEnd = (start, kept)
            } else {
                var idleEnd = PoolEvent(.idle, at: end, -1, payload: start, kept: kept)
                idleEnd.closedBy = closedBy
                emit(c.pool, idleEnd)
            }
        } else if closedBy != 0 {
            emit(c.pool, PoolEvent(closedBy == 1 ? .clientIdleClose : .serverIdleClose, at: end, payload: 0))
        }
        tallies[Int(c.pool)].noteIdle(endedBy, kept: kept)
        c.lastDone = .min
        c.idleStartSent = false
        return carriedEnd
    }

    /// `pool`: false for the windows still running when the capture ends. Their
    /// ends cannot change a pool's peak, only the hosts' timelines, which show
    /// them running out (95,000 of them at the 1 GB capture's end).
    private mutating func sendTimeWait(_ w: RunningTimeWait, at time: Int64, _ delta: Int8, pool: Bool = true) {
        // A pool's peaks count windows that lasted; a host's timeline, every window.
        if pool && w.lasted {
            if w.holder != .server { emit(w.pool, PoolEvent(.timeWaitClient, at: time, delta)) }
            if w.holder != .client { emit(w.pool, PoolEvent(.timeWaitServer, at: time, delta)) }
        }
        let (client, server) = hosts(of: w.pool)
        if w.holder != .server { batch.hostEvents.append(HostTimeWaitEvent(host: client, delta: delta, time: time)) }
        if w.holder != .client { batch.hostEvents.append(HostTimeWaitEvent(host: server, delta: delta, time: time)) }
    }
}

/// A pool's counts that do not depend on the order of events: added up per
/// connection as it finishes, and across shards at the end.
public struct PoolTally: Sendable {
    public var key: PoolKey
    var firstID = Int.max
    var connections = 0
    var visibleConnections = 0
    var visibleRequests = 0
    var singleRequest = 0
    var multiRequest = 0
    var firstStart = Int64.max
    var lastClose = Int64.min
    var openAtEnd = false
    var closedByClient = 0
    var closedByServer = 0
    var clientTimeWaits = 0
    var reusedIdle = 0
    var clientIdleCloses = 0
    var serverIdleCloses = 0
    var keptIdle = 0
    /// Connections that carried requests, and of those, one said "Connection: close" / the client reset before the response.
    var withRequests = 0
    var saidClose = 0
    var resetEarly = 0
    /// Connections with requests, while every connection carried exactly one (nil once one did not).
    var singleRequestIDs: IDList? = IDList()
    var clientTimeWaitIDs = IDList()
    var serverClosedIDs = IDList()

    init(key: PoolKey) { self.key = key }

    /// `records[i]`'s counts, read in place (see `PoolFeed.finish(each:)`).
    mutating func add(_ records: [ConnectionOutline], _ i: Int, limit: Int) {
        let id = records[i].id
        let initiator = records[i].close.initiator
        connections += 1
        firstStart = min(firstStart, records[i].start.nanoseconds)
        if let at = records[i].close.at?.nanoseconds { lastClose = max(lastClose, at) } else { openAtEnd = true }
        let requests = records[i].requests
        if let n = requests {
            visibleConnections += 1
            visibleRequests += n
            if n == 1 { singleRequest += 1 }
            if n > 1 { multiRequest += 1 }
            if n > 0 {
                withRequests += 1
                let xs = records[i].transactions
                if xs.contains(where: { $0.connectionClose }) { saidClose += 1 }
                if initiator == .client && records[i].close.kind == .rst && xs.first?.responseEnd == nil { resetEarly += 1 }
            }
        }
        if requests == 1 { singleRequestIDs?.add(id, limit: limit) } else { singleRequestIDs = nil }
        switch initiator {
        case .client?: closedByClient += 1
        case nil: break
        default:
            closedByServer += 1
            serverClosedIDs.add(id, limit: limit)
        }
        if let holder = records[i].timeWait?.holder, holder != .server {
            clientTimeWaits += 1
            clientTimeWaitIDs.add(id, limit: limit)
        }
    }

    mutating func noteIdle(_ endedBy: PoolFeed.IdleEnd, kept: Bool) {
        if kept { keptIdle += 1 }
        switch endedBy {
        case .reuse: reusedIdle += 1
        case .clientClose: clientIdleCloses += 1
        case .serverClose: serverIdleCloses += 1
        case .captureEnd: break
        }
    }

    /// Two shards' counts of one pool.
    mutating func merge(_ o: PoolTally, limit: Int) {
        firstID = min(firstID, o.firstID)
        connections += o.connections
        visibleConnections += o.visibleConnections
        visibleRequests += o.visibleRequests
        singleRequest += o.singleRequest
        multiRequest += o.multiRequest
        firstStart = min(firstStart, o.firstStart)
        lastClose = max(lastClose, o.lastClose)
        openAtEnd = openAtEnd || o.openAtEnd
        closedByClient += o.closedByClient
        closedByServer += o.closedByServer
        clientTimeWaits += o.clientTimeWaits
        reusedIdle += o.reusedIdle
        clientIdleCloses += o.clientIdleCloses
        serverIdleCloses += o.serverIdleCloses
        keptIdle += o.keptIdle
        withRequests += o.withRequests
        saidClose += o.saidClose
        resetEarly += o.resetEarly
        if let other = o.singleRequestIDs { singleRequestIDs?.merge(other, limit: limit) } else { singleRequestIDs = nil }
        clientTimeWaitIDs.merge(o.clientTimeWaitIDs, limit: limit)
        serverClosedIDs.merge(o.serverClosedIDs, limit: limit)
    }
}

/// Connection ids for a finding: the lowest `limit` of them, and how many there were.
public struct IDList: Sendable {
    /// Until `limit` ids, every one is kept, in the order they came, packed:
    /// the last id and how many there are (12 bytes), then each as a zigzag
    /// varint of its gap from the one before. Ids come nearly in
    /// order, as connections finish, a pool's a few hundred apart: 2 or 3
    /// bytes an id, where they were 4. The lists fill as a capture goes on (a
    /// pool keeps three, 0.4 MB more at the 1 GB benchmark capture's peak than
    /// at the 100 MB one's), so this was part of what a longer capture held.
    ///
    /// From the limit on, the lowest `limit` so far: a max-heap (the highest
    /// kept first) until `final` sorts them, of UInt32 while every one fits
    /// (ids are connection numbers, or a sharded run's packet numbers), of
    /// Int from the first that does not.
    private enum Kept: Sendable {
        case log([UInt8])
        case narrow([UInt32])
        case wide([Int])
    }
    private var kept = Kept.log([])
    public private(set) var count = 0

    private static let header = 12

    /// Ids come about nearly in order (as connections finish), so once the
    /// list is full most are above the highest kept and cost a compare. (It
    /// had held up to twice the limit between sorts.)
    mutating func add(_ id: Int, limit: Int) {
        count += 1
        keep(id, limit: limit)
    }

    private mutating func keep(_ id: Int, limit: Int) {
        // Each case takes its array out of `kept` while it changes it, so
        // that the array stays uniquely referenced (no copy).
        switch kept {
        case .log(var bytes):
            let (last, n) = Self.logEnd(bytes)
            guard n < limit else {
                kept = Self.heap(of: Self.ids(inLog: bytes), limit: limit)
                keep(id, limit: limit)
                return
            }
            kept = .log([])
            if bytes.isEmpty {
                bytes.reserveCapacity(Self.header + 4)
                bytes.append(contentsOf: repeatElement(0, count: Self.header))
            }
            LEB128.append(LEB128.zigzag(Int64(id) &- Int64(last)), to: &bytes)
            bytes.withUnsafeMutableBytes { b in
                b.storeBytes(of: Int64(id).littleEndian, toByteOffset: 0, as: Int64.self)
                b.storeBytes(of: UInt32(n + 1).littleEndian, toByteOffset: 8, as: UInt32.self)
            }
            kept = .log(bytes)
        case .narrow(var heap):
            kept = .log([])
            if let small = UInt32(exactly: id) {
                Self.keep(small, in: &heap, limit: limit)
                kept = .narrow(heap)
            } else {
                // A max-heap stays one under a map that keeps the order.
                var wide = heap.map { Int($0) }
                heap = []
                Self.keep(id, in: &wide, limit: limit)
                kept = .wide(wide)
            }
        case .wide(var heap):
            kept = .log([])
            Self.keep(id, in: &heap, limit: limit)
            kept = .wide(heap)
        }
    }

    /// A log's last id and how many it holds.
    private static func logEnd(_ bytes: [UInt8]) -> (last: Int, count: Int) {
        guard bytes.count >= header else { return (0, 0) }
        return bytes.withUnsafeBytes { b in
            (Int(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 0, as: Int64.self))),
             Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt32.self))))
        }
    }

    private static func ids(inLog bytes: [UInt8]) -> [Int] {
        let n = logEnd(bytes).count
        var ids: [Int] = []
        ids.reserveCapacity(n)
        var at = header, id: Int64 = 0
        for _ in 0..<n {
            id &+= LEB128.unzigzag(LEB128.read(bytes, at: &at))
            ids.append(Int(id))
        }
        return ids
    }

    /// The lowest `limit` of `ids`, as a heap.
    private static func heap(of ids: [Int], limit: Int) -> Kept {
        if ids.allSatisfy({ UInt32(exactly: $0) != nil }) {
            var heap: [UInt32] = []
            for id in ids { keep(UInt32(id), in: &heap, limit: limit) }
            return .narrow(heap)
        }
        var heap: [Int] = []
        for id in ids { keep(id, in: &heap, limit: limit) }
        return .wide(heap)
    }

    @inline(__always)
    private static func keep<ID: Comparable>(_ id: ID, in heap: inout [ID], limit: Int) {
        if heap.count < limit {
            heap.heapPush(id, by: >)
        } else if limit > 0 && id < heap[0] {
            heap[0] = id
            heap.heapSiftDown(from: 0, by: >)
        }
    }

    /// The ids kept, in no particular order.
    private var keptIDs: [Int] {
        switch kept {
        case .log(let bytes): Self.ids(inLog: bytes)
        case .narrow(let heap): heap.map { Int($0) }
        case .wide(let heap): heap
        }
    }

    mutating func merge(_ o: IDList, limit: Int) {
        for id in o.keptIDs { keep(id, limit: limit) }
        count += o.count
    }

    /// The lowest `limit`, ascending, passed through `renumber` (which keeps their order), and how many there were.
    func final(limit: Int, _ renumber: ((Int) -> Int)?) -> (ids: [Int], count: Int) {
        var ids = keptIDs
        ids.sort()
        if ids.count > limit { ids.removeLast(ids.count - limit) }
        if let renumber { ids = ids.map(renumber) }
        return (ids, count)
    }
}

/// TIME_WAIT windows still running, soonest end first (a binary heap).
struct TimeWaitHeap: Sendable {
    private var items: [PoolFeed.RunningTimeWait] = []

    var top: PoolFeed.RunningTimeWait? { items.first }

    mutating func push(_ window: PoolFeed.RunningTimeWait) {
        items.heapPush(window, by: Self.sooner)
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        items.heapSiftDown(from: 0, by: Self.sooner)
    }

    /// Every window, in no particular order.
    func forEach(_ body: (PoolFeed.RunningTimeWait) -> Void) {
        for w in items { body(w) }
    }

    /// Drops the windows `cut` names, and makes a heap of the rest again.
    mutating func removeAll(where cut: (PoolFeed.RunningTimeWait) -> Bool) {
        let before = items.count
        items.removeAll(where: cut)
        guard items.count < before else { return }
        for i in stride(from: items.count / 2 - 1, through: 0, by: -1) { items.heapSiftDown(from: i, by: Self.sooner) }
    }

    @inline(__always) private static func sooner(_ a: PoolFeed.RunningTimeWait, _ b: PoolFeed.RunningTimeWait) -> Bool {
        a.end < b.end
    }
}

/// Binary-heap steps over an array whose first element `precedes` every other
/// (the TIME_WAIT windows' min-heap, and a finding's max-heap of ids).
extension Array {
    /// Appends `element` and moves it up to its place.
    @inline(__always)
    mutating func heapPush(_ element: Element, by precedes: (Element, Element) -> Bool) {
        append(element)
        var i = count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard precedes(self[i], self[parent]) else { break }
            swapAt(parent, i)
            i = parent
        }
    }

    /// Moves the element at `start` down to its place.
    @inline(__always)
    mutating func heapSiftDown(from start: Int, by precedes: (Element, Element) -> Bool) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var first = i
            if l < count && precedes(self[l], self[first]) { first = l }
            if r < count && precedes(self[r], self[first]) { first = r }
            guard first != i else { return }
            swapAt(i, first)
            i = first
        }
    }
}
