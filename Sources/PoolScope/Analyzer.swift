import Dispatch
@_exported import HTTPStreams
@_exported import PacketDecode
@_exported import PoolInference
@_exported import Reports
@_exported import TCPFlows

/// The whole analysis, fed one captured packet at a time: decode, then TCP
/// flows. Pure: no I/O, no clock; packet timestamps are the only time.
///
/// A program embeds PoolScope by feeding an Analyzer from any packet source
/// (the `CaptureRun` helpers do it from libpcap) and calling `finish()`.
public struct Analyzer {
    private var flows: FlowTracker
    private var poolAnalyzer: PoolAnalyzer
    private var summary = CaptureSummary()
    private var records: [ConnectionRecord] = []
    /// For whole-capture reports without `recordLimit`: where each connection's
    /// record is, to settle reuse later (with a limit, records stay sorted by id).
    private var recordIndex: [Int: Int] = [:]
    /// When set, finished connections go here as they finish (NDJSON) and the
    /// report's `connections` stays empty: memory then follows live connections only.
    private let onConnection: ((ConnectionRecord) -> Void)?
    private var firstTime = Int64.max
    private var lastTime = Int64.min
    private var subMicrosecond = false

    /// Records kept for the report (nil: all). The text report lists 50 by
    /// default: keeping the rest would make memory follow the capture's length.
    private let recordLimit: Int?
    /// Connections finished but not kept (`recordLimit`).
    public private(set) var recordsNotKept = 0

    /// One of several analyzers that each read every packet and track the
    /// flows whose key hash falls to them (`index` of `count`), on their own
    /// threads; `Analyzer.finish(shards:)` merges them into one report.
    public struct Shard: Sendable {
        public var index: Int
        public var count: Int
        /// The pool sweeper all the shards feed (one, shared).
        public var pools: ShardedPools
        public init(index: Int, count: Int, pools: ShardedPools) {
            self.index = index
            self.count = count
            self.pools = pools
        }
    }
    /// This shard's place, without the shared sweeper: the per-packet path
    /// copies it, and a class reference in it was an atomic retain and release
    /// per packet on an object both shards' threads touch (12% of a two-thread run).
    private let shard: (index: Int, count: Int)?
    private let sharedPools: ShardedPools?

    public init(settings: FlowSettings = FlowSettings(), poolSettings: PoolSettings = PoolSettings(),
                recordLimit: Int? = nil, onConnection: ((ConnectionRecord) -> Void)? = nil, shard: Shard? = nil) {
        self.recordLimit = recordLimit
        self.shard = shard.map { ($0.index, $0.count) }
        sharedPools = shard?.pools
        var settings = settings
        if let shard {
            precondition(onConnection == nil, "sharded analysis renumbers connections at the end: it cannot stream them")
            settings.maxConnections = max(1, settings.maxConnections / shard.count)
        }
        flows = FlowTracker(settings: settings)
        flows.sharded = shard != nil
        // The report keeps the first connections by id: only they need a record.
        if onConnection == nil { flows.recordLimit = recordLimit }
        var pools = poolSettings
        pools.timeWaitSeconds = settings.timeWaitSeconds
        poolAnalyzer = PoolAnalyzer(settings: pools, shares: shard?.count ?? 1)
        self.onConnection = onConnection
    }

    /// Connections tracked right now.
    public var liveConnections: Int { flows.liveConnections }
    /// When the pools next look at the open connections, and how many
    /// batches went to the shards' sweepers.
    private var nextPoolTick = Int64.min
    private var poolTicks = 0

    /// What a live view shows: counts so far, and the pools as of now.
    public struct Snapshot: Sendable {
        public var packets: Int
        public var liveConnections: Int
        public var timeWaitNow: Int
        public var finishedConnections: Int
        /// Open connections with no request outstanding.
        public var idleConnections: Int
        /// Requests seen so far, on finished and open connections.
        public var requests: Int
        public var pools: [PoolReport]
    }

    public func snapshot() -> Snapshot {
        let activity = flows.liveActivity
        return Snapshot(packets: summary.packets, liveConnections: flows.liveConnections, timeWaitNow: flows.timeWaitNow,
                 finishedConnections: finishedCount, idleConnections: activity.idle, requests: finishedRequests + activity.requests,
                 pools: poolAnalyzer.reports(captureEnd: lastTime == .min ? 0 : lastTime).pools)
    }
    /// Packets read so far.
    public var packets: Int { summary.packets }

    /// Which input file the next packets come from (an index into the sources added).
    public mutating func setSource(_ index: Int) {
        flows.currentSource = index
    }

    /// Analyses one packet. `bytes` is only read during the call. `owned`:
    /// a chunk's index (`Shard.recordIndexer`) named this shard the owner
    /// of this Ethernet/IPv4 TCP segment, so the shard need not find it again.
    @inline(__always)
    public mutating func ingest(_ bytes: UnsafeRawBufferPointer, wireLength: Int, linkType: LinkType, timestamp: Int64,
                                owned: Bool = false) {
        countPacket(wireLength: wireLength, timestamp: timestamp)
        if let shard {
            ingest(bytes, wireLength: wireLength, linkType: linkType, at: CaptureTime(nanoseconds: timestamp), shard: shard, owned: owned)
            return
        }
        guard let segment = Self.tcpSegment(bytes, wireLength: wireLength, linkType: linkType, undecoded: { summary.undecoded.record($0) })
        else { return }
        summary.tcpPackets &+= 1
        if segment.isPayloadTruncated { summary.payloadTruncatedPackets &+= 1 }
        flows.ingest(segment, at: CaptureTime(nanoseconds: timestamp))
        deliverPending()
    }

    /// The packet's TCP segment, or nil after telling `undecoded` why it has
    /// none. An Ethernet/IPv4 segment, most packets, is read in place here
    /// (`PacketDecoder.ethernetIPv4TCPSegment`); anything else goes through
    /// the decoder, which gives the same segment for such a packet.
    @inline(__always)
    static func tcpSegment(_ bytes: UnsafeRawBufferPointer, wireLength: Int, linkType: LinkType,
                           undecoded: (UndecodedReason) -> Void) -> TCPSegment? {
        if linkType == .ethernet, let segment = PacketDecoder.ethernetIPv4TCPSegment(bytes, wireLength: wireLength) {
            return segment
        }
        switch PacketDecoder.decode(bytes, wireLength: wireLength, linkType: linkType) {
        case .tcp(let segment):
            return segment
        case .undecoded(let reason):
            undecoded(reason)
            return nil
        }
    }

    /// The capture summary's part of every packet, whoever analyses it.
    @inline(__always)
    private mutating func countPacket(wireLength: Int, timestamp: Int64) {
        summary.packets &+= 1
        summary.bytes &+= wireLength
        if timestamp < firstTime { firstTime = timestamp }
        if timestamp > lastTime { lastTime = timestamp }
        if timestamp % 1000 != 0 { subMicrosecond = true }
    }

    /// Another shard's TCP segment: only its time, for this shard's clock.
    @inline(__always)
    private mutating func noteOtherShardsSegment(at time: CaptureTime) {
        flows.advance(to: time)
        deliverPending()
    }

    /// A shard's share of a packet. A TCP segment belongs to the shard that
    /// `owner` names from its two endpoints (a mix of its own, independent of
    /// the flow table's hash); other shards only note its time. A packet that
    /// is not TCP is counted by one shard, by packet number. Each shard counts
    /// what it owns; `finish(shards:)` adds.
    @inline(__always)
    private mutating func ingest(_ bytes: UnsafeRawBufferPointer, wireLength: Int, linkType: LinkType, at time: CaptureTime,
                                 shard: (index: Int, count: Int), owned: Bool) {
        @inline(__always) func owner(lowXor: UInt64, highXor: UInt64, _ portA: UInt16, _ portB: UInt16) -> Int {
            Shard.owner(lowXor: lowXor, highXor: highXor, portA, portB, count: shard.count)
        }
        @inline(__always) func owner(_ a: Endpoint, _ b: Endpoint) -> Int {
            owner(lowXor: a.address.low ^ b.address.low, highXor: a.address.high ^ b.address.high, a.port, b.port)
        }
        // Most packets: the owner a TCP segment would have, from a few loads
        // at Ethernet/IPv4's fixed offsets (`Shard.owner(of:count:)`). Another
        // shard's is checked to be TCP, without decoding it, to note its time;
        // this shard's is decoded, which checks.
        var claimant: Int? = owned ? shard.index : nil
        if !owned, linkType == .ethernet, let ends = PacketDecoder.ethernetIPv4Ends(bytes) {
            let fastOwner = Shard.owner(of: ends, count: shard.count)
            if fastOwner == shard.index {
                claimant = fastOwner
            } else if PacketDecoder.ethernetIPv4TCPEnds(bytes, wireLength: wireLength) != nil {
                noteOtherShardsSegment(at: time)
                return
            }
        }
        let packets = summary.packets
        guard let segment = Self.tcpSegment(bytes, wireLength: wireLength, linkType: linkType, undecoded: { reason in
            if packets % shard.count == shard.index { summary.undecoded.record(reason) }
        }) else { return }
        guard claimant == shard.index || (claimant == nil && owner(segment.source, segment.destination) == shard.index) else {
            noteOtherShardsSegment(at: time)
            return
        }
        summary.tcpPackets &+= 1
        if segment.isPayloadTruncated { summary.payloadTruncatedPackets &+= 1 }
        flows.ingest(segment, at: time, packetNumber: summary.packets)
        deliverPending()
    }

    /// A packet a chunk's index (`Shard.recordIndexer`) names another
    /// shard's TCP segment: what `ingest` does with it, without its bytes.
    @inline(__always)
    public mutating func ingestOtherShards(wireLength: Int, timestamp: Int64) {
        countPacket(wireLength: wireLength, timestamp: timestamp)
        // Only a later time can make anything due here (a sweep, a pool
        // tick): what the tracker finishes comes from its sweeps, and reuses
        // from this shard's own segments, each handed on when it came.
        guard timestamp > flows.latest else { return }
        if timestamp < flows.nextSweepTime && timestamp < nextPoolTick {
            flows.advance(to: CaptureTime(nanoseconds: timestamp))
            return
        }
        noteOtherShardsSegment(at: CaptureTime(nanoseconds: timestamp))
    }

    /// This analyzer's shard number, as a chunk index's record class (see
    /// `Shard.recordIndexer`); `SavefileChunks.unclassified` when not sharded.
    public var recordClass: UInt8 {
        guard let shard, shard.count < Int(SavefileChunks.unclassified) else { return SavefileChunks.unclassified }
        return UInt8(shard.index)
    }

    /// Hands on what the flow tracker finished during the last packet (a
    /// sweep may run on any packet, a shard's others included).
    @inline(__always)
    private mutating func deliverPending() {
        if !flows.finishedOutlines.isEmpty { deliverFinished() }
        if !flows.reuses.isEmpty { settleReuses(flows.drainReuses()) }
        if flows.latest >= nextPoolTick { tickPools() }
    }

    /// Every quarter second of capture time (`PoolSettings.tickSeconds`; all
    /// shards at the same packet): the pools see the progress of each
    /// connection that had a packet since the last look, then sweep (or hand
    /// this shard's batch to the shared sweeper).
    private mutating func tickPools() {
        let now = flows.latest
        nextPoolTick = now &+ Int64(poolAnalyzer.settings.tickSeconds * 1e9)
        poolAnalyzer.observe(&flows)
        if let shard, let sharedPools {
            // The next batch fills the buffers of an earlier one the sweepers are done with.
            var spare = sharedPools.spare(for: shard.index)
            sharedPools.deliver(poolAnalyzer.batch(now: now, reusing: &spare), shard: shard.index, tick: poolTicks)
            poolTicks += 1
        } else {
            poolAnalyzer.tick(now: now)
        }
    }

    /// Notes an input the capture reads from.
    public mutating func addSource(_ source: CaptureSourceInfo) {
        summary.sources.append(source)
    }

    /// Notes an input fault; the report still covers everything read.
    public mutating func recordFault(_ description: String) {
        summary.faults.append(description)
    }

    public mutating func setLiveCounters(_ counters: LiveCounters) {
        summary.live = counters
    }

    private var finishedCount = 0
    private var finishedRequests = 0

    /// The outlines and records the tracker finished, in the tracker's
    /// buffers, handed back emptied for the next batch.
    private mutating func deliverFinished() {
        var batch: [ConnectionRecord] = []
        var outlines: [ConnectionOutline] = []
        flows.takeFinished(into: &batch, outlines: &outlines)
        deliver(batch, outlines)
        flows.returnFinished(&batch, outlines: &outlines)
    }

    /// Delivers what is finished, and frees the tracker's buffers.
    private mutating func dropFinishedBuffer() {
        if !flows.finishedOutlines.isEmpty { deliverFinished() }
        var buffer: [ConnectionRecord] = []
        var outlines: [ConnectionOutline] = []
        flows.takeFinished(into: &buffer, outlines: &outlines)
    }

    /// Every finished connection's outline goes to the pools; the records
    /// (of the connections opened while the report still wanted them) are
    /// streamed or kept.
    private mutating func deliver(_ finished: [ConnectionRecord], _ outlines: [ConnectionOutline]) {
        poolAnalyzer.add(each: outlines)
        finishedCount += outlines.count
        for i in outlines.indices { finishedRequests += outlines[i].requests ?? 0 }
        // Those with no record are not kept.
        recordsNotKept += outlines.count - finished.count
        if let onConnection {
            for record in finished { onConnection(record) }
        } else {
            // Read in place: iterating the array copied each record (every
            // String and array in it retained).
            finished.withUnsafeBufferPointer { finished in
                for i in finished.indices {
                    let id = finished[i].id
                    guard recordLimit != nil else {
                        recordIndex[id] = records.count
                        records.append(finished[i])
                        continue
                    }
                    // With a limit the tracker made records for the first
                    // connections opened only (`FlowTracker.recordLimit`): all
                    // are kept, sorted by id, since connections finish in another order.
                    records.insert(finished[i], at: keptPosition(of: id))
                }
            }
        }
    }

    /// A reported connection's TIME_WAIT was cut short by a new SYN (whole-capture
    /// reports only; streamed records carry the reuse on the new connection).
    private mutating func settleReuses(_ events: [PortReuseEvent]) {
        for event in events { poolAnalyzer.reuse(previousID: event.previousID, at: event.at.nanoseconds) }
        guard onConnection == nil else { return }
        for event in events {
            let i = recordLimit == nil ? recordIndex[event.previousID] : keptIndex(of: event.previousID)
            guard let i, records[i].timeWait != nil else { continue }
            records[i].timeWait!.reusedAt = event.at
        }
    }

    /// Where a connection with this id goes among records kept sorted by id (`recordLimit`).
    private func keptPosition(of id: Int) -> Int {
        partitionPoint(records.count) { records[$0].id >= id }
    }

    private func keptIndex(of id: Int) -> Int? {
        let i = keptPosition(of: id)
        return i < records.count && records[i].id == id ? i : nil
    }

    /// Ends the capture and returns the report.
    public mutating func finish() -> Report {
        settle()
        var report = Report(capture: summary, connections: records)
        report.connectionsNotKept = recordsNotKept
        let (pools, hosts) = poolAnalyzer.finish(captureEnd: summary.last?.nanoseconds ?? 0)
        report.pools = pools
        report.capture.timeWaitHosts = hosts
        return report
    }

    /// Merges shards that read the same packets (see `Shard`) into the report
    /// one analyzer would have made: connections renumbered 1, 2, ... in the
    /// order their first packet was seen, pools and TIME_WAIT loads over all
    /// connections, and the peak of live connections summed at each sweep.
    public static func finish(shards: consuming [Analyzer]) -> Report {
        var shards = shards
        guard shards.count > 1 else { return shards[0].finish() }
        for i in shards.indices where !shards[i].settled { shards[i].settle() }
        // Every shard read every packet: the capture summary is shard 0's, with
        // the counts each shard kept of its own packets added up.
        var summary = shards[0].summary
        summary.tracking = FlowTrackingStats()
        for shard in shards.dropFirst() {
            summary.tcpPackets += shard.summary.tcpPackets
            summary.payloadTruncatedPackets += shard.summary.payloadTruncatedPackets
            summary.undecoded.add(shard.summary.undecoded)
        }
        var peaks = [Int](repeating: 0, count: shards.map(\.flows.liveBeforeSweep.count).max() ?? 0)
        for i in shards.indices {
            let stats = shards[i].flows.stats
            summary.tracking.evictions += stats.evictions
            summary.tracking.idleTimeouts += stats.idleTimeouts
            summary.tracking.segmentsAfterClose += stats.segmentsAfterClose
            for (k, live) in shards[i].flows.liveBeforeSweep.enumerated() { peaks[k] += Int(live) }
        }
        summary.tracking.peakLiveConnections = peaks.max() ?? 0
        // Every shard delivered its last batch when it settled: the sweepers take what is left.
        var sweepers = shards[0].sharedPools!.finished()
        summary.timeWaitHosts = PoolSweeper.hostLoads(of: &sweepers)

        // A packet number's rank among all connections' is the connection's id.
        let opened = shards.map(\.flows.openedIDs)
        let newID: @Sendable (Int) -> Int = { packetNumber in
            opened.reduce(1) { rank, ids in rank + ids.countBelow(packetNumber) }
        }
        let kept = shards.reduce(0) { $0 + $1.records.count }
        let total = kept + shards.reduce(0) { $0 + $1.recordsNotKept }
        // Each shard's records moved into one array as it goes, then sorted in
        // place: a JSON report keeps every record, and merging them into new
        // arrays while the shards still held theirs had made the two-thread
        // peak 331 MiB on the 1 GB capture, against 188 on one thread.
        var records: [ConnectionRecord] = []
        records.reserveCapacity(kept)
        for i in shards.indices {
            records.append(contentsOf: shards[i].records)
            shards[i].records = []
        }
        records.sort { $0.id < $1.id }
        if let limit = shards[0].recordLimit, records.count > limit { records.removeLast(records.count - limit) }
        for i in records.indices {
            records[i].id = newID(records[i].id)
            if let previous = records[i].portReuse?.previousID { records[i].portReuse!.previousID = newID(previous) }
        }
        var report = Report(capture: summary, connections: records)
        report.connectionsNotKept = total - records.count
        var tallies = shards.indices.map { shards[$0].poolAnalyzer.takeTallies() }
        // The pools' reports on the shards' cores: one after another, they were
        // two thirds of what a two-thread run does after its shards stop.
        report.pools = PoolSweeper.reports(of: &sweepers, tallies: &tallies, captureEnd: summary.last?.nanoseconds ?? 0,
                                           renumber: newID, parts: shards.count) { parts, body in
            DispatchQueue.concurrentPerform(iterations: parts, execute: body)
        }
        return report
    }

    private var settled = false

    /// Ends tracking: every connection finished and delivered, reuses and
    /// TIME_WAIT flags settled, the summary complete.
    /// A shard may settle on its own thread before the merge.
    mutating func settle() {
        guard !settled else { return }
        settled = true
        if summary.packets > 0 {
            summary.first = CaptureTime(nanoseconds: firstTime)
            summary.last = CaptureTime(nanoseconds: lastTime)
        }
        summary.nanosecondTimestamps = subMicrosecond
        let captureEnd = summary.last ?? CaptureTime(nanoseconds: 0)
        // The batch buffer, as large as the largest sweep's, goes before the
        // connections still open are finished in batches of 1,024, and again
        // before the reports are made.
        dropFinishedBuffer()
        while !flows.finish(captureEnd: captureEnd, atMost: 1024) { deliverFinished() }
        deliverFinished()
        dropFinishedBuffer()
        settleReuses(flows.drainReuses())
        // Whole-capture reports know the end: settle each TIME_WAIT's running flag.
        for i in records.indices where records[i].timeWait != nil {
            let tw = records[i].timeWait!
            records[i].timeWait!.runningAtCaptureEnd = tw.reusedAt == nil && tw.end > captureEnd
        }
        recordIndex = [:]
        summary.tracking = flows.stats
        summary.timeWaitSeconds = flows.settings.timeWaitSeconds
        if let shard {
            sharedPools?.deliver(poolAnalyzer.lastBatch(captureEnd: captureEnd.nanoseconds), shard: shard.index, tick: poolTicks,
                                 last: true)
            poolTicks += 1
        }
        records.sort { $0.id < $1.id }
    }
}

extension Analyzer.Shard {
    /// The shard of `count` that owns a TCP segment between these two sides:
    /// the same for both directions without ordering the endpoints (as
    /// FlowKey does): XOR and sum of the two sides, mixed; its low 32 bits
    /// scaled to 0..<count (a multiply, not a division per packet).
    @inline(__always)
    static func owner(lowXor: UInt64, highXor: UInt64, _ portA: UInt16, _ portB: UInt16, count: Int) -> Int {
        var h = lowXor &+ highXor &* 0x9E37_79B9_7F4A_7C15
        h ^= (UInt64(portA ^ portB) << 17 | (UInt64(portA) &+ UInt64(portB))) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return Int(truncatingIfNeeded: ((h & 0xFFFF_FFFF) &* UInt64(count)) >> 32)
    }

    /// The owner of the segment whose sides `PacketDecoder.ethernetIPv4Ends`
    /// read (an IPv4 address is the low word of its IPAddress: the same owner
    /// as from the decoded segment).
    @inline(__always)
    static func owner(of ends: PacketDecoder.IPv4TCPEnds, count: Int) -> Int {
        owner(lowXor: UInt64(ends.source ^ ends.destination), highXor: 0, ends.sourcePort, ends.destinationPort, count: count)
    }

    /// For a savefile read by `count` shards (`SavefileChunks`' index): the
    /// shard that owns an Ethernet/IPv4 TCP segment, found as `ingest` finds
    /// it (the fixed-offset reading, then the check that it is TCP), and
    /// `SavefileChunks.unclassified` for every other packet, which each shard
    /// then reads whole. Nil when an index would not help: one shard, more
    /// shards than classes, or a link type other than Ethernet (LINKTYPE_ETHERNET, 1).
    public static func recordClassifier(count: Int, linkType: UInt32) -> RecordClassifier? {
        guard indexes(count: count, linkType: linkType) else { return nil }
        return { bytes, wireLength in recordClass(bytes, wireLength: wireLength, count: count) }
    }

    /// The same classes, written a chunk at a time with the classifier
    /// inlined into the walk (what a sharded run uses).
    public static func recordIndexer(count: Int, linkType: UInt32) -> ChunkIndexer? {
        guard indexes(count: count, linkType: linkType) else { return nil }
        return { records in records.index { bytes, wireLength in recordClass(bytes, wireLength: wireLength, count: count) } }
    }

    private static func indexes(count: Int, linkType: UInt32) -> Bool {
        count > 1 && count < Int(SavefileChunks.unclassified) && linkType == 1
    }

    /// The check names the same sides the fixed-offset reading does (see
    /// `PacketDecoder.ethernetIPv4Ends`): one call does both.
    @inline(__always)
    static func recordClass(_ bytes: UnsafeRawBufferPointer, wireLength: Int, count: Int) -> UInt8 {
        guard let ends = PacketDecoder.ethernetIPv4TCPEnds(bytes, wireLength: wireLength) else { return SavefileChunks.unclassified }
        return UInt8(truncatingIfNeeded: owner(of: ends, count: count))
    }
}
