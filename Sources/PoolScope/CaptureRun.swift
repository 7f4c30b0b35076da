@_exported import PcapCapture
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs an Analyzer over capture files or a live interface through libpcap.
///
/// Input faults (a missing file, a file that is not a capture, a record cut
/// off or of impossible length) never stop the run: each becomes one line in
/// `report.capture.faults` and the report covers everything read. Only a
/// filter expression libpcap rejects is thrown, since it is a usage error.
public enum CaptureRun {
    /// Where a long read stands, for a progress display.
    public struct Progress: Sendable {
        public var bytesRead: Int64
        public var packets: Int
        public var liveConnections: Int
    }

    /// Reads `paths` as one capture, merged in timestamp order. With
    /// `onConnection`, each connection is handed over as it finishes and the
    /// report's `connections` stays empty (streaming: NDJSON).
    ///
    /// With `threads` > 1 (and no streaming, no standard input), the analysis
    /// is sharded: each shard, on a thread of its own, sees every packet of
    /// the input and tracks the flows whose key hash falls to it, and the
    /// shards are merged into the same report (`Analyzer.finish(shards:)`). A
    /// classic pcap file is read from disk once for all shards
    /// (`SavefileChunks`: 1 MB chunks, one lock taken per chunk), and the
    /// shard that reads a chunk in indexes its records, so that the others
    /// take their shards' packets from the index without reading them; no
    /// packet state is shared between the threads.
    public static func analyzeFiles(
        _ paths: [String], filter: String? = nil, settings: FlowSettings = FlowSettings(),
        poolSettings: PoolSettings = PoolSettings(), recordLimit: Int? = nil, threads: Int = 1,
        onConnection: ((ConnectionRecord) -> Void)? = nil, onProgress: ((Progress) -> Void)? = nil
    ) throws(CaptureError) -> Report {
        let shardCount = threads > 1 && onConnection == nil && !paths.contains("-") ? threads : 1
        var analyzers: [Analyzer] = []
        var inputs: [[OfflineCapture]] = []
        // Shards read each classic pcap file from disk once, together (their
        // second read of every byte was a tenth of a sharded run's CPU).
        let shared: [SavefileChunks?] = shardCount > 1 && (filter ?? "").isEmpty
            ? paths.map { SavefileChunks(path: $0, readers: shardCount, indexer: { linkType in
                Analyzer.Shard.recordIndexer(count: shardCount, linkType: linkType)
            }) } : paths.map { _ in nil }
        var sweepSettings = poolSettings
        sweepSettings.timeWaitSeconds = settings.timeWaitSeconds
        let sharedPools = ShardedPools(shards: shardCount, settings: sweepSettings)
        for i in 0..<shardCount {
            var analyzer = Analyzer(settings: settings, poolSettings: poolSettings, recordLimit: recordLimit, onConnection: onConnection,
                                    shard: shardCount > 1 ? Analyzer.Shard(index: i, count: shardCount, pools: sharedPools) : nil)
            inputs.append(try open(paths, filter: filter, shared: shared, reader: i, into: &analyzer))
            analyzers.append(analyzer)
        }
        let progress: ((Analyzer) -> Void)? = onProgress.map { report in
            let sources = inputs[0]
            return { analyzer in
                report(Progress(bytesRead: sources.reduce(0) { $0 + ($1.bytesRead ?? 0) }, packets: analyzer.packets,
                                liveConnections: analyzer.liveConnections))
            }
        }
        if shardCount == 1 {
            drain(inputs[0], into: &analyzers[0], progress: progress)
            return analyzers[0].finish()
        }
        analyzers.withUnsafeMutableBufferPointer { shards in
            nonisolated(unsafe) let shards = shards
            nonisolated(unsafe) let inputs = inputs
            nonisolated(unsafe) let progress = progress
            sideBySide(shardCount) { i in
                // Each thread has its own analyzer and its own open files. The
                // analyzer is moved to the thread's stack while it runs: side by
                // side in one array, the shards' per-packet counters shared cache
                // lines (false sharing: 6% more CPU on the benchmark capture).
                var analyzer = shards[i]
                drain(inputs[i], into: &analyzer, progress: i == 0 ? progress : nil)
                analyzer.settle()
                shards[i] = analyzer
            }
        }
        // Moved, not copied: the merge lets go of each shard's records and tallies as it
        // takes them, which a second reference here would have kept alive.
        return Analyzer.finish(shards: consume analyzers)
    }

    /// Runs `body` for 0..<count on that many threads at once, the calling
    /// thread taking 0. Not `concurrentPerform`, which may run iterations one
    /// after another (called from inside another, or with its pool busy):
    /// shards that read one file's shared chunks wait for each other, so they
    /// must run side by side.
    static func sideBySide(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Job: @unchecked Sendable {
            let index: Int
            let body: @Sendable (Int) -> Void
            init(_ index: Int, _ body: @escaping @Sendable (Int) -> Void) { self.index = index; self.body = body }
        }
        var threads: [pthread_t] = []
        for i in 1..<max(count, 1) {
            let job = Unmanaged.passRetained(Job(i, body)).toOpaque()
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { context in
                let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
                job.body(job.index)
                return nil
            }, job)
            // Without its thread a shard would hold the others back for good.
            precondition(started == 0, "poolscope: could not start analysis thread \(i) (pthread_create: \(started)); try --threads 1")
            threads.append(thread)
        }
        body(0)
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Opens each capture file; a file that cannot be read is a fault in the
    /// report (only a filter libpcap rejects is thrown: a usage error).
    static func open(_ paths: [String], filter: String?, shared: [SavefileChunks?]? = nil, reader: Int = 0,
                     into analyzer: inout Analyzer) throws(CaptureError) -> [OfflineCapture] {
        var sources: [OfflineCapture] = []
        for (i, path) in paths.enumerated() {
            do {
                let capture = try OfflineCapture(path: path, filter: filter, sourceIndex: sources.count,
                                                 chunks: shared?[i], reader: reader)
                sources.append(capture)
                analyzer.addSource(CaptureSourceInfo(
                    name: path, isLive: false, linkType: LinkType(rawValue: capture.linkType).description,
                    snapshotLength: Int(capture.snapshotLength)))
            } catch {
                if case .filter = error { throw error }
                analyzer.recordFault(error.description)
            }
        }
        return sources
    }

    static func drain(_ sources: [OfflineCapture], into analyzer: inout Analyzer, progress: ((Analyzer) -> Void)?) {
        if sources.count == 1 {
            drain(sources[0], into: &analyzer, progress: progress)
        } else if sources.count > 1 {
            drain(MergedCapture(sources), into: &analyzer, progress: progress)
        }
    }

    /// Captures live until `packetLimit` packets, `duration` seconds, or
    /// SIGINT/SIGTERM, then returns the report with libpcap's counters.
    public static func sniff(
        _ settings: LiveCapture.Settings, packetLimit: Int? = nil, duration: Double? = nil,
        flowSettings: FlowSettings = FlowSettings(), poolSettings: PoolSettings = PoolSettings(),
        onConnection: ((ConnectionRecord) -> Void)? = nil, onStart: (() -> Void)? = nil,
        interval: Double? = nil, onTick: ((Analyzer.Snapshot, LiveCapture.Statistics?) -> Void)? = nil
    ) throws(CaptureError) -> Report {
        let capture = try LiveCapture(settings)
        capture.stopOnInterrupt()
        var analyzer = Analyzer(settings: flowSettings, poolSettings: poolSettings, onConnection: onConnection)
        analyzer.addSource(CaptureSourceInfo(
            name: settings.device, isLive: true, linkType: LinkType(rawValue: capture.linkType).description,
            snapshotLength: Int(settings.snaplen)))
        onStart?()
        let clock = ContinuousClock()
        let deadline = duration.map { clock.now.advanced(by: .milliseconds(Int64($0 * 1000))) }
        let tick = Duration.milliseconds(Int64((interval ?? 1) * 1000))
        var nextTick = clock.now.advanced(by: tick)
        reading: while true {
            if let packetLimit, analyzer.packets >= packetLimit { break }
            if let deadline, clock.now >= deadline { break }
            if let onTick, clock.now >= nextTick {
                nextTick = clock.now.advanced(by: tick)
                onTick(analyzer.snapshot(), capture.statistics)
            }
            switch capture.next() {
            case .packet(let p):
                analyzer.ingest(p.bytes, wireLength: p.wireLength, linkType: LinkType(rawValue: p.linkType), timestamp: p.timestamp)
            case .timeout:
                continue
            case .end:
                break reading
            case .failed(let error):
                analyzer.recordFault(error.description)
                break reading
            }
        }
        if let s = capture.statistics {
            analyzer.setLiveCounters(LiveCounters(received: Int(s.received), dropped: Int(s.dropped), interfaceDropped: Int(s.interfaceDropped)))
        }
        capture.flushSavefile()
        return analyzer.finish()
    }

    /// The per-packet loop for one file: records straight from the savefile
    /// reader while it has them, the rest (libpcap's records, the end, a
    /// fault) through `take`.
    static func drain(_ source: OfflineCapture, into analyzer: inout Analyzer, progress: ((Analyzer) -> Void)? = nil) {
        let linkType = LinkType(rawValue: source.linkType)
        analyzer.setSource(source.sourceIndex)
        while true {
            if let reader = source.savefileReader { drain(reader, linkType: linkType, into: &analyzer, progress: progress) }
            guard take(source.next(), into: &analyzer, progress: progress) else { return }
        }
    }

    /// Records straight from the savefile reader while it has them: its
    /// `next()` and the analyzer's `ingest` both inlined into this loop. A
    /// function of its own: written inside the loop above, `ingest` was left a
    /// call (0.6% more instructions on one thread, 1.4% on two).
    ///
    /// In a chunk the shards' indexer indexed, another shard's segment is
    /// taken from its index entry, and its bytes are not read; this shard's
    /// records are prefetched a few entries ahead (`nextEntry(prefetching:)`).
    @inline(never)
    static func drain(_ reader: SavefileReader, linkType: LinkType, into analyzer: inout Analyzer, progress: ((Analyzer) -> Void)?) {
        let mine = analyzer.recordClass
        while true {
            // One call of `ingest` in the loop, so that it is inlined here.
            let record: (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)
            var owned = false
            if let entry = reader.nextEntry(prefetching: mine) {
                let owner = entry.recordClass
                owned = owner == mine && owner != SavefileChunks.unclassified
                if !owned && owner != SavefileChunks.unclassified {
                    analyzer.ingestOtherShards(wireLength: Int(entry.wireLength), timestamp: entry.timestamp)
                    if let progress, analyzer.packets & 0xFFFF == 0 { progress(analyzer) }
                    continue
                }
                record = (entry.timestamp, Int(entry.wireLength), reader.bytes(of: entry))
            } else if let next = reader.next() {
                record = next
            } else {
                return
            }
            analyzer.ingest(record.bytes, wireLength: record.wireLength, linkType: linkType, timestamp: record.timestamp, owned: owned)
            if let progress, analyzer.packets & 0xFFFF == 0 { progress(analyzer) }
        }
    }

    /// The per-packet loop; generic so it specialises for each source type.
    /// `progress` is called every 65,536 packets.
    static func drain<Source: PacketSource>(_ source: Source, into analyzer: inout Analyzer, progress: ((Analyzer) -> Void)? = nil) {
        var lastSource = 0
        while true {
            let result = source.next()
            if case .packet(let p) = result, p.sourceIndex != lastSource {
                lastSource = p.sourceIndex
                analyzer.setSource(lastSource)
            }
            guard take(result, into: &analyzer, progress: progress) else { return }
        }
    }

    /// One read's outcome: a packet analysed or a fault noted; false at the end.
    @inline(__always)
    static func take(_ result: PacketReadResult, into analyzer: inout Analyzer, progress: ((Analyzer) -> Void)?) -> Bool {
        switch result {
        case .packet(let p):
            analyzer.ingest(p.bytes, wireLength: p.wireLength, linkType: LinkType(rawValue: p.linkType), timestamp: p.timestamp)
            if let progress, analyzer.packets & 0xFFFF == 0 { progress(analyzer) }
        case .timeout:
            break
        case .end:
            return false
        case .failed(let error):
            analyzer.recordFault(error.description)
        }
        return true
    }

    /// The libpcap version in use.
    public static var libpcapVersion: String { PcapCapture.libpcapVersion }
}

