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
    /// How often the pool feed looks at open connections, in capture time.
    public var tickSeconds: Double = 0.25
    /// How far the pool sweep trails the capture (see `PoolFeed`): a tick,
    /// and the grace before an idle stretch is known not to end in the client's close.
    public var sweepDelay: Double = 0.5
    /// The same for TIME_WAIT windows, known when a closed connection's record
    /// is finished (the tracker's linger after its last packet, at its sweep
    /// once a second: about 2 s after the close).
    public var timeWaitDelay: Double = 3
    /// A finding lists at most this many connection ids (the lowest), with their count.
    public var connectionIDLimit = 1000
    /// Whether pools and hosts keep their timelines (`PoolReport.timeline`,
    /// `TimeWaitLedger.HostLoad.timeline`): a report that shows none (text,
    /// CSV) need not keep them, which was 3-7% of a run's instructions.
    public var keepsTimelines = true

    public init() {}
}

/// Describes each client's connection pools, online: a `PoolFeed` turns
/// connections into pool events as they happen and a `PoolSweeper` sweeps
/// each pool's life in time order (see both). For one analysis thread; in a
/// sharded analysis each shard has a feed and a sweeper for the pools that
/// hash to it, fed by every shard's feed (`ShardedPools`).
/// Pure: no clock, no I/O. The thresholds are named in `PoolSettings`.
public struct PoolAnalyzer: Sendable {
    public private(set) var feed: PoolFeed
    public private(set) var sweeper: PoolSweeper

    /// `shares`: the sweepers of a sharded analysis, among which the feed partitions its events.
    public init(settings: PoolSettings = PoolSettings(), shares: Int = 1) {
        feed = PoolFeed(settings: settings, shares: shares)
        sweeper = PoolSweeper(settings: settings)
    }

    public var settings: PoolSettings { feed.settings }

    /// The open connections whose requests, responses or close changed since the last look (see `PoolFeed.observe`).
    public mutating func observe(_ tracker: inout FlowTracker) {
        tracker.forEachLive { feed.observe($0) }
    }

    /// Finished connections, in the order they finished (read in place, not copied).
    public mutating func add(each connections: [ConnectionOutline]) { feed.finish(each: connections) }

    /// A reported connection's TIME_WAIT cut short by a new SYN.
    public mutating func reuse(previousID: Int, at time: Int64) { feed.reuse(previousID: previousID, at: time) }

    /// Every `PoolSettings.tickSeconds` of capture time, after the open connections were observed.
    public mutating func tick(now: Int64) {
        var batch = feed.tick(now: now)
        let (through, timeWaitThrough) = (batch.through, batch.timeWaitThrough)
        sweeper.take(batch)
        batch.clear()
        feed.recycle(&batch)
        sweeper.sweep(through: through, timeWaitThrough: timeWaitThrough)
    }

    /// The pools and the hosts' TIME_WAIT loads, the capture ending at
    /// `captureEnd` (on a copy: a live view asks for them as it goes).
    public func reports(captureEnd: Int64) -> (pools: [PoolReport], hosts: [TimeWaitLedger.HostLoad]) {
        var copy = self
        return copy.finish(captureEnd: captureEnd)
    }

    /// Ends the analysis at `captureEnd` and reports.
    public mutating func finish(captureEnd: Int64) -> (pools: [PoolReport], hosts: [TimeWaitLedger.HostLoad]) {
        sweeper.take(feed.end(captureEnd: captureEnd))
        sweeper.sweep(through: .max, timeWaitThrough: .max)
        // Moved out, so that the reports let each pool's state go as they are made.
        sweeper.doneTaking()
        var sweepers = [sweeper]
        sweeper = PoolSweeper(settings: sweeper.settings)
        var tallies = [takeTallies()]
        let hosts = PoolSweeper.hostLoads(of: &sweepers)
        return (PoolSweeper.reports(of: &sweepers, tallies: &tallies, captureEnd: captureEnd), hosts)
    }
}

/// What a pool's counts and sweep say: inferred settings and findings.
enum PoolAnalysis {
    // MARK: - Inference

    static func infer(_ r: PoolReport, _ t: PoolTally, clientIdle: IdleDurations, serverIdle: IdleDurations, timesAtPeakIdle: Int,
                      capClosures: Int) -> InferredSettings {
        var s = InferredSettings()
        let reused = t.multiRequest > 0
        let keptIdle = t.keptIdle
        if reused {
            s.keepAlive = Inferred(value: true, observations: r.idleReused,
                                   evidence: "\(r.idleReused) requests reused an idle connection")
        } else if keptIdle > 0 {
            s.keepAlive = Inferred(value: true, observations: keptIdle,
                                   evidence: "\(keptIdle) connections were kept open idle after their response (none was reused)")
        } else if t.visibleConnections >= 2 {
            // None carried more than one (`reused` is false).
            s.keepAlive = Inferred(value: false, observations: t.visibleConnections,
                                   evidence: "all \(t.visibleConnections) connections carried at most one request")
        }
        if reused && r.peakIdle > 0 {
            var evidence = "kept at most \(r.peakIdle) idle connections at once (\(timesAtPeakIdle) times)"
            if capClosures > 0 { evidence += "; closed \(capClosures) right after their response while others were idle" }
            s.maxIdlePerHost = Inferred(value: r.peakIdle, observations: timesAtPeakIdle + capClosures, evidence: evidence)
        }
        // A client idle timeout needs two closes at different times that agree.
        if reused, clientIdle.count >= 2, let typical = Self.typical(clientIdle.values) {
            s.clientIdleTimeout = Inferred(value: typical, observations: clientIdle.count,
                                           evidence: "the client closed \(clientIdle.count) idle connection(s) after \(Self.seconds(typical)) s idle")
        }
        if let typical = Self.typical(serverIdle.values) {
            s.serverIdleTimeout = Inferred(value: typical, observations: serverIdle.count,
                                           evidence: "the server closed \(serverIdle.count) idle connection(s) after \(Self.seconds(typical)) s idle")
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

    static func findings(_ r: PoolReport, _ t: PoolTally, capClosures: IDList, openedBesideIdle: Int,
                         settings: PoolSettings, renumber: ((Int) -> Int)?) -> [Finding] {
        var out: [Finding] = []
        func finding(_ code: String, _ severity: String, _ message: String, _ advice: String, _ ids: IDList) {
            let ids = ids.final(limit: settings.connectionIDLimit, renumber)
            out.append(Finding(code: code, severity: severity, message: message, advice: advice,
                               connectionIDs: ids.ids, connectionCount: ids.count))
        }
        // Every connection carried exactly one request (at least three of them).
        if let ids = t.singleRequestIDs, t.withRequests >= 3 {
            let n = t.withRequests
            if t.saidClose * 2 > n {
                finding("no-reuse", "warning",
                        "keep-alive disabled: \(t.saidClose) of \(n) requests said \"Connection: close\"; every connection carried one request",
                        "enable keep-alive (Go: DisableKeepAlives false; do not set Request.Close) so connections are reused", ids)
            } else if t.resetEarly * 2 > n {
                finding("no-reuse", "warning",
                        "response bodies not drained: the client reset \(t.resetEarly) of \(n) connections before their response was read",
                        "read each response body to the end before closing it (Go: io.Copy(io.Discard, resp.Body); resp.Body.Close())", ids)
            } else if r.peakActive <= 1 {
                let how = openedBesideIdle >= 2
                    ? "each opened while the previous one sat idle, left until the server closed it or the capture ended"
                    : "each closed by the client after its one request"
                finding("connection-per-request", "warning",
                        "a new connection for each of \(n) sequential requests, \(how): the client makes a fresh pool per request",
                        "share one client across requests (Go: one http.Client/Transport; Python: requests.Session)", ids)
            }
        }
        // The idle cap's signature: fewer kept idle than run at once, and the
        // extra ones closed right after their response and opened again.
        if capClosures.count >= 2 && r.connections > r.peakOpen && r.peakIdle < r.peakActive {
            let keep = r.inferred.maxIdlePerHost?.value ?? r.peakIdle
            finding("idle-cap-churn", "warning",
                    "the client keeps at most \(keep) idle connections but runs \(r.peakActive) requests at once: it closed \(capClosures.count) connections right after their response and opened new ones (\(r.connections) connections for \(r.requests) requests)",
                    "raise the idle pool to the observed concurrency (Go: MaxIdleConnsPerHost ≥ \(r.peakActive))", capClosures)
        }
        if r.peakTimeWaitClient >= settings.timeWaitBuildupThreshold || r.portExhaustionSeconds != nil {
            var message = "\(r.peakTimeWaitClient) sockets in TIME_WAIT on the client toward this server at once"
            if let s = r.portExhaustionSeconds { message += "; its \(settings.portRange.count) ephemeral ports would run out in \(Self.seconds(s)) s at this rate" }
            finding("time-wait-buildup", r.portExhaustionSeconds != nil ? "critical" : "warning", message,
                    "reuse connections instead of closing them (the findings above say why they are closed)", t.clientTimeWaitIDs)
        }
        if let server = r.inferred.serverIdleTimeout, r.inferred.keepAlive?.value != false {
            let client = r.inferred.clientIdleTimeout?.value
            if client == nil || client! > server.value {
                finding("server-closes-idle-first", "info",
                        "the server closes idle connections after \(Self.seconds(server.value)) s, before the client does"
                            + (client.map { " (\(Self.seconds($0)) s)" } ?? " (it kept them longer)") + ": a request on an idle connection can race the server's FIN",
                        "set the client's idle timeout below the server's (Go: IdleConnTimeout < \(Self.seconds(server.value)) s)", t.serverClosedIDs)
            }
        }
        return out
    }
}

extension PoolAnalyzer {
    /// Sharded analysis: this shard's events since the last tick, for the
    /// one sweeper all shards feed (instead of `tick`), filling `spare`'s
    /// buffers (taken from it) when there is one.
    public mutating func batch(now: Int64, reusing spare: inout PoolBatch?) -> PoolBatch { feed.tick(now: now, reusing: &spare) }

    /// Sharded analysis: the last batch.
    public mutating func lastBatch(captureEnd: Int64) -> PoolBatch { feed.end(captureEnd: captureEnd) }

    /// Each pool's counts, by the feed's pool index, moved out: the feed
    /// (with its lookups by pool, host and connection) is let go, before the
    /// reports are made.
    public mutating func takeTallies() -> [PoolTally] {
        let tallies = feed.tallies
        feed = PoolFeed(settings: feed.settings, shares: feed.shares)
        return tallies
    }
}
