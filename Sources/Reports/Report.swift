import PacketDecode
import PoolInference
import TCPFlows

/// One input the capture was read from.
public struct CaptureSourceInfo: Sendable, Equatable {
    /// File path ("-" for standard input) or interface name.
    public var name: String
    public var isLive: Bool
    /// libpcap's name for the link type (EN10MB, LINUX_SLL2, ...).
    public var linkType: String
    public var snapshotLength: Int

    public init(name: String, isLive: Bool, linkType: String, snapshotLength: Int) {
        self.name = name
        self.isLive = isLive
        self.linkType = linkType
        self.snapshotLength = snapshotLength
    }
}

/// libpcap's counters for a live capture.
public struct LiveCounters: Sendable, Equatable {
    public var received: Int
    public var dropped: Int
    public var interfaceDropped: Int

    public init(received: Int, dropped: Int, interfaceDropped: Int) {
        self.received = received
        self.dropped = dropped
        self.interfaceDropped = interfaceDropped
    }
}

/// What the capture as a whole held.
public struct CaptureSummary: Sendable, Equatable {
    public var sources: [CaptureSourceInfo] = []
    /// Packets read (after any BPF filter).
    public var packets = 0
    /// Their length on the wire, summed.
    public var bytes = 0
    public var first: CaptureTime?
    public var last: CaptureTime?
    /// Packets that decoded to TCP segments.
    public var tcpPackets = 0
    /// TCP segments whose payload the snaplen cut (still decoded and counted).
    public var payloadTruncatedPackets = 0
    /// Packets that were not decoded, by reason.
    public var undecoded = UndecodedCounts()
    /// Whether any timestamp has sub-microsecond digits (reports then print nanoseconds).
    public var nanosecondTimestamps = false
    /// Input faults met while reading, one line each; the report covers what was read before each.
    public var faults: [String] = []
    /// Set for live captures.
    public var live: LiveCounters?
    /// Evictions, idle timeouts, late segments, peak tracked connections.
    public var tracking = FlowTrackingStats()
    /// The 2·MSL applied to TIME_WAIT windows.
    public var timeWaitSeconds: Double = 60
    /// TIME_WAIT load per host, busiest first.
    public var timeWaitHosts: [TimeWaitLedger.HostLoad] = []

    public init() {}

    public var duration: Double {
        guard let first, let last else { return 0 }
        return CaptureTime.seconds(from: first, to: last)
    }
}

/// Everything PoolScope found in a capture.
public struct Report: Sendable, Equatable {
    public static let schema = "poolscope.report/1"

    public var capture: CaptureSummary
    public var connections: [ConnectionRecord]
    /// Each client's pool toward each server: inferred settings and findings.
    public var pools: [PoolReport] = []
    /// Finished connections left out of `connections` to bound memory (the text
    /// report's --connections): counted here, and in the pools.
    public var connectionsNotKept = 0

    public init(capture: CaptureSummary, connections: [ConnectionRecord], pools: [PoolReport] = []) {
        self.capture = capture
        self.connections = connections
        self.pools = pools
    }
}
