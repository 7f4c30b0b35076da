import Dispatch
import HTTPStreams
import PacketDecode
import TCPFlows

/// Settings the inference needs that come from the command line.
public struct PoolSettings: Sendable {
    /// The client's ephemeral port range (Linux default 32768-60999).
    public var portRange: ClosedRange<Int> = 32768...60999
    /// 2·MSL, as for TIME_WAIT windows.
    public var timeWaitSeconds: Double = 60
    /// A client close this soon after a response means the connection was not kept idle.
    public var closeAfterResponseGrace: Double = 0.05
    /// TIME_WAIT sockets held by the client toward one server that make a finding.
    public var timeWaitBuildupThreshold = 50

    public init() {}
}

/// Describes each client's connection pools from finished connection records.
///
/// Keeps a compact summary per connection (times, close, TIME_WAIT, request
/// and response times) grouped by pool; `reports()` sweeps each pool's
/// intervals for its peaks, infers settings and derives the findings. Pure:
/// no clock, no I/O. The thresholds are named in `PoolSettings`.
public struct PoolAnalyzer: Sendable {
    struct Key: Hashable, Sendable {
        var client: IPAddress
        var server: Endpoint
        var name: String?
    }

    /// One request and its response, packed in 16 bytes (one is kept for every
    /// request of the capture until the end): the response's end, or -1 while
    /// none was seen, shifted left one bit beside the Connection: close flag.
    /// Capture timestamps are non-negative and below 2^62 ns.
    struct Exchange: Sendable {
        var start: Int64
        private var packedEnd: Int64

        init(start: Int64, end: Int64?, connectionClose: Bool) {
            self.start = start
            packedEnd = (end ?? -1) << 1 | (connectionClose ? 1 : 0)
        }

        var end: Int64? { packedEnd >> 1 == -1 ? nil : packedEnd >> 1 }
        var connectionClose: Bool { packedEnd & 1 == 1 }
    }

    /// What is kept of a finished connection until the end (one per connection:
    /// 64 bytes, where plain optionals took 80). Its exchanges are a range of
    /// its pool's one array: an array per connection was a heap block (and
    /// reference counting on every copy of a member) for each of them.
    struct Member: Sendable {
        var id: Int
        var start: Int64
        private var closeAtOrMin: Int64
        var firstExchange: Int
        var timeWaitStart: Int64
        var timeWaitEnd: Int64
        private var requestsOrMinus1: Int32
        var exchangeCount: Int32
        private var closer: Int8          // -1 none, 0 server, 1 client
        var closeIsReset: Bool
        private var holder: Int8          // -1 none, else TimeWaitHolder's index

        init(id: Int, start: Int64, closeAt: Int64?, closedByClient: Bool?, closeIsReset: Bool, requests: Int?,
             firstExchange: Int, exchangeCount: Int, timeWaitHolder: TimeWaitHolder?, timeWaitStart: Int64, timeWaitEnd: Int64) {
            self.id = id
            self.start = start
            closeAtOrMin = closeAt ?? .min
            self.firstExchange = firstExchange
            self.exchangeCount = Int32(exchangeCount)
            self.timeWaitStart = timeWaitStart
            self.timeWaitEnd = timeWaitEnd
            requestsOrMinus1 = requests.map { Int32(clamping: $0) } ?? -1
            closer = closedByClient.map { $0 ? 1 : 0 } ?? -1
            self.closeIsReset = closeIsReset
            holder = timeWaitHolder.map { Int8(Self.holders.firstIndex(of: $0)!) } ?? -1
        }

        static let holders: [TimeWaitHolder] = [.client, .server, .both]

        /// When the first FIN or RST was sent (nil: still open at capture end).
        var closeAt: Int64? { closeAtOrMin == .min ? nil : closeAtOrMin }
        var closedByClient: Bool? { closer < 0 ? nil : closer == 1 }
        var requests: Int? { requestsOrMinus1 < 0 ? nil : Int(requestsOrMinus1) }
        var timeWaitHolder: TimeWaitHolder? { holder < 0 ? nil : Self.holders[Int(holder)] }
        var exchangeRange: Range<Int> { firstExchange..<firstExchange + Int(exchangeCount) }
    }

    /// One pool's connections, and all their exchanges in one array.
    struct Pool: Sendable {
        var members: [Member] = []
        var exchanges: [Exchange] = []
    }

    public let settings: PoolSettings
    var pools: [Key: Pool] = [:]

    public init(settings: PoolSettings = PoolSettings()) {
        self.settings = settings
    }

    /// Notes a finished connection.
    public mutating func add(_ r: ConnectionRecord) {
        let name = r.http.tls?.serverName ?? r.http.transactions.first?.host
        let key = Key(client: r.client.address, server: r.server, name: name)
        let tw = r.timeWait
        // One lookup, the pool changed in place.
        modifying(&pools[key, default: Pool()]) { pool in
            pool.members.append(Member(
                id: r.id, start: r.start.nanoseconds, closeAt: r.close.at?.nanoseconds,
                closedByClient: r.close.initiator.map { $0 == .client },
                closeIsReset: r.close.kind == .rst,
                requests: r.http.requests,
                firstExchange: pool.exchanges.count, exchangeCount: r.http.transactions.count,
                timeWaitHolder: tw?.holder, timeWaitStart: tw?.start.nanoseconds ?? 0,
                timeWaitEnd: min(tw?.end.nanoseconds ?? 0, tw?.reusedAt?.nanoseconds ?? .max)))
            for t in r.http.transactions {
                pool.exchanges.append(Exchange(start: t.requestStart, end: t.responseEnd, connectionClose: t.connectionClose))
            }
        }
    }

    @inline(__always)
    private func modifying<T>(_ value: inout T, _ change: (inout T) -> Void) { change(&value) }

    /// Every pool, in the order their first connection was seen (lowest id).
    /// `threads` > 1 computes pools side by side (each pool's report depends on
    /// its own connections only): 100,000 connections in 4,096 pools took a
    /// quarter of a second on one core, at the end, when nothing else runs.
    public func reports(captureEnd: Int64, threads: Int = 1) -> [PoolReport] {
        Self.reports(of: [self], captureEnd: captureEnd, threads: threads)
    }

    /// The pools of several shards' analyzers (see `Analyzer`: a pool's
    /// connections are spread over the shards by 4-tuple), with each connection
    /// id passed through `renumber` (which must keep their order). Each pool's
    /// members are gathered, renumbered and sorted only while its report is
    /// made: merging whole analyzers first held a second copy of every member
    /// at the end of the run, when memory peaks.
    public static func reports(of shards: [PoolAnalyzer], captureEnd: Int64, threads: Int = 1,
                               renumber: (@Sendable (Int) -> Int)? = nil) -> [PoolReport] {
        var firstID: [Key: Int] = [:]
        for shard in shards {
            for (key, pool) in shard.pools {
                let least = pool.members.lazy.map(\.id).min() ?? .max
                firstID[key] = min(firstID[key] ?? .max, least)
            }
        }
        let keys = firstID.sorted { $0.value < $1.value }.map(\.key)
        let settings = shards.first?.settings ?? PoolSettings()
        @Sendable func report(_ i: Int) -> PoolReport {
            var pool: Pool
            if shards.count == 1 {
                pool = shards[0].pools[keys[i]]!
            } else {
                pool = Pool()
                for shard in shards {
                    guard let part = shard.pools[keys[i]] else { continue }
                    let offset = pool.exchanges.count
                    pool.exchanges += part.exchanges
                    for var m in part.members {
                        m.firstExchange += offset
                        pool.members.append(m)
                    }
                }
            }
            if let renumber { for m in pool.members.indices { pool.members[m].id = renumber(pool.members[m].id) } }
            if !isSortedByID(pool.members) { pool.members.sort { $0.id < $1.id } }
            return PoolAnalyzer(settings: settings).report(keys[i], pool.members, pool.exchanges, captureEnd: captureEnd)
        }
        guard threads > 1, keys.count > 1 else { return keys.indices.map(report) }
        var results = [PoolReport?](repeating: nil, count: keys.count)
        let chunks = min(threads * 4, keys.count)
        results.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let buffer = buffer
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                // Every chunk-th pool, so large and small pools spread over the threads.
                for i in stride(from: chunk, to: keys.count, by: chunks) { buffer[i] = report(i) }
            }
        }
        return results.map { $0! }
    }

    /// Each host's TIME_WAIT windows, for `TimeWaitLedger.loads`: the client's
    /// address for windows the client held, the server's for the server's (both
    /// for both), from the members of several shards' analyzers, each window cut
    /// short at a reuse its shard's ledger noted. (The summaries hold every
    /// connection's window anyway: a ledger of its own held a second copy.)
    public static func timeWaitWindows(of shards: [PoolAnalyzer], ledgers: [TimeWaitLedger]) -> [IPAddress: [(start: Int64, end: Int64)]] {
        precondition(shards.count == ledgers.count)
        var windows: [IPAddress: [(start: Int64, end: Int64)]] = [:]
        for (shard, ledger) in zip(shards, ledgers) {
            for (key, pool) in shard.pools {
                for m in pool.members {
                    guard let holder = m.timeWaitHolder else { continue }
                    let window = (start: m.timeWaitStart, end: ledger.end(ofWindow: m.id, m.timeWaitEnd))
                    if holder != .server { windows[key.client, default: []].append(window) }
                    if holder != .client { windows[key.server.address, default: []].append(window) }
                }
            }
        }
        return windows
    }

    static func isSortedByID(_ members: [Member]) -> Bool {
        zip(members, members.dropFirst()).allSatisfy { $0.id < $1.id }
    }

    // MARK: - One pool

    func report(_ key: Key, _ members: [Member], _ allExchanges: [Exchange], captureEnd: Int64) -> PoolReport {
        @inline(__always) func exchanges(_ c: Member) -> ArraySlice<Exchange> { allExchanges[c.exchangeRange] }
        let grace = Int64(settings.closeAfterResponseGrace * 1e9)
        // One sort key per event: the time doubled, plus 1 for a start, so
        // that ends sort before starts at the same instant (a tuple comparator
        // was a sixth of the pool reports). Capture times (< 2^32 s) fit doubled.
        struct Event {
            var key: Int64
            var kind: Int8      // 0 open, 1 active, 2 idle
            var delta: Int8
            init(_ time: Int64, _ kind: Int8, _ delta: Int8) {
                key = time &* 2 &+ (delta > 0 ? 1 : 0)
                self.kind = kind
                self.delta = delta
            }
            var time: Int64 { key >> 1 }
        }
        var events: [Event] = []
        events.reserveCapacity(members.reduce(0) { $0 + 2 + 4 * Int($1.exchangeCount) })
        var idleIntervals: [(member: Int, start: Int64, end: Int64, endedBy: IdleEnd)] = []
        var capClosures: [(member: Int, at: Int64)] = []
        var visibleRequests = 0, visibleConnections = 0, single = 0
        for (m, c) in members.enumerated() {
            let end = c.closeAt ?? captureEnd
            events.append(Event(c.start, 0, 1))
            events.append(Event(end, 0, -1))
            if let n = c.requests {
                visibleRequests += n
                visibleConnections += 1
                if n == 1 { single += 1 }
            }
            let xs = exchanges(c)
            for (i, x) in xs.enumerated() {
                let responseEnd = min(x.end ?? end, end)
                events.append(Event(x.start, 1, 1))
                events.append(Event(max(responseEnd, x.start), 1, -1))
                guard let done = x.end, done <= end else { continue }
                // Idle from the response to the next request, or to the close.
                if i + 1 < xs.count {
                    idleIntervals.append((m, done, max(done, xs[xs.startIndex + i + 1].start), .reuse))
                } else if c.closeAt != nil {
                    let byClient = c.closedByClient == true
                    if byClient && end - done <= grace && !c.closeIsReset {
                        capClosures.append((m, end))      // not kept: closed right after its response
                    } else {
                        idleIntervals.append((m, done, end, byClient ? .clientClose : .serverClose))
                    }
                } else {
                    idleIntervals.append((m, done, captureEnd, .captureEnd))
                }
            }
        }
        for interval in idleIntervals where interval.end > interval.start {
            events.append(Event(interval.start, 2, 1))
            events.append(Event(interval.end, 2, -1))
        }
        // Stable, as before: events with the same key keep the order they were added in.
        events.sort { $0.key < $1.key }
        var open = 0, active = 0, idle = 0, peakOpen = 0, peakActive = 0, peakIdle = 0, timesAtPeakIdle = 0
        // One point per distinct time (the last state at that time), written
        // in place: appending and taking back per event was a tenth of the reports.
        var timeline = [TimelinePoint](repeating: TimelinePoint(time: 0, open: 0, active: 0, idle: 0), count: events.count)
        var points = 0
        for e in events {
            let delta = Int(e.delta)
            switch e.kind {
            case 0: open += delta
            case 1: active += delta
            default: idle += delta
            }
            if open > peakOpen { peakOpen = open }
            if active > peakActive { peakActive = active }
            let idleStart = e.kind == 2 && delta > 0
            if idle > peakIdle { peakIdle = idle; timesAtPeakIdle = 1 } else if idle == peakIdle && idleStart && idle > 0 { timesAtPeakIdle += 1 }
            let time = e.time
            if points == 0 || timeline[points - 1].time != time { points += 1 }
            timeline[points - 1] = TimelinePoint(time: time, open: open, active: active, idle: idle)
        }
        timeline.removeLast(timeline.count - points)
        if timeline.count > 200 {
            let stride = (timeline.count + 199) / 200
            timeline = Swift.stride(from: 0, to: timeline.count, by: stride).map { i in
                timeline[i..<min(i + stride, timeline.count)].max { $0.open < $1.open }!
            }
        }

        // "How many intervals contain t" as counts over sorted starts and ends
        // (binary search): these checks stay O(n log n) on a pool of 100,000.
        let kept = idleIntervals.filter { $0.end - $0.start > grace }
        let keptStarts = kept.map(\.start).sorted(), keptEnds = kept.map(\.end).sorted()
        func keptIdle(at t: Int64) -> Int { Self.count(keptStarts, atMost: t) - Self.count(keptEnds, atMost: t) }

        // Cap closures that happened while other connections sat idle (a
        // closing connection's own interval is not a kept one: it is a cap closure).
        let capWhileOthersIdle = capClosures.filter { keptIdle(at: $0.at) > 0 }

        // TIME_WAIT held toward this server, by side: window starts and ends
        // as one sorted key each (time doubled, +1 for a start: an end at the
        // same instant comes first).
        func peakTimeWait(client: Bool) -> Int {
            var tw: [Int64] = []
            for c in members where c.timeWaitEnd > c.timeWaitStart {
                guard let holder = c.timeWaitHolder, holder == .both || (holder == .client) == client else { continue }
                tw.append(c.timeWaitStart &* 2 &+ 1); tw.append(c.timeWaitEnd &* 2)
            }
            tw.sort()
            var n = 0, peak = 0
            for key in tw {
                n += key & 1 == 1 ? 1 : -1
                if n > peak { peak = n }
            }
            return peak
        }
        let peakTWClient = peakTimeWait(client: true)
        let peakTWServer = peakTimeWait(client: false)

        let first = members.map(\.start).min() ?? 0
        let last = members.map { $0.closeAt ?? captureEnd }.max() ?? first
        let span = max(Double(last - first) / 1e9, 0.001)
        let closedByClient = members.filter { $0.closedByClient == true }.count
        let closedByServer = members.filter { $0.closedByClient == false }.count
        // Gathered in one array each, not flatMap over per-member maps (an
        // array allocated and freed per member, three times over).
        var requestTimes: [Int64] = [], busyEnds: [Int64] = []
        requestTimes.reserveCapacity(allExchanges.count)
        busyEnds.reserveCapacity(requestTimes.capacity)
        for c in members {
            for x in exchanges(c) {
                requestTimes.append(x.start)
                busyEnds.append(x.end ?? (c.closeAt ?? captureEnd))
            }
        }
        let requestSpan = Double((requestTimes.max() ?? 0) - (requestTimes.min() ?? 0)) / 1e9
        // Ports tied up by the client's TIME_WAITs at the observed rate (at
        // least 20 of them, over at least a second, before extrapolating).
        let clientTimeWaits = members.filter { $0.timeWaitHolder == .client || $0.timeWaitHolder == .both }.count
        let rate = Double(clientTimeWaits) / max(span, 1)
        let ports = Double(settings.portRange.count)
        let exhaustion: Double? = clientTimeWaits >= 20 && rate * settings.timeWaitSeconds >= ports ? ports / rate : nil

        // Idle closes: who closed, after how long. Closes by one side within
        // 5 ms of each other are a bulk close (CloseIdleConnections, exit,
        // shutdown), not a timeout: they count as idle closes but say nothing
        // about an idle timeout.
        func timeoutObservations(_ end: IdleEnd) -> [Double] {
            // A connection has at most one idle interval ending in a close, so
            // a bulk close is a neighbour within 5 ms in end order (comparing
            // every pair was quadratic: a tenth of a second on the benchmark).
            let closes = idleIntervals.filter { $0.endedBy == end }
            let byEnd = closes.indices.sorted { closes[$0].end < closes[$1].end }
            var bulk = [Bool](repeating: false, count: closes.count)
            for k in byEnd.indices.dropFirst() where closes[byEnd[k]].end - closes[byEnd[k - 1]].end < 5_000_000 {
                bulk[byEnd[k]] = true
                bulk[byEnd[k - 1]] = true
            }
            return closes.indices.filter { !bulk[$0] }.map { Double(closes[$0].end - closes[$0].start) / 1e9 }
        }
        let clientIdle = timeoutObservations(.clientClose)
        let serverIdle = timeoutObservations(.serverClose)
        let clientIdleCloses = idleIntervals.filter { $0.endedBy == .clientClose }.count
        let serverIdleCloses = idleIntervals.filter { $0.endedBy == .serverClose }.count
        // A new connection opened while one toward the same server sat idle
        // (since before it, and still): the client did not look in (or has no) pool.
        let openedBesideIdle = members.filter { c in
            Self.count(keptStarts, atMost: c.start - grace - 1) - Self.count(keptEnds, atMost: c.start) > 0
        }.map(\.id)
        let reusedIdle = idleIntervals.filter { $0.endedBy == .reuse }.count

        var report = PoolReport(
            client: key.client, server: key.server, name: key.name, connections: members.count,
            requests: visibleRequests, hiddenRequestConnections: members.count - visibleConnections,
            reuseRatio: visibleConnections > 0 ? Double(visibleRequests) / Double(visibleConnections) : nil,
            singleRequestShare: visibleConnections > 0 ? Double(single) / Double(visibleConnections) : nil,
            peakOpen: peakOpen, peakActive: peakActive, peakIdle: peakIdle,
            peakTimeWaitClient: peakTWClient, peakTimeWaitServer: peakTWServer,
            requestsPerSecond: requestTimes.count > 1 && requestSpan > 0 ? Double(requestTimes.count) / requestSpan : nil,
            idleReused: reusedIdle, closedAfterResponseWhileOthersIdle: capWhileOthersIdle.count,
            idleClosesByClient: clientIdleCloses, idleClosesByServer: serverIdleCloses,
            closesPerSecondClient: Double(closedByClient) / span, closesPerSecondServer: Double(closedByServer) / span,
            portExhaustionSeconds: exhaustion, timeline: timeline,
            requestsPerSecondTimeline: [], inferred: InferredSettings(), findings: [])
        let keptIdle = kept.count
        let peakOpenForQueue = peakOpen
        // Requests queued in the client: a connection takes its next request
        // the moment its response ends, while every other open one is busy.
        let openStarts = members.map(\.start).sorted()
        let openEnds = members.map { $0.closeAt ?? captureEnd }.sorted()
        let busyStarts = requestTimes.sorted()
        busyEnds.sort()
        var queuedHandoffs = 0
        for c in members {
            let xs = exchanges(c)
            for i in xs.indices.dropFirst() {
                guard let previous = xs[i - 1].end, xs[i].start - previous < 2_000_000 else { continue }
                let t = xs[i].start
                // Others open and busy at t: this connection (open, and its new request starting at t) left out.
                let openOthers = Self.count(openStarts, atMost: t) - Self.count(openEnds, atMost: t) - 1
                let busyOthers = Self.count(busyStarts, atMost: t) - Self.count(busyEnds, atMost: t) - 1
                // At the ceiling: as many open as ever, all of them busy.
                if openOthers > 0 && busyOthers >= openOthers && openOthers + 1 >= peakOpenForQueue { queuedHandoffs += 1 }
            }
        }
        report.inferred = infer(report, members, clientIdle: clientIdle, serverIdle: serverIdle, timesAtPeakIdle: timesAtPeakIdle,
                                capClosures: capWhileOthersIdle.count, keptIdle: keptIdle)
        if queuedHandoffs >= 3 && report.peakOpen >= 2 {
            report.inferred.maxConnsPerHost = Inferred(
                value: report.peakOpen, observations: queuedHandoffs,
                evidence: "never more than \(report.peakOpen) connections; \(queuedHandoffs) requests went out the moment a response ended while all the others were busy")
        }
        report.requestsPerSecondTimeline = Self.perSecond(requestTimes)
        report.findings = findings(report, members, allExchanges, capClosures: capWhileOthersIdle.map { members[$0.member].id },
                                   openedBesideIdle: openedBesideIdle)
        return report
    }

    enum IdleEnd: Sendable { case reuse, clientClose, serverClose, captureEnd }

    /// How many of the sorted `values` are at most `t`.
    static func count(_ values: [Int64], atMost t: Int64) -> Int {
        partitionPoint(values.count) { values[$0] > t }
    }

    /// Requests started in each second of the pool's life: [(second start, count)].
    static func perSecond(_ times: [Int64]) -> [(time: Int64, count: Int)] {
        guard let first = times.min() else { return [] }
        // The first hour's seconds, in an array (a dictionary of them was a
        // tenth of the reports); later requests are left out.
        let last = min(((times.max() ?? first) - first) / 1_000_000_000, 3599)
        var buckets = [Int](repeating: 0, count: Int(last) + 1)
        for t in times {
            let second = (t - first) / 1_000_000_000
            if second <= last { buckets[Int(second)] += 1 }
        }
        return buckets.enumerated().map { (first + Int64($0.offset) * 1_000_000_000, $0.element) }
    }

    // MARK: - Inference

    func infer(_ r: PoolReport, _ members: [Member], clientIdle: [Double], serverIdle: [Double], timesAtPeakIdle: Int,
               capClosures: Int, keptIdle: Int) -> InferredSettings {
        var s = InferredSettings()
        let reused = members.contains { ($0.requests ?? 0) > 1 }
        let visible = members.filter { $0.requests != nil }
        if reused {
            s.keepAlive = Inferred(value: true, observations: r.idleReused,
                                   evidence: "\(r.idleReused) requests reused an idle connection")
        } else if keptIdle > 0 {
            s.keepAlive = Inferred(value: true, observations: keptIdle,
                                   evidence: "\(keptIdle) connections were kept open idle after their response (none was reused)")
        } else if visible.count >= 2 && visible.allSatisfy({ ($0.requests ?? 0) <= 1 }) {
            s.keepAlive = Inferred(value: false, observations: visible.count,
                                   evidence: "all \(visible.count) connections carried at most one request")
        }
        if reused && r.peakIdle > 0 {
            var evidence = "kept at most \(r.peakIdle) idle connections at once (\(timesAtPeakIdle) times)"
            if capClosures > 0 { evidence += "; closed \(capClosures) right after their response while others were idle" }
            s.maxIdlePerHost = Inferred(value: r.peakIdle, observations: timesAtPeakIdle + capClosures, evidence: evidence)
        }
        // A client idle timeout needs two closes at different times that agree.
        if reused, clientIdle.count >= 2, let t = Self.typical(clientIdle) {
            s.clientIdleTimeout = Inferred(value: t, observations: clientIdle.count,
                                           evidence: "the client closed \(clientIdle.count) idle connection(s) after \(Self.seconds(t)) s idle")
        }
        if let t = Self.typical(serverIdle) {
            s.serverIdleTimeout = Inferred(value: t, observations: serverIdle.count,
                                           evidence: "the server closed \(serverIdle.count) idle connection(s) after \(Self.seconds(t)) s idle")
        }
        return s
    }

    /// The median, when the observations agree within 20% (a timeout, not chance).
    static func typical(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let median = sorted[sorted.count / 2]
        guard median > 0 else { return nil }
        let agreeing = sorted.filter { abs($0 - median) <= 0.2 * median }.count
        guard agreeing * 2 > sorted.count else { return nil }
        return (median * 1000).rounded() / 1000
    }

    static func seconds(_ s: Double) -> String {
        s >= 10 ? String(Int(s.rounded())) : String((s * 100).rounded() / 100)
    }

    // MARK: - Findings

    func findings(_ r: PoolReport, _ members: [Member], _ allExchanges: [Exchange], capClosures: [Int], openedBesideIdle: [Int]) -> [Finding] {
        var out: [Finding] = []
        let visible = members.filter { $0.requests != nil && ($0.requests ?? 0) > 0 }
        let allSingle = visible.count >= 3 && visible.allSatisfy { $0.requests == 1 } && visible.count == members.count
        let ids = visible.map(\.id)
        if allSingle {
            let saidClose = visible.filter { allExchanges[$0.exchangeRange].contains(where: \.connectionClose) }.count
            let resetEarly = visible.filter { $0.closedByClient == true && $0.closeIsReset && allExchanges[$0.exchangeRange].first?.end == nil }.count
            if saidClose * 2 > visible.count {
                out.append(Finding(
                    code: "no-reuse", severity: "warning",
                    message: "keep-alive disabled: \(saidClose) of \(visible.count) requests said \"Connection: close\"; every connection carried one request",
                    advice: "enable keep-alive (Go: DisableKeepAlives false; do not set Request.Close) so connections are reused",
                    connectionIDs: ids))
            } else if resetEarly * 2 > visible.count {
                out.append(Finding(
                    code: "no-reuse", severity: "warning",
                    message: "response bodies not drained: the client reset \(resetEarly) of \(visible.count) connections before their response was read",
                    advice: "read each response body to the end before closing it (Go: io.Copy(io.Discard, resp.Body); resp.Body.Close())",
                    connectionIDs: ids))
            } else if r.peakActive <= 1 {
                let how = openedBesideIdle.count >= 2
                    ? "each opened while the previous one sat idle, left until the server closed it or the capture ended"
                    : "each closed by the client after its one request"
                out.append(Finding(
                    code: "connection-per-request", severity: "warning",
                    message: "a new connection for each of \(visible.count) sequential requests, \(how): the client makes a fresh pool per request",
                    advice: "share one client across requests (Go: one http.Client/Transport; Python: requests.Session)",
                    connectionIDs: ids))
            }
        }
        // The idle cap's signature: fewer kept idle than run at once, and the
        // extra ones closed right after their response and opened again.
        if capClosures.count >= 2 && r.connections > r.peakOpen && r.peakIdle < r.peakActive {
            let keep = r.inferred.maxIdlePerHost?.value ?? r.peakIdle
            out.append(Finding(
                code: "idle-cap-churn", severity: "warning",
                message: "the client keeps at most \(keep) idle connections but runs \(r.peakActive) requests at once: it closed \(capClosures.count) connections right after their response and opened new ones (\(r.connections) connections for \(r.requests) requests)",
                advice: "raise the idle pool to the observed concurrency (Go: MaxIdleConnsPerHost ≥ \(r.peakActive))",
                connectionIDs: capClosures))
        }
        if r.peakTimeWaitClient >= settings.timeWaitBuildupThreshold || r.portExhaustionSeconds != nil {
            var message = "\(r.peakTimeWaitClient) sockets in TIME_WAIT on the client toward this server at once"
            if let s = r.portExhaustionSeconds { message += "; its \(settings.portRange.count) ephemeral ports would run out in \(Self.seconds(s)) s at this rate" }
            out.append(Finding(
                code: "time-wait-buildup", severity: r.portExhaustionSeconds != nil ? "critical" : "warning", message: message,
                advice: "reuse connections instead of closing them (the findings above say why they are closed)",
                connectionIDs: members.filter { $0.timeWaitHolder == .client || $0.timeWaitHolder == .both }.map(\.id)))
        }
        if let server = r.inferred.serverIdleTimeout, r.inferred.keepAlive?.value != false {
            let client = r.inferred.clientIdleTimeout?.value
            if client == nil || client! > server.value {
                out.append(Finding(
                    code: "server-closes-idle-first", severity: "info",
                    message: "the server closes idle connections after \(Self.seconds(server.value)) s, before the client does"
                        + (client.map { " (\(Self.seconds($0)) s)" } ?? " (it kept them longer)") + ": a request on an idle connection can race the server's FIN",
                    advice: "set the client's idle timeout below the server's (Go: IdleConnTimeout < \(Self.seconds(server.value)) s)",
                    connectionIDs: members.filter { $0.closedByClient == false }.map(\.id)))
            }
        }
        return out
    }
}

/// The first index in 0..<count where `isAtOrPast` holds, for a predicate
/// false then true along the indices (binary search). Package-wide: the
/// Analyzer places kept records and renumbers shards' connections with it.
@inlinable @inline(__always)
package func partitionPoint(_ count: Int, _ isAtOrPast: (Int) -> Bool) -> Int {
    var low = 0, high = count
    while low < high {
        let mid = (low + high) / 2
        if isAtOrPast(mid) { high = mid } else { low = mid + 1 }
    }
    return low
}
