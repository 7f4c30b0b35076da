import PacketDecode
import TCPFlows

/// Sweeps each pool's life in time order, from the events its feeds hand
/// on: open, active and idle connections at each instant and their peaks,
/// TIME_WAIT held toward the server, the checks that need a pool's state at an
/// instant, a thinned timeline, requests per second, and the idle closes'
/// durations (a bounded sample). Each host's TIME_WAIT load likewise.
///
/// Events wait in their pool's queue (sorted by time as each tick's come in)
/// until a batch says no later one can come before them; what a pool keeps
/// after that is bounded: counters, at most `ThinnedTimeline.cap` points, an hour of
/// per-second counts, 1,024 samples.
public struct PoolSweeper: Sendable {
    public let settings: PoolSettings
    let grace: Int64
    /// This sweeper's pools by key (its own index: the order it first saw them).
    var index: [PoolKey: Int32] = [:]
    /// Per feed: its pool and host indices to ours.
    var feedPools: [[Int32]] = []
    var feedHosts: [[Int32]] = []
    var pools: [PoolSweep] = []
    var hostIndex: [IPAddress: Int] = [:]
    var hosts: [HostSweep] = []
    /// Pools with events waiting.
    var waiting: [Int32] = []
    /// Hosts with events waiting, and how far the hosts were last swept: a
    /// host off the list is swept only when events come for it. Every host at
    /// every tick grows with hosts times ticks: with a host per client (26,000
    /// in 30,000 connections) it was 3% of a run's instructions.
    var waitingHosts: [Int32] = []
    var hostsSweptThrough = Int64.min
    var scratch = SortScratch()

    /// Which share of the pools and hosts this sweeper sweeps: those whose
    /// key hashes to `share` of `shares` (a sharded analysis has a sweeper
    /// per shard, each fed every shard's batches; a pool's report depends on
    /// its own events only, so the split does not change it).
    let share: Int
    let shares: Int

    public init(settings: PoolSettings = PoolSettings(), feeds: Int = 1, share: Int = 0, of shares: Int = 1) {
        self.settings = settings
        grace = Int64(settings.closeAfterResponseGrace * 1e9)
        feedPools = Array(repeating: [], count: feeds)
        feedHosts = Array(repeating: [], count: feeds)
        self.share = share
        self.shares = shares
    }

    @inline(__always) func owns<K: Hashable>(_ key: K) -> Bool {
        Self.share(of: key, among: shares) == share
    }

    /// Which of `shares` sweepers sweeps a pool or host (the feeds partition their events by it).
    @inline(__always) static func share<K: Hashable>(of key: K, among shares: Int) -> Int {
        shares == 1 ? 0 : Int(UInt(bitPattern: key.hashValue) % UInt(shares))
    }

    /// Takes one feed's batch (several feeds' batches for one tick may come in
    /// any order): its events for the pools and hosts this sweeper sweeps.
    public mutating func take(_ batch: PoolBatch, from feed: Int = 0) {
        for key in batch.newPools {
            if !owns(key) {
                feedPools[feed].append(-1)
            } else if let known = index[key] {
                feedPools[feed].append(known)
            } else {
                let i = Int32(pools.count)
                index[key] = i
                pools.append(PoolSweep(timeline: ThinnedTimeline(keeping: settings.keepsTimelines)))
                feedPools[feed].append(i)
            }
        }
        for host in batch.newHosts {
            if !owns(host) {
                feedHosts[feed].append(-1)
            } else if let known = hostIndex[host] {
                feedHosts[feed].append(Int32(known))
            } else {
                feedHosts[feed].append(Int32(hosts.count))
                hostIndex[host] = hosts.count
                hosts.append(HostSweep(host: host, keepsTimeline: settings.keepsTimelines))
            }
        }
        let poolMap = feedPools[feed]
        // The pools through one buffer pointer: subscripting the array checked
        // its uniqueness at every event. (The waiting list is a local meanwhile.)
        var listed: [Int32] = []
        swap(&listed, &waiting)
        pools.withUnsafeMutableBufferPointer { pools in
            for event in batch.events[share] {
                let pool = poolMap[Int(event.pool)]
                if pool >= 0 && pools[Int(pool)].add(event) { listed.append(pool) }
            }
        }
        swap(&listed, &waiting)
        let hostMap = feedHosts[feed]
        for e in batch.hostEvents {
            let h = hostMap[Int(e.host)]
            guard h >= 0 else { continue }
            if !hosts[Int(h)].listed {
                hosts[Int(h)].listed = true
                // Where the sweeps it sat out would have left its queue (a new
                // host sat out none).
                if hosts[Int(h)].sweptBefore { hosts[Int(h)].queue.swept = max(hosts[Int(h)].queue.swept, hostsSweptThrough) }
                waitingHosts.append(h)
            }
            hosts[Int(h)].insert(e.time, e.delta)
        }
    }

    /// Sweeps every pool and host as far as a tick's batches allow: events
    /// up to `through`, TIME_WAIT's up to `timeWaitThrough`.
    public mutating func sweep(through: Int64, timeWaitThrough: Int64) {
        // The lists are compacted in place: a new array each for what stays
        // listed was two growing allocations a tick on every sweeper.
        var kept = 0
        for k in waiting.indices {
            let pool = waiting[k]
            pools[Int(pool)].sweep(through: through, timeWaitThrough: timeWaitThrough, grace: grace,
                                   limit: settings.connectionIDLimit, scratch: &scratch)
            if pools[Int(pool)].isWaiting {
                waiting[kept] = pool
                kept += 1
            } else {
                pools[Int(pool)].listed = false
                // Nothing open and nothing waiting: the pool is at rest, and its
                // queues' buffers go (a server's capture has a pool per client,
                // most of them done after a connection or two).
                if pools[Int(pool)].open == 0 { pools[Int(pool)].releaseQueues() }
            }
        }
        waiting.removeLast(waiting.count - kept)
        hostsSweptThrough = max(hostsSweptThrough, timeWaitThrough)
        kept = 0
        for k in waitingHosts.indices {
            let h = waitingHosts[k]
            hosts[Int(h)].sweep(through: timeWaitThrough, scratch: &scratch)
            hosts[Int(h)].sweptBefore = true
            if hosts[Int(h)].queue.isWaiting {
                waitingHosts[kept] = h
                kept += 1
            } else {
                hosts[Int(h)].listed = false
                hosts[Int(h)].queue.release()
            }
        }
        waitingHosts.removeLast(waitingHosts.count - kept)
    }

    /// No batch comes after the last one taken: the lookups that map a feed's
    /// pools and hosts to this sweeper's go (a server's capture has one of
    /// each per client), and the waiting lists and sort buffers with them.
    /// The reports need only the sweeps, `feedPools` and the feeds' tallies.
    public mutating func doneTaking() {
        index = [:]
        hostIndex = [:]
        feedHosts = []
        waiting = []
        waitingHosts = []
        scratch = SortScratch()
    }

    // MARK: - Reports

    /// Every pool's report over the sweepers' shares (one sweeper, or a
    /// sharded run's), in the order of its first connection (lowest id), from
    /// the swept state and the feeds' tallies (one array per feed, by the
    /// feed's pool index), connection ids passed through `renumber`. Call after
    /// the feeds' last batches were taken and swept.
    ///
    /// Consumes both as it goes: each pool's tallies are merged first (one
    /// feed's go then), a pool's swept state and tally are let go once its
    /// report is made, and the reports are made in their places (no sorted
    /// copies). One part: `reports(..., parts:run:)` with its body run once. With a pool per client (a server's view: 65,000
    /// clients in the 1 GB capture), the swept state, the reports and two
    /// sorted copies of them side by side had made the end of the run its peak.
    public static func reports(of sweepers: inout [PoolSweeper], tallies feeds: inout [[PoolTally]], captureEnd: Int64,
                               renumber: (@Sendable (Int) -> Int)? = nil) -> [PoolReport] {
        reports(of: &sweepers, tallies: &feeds, captureEnd: captureEnd, renumber: renumber, parts: 1) { _, body in body(0) }
    }

    /// The same reports, made in `parts` interleaved parts side by side: `run`
    /// calls its body for 0..<parts at once (a sharded analysis has its cores
    /// for it; this module starts no threads). Each pool's tallies are merged
    /// first, one pool after another, then each part makes its pools' reports
    /// from their state where it lies, through pointers to it (every pool's
    /// state is its own), and lets it go: as much memory as one after another.
    /// `renumber` is called from every part.
    public static func reports(of sweepers: inout [PoolSweeper], tallies feeds: inout [[PoolTally]], captureEnd: Int64,
                               renumber: (@Sendable (Int) -> Int)?, parts: Int,
                               run: (_ parts: Int, _ body: @Sendable (Int) -> Void) -> Void) -> [PoolReport] {
        let (order, locals) = reportOrder(sweepers, feeds)
        return reportsInParts(order, locals, &sweepers, &feeds, captureEnd: captureEnd, renumber: renumber,
                              parts: max(parts, 1), run: run)
    }

    /// The pools with connections, in the order of their first connection's
    /// id, and per sweeper, per feed, the feed's index of each of the
    /// sweeper's pools (-1: none).
    private static func reportOrder(_ sweepers: [PoolSweeper], _ feeds: [[PoolTally]])
        -> (order: [(first: Int, sweeper: Int32, pool: Int32)], locals: [[[Int32]]]) {
        var locals: [[[Int32]]] = []
        var order: [(first: Int, sweeper: Int32, pool: Int32)] = []
        for (w, sweeper) in sweepers.enumerated() {
            let byFeed: [[Int32]] = feeds.indices.map { f in
                var local = [Int32](repeating: -1, count: sweeper.pools.count)
                for (l, pool) in sweeper.feedPools[f].enumerated() where pool >= 0 { local[Int(pool)] = Int32(l) }
                return local
            }
            for pool in sweeper.pools.indices {
                var first = Int.max, connections = 0
                for f in feeds.indices where byFeed[f][pool] >= 0 {
                    first = min(first, feeds[f][Int(byFeed[f][pool])].firstID)
                    connections += feeds[f][Int(byFeed[f][pool])].connections
                }
                if connections > 0 { order.append((first, Int32(w), Int32(pool))) }
            }
            locals.append(byFeed)
        }
        // A connection is in one pool: no two pools have the same first id.
        order.sort { $0.first < $1.first }
        return (order, locals)
    }

    private static func reportsInParts(_ order: [(first: Int, sweeper: Int32, pool: Int32)], _ locals: [[[Int32]]],
                                       _ sweepers: inout [PoolSweeper], _ feeds: inout [[PoolTally]], captureEnd: Int64,
                                       renumber: (@Sendable (Int) -> Int)?, parts: Int,
                                       run: (Int, @Sendable (Int) -> Void) -> Void) -> [PoolReport] {
        // The feed and place of a pool's first tally, where the others are merged.
        @Sendable func first(_ w: Int, _ pool: Int) -> (feed: Int, local: Int) {
            let f = locals[w].firstIndex { $0[pool] >= 0 }!
            return (f, Int(locals[w][f][pool]))
        }
        // Each pool's tallies merged, one pool after another.
        for (_, w, pool) in order {
            let (w, pool) = (Int(w), Int(pool))
            let into = first(w, pool)
            for f in (into.feed + 1)..<feeds.count where locals[w][f][pool] >= 0 {
                let local = Int(locals[w][f][pool])
                var taken = PoolTally(key: feeds[f][local].key)
                swap(&taken, &feeds[f][local])
                feeds[into.feed][into.local].merge(taken, limit: sweepers[w].settings.connectionIDLimit)
            }
        }
        let settings = sweepers.map(\.settings)
        return sweepers.withUnsafeMutableBufferPointer { sweepers in
            feeds.withUnsafeMutableBufferPointer { feeds in
                withElements(of: feeds) { tallies in
                    withPools(of: sweepers) { pools in
                        nonisolated(unsafe) let tallies = tallies, pools = pools
                        return [PoolReport](unsafeUninitializedCapacity: order.count) { out, made in
                            nonisolated(unsafe) let out = out
                            run(parts) { part in
                                for i in stride(from: part, to: order.count, by: parts) {
                                    let (w, pool) = (Int(order[i].sweeper), Int(order[i].pool))
                                    let into = first(w, pool)
                                    let at = tallies[into.feed]! + into.local
                                    var tally = PoolTally(key: at.pointee.key)
                                    swap(&tally, &at.pointee)
                                    var sweep = PoolSweep()
                                    swap(&sweep, &pools[w]![pool])
                                    sweep.finish()
                                    (out.baseAddress! + i).initialize(to: report(tally, sweep, settings: settings[w],
                                                                                 captureEnd: captureEnd, renumber: renumber))
                                }
                            }
                            made = order.count
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` with a pointer to the elements of each of the arrays
    /// `arrays` points to (nil for an empty one, whose elements no pool names).
    private static func withElements<T, R>(of arrays: UnsafeMutableBufferPointer<[T]>,
                                           _ body: ([UnsafeMutablePointer<T>?]) -> R) -> R {
        func nest(_ i: Int, _ held: [UnsafeMutablePointer<T>?]) -> R {
            guard i < arrays.count else { return body(held) }
            return arrays[i].withUnsafeMutableBufferPointer { nest(i + 1, held + [$0.baseAddress]) }
        }
        return nest(0, [])
    }

    /// Runs `body` with a pointer to each sweeper's pools (nil for none).
    private static func withPools<R>(of sweepers: UnsafeMutableBufferPointer<PoolSweeper>,
                                     _ body: ([UnsafeMutablePointer<PoolSweep>?]) -> R) -> R {
        func nest(_ i: Int, _ held: [UnsafeMutablePointer<PoolSweep>?]) -> R {
            guard i < sweepers.count else { return body(held) }
            return sweepers[i].pools.withUnsafeMutableBufferPointer { nest(i + 1, held + [$0.baseAddress]) }
        }
        return nest(0, [])
    }

    /// Each host's TIME_WAIT load over the sweepers' shares, busiest first;
    /// each host's swept state is let go once its load is made.
    public static func hostLoads(of sweepers: inout [PoolSweeper]) -> [TimeWaitLedger.HostLoad] {
        var loads: [TimeWaitLedger.HostLoad] = []
        for w in sweepers.indices { sweepers[w].takeHostLoads(into: &loads) }
        loads.sort { $0.peak != $1.peak ? $0.peak > $1.peak : $0.host < $1.host }
        return loads
    }

    /// This share's hosts' TIME_WAIT loads, unordered.
    mutating func takeHostLoads(into loads: inout [TimeWaitLedger.HostLoad]) {
        // A feed names both hosts of every window; one that held none is not listed.
        for i in hosts.indices where hosts[i].connections > 0 {
            var h = HostSweep(host: hosts[i].host)
            swap(&h, &hosts[i])
            h.finish()
            let timeline: [(time: CaptureTime, count: Int)] = h.timeline.points.map { (CaptureTime(nanoseconds: $0.time), Int($0.count)) }
            loads.append(TimeWaitLedger.HostLoad(host: h.host, connections: h.connections, peak: h.peak,
                                                 peakAt: CaptureTime(nanoseconds: h.peakAt), timeline: timeline))
        }
        // Taken: the hosts go before the pools' reports are made (128 bytes a host).
        hosts = []
    }

    static func report(_ t: PoolTally, _ s: PoolSweep, settings: PoolSettings, captureEnd: Int64,
                       renumber: ((Int) -> Int)?) -> PoolReport {
        let first = t.firstStart
        let last = t.openAtEnd ? max(t.lastClose, captureEnd) : t.lastClose
        let span = max(Double(last - first) / 1e9, 0.001)
        let requestSpan = s.requests > 0 ? Double(s.lastRequest - s.firstRequest) / 1e9 : 0
        // Ports tied up by the client's TIME_WAITs at the observed rate (at
        // least 20 of them, over at least a second, before extrapolating).
        let rate = Double(t.clientTimeWaits) / max(span, 1)
        let ports = Double(settings.portRange.count)
        let exhaustion: Double? = t.clientTimeWaits >= 20 && rate * settings.timeWaitSeconds >= ports ? ports / rate : nil
        var report = PoolReport(
            client: t.key.client, server: t.key.server, name: t.key.name, connections: t.connections,
            requests: t.visibleRequests, hiddenRequestConnections: t.connections - t.visibleConnections,
            reuseRatio: t.visibleConnections > 0 ? Double(t.visibleRequests) / Double(t.visibleConnections) : nil,
            singleRequestShare: t.visibleConnections > 0 ? Double(t.singleRequest) / Double(t.visibleConnections) : nil,
            peakOpen: s.peakOpen, peakActive: s.peakActive, peakIdle: s.peakIdle,
            peakTimeWaitClient: s.peakTimeWaitClient, peakTimeWaitServer: s.peakTimeWaitServer,
            requestsPerSecond: s.requests > 1 && requestSpan > 0 ? Double(s.requests) / requestSpan : nil,
            idleReused: t.reusedIdle, closedAfterResponseWhileOthersIdle: s.capWhileOthersIdle.count,
            idleClosesByClient: t.clientIdleCloses, idleClosesByServer: t.serverIdleCloses,
            closesPerSecondClient: Double(t.closedByClient) / span, closesPerSecondServer: Double(t.closedByServer) / span,
            portExhaustionSeconds: exhaustion,
            // A copy of exactly its points: the sweep's buffer has room to grow,
            // which the report would keep (4 MB with a pool per client).
            timeline: s.timeline.points.map { $0 },
            requestsPerSecondTimeline: s.perSecond.enumerated().map { (s.firstRequest + Int64($0.offset) * 1_000_000_000, Int($0.element)) },
            inferred: InferredSettings(), findings: [])
        report.inferred = PoolAnalysis.infer(report, t, clientIdle: s.clientCloses, serverIdle: s.serverCloses,
                                             timesAtPeakIdle: s.timesAtPeakIdle, capClosures: s.capWhileOthersIdle.count)
        if s.handoffsAtPeak >= 3 && report.peakOpen >= 2 {
            report.inferred.maxConnsPerHost = Inferred(
                value: report.peakOpen, observations: s.handoffsAtPeak,
                evidence: "never more than \(report.peakOpen) connections; \(s.handoffsAtPeak) requests went out the moment a response ended while all the others were busy")
        }
        report.findings = PoolAnalysis.findings(report, t, capClosures: s.capWhileOthersIdle,
                                                openedBesideIdle: s.openedBesideIdle, settings: settings, renumber: renumber)
        return report
    }
}

/// One pool's sweep.
struct PoolSweep: Sendable {
    /// Events waiting for the sweep: TIME_WAIT's apart, since they come
    /// later (a window is known when its record is finished, up to about 2 s
    /// after it starts) and count apart (the peaks held toward the server).
    var queue = EventQueue()
    var timeWaitQueue = EventQueue()
    var open = 0, active = 0, idle = 0
    var peakOpen = 0, peakActive = 0, peakIdle = 0, timesAtPeakIdle = 0
    /// Starts of the kept idle stretches running now, ascending.
    var keptStarts: [Int64] = []
    var timeWaitClient = 0, timeWaitServer = 0, peakTimeWaitClient = 0, peakTimeWaitServer = 0
    var capWhileOthersIdle = IDList()
    var openedBesideIdle = 0
    /// Requests handed a connection the moment its response ended while every other was busy, at the running peak of open connections.
    var handoffsAtPeak = 0
    var requests = 0
    var firstRequest = Int64.max
    var lastRequest = Int64.min
    var perSecond: [Int32] = []
    var timeline = ThinnedTimeline<TimelinePoint>()
    var pointTime = Int64.min
    var clientCloses = IdleDurations()
    var serverCloses = IdleDurations()

    var isWaiting: Bool { queue.isWaiting || timeWaitQueue.isWaiting }

    /// Lets the (empty) queues' buffers go.
    mutating func releaseQueues() {
        queue.release()
        timeWaitQueue.release()
    }
    /// On the sweeper's list of pools with events waiting.
    var listed = false

    /// Queues an event; true when the pool must go on the waiting list.
    @inline(__always)
    mutating func add(_ e: PoolEvent) -> Bool {
        if e.kind == .timeWaitClient || e.kind == .timeWaitServer { timeWaitQueue.add(e) } else { queue.add(e) }
        if listed { return false }
        listed = true
        return true
    }

    mutating func sweep(through: Int64, timeWaitThrough: Int64, grace: Int64, limit: Int, scratch: inout SortScratch) {
        queue.settle(&scratch)
        timeWaitQueue.settle(&scratch)
        // Out of self while swept (no overlapping access, and no copy).
        var q = EventQueue()
        swap(&q, &queue)
        sweep(&q, through: through, grace: grace, limit: limit)
        swap(&q, &queue)
        swap(&q, &timeWaitQueue)
        sweep(&q, through: timeWaitThrough, grace: grace, limit: limit)
        swap(&q, &timeWaitQueue)
    }

    /// Each instant's events: every end, then every start, then the checks.
    @inline(__always)
    private mutating func sweep(_ q: inout EventQueue, through: Int64, grace: Int64, limit: Int) {
        q.pending.withUnsafeBufferPointer { events in
            var head = q.head
            while head < events.count && events[head].time <= through {
                let t = events[head].time
                var last = head + 1
                var changes = events[head].changesCounts
                while last < events.count && events[last].time == t {
                    changes = changes || events[last].changesCounts
                    last += 1
                }
                // One timeline point per instant with a change: the state after it.
                if changes && pointTime != .min && pointTime != t { timeline.append(point) }
                if last == head + 1 {
                    let e = events[head]
                    applyEnds(e)
                    applyStarts(e)
                    applyChecks(e, grace: grace, limit: limit)
                } else {
                    for k in head..<last { applyEnds(events[k]) }
                    for k in head..<last { applyStarts(events[k]) }
                    for k in head..<last { applyChecks(events[k], grace: grace, limit: limit) }
                }
                head = last
            }
            q.head = head
        }
        q.compact(through: through)
    }

    @inline(__always)
    mutating func applyEnds(_ e: PoolEvent) {
        switch e.kind {
        case .open where e.delta < 0: open -= 1; pointTime = e.time
        case .active where e.delta < 0: active -= 1; pointTime = e.time
        case .response: active -= 1; pointTime = e.time
        case .idle where e.delta < 0: endIdle(e)
        case .request where e.delta & PoolEvent.idleEnds != 0: endIdle(e)
        case .timeWaitClient where e.delta < 0: timeWaitClient -= 1
        case .timeWaitServer where e.delta < 0: timeWaitServer -= 1
        default: break
        }
    }

    @inline(__always)
    mutating func applyStarts(_ e: PoolEvent) {
        switch e.kind {
        case .open where e.delta > 0:
            open += 1
            pointTime = e.time
            if open > peakOpen {
                peakOpen = open
                handoffsAtPeak = 0
            }
        case .active where e.delta > 0, .request:
            active += 1
            pointTime = e.time
            if active > peakActive { peakActive = active }
            noteRequest(at: e.time)
        case .idle where e.delta > 0:
            startIdle(at: e.time, start: e.payload, kept: e.kept)
        case .response where e.delta & PoolEvent.idleStarts != 0:
            startIdle(at: e.time, start: e.time, kept: e.kept)
        case .timeWaitClient where e.delta > 0:
            timeWaitClient += 1
            peakTimeWaitClient = max(peakTimeWaitClient, timeWaitClient)
        case .timeWaitServer where e.delta > 0:
            timeWaitServer += 1
            peakTimeWaitServer = max(peakTimeWaitServer, timeWaitServer)
        default: break
        }
    }

    @inline(__always)
    mutating func applyChecks(_ e: PoolEvent, grace: Int64, limit: Int) {
        switch e.kind {
        case .capClosure:
            if !keptStarts.isEmpty { capWhileOthersIdle.add(Int(e.payload), limit: limit) }
        case .opened:
            // Another connection sat idle since before this one was opened (by more than the grace), and still.
            if let oldest = keptStarts.first, oldest <= e.payload - grace - 1 { openedBesideIdle += 1 }
        case .handoff:
            handoffCheck()
        case .request where e.delta & PoolEvent.handoff != 0:
            handoffCheck()
        case .clientIdleClose:
            clientCloses.add(end: e.time, idle: 0)
        case .serverIdleClose:
            serverCloses.add(end: e.time, idle: 0)
        default: break
        }
    }

    /// As many open as ever, all of them busy: the request waited for a connection.
    @inline(__always)
    mutating func handoffCheck() {
        let others = open - 1
        if others > 0 && active - 1 >= others && open >= peakOpen { handoffsAtPeak += 1 }
    }

    @inline(__always)
    mutating func startIdle(at t: Int64, start: Int64, kept: Bool) {
        idle += 1
        pointTime = t
        if kept { keptStarts.insert(start, at: partitionPoint(keptStarts.count) { keptStarts[$0] > start }) }
        if idle > peakIdle {
            peakIdle = idle
            timesAtPeakIdle = 1
        } else if idle == peakIdle && idle > 0 {
            timesAtPeakIdle += 1
        }
    }

    @inline(__always)
    mutating func endIdle(_ e: PoolEvent) {
        idle -= 1
        pointTime = e.time
        if e.kept {
            let i = partitionPoint(keptStarts.count) { keptStarts[$0] >= e.payload }
            if i < keptStarts.count && keptStarts[i] == e.payload { keptStarts.remove(at: i) }
        }
        if e.closedBy == 1 {
            clientCloses.add(end: e.time, idle: e.time - e.payload)
        } else if e.closedBy == 2 {
            serverCloses.add(end: e.time, idle: e.time - e.payload)
        }
    }

    var point: TimelinePoint {
        TimelinePoint(time: pointTime, open: open, active: active, idle: idle)
    }

    mutating func noteRequest(at t: Int64) {
        requests += 1
        if firstRequest == .max { firstRequest = t }
        lastRequest = max(lastRequest, t)
        // Requests started in each second of the pool's first hour.
        let second = max(0, (t - firstRequest) / 1_000_000_000)
        guard second <= 3599 else { return }
        if perSecond.count <= Int(second) { perSecond.append(contentsOf: repeatElement(0, count: Int(second) + 1 - perSecond.count)) }
        perSecond[Int(second)] += 1
    }

    mutating func finish() {
        if pointTime != .min { timeline.append(point) }
        pointTime = .min
        clientCloses.finish()
        serverCloses.finish()
    }
}

/// A pool's events waiting for the sweep, in time order (at one instant in
/// any order: the sweep applies every end, then every start, then the checks).
struct EventQueue: Sendable {
    /// `pending[head..<sorted]`: waiting, in time order. `pending[sorted...]`:
    /// taken since the last sweep, in the order they came, sorted and merged in
    /// when swept (inserting each in place moved the queue's tail for most of
    /// them: a feed hands on a connection's close after the requests of
    /// others). One array: a second one per queue for the newcomers, each kept
    /// at its high-water mark, was a megabyte over a pool per client.
    var pending: [PoolEvent] = []
    var head = 0
    var sorted = 0
    var swept = Int64.min

    var isWaiting: Bool { head < pending.count }

    /// A queue's buffer is kept at its high-water mark (below), so it grows
    /// by a quarter, not by doubling: summed over a pool per client, the
    /// doubling's spare room was a third of the queues' memory. It starts at
    /// 4 events, not 16: most of a server's pools (one per client) and hosts
    /// only ever hold one or two TIME_WAIT ends.
    @inline(__always) mutating func add(_ e: PoolEvent) {
        if pending.count == pending.capacity { pending.reserveCapacity(pending.count + pending.count / 4 + 4) }
        pending.append(e)
    }

    /// An empty queue's buffer goes (the sweep point stays).
    mutating func release() {
        guard !isWaiting else { return }
        pending = []
        head = 0
        sorted = 0
    }

    /// Orders what came in since the last sweep into the queue. An event for
    /// an instant already swept (a connection whose first request came long
    /// after its SYN) counts from the sweep's point. Buffers are kept: a
    /// pool's queues hold about what one tick brings, and growing them again
    /// from nothing each tick was a tenth of the sweep.
    @inline(__always)
    mutating func settle(_ scratch: inout SortScratch) {
        guard sorted < pending.count else { return }
        // The newcomers go aside (the sweeper's one buffer), sorted, then merged back.
        var incoming: [PoolEvent] = []
        swap(&incoming, &scratch.incoming)
        incoming.removeAll(keepingCapacity: true)
        incoming.append(contentsOf: pending[sorted...])
        pending.removeLast(pending.count - sorted)
        for i in incoming.indices where incoming[i].time < swept { incoming[i].time = swept }
        sortByTime(&incoming, &scratch)
        mergeFromTheEnd(&pending, from: head, incoming)
        sorted = pending.count
        swap(&incoming, &scratch.incoming)
    }

    /// Drops the swept events, in place. (Waiting until they were half the
    /// queue saved some moves but held 3 MB more at the 1 GB capture's peak.)
    /// Called after `settle`, with nothing taken since.
    mutating func compact(through: Int64) {
        swept = max(swept, through)
        if head == pending.count {
            pending.removeAll(keepingCapacity: true)
        } else if head > 0 {
            pending.removeFirst(head)
        }
        head = 0
        sorted = pending.count
    }
}

/// Buffers for sorting events, kept by the sweeper across pools and ticks.
struct SortScratch: Sendable {
    var keys: [UInt64] = []
    var events: [PoolEvent] = []
    /// A queue's newcomers while they are sorted (`EventQueue.settle`).
    var incoming: [PoolEvent] = []
}

/// Sorts a pool's events of one tick by time: a few dozen (insertion sort),
/// or more, as integers (the time from the earliest and the index, in one
/// word each: sorting them is a fraction of sorting the events with a
/// comparison closure, which was a twentieth of a run).
@inline(__always)
func sortByTime(_ events: inout [PoolEvent], _ scratch: inout SortScratch) {
    guard events.count > 32 else {
        for i in events.indices.dropFirst() {
            let e = events[i]
            var j = i
            while j > 0 && events[j - 1].sortsAfter(e) {
                events[j] = events[j - 1]
                j -= 1
            }
            events[j] = e
        }
        return
    }
    var low = Int64.max, high = Int64.min
    for e in events {
        low = min(low, e.time)
        high = max(high, e.time)
    }
    // 40 bits of nanoseconds (18 minutes) and 24 of index; else compare.
    guard high &- low >= 0, high &- low < 1 << 40, events.count < 1 << 24 else {
        events.sort { $1.sortsAfter($0) }
        return
    }
    scratch.keys.removeAll(keepingCapacity: true)
    for i in events.indices {
        scratch.keys.append(UInt64(events[i].time &- low) << 24 | UInt64(i))
    }
    scratch.keys.sort()
    scratch.events.removeAll(keepingCapacity: true)
    scratch.events.append(contentsOf: events)
    for k in scratch.keys.indices { events[k] = scratch.events[Int(scratch.keys[k] & 0xFF_FFFF)] }
}

/// Merges sorted `incoming` into the sorted `queue[head...]` in place, from
/// the end: only the queue's events later than incoming's first move, and no
/// second buffer is made.
@inline(__always)
func mergeFromTheEnd(_ queue: inout [PoolEvent], from head: Int, _ incoming: [PoolEvent]) {
    var a = queue.count - 1
    queue.append(contentsOf: incoming)
    var b = incoming.count - 1
    var w = queue.count - 1
    while b >= 0 {
        if a >= head && queue[a].sortsAfter(incoming[b]) {
            queue[w] = queue[a]
            a -= 1
        } else {
            queue[w] = incoming[b]
            b -= 1
        }
        w -= 1
    }
}

/// A point a timeline thins by (of two neighbours, the one with the greater
/// weight stays), and packs: its time, then its counts, the weight first.
protocol Weighted: Sendable {
    var weight: Int32 { get }
    var time: Int64 { get }
    /// How many counts `packCounts` puts.
    static var packedCounts: Int { get }
    func packCounts(into writer: inout PackedInts.Writer)
    init(time: Int64, unpacking reader: inout PackedInts.Reader)
}

/// A timeline kept to at most `cap` points as it grows (a pool's, by open
/// connections; a host's, by TIME_WAIT count): when full, each two neighbours
/// become the heavier one, and later points are taken in groups as large.
/// Until it first fills, every point is kept.
///
/// The points are packed as varints, each time as the gap since the one
/// before: 6 to 8 bytes a pool's point and 4 to 6 a host's, where they were 20
/// and 12. The timelines fill toward the cap as a capture goes on (the
/// 1 GB benchmark capture's 272 hosts' reached it; the 100 MB capture's had
/// barely begun), so this was part of what a longer capture held more of.
struct ThinnedTimeline<Point: Weighted>: Sendable {
    /// Points a timeline keeps, at most.
    static var cap: Int { 200 }
    private var packed = PackedInts()
    /// Where the last point's bytes start, and its weight and time: a
    /// heavier point of its group replaces it there. (Small fields, in an
    /// order that leaves no holes: a pool per client makes tens of thousands
    /// of timelines, most of a few points.)
    private var lastStart: UInt16 = 0
    private var points16: UInt16 = 0
    /// The group is 2^groupShift points; `inGroup` of the current one came.
    private var groupShift: UInt8 = 0
    /// False: no point is kept (`PoolSettings.keepsTimelines`).
    private var keeping = true
    private var lastWeight: Int32 = 0
    private var inGroup: Int32 = 0
    private var lastTime: Int64 = 0

    var count: Int { Int(points16) }
    var group: Int { 1 << Int(groupShift) }

    init(keeping: Bool = true) { self.keeping = keeping }

    mutating func append(_ p: Point) {
        guard keeping else { return }
        if inGroup == 0 {
            if count >= Self.cap { halve() }
            pack(p)
        } else if p.weight > lastWeight {
            // The last point's gap is from the one before it.
            lastTime &-= packed.value(at: Int(lastStart))
            packed.removeFrom(Int(lastStart))
            points16 -= 1
            pack(p)
        }
        inGroup += 1
        if inGroup >= group { inGroup = 0 }
    }

    private mutating func pack(_ p: Point) {
        lastStart = packed.used
        let gap = p.time &- lastTime
        packed.append { writer in
            writer.put(gap)
            p.packCounts(into: &writer)
        }
        lastTime = p.time
        lastWeight = p.weight
        points16 += 1
    }

    /// The points, oldest first.
    var points: [Point] {
        var out: [Point] = []
        out.reserveCapacity(count)
        packed.withReader { reader in
            var time: Int64 = 0
            for _ in 0..<count {
                time &+= reader.next()
                out.append(Point(time: time, unpacking: &reader))
            }
        }
        return out
    }

    /// In the packed bytes: of each two neighbours the heavier stays, its gap
    /// now from the point kept before it and its counts' bytes as they were.
    /// It never writes past what it has read: a gap that now spans two or
    /// three is at most as long as theirs were together. (Unpacking every
    /// point and packing the half that stay was 1.8% of a run's instructions.)
    mutating func halve() {
        let n = count
        var keptTime: Int64 = 0, keptWeight: Int32 = 0, keptStart = 0
        packed.rewrite { p in
            let bytes = UnsafeBufferPointer(p)
            let base = UnsafeMutableRawPointer(p.baseAddress!)
            // r reads, w writes (w <= r).
            var r = 0, w = 0, time: Int64 = 0
            // The next point's time, its weight (the first count), and where its counts' bytes are.
            func next() -> (time: Int64, weight: Int32, counts: Range<Int>) {
                time &+= LEB128.unzigzag(LEB128.read(bytes, at: &r))
                let start = r
                let weight = Int32(truncatingIfNeeded: LEB128.unzigzag(LEB128.read(bytes, at: &r)))
                for _ in 1..<Point.packedCounts { LEB128.skip(bytes, at: &r) }
                return (time, weight, start..<r)
            }
            var i = 0
            while i < n {
                var kept = next()
                if i + 1 < n {
                    let other = next()
                    if other.weight > kept.weight { kept = other }
                }
                keptStart = w
                LEB128.store(LEB128.zigzag(kept.time &- keptTime), at: base, &w)
                (base + w).copyMemory(from: base + kept.counts.lowerBound, byteCount: kept.counts.count)
                w += kept.counts.count
                keptTime = kept.time
                keptWeight = kept.weight
                i += 2
            }
            return w
        }
        points16 = UInt16((n + 1) / 2)
        lastStart = UInt16(keptStart)
        lastTime = keptTime
        lastWeight = keptWeight
        groupShift += 1
        inGroup = 0
    }
}

/// A capture time in two 4-byte halves: a timeline point of a time and
/// 32-bit counts then has 4-byte alignment, 12 bytes a host's and 20 a
/// pool's, where an Int64 made them 16 and 24 (a pool and a host keep up to
/// 200 points each: 272 hosts' timelines were 0.8 MB of the 1 GB capture's peak).
struct SplitTime: Sendable, Equatable {
    var high: Int32
    var low: UInt32

    @inline(__always) init(_ nanoseconds: Int64) {
        high = Int32(truncatingIfNeeded: nanoseconds >> 32)
        low = UInt32(truncatingIfNeeded: nanoseconds)
    }

    @inline(__always) var nanoseconds: Int64 { Int64(high) << 32 | Int64(low) }
}

/// How long idle connections sat before a close by one side, leaving out
/// bulk closes (two within 5 ms: CloseIdleConnections, exit, shutdown, not a
/// timeout). Every such close is counted; 1,024 of them are kept (every
/// other one dropped each time it fills), enough for a median.
struct IdleDurations: Sendable {
    /// The kept durations in nanoseconds, packed (5 or 6 bytes each for
    /// 10 ms to 90 s, where Doubles were 8): they fill toward 1,024 as a
    /// capture goes on.
    private var samples = PackedInts()
    var pendingBulk = false
    var hasPending = false
    private var kept: Int32 = 0
    var count = 0
    var every = 1
    var skip = 0
    var pendingEnd = Int64.min
    var pendingIdle: Int64 = 0

    mutating func add(end: Int64, idle: Int64) {
        var bulk = false
        if hasPending && end - pendingEnd < 5_000_000 {
            pendingBulk = true
            bulk = true
        }
        flush()
        hasPending = true
        pendingEnd = end
        pendingIdle = idle
        pendingBulk = bulk
    }

    mutating func finish() { flush() }

    private mutating func flush() {
        guard hasPending else { return }
        hasPending = false
        guard !pendingBulk else { return }
        count += 1
        if skip > 0 {
            skip -= 1
            return
        }
        samples.append(pendingIdle)
        kept += 1
        skip = every - 1
        if kept >= 1024 {
            let all = samples.withReader { reader in (0..<Int(kept)).map { _ in reader.next() } }
            samples.removeAll()
            kept = 0
            for i in Swift.stride(from: 0, to: all.count, by: 2) {
                samples.append(all[i])
                kept += 1
            }
            every *= 2
            skip = every - 1
        }
    }

    /// The kept durations, in seconds, in the order they came.
    var values: [Double] {
        samples.withReader { reader in (0..<Int(kept)).map { _ in Double(reader.next()) / 1e9 } }
    }
}

/// One host's TIME_WAIT windows over time.
struct HostSweep: Sendable {
    struct Point: Weighted {
        private var at: SplitTime
        var count: Int32
        var weight: Int32 { count }
        var time: Int64 { at.nanoseconds }

        init(time: Int64, count: Int32) {
            at = SplitTime(time)
            self.count = count
        }

        static var packedCounts: Int { 1 }

        func packCounts(into writer: inout PackedInts.Writer) {
            writer.put(Int64(count))
        }

        init(time: Int64, unpacking reader: inout PackedInts.Reader) {
            self.init(time: time, count: Int32(truncatingIfNeeded: reader.next()))
        }
    }
    let host: IPAddress
    /// Window starts (+1) and ends (-1), queued as a pool's events are.
    var queue = EventQueue()
    /// On the sweeper's list of hosts with events waiting; swept at least once.
    var listed = false
    var sweptBefore = false
    var count = 0
    var peak = 0
    var peakAt = Int64.min
    var connections = 0
    var timeline = ThinnedTimeline<Point>()
    var pointTime = Int64.min

    init(host: IPAddress, keepsTimeline: Bool = true) {
        self.host = host
        timeline = ThinnedTimeline(keeping: keepsTimeline)
    }

    mutating func insert(_ time: Int64, _ delta: Int8) {
        queue.add(PoolEvent(.hostTimeWait, at: time, delta))
    }

    /// Each instant's ends, then its starts: a reused port is not two at once.
    mutating func sweep(through: Int64, scratch: inout SortScratch) {
        queue.settle(&scratch)
        // Out of self while swept (no overlapping access, and no copy).
        var q = EventQueue()
        swap(&q, &queue)
        q.pending.withUnsafeBufferPointer { events in
            var head = q.head
            while head < events.count && events[head].time <= through {
                let t = events[head].time
                var last = head + 1
                while last < events.count && events[last].time == t { last += 1 }
                if peakAt == .min { peakAt = t }
                // One point per instant: the count after the previous one.
                if pointTime != .min { timeline.append(Point(time: pointTime, count: Int32(clamping: count))) }
                pointTime = t
                for k in head..<last where events[k].delta < 0 { count -= 1 }
                for k in head..<last where events[k].delta > 0 {
                    count += 1
                    connections += 1
                    if count > peak {
                        peak = count
                        peakAt = t
                    }
                }
                head = last
            }
            q.head = head
        }
        q.compact(through: through)
        swap(&q, &queue)
    }

    mutating func finish() {
        if pointTime != .min { timeline.append(Point(time: pointTime, count: Int32(clamping: count))) }
        pointTime = .min
        if peakAt == .min { peakAt = 0 }
    }
}
