import Foundation
import PcapTestSupport
import PoolScope
import Synchronization
import Testing

/// Sharded analysis (`--threads`): every shard reads the whole capture and
/// tracks the flows whose key hash falls to it; the merged report must be the
/// one a single analyzer makes, byte for byte in JSON: ids, reuse links,
/// pools and their findings, TIME_WAIT loads, the peak of live connections.
@Suite struct ShardedAnalysis {
    static func json(_ paths: [String], threads: Int, recordLimit: Int? = nil) throws -> String {
        JSONReport.render(try CaptureRun.analyzeFiles(paths, recordLimit: recordLimit, threads: threads))
    }

    static func expectSameReport(_ paths: [String], threads counts: [Int] = [2, 3], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let single = try json(paths, threads: 1)
        for threads in counts {
            let sharded = try json(paths, threads: threads)
            let same = sharded == single  // not in #expect: it would print both reports
            #expect(same, "\(paths.map { URL(fileURLWithPath: $0).lastPathComponent }) with \(threads) threads",
                    sourceLocation: sourceLocation)
            if sharded != single {
                let a = Array(single.utf8), b = Array(sharded.utf8)
                let i = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
                func around(_ x: [UInt8]) -> String { String(decoding: x[max(0, i - 100)..<min(x.count, i + 60)], as: UTF8.self) }
                Issue.record("first difference at byte \(i): …\(around(a))… vs …\(around(b))…", sourceLocation: sourceLocation)
            }
        }
    }

    static let fixtures = (try? FileManager.default.contentsOfDirectory(atPath: Paths.packageRoot.appendingPathComponent("Fixtures").path))?
        .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted() ?? []  // pcapng: libpcap in each shard

    @Test func everyFixture() throws {
        #expect(Self.fixtures.count >= 20)
        for name in Self.fixtures { try Self.expectSameReport([Paths.fixture(name)]) }
    }

    /// Two files merged by time are sharded the same way.
    @Test func mergedFiles() throws {
        try Self.expectSameReport([Paths.fixture("go-default-pool.pcap"), Paths.fixture("curl-keepalive-ipv6.pcap")])
    }

    /// The text report keeps the first connections by id: per shard, then merged.
    @Test func aRecordLimitKeepsTheFirstConnections() throws {
        let path = Paths.fixture("pool-go-default-c20.pcap")
        #expect(try Self.json([path], threads: 2, recordLimit: 5) == (try Self.json([path], threads: 1, recordLimit: 5)))
    }

    /// Without timelines (text and CSV reports show none) every other part of
    /// the pools' and hosts' reports is the same.
    @Test(arguments: [1, 2])
    func poolsWithoutTimelinesChangeNothingElse(threads: Int) throws {
        var settings = PoolSettings()
        settings.keepsTimelines = false
        for name in ["pool-go-default-c20.pcap", "go-default-pool.pcap", "py-port-reuse.pcap"] {
            let path = Paths.fixture(name)
            var whole = try CaptureRun.analyzeFiles([path], threads: threads)
            #expect(whole.pools.contains { !$0.timeline.isEmpty } && whole.capture.timeWaitHosts.contains { !$0.timeline.isEmpty },
                    "\(name)")
            for i in whole.pools.indices { whole.pools[i].timeline = [] }
            for i in whole.capture.timeWaitHosts.indices { whole.capture.timeWaitHosts[i].timeline = [] }
            let without = try CaptureRun.analyzeFiles([path], poolSettings: settings, threads: threads)
            let same = JSONReport.render(without) == JSONReport.render(whole)  // not in #expect: it would print both reports
            #expect(same, "\(name), \(threads) threads")
        }
    }

    /// With a record limit only the first connections get a whole record (the
    /// rest an outline, without their requests' targets): the report must be
    /// the whole one cut to those connections, pools and counts unchanged.
    @Test(arguments: [1, 2])
    func aRecordLimitChangesNothingButTheConnectionsListed(threads: Int) throws {
        for (name, limit) in [("pool-go-default-c20.pcap", 5), ("pool-go-undrained.pcap", 2), ("go-default-pool.pcap", 1),
                              ("go-keepalive-disabled.pcap", 1), ("py-port-reuse.pcap", 1)] {
            let path = Paths.fixture(name)
            var whole = try CaptureRun.analyzeFiles([path], threads: threads)
            #expect(whole.connections.count > limit, "\(name)")
            whole.connectionsNotKept = whole.connections.count - limit
            whole.connections.removeLast(whole.connections.count - limit)
            let limited = try CaptureRun.analyzeFiles([path], recordLimit: limit, threads: threads)
            #expect(limited.connections.allSatisfy { $0.http.transactions.allSatisfy { !$0.target.isEmpty } }, "\(name)")
            let same = JSONReport.render(limited) == JSONReport.render(whole)  // not in #expect: it would print both reports
            #expect(same, "\(name), \(threads) threads")
        }
    }

    @Test(.enabled(if: GeneratedCapture.available, "../shared/tools/genpcap.c or a C compiler not found: skipped"))
    func aGeneratedCaptureWithLossAndPortReuse() throws {
        let dir = Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let generator = try GeneratedCapture.buildGenerator(in: dir)
        let lossy = dir.appendingPathComponent("lossy.pcap").path, reuse = dir.appendingPathComponent("reuse.pcap").path
        try GeneratedCapture.run(generator, ["-o", lossy, "-n", "1000", "-j", "128", "-e", "0.02"])
        // Past the 28,232 ephemeral ports of one client: 4-tuples are reused.
        try GeneratedCapture.run(generator, ["-o", reuse, "-n", "29000", "-j", "64", "-c", "1", "-s", "1", "-r", "1", "-b", "100"])
        try Self.expectSameReport([lossy], threads: [2])
        try Self.expectSameReport([reuse], threads: [2])

        // A file's shards read its shared chunks in step, so they must run side
        // by side: also when the analysis is itself one of several in a
        // concurrentPerform, which may run its own iterations one by one.
        #expect(try FileManager.default.attributesOfItem(atPath: lossy)[.size] as! Int > 5 * SavefileChunks.defaultChunkSize)
        let expected = try Self.json([lossy], threads: 1)
        let reports = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            let report = (try? Self.json([lossy], threads: 2)) ?? "failed"
            reports.withLock { $0.append(report) }
        }
        #expect(reports.withLock { $0.count == 3 && $0.allSatisfy { $0 == expected } })
    }

    @Test(.enabled(if: Paths.corpus != nil, "../shared/corpus not found: sharded conformance skipped"))
    func everyCorpusTrace() throws {
        let corpus = try #require(Paths.corpus)
        for trace in try Conformance.traces(corpus) {
            try Self.expectSameReport([corpus.appendingPathComponent("traces").appendingPathComponent(trace).path])
        }
    }

    /// Through the binary: every thread count gives the same report, in each
    /// format that is not streamed; a count outside 1-64 is a usage error.
    @Test func theCommandLineAgreesForEveryThreadCount() throws {
        let path = Paths.fixture("pool-go-default-c20.pcap")
        for format in ["json", "text", "csv"] {
            let one = try runPoolscope(["analyze", path, "--format", format, "--threads", "1"])
            #expect(one.status == 0 && !one.stdout.isEmpty)
            for threads in ["2", "4"] {
                let many = try runPoolscope(["analyze", path, "--format", format, "--threads", threads])
                #expect(many.status == 0)
                #expect(many.stdout == one.stdout, "\(format) with \(threads) threads")
            }
        }
        for bad in ["0", "65"] {
            let r = try runPoolscope(["analyze", path, "--threads", bad])
            #expect(r.status == 2, "--threads \(bad)")
            #expect(r.stderr.contains("--threads must be 1 to 64"))
        }
    }
}

/// The chunk index's classifier (`Analyzer.Shard.recordClassifier`): for an
/// Ethernet/IPv4 TCP segment the decoder accepts, the shard its two sides
/// hash to, the same both ways and spread over the shards; for anything
/// else `unclassified`, which every shard then reads whole. No classifier
/// where an index would not serve.
@Suite struct ShardClassifier {
    static func segment(_ a: String, _ pa: UInt16, _ b: String, _ pb: UInt16, protocol proto: UInt8 = 6,
                        fragmentField: UInt16 = 0x4000, vlan: Bool = false) -> [UInt8] {
        B.ethernet(type: 0x0800, payload: B.ipv4(source: a, destination: b, protocol: proto,
                                                 payload: B.tcp(sourcePort: pa, destinationPort: pb, flags: [.ack], payload: Array("x".utf8)),
                                                 fragmentField: fragmentField),
                   vlanTags: vlan ? [(0x8100, 7)] : [])
    }

    @Test func namesTheOwnerOfTCPSegmentsOnly() throws {
        #expect(Analyzer.Shard.recordClassifier(count: 1, linkType: 1) == nil)
        #expect(Analyzer.Shard.recordClassifier(count: 2, linkType: 113) == nil)
        #expect(Analyzer.Shard.recordClassifier(count: 255, linkType: 1) == nil)
        for count in [2, 3, 4] {
            let classify = try #require(Analyzer.Shard.recordClassifier(count: count, linkType: 1))
            func owner(_ frame: [UInt8]) -> UInt8 { frame.withUnsafeBytes { classify($0, frame.count) } }
            var owners = Set<UInt8>()
            for port in UInt16(40_000)..<40_064 {
                let out = owner(Self.segment("10.0.0.1", port, "10.0.0.2", 80))
                #expect(out == owner(Self.segment("10.0.0.2", 80, "10.0.0.1", port)))
                #expect(Int(out) < count)
                owners.insert(out)
            }
            #expect(owners.count == count)
            for (name, frame) in [("UDP", Self.segment("10.0.0.1", 40_000, "10.0.0.2", 80, protocol: 17)),
                                  ("fragment", Self.segment("10.0.0.1", 40_000, "10.0.0.2", 80, fragmentField: 0x2000)),
                                  ("VLAN", Self.segment("10.0.0.1", 40_000, "10.0.0.2", 80, vlan: true)),
                                  ("cut", Array(Self.segment("10.0.0.1", 40_000, "10.0.0.2", 80).prefix(40)))] {
                #expect(owner(frame) == SavefileChunks.unclassified, "\(name)")
            }
        }
    }

    /// What a sharded run indexes with, the classifier inlined into the
    /// chunk's walk (`recordIndexer`), names the classes `recordClassifier`
    /// names, record for record, over chunk boundaries and the frames it leaves unclassified.
    @Test func theChunkIndexerNamesTheClassifiersClasses() throws {
        #expect(Analyzer.Shard.recordIndexer(count: 1, linkType: 1) == nil)
        #expect(Analyzer.Shard.recordIndexer(count: 2, linkType: 113) == nil)
        // A snapshot length a 64 KB chunk takes (a record fits in the chunk after the one it starts in).
        var writer = PcapFileWriter(linkType: 1, snaplen: 2048)
        var frames: [[UInt8]] = []
        for i in 0..<3_000 {
            let port = UInt16(40_000 + i % 500)
            switch i % 7 {
            case 0: frames.append(Self.segment("10.0.0.1", port, "10.0.0.2", 80, protocol: 17))
            case 1: frames.append(Self.segment("10.0.0.1", port, "10.0.0.2", 80, vlan: true))
            case 2: frames.append(Self.segment("10.0.0.2", 80, "10.0.0.1", port) + [UInt8](repeating: 0, count: i % 300))
            default: frames.append(Self.segment("10.0.0.1", port, "10.0.0.2", 80))
            }
            writer.append(frames[i], timestamp: 1_700_000_000_000_000_000 + Int64(i) * 1_000)
        }
        let path = NSTemporaryDirectory() + "savefile-indexer.pcap"
        try Data(writer.bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for count in [2, 3] {
            let classify = try #require(Analyzer.Shard.recordClassifier(count: count, linkType: 1))
            let chunks = try #require(SavefileChunks(path: path, readers: 1, chunkSize: 64 * 1024, indexer: {
                Analyzer.Shard.recordIndexer(count: count, linkType: $0)
            }))
            let reader = SavefileReader(chunks)
            var indexed = 0, differ = 0, seen = 0
            while true {
                if let entry = reader.nextEntry() {
                    let bytes = reader.bytes(of: entry)
                    indexed += 1
                    if entry.recordClass != classify(bytes, Int(entry.wireLength)) { differ += 1 }
                    seen += 1
                } else if reader.next() != nil {
                    seen += 1
                } else {
                    break
                }
            }
            #expect(seen == frames.count)
            #expect(indexed > frames.count * 9 / 10)
            #expect(differ == 0)
            #expect(reader.atEnd)
        }
    }
}
