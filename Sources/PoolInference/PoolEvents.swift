import PacketDecode

/// A pool: one client's connections toward one server (IP, port, and name
/// when several names share the address).
public struct PoolKey: Hashable, Sendable {
    public var client: IPAddress
    public var server: Endpoint
    public var name: String?
}

/// A change in a pool at one instant, in capture time: what the sweep over a
/// pool's life counts (open, active and idle connections, TIME_WAIT, and the
/// checks that need the pool's state at an instant). 24 bytes: the sweepers
/// hold every pool's last half second of them (3 s of TIME_WAIT's) until
/// their order is settled.
struct PoolEvent: Sendable {
    enum Kind: UInt8, Sendable {
        case open, active, idle, timeWaitClient, timeWaitServer
        /// A client closed a connection right after its response: counts if others sat idle then. Payload: its id.
        case capClosure
        /// A connection opened: counts if another sat idle since well before. Payload: its start.
        case opened
        /// A request went out the moment a response ended: counts if all the others were busy then.
        case handoff
        /// An idle close of no length (by the client, or the server).
        case clientIdleClose, serverIdleClose
        /// A response ended (active -1) and, with `idleStarts`, an idle stretch began (`kept`).
        case response
        /// A request started (active +1); with `idleEnds`, an idle stretch from `payload`
        /// ended (`kept`); with `handoff`, the check of that name.
        case request
        /// A TIME_WAIT window starting or ending on a host (in a host's queue).
        case hostTimeWait
    }

    /// `delta` of a response or request event: its flags.
    static let idleStarts: Int8 = 1
    static let idleEnds: Int8 = 1
    static let handoff: Int8 = 2

    var time: Int64
    /// An idle interval's start (idle), a connection id (capClosure), a duration (idle closes).
    var payload: Int64
    /// The feed's pool index (in a batch; the sweeper's queues are per pool already).
    var pool: Int32 = 0
    var kind: Kind
    var delta: Int8
    /// An idle interval longer than the close-after-response grace (a "kept" idle connection).
    var kept: Bool
    /// An idle stretch's end (idle, -1): 1 when the client closed it, 2 the server (its duration is an idle close's).
    var closedBy: UInt8 = 0

    init(_ kind: Kind, at time: Int64, _ delta: Int8 = 0, payload: Int64 = 0, kept: Bool = false) {
        self.time = time
        self.payload = payload
        self.kind = kind
        self.delta = delta
        self.kept = kept
    }

    /// Events are ordered by time only: at one instant the sweep applies every
    /// event's ends, then every start, then the checks (which see the state after both).
    @inline(__always) func sortsAfter(_ other: PoolEvent) -> Bool { time > other.time }

    /// It changes the open, active or idle count (a timeline point).
    var changesCounts: Bool {
        switch kind {
        case .open, .active, .idle, .response, .request: return true
        default: return false
        }
    }
}

/// A TIME_WAIT window starting (+1) or ending (-1) on a host (the feed's host index).
struct HostTimeWaitEvent: Sendable {
    var host: Int32
    var delta: Int8
    var time: Int64
}

/// What a feed hands the sweeper at each tick: pools first seen since the
/// last batch (their indices continue the feed's), the events since, and how
/// far the sweeper may now go (`through`: no later batch holds an event at or
/// before it; `timeWaitThrough` for TIME_WAIT's).
public struct PoolBatch: Sendable {
    var newPools: [PoolKey] = []
    var newHosts: [IPAddress] = []
    /// By the share of the sweep each pool falls to (one array per sweeper).
    var events: [[PoolEvent]] = [[]]
    var hostEvents: [HostTimeWaitEvent] = []
    public internal(set) var through: Int64 = .min
    /// As far for TIME_WAIT's events, which come later.
    public internal(set) var timeWaitThrough: Int64 = .min

    /// Empties it, keeping its buffers (for `PoolFeed.recycle`).
    mutating func clear() {
        newPools.removeAll(keepingCapacity: true)
        newHosts.removeAll(keepingCapacity: true)
        for i in events.indices { events[i].removeAll(keepingCapacity: true) }
        hostEvents.removeAll(keepingCapacity: true)
    }
}
