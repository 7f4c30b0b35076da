import PacketDecode

/// A setting inferred from the wire, with what supports it.
public struct Inferred<Value: Sendable & Equatable>: Sendable, Equatable {
    public var value: Value
    /// How many observations support it.
    public var observations: Int
    /// The evidence, in words.
    public var evidence: String
}

/// What the client's pool toward one server appears to be configured as.
public struct InferredSettings: Sendable, Equatable {
    /// The most connections the client kept idle toward this server at once
    /// (Go's MaxIdleConnsPerHost; DefaultMaxIdleConnsPerHost = 2).
    public var maxIdlePerHost: Inferred<Int>?
    /// Typical idle time before the client closed an idle connection (Go's IdleConnTimeout).
    public var clientIdleTimeout: Inferred<Double>?
    /// The same for the server (its keep-alive timeout).
    public var serverIdleTimeout: Inferred<Double>?
    /// Where concurrency plateaued while requests queued (Go's MaxConnsPerHost).
    public var maxConnsPerHost: Inferred<Int>?
    /// Whether the client reuses connections at all.
    public var keepAlive: Inferred<Bool>?
}

/// A problem found in a pool's behaviour, with its evidence and one line of advice.
public struct Finding: Sendable, Equatable {
    /// Stable: no-reuse, idle-cap-churn, time-wait-buildup, server-closes-idle-first, connection-per-request.
    public var code: String
    /// "info", "warning" or "critical".
    public var severity: String
    public var message: String
    public var advice: String
    /// The connections it concerns, the lowest ids first, at most
    /// `PoolSettings.connectionIDLimit` of them; `connectionCount` says how many there were.
    public var connectionIDs: [Int]
    public var connectionCount: Int
}

/// One client's connection pool toward one server (IP, port, and name when
/// several names share the address).
public struct PoolReport: Sendable, Equatable {
    public var client: IPAddress
    public var server: Endpoint
    /// TLS SNI or HTTP Host.
    public var name: String?
    public var connections: Int
    /// Requests on connections whose requests are visible.
    public var requests: Int
    /// Connections whose requests are hidden (TLS, HTTP/2).
    public var hiddenRequestConnections: Int
    /// Requests per connection (visible ones only).
    public var reuseRatio: Double?
    /// Share of connections that carried exactly one request.
    public var singleRequestShare: Double?
    public var peakOpen: Int
    public var peakActive: Int
    /// Most connections kept idle at once (not counting one closed right after its response).
    public var peakIdle: Int
    public var peakTimeWaitClient: Int
    public var peakTimeWaitServer: Int
    /// Requests per second while the pool was in use.
    public var requestsPerSecond: Double?
    /// Idle stretches that ended in reuse.
    public var idleReused: Int
    /// Connections the client closed right after their response while others stayed idle.
    public var closedAfterResponseWhileOthersIdle: Int
    /// Connections closed while idle, by who closed them.
    public var idleClosesByClient: Int
    public var idleClosesByServer: Int
    /// Connections closed per second, by side.
    public var closesPerSecondClient: Double
    public var closesPerSecondServer: Double
    /// Seconds until the client's ephemeral ports would run out at the observed
    /// rate of new connections (nil: never at this rate).
    public var portExhaustionSeconds: Double?
    /// (time, open, active, idle) at each change, thinned to at most 200 points.
    public var timeline: [TimelinePoint]
    /// Requests started in each second, beside the concurrency timeline (load next to pool behaviour).
    public var requestsPerSecondTimeline: [(time: Int64, count: Int)] = []
    public var inferred: InferredSettings
    public var findings: [Finding]

    public static func == (a: PoolReport, b: PoolReport) -> Bool {
        a.client == b.client && a.server == b.server && a.name == b.name && a.connections == b.connections
            && a.requests == b.requests && a.timeline == b.timeline && a.inferred == b.inferred && a.findings == b.findings
            && a.requestsPerSecondTimeline.elementsEqual(b.requestsPerSecondTimeline, by: { $0 == $1 })
    }
}

/// A pool's open, busy and idle connections from `time` on: the point the
/// sweep keeps (thinned by open count) and the report hands on, the time in
/// two 32-bit halves and the counts in 32 bits. 20 bytes a point, not 32, for
/// up to 200 points a pool, and a server's capture has a pool per client.
public struct TimelinePoint: Sendable, Equatable, Weighted {
    private var at: SplitTime
    private var open32: Int32
    private var active32: Int32
    private var idle32: Int32

    public var time: Int64 {
        get { at.nanoseconds }
        set { at = SplitTime(newValue) }
    }
    public var open: Int {
        get { Int(open32) }
        set { open32 = Int32(clamping: newValue) }
    }
    public var active: Int {
        get { Int(active32) }
        set { active32 = Int32(clamping: newValue) }
    }
    public var idle: Int {
        get { Int(idle32) }
        set { idle32 = Int32(clamping: newValue) }
    }

    var weight: Int32 { open32 }

    static var packedCounts: Int { 3 }

    func packCounts(into writer: inout PackedInts.Writer) {
        writer.put(Int64(open32))
        writer.put(Int64(active32))
        writer.put(Int64(idle32))
    }

    init(time: Int64, unpacking reader: inout PackedInts.Reader) {
        at = SplitTime(time)
        open32 = Int32(truncatingIfNeeded: reader.next())
        active32 = Int32(truncatingIfNeeded: reader.next())
        idle32 = Int32(truncatingIfNeeded: reader.next())
    }

    public init(time: Int64, open: Int, active: Int, idle: Int) {
        at = SplitTime(time)
        open32 = Int32(clamping: open)
        active32 = Int32(clamping: active)
        idle32 = Int32(clamping: idle)
    }
}
