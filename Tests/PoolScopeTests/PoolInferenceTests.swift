import Foundation
import PcapTestSupport
import PoolScope
import Testing

/// Pool inference on fixtures recorded from clients with known settings:
/// the inferred values and the findings each must produce, exactly.
@Suite struct PoolInference {
    func pool(_ scenario: String) throws -> (Truth, Report, PoolReport) {
        let truth = try Truth.load(scenario)
        let report = try CaptureRun.analyzeFiles([Paths.fixture(truth.capture.file)])
        #expect(report.pools.count == 1)
        return (truth, report, try #require(report.pools.first))
    }

    func codes(_ p: PoolReport) -> [String] { p.findings.map(\.code) }

    /// The problem statement: Go's default Transport under concurrency 3.
    @Test func goDefaultTransportKeepsTwoIdle() throws {
        let (truth, report, p) = try pool("go-default-pool")
        #expect(p.inferred.maxIdlePerHost?.value == 2)
        #expect(p.inferred.keepAlive?.value == true)
        #expect(p.requests == truth.client_view.requests.count)
        #expect(p.peakActive == 3)
        #expect(codes(p) == ["idle-cap-churn"])
        // The connections it names are the two that carried one request: closed right after it.
        let singles = Set(truth.expected.requests_per_connection.filter { $0.value == 1 }.keys.compactMap(Int.init))
        let named = Set(report.connections.filter { p.findings[0].connectionIDs.contains($0.id) }.map { Int($0.client.port) })
        #expect(named == singles)
        #expect(p.findings[0].advice.contains("MaxIdleConnsPerHost ≥ 3"))
    }

    @Test func goDefaultTransportUnderConcurrency20() throws {
        let (truth, _, p) = try pool("pool-go-default-c20")
        #expect(p.inferred.maxIdlePerHost?.value == 2)
        #expect(p.peakActive == 20)
        #expect(p.requests == truth.client_view.requests.count)
        #expect(p.connections == truth.expected.connections)
        #expect(codes(p) == ["idle-cap-churn", "time-wait-buildup"])
        #expect(p.peakTimeWaitClient >= 50)
        #expect(p.findings[0].advice.contains("MaxIdleConnsPerHost ≥ 20"))
    }

    /// A finding names at most `connectionIDLimit` connections (the lowest
    /// ids) and counts them all: one thread or two, the same ones.
    @Test(arguments: [1, 2]) func findingsListTheLowestIDsAndCountAll(threads: Int) throws {
        let (_, _, full) = try pool("pool-go-default-c20")
        var settings = PoolSettings()
        settings.connectionIDLimit = 5
        let capped = try #require(try CaptureRun.analyzeFiles([Paths.fixture("pool-go-default-c20.pcap")], poolSettings: settings,
                                                              threads: threads).pools.first)
        #expect(codes(capped) == ["idle-cap-churn", "time-wait-buildup"])
        for (all, few) in zip(full.findings, capped.findings) {
            #expect(all.connectionIDs.count == all.connectionCount)
            #expect(few.connectionCount == all.connectionCount)
            #expect(few.connectionIDs == Array(all.connectionIDs.sorted().prefix(5)))
        }
        #expect(full.findings.map(\.connectionCount) == [54, 56])
    }

    @Test func maxIdleConnsPerHost10UnderConcurrency10() throws {
        let (truth, _, p) = try pool("pool-go-maxidle10-c10")
        #expect(p.inferred.maxIdlePerHost?.value == 10)
        #expect(p.connections == 10 && p.requests == truth.client_view.requests.count)
        #expect(p.findings.isEmpty)
    }

    @Test func shortClientIdleConnTimeout() throws {
        let (_, _, p) = try pool("go-client-idle-timeout")
        let t = try #require(p.inferred.clientIdleTimeout)
        #expect(abs(t.value - 0.5) < 0.02 && t.observations == 2)
        #expect(p.findings.isEmpty)
    }

    @Test func shortServerIdleTimeout() throws {
        let (_, _, p) = try pool("go-server-idle-timeout")
        let t = try #require(p.inferred.serverIdleTimeout)
        #expect(abs(t.value - 0.5) < 0.02)
        #expect(p.inferred.keepAlive?.value == true)
        #expect(codes(p) == ["server-closes-idle-first"])
    }

    @Test func disableKeepAlives() throws {
        let (_, _, p) = try pool("go-keepalive-disabled")
        #expect(p.inferred.keepAlive?.value == false)
        #expect(codes(p) == ["no-reuse"])
        #expect(p.findings[0].message.hasPrefix("keep-alive disabled"))
    }

    @Test func bodiesNotDrained() throws {
        let (_, _, p) = try pool("pool-go-undrained")
        #expect(codes(p) == ["no-reuse"])
        #expect(p.findings[0].message.hasPrefix("response bodies not drained"))
        #expect(p.findings[0].connectionIDs.count == 5)
    }

    @Test func newTransportPerRequest() throws {
        let (_, _, p) = try pool("pool-go-new-transport")
        #expect(codes(p).first == "connection-per-request")
        #expect(p.findings[0].message.contains("while the previous one sat idle"))
        #expect(abs((p.inferred.serverIdleTimeout?.value ?? 0) - 1.0) < 0.02)
    }

    @Test func pythonRequestsWithoutASession() throws {
        let (_, _, p) = try pool("pool-py-no-session")
        #expect(p.connections == 5 && p.requests == 5)
        #expect(codes(p) == ["connection-per-request"])
    }

    @Test func maxConnsPerHostWhereRequestsQueue() throws {
        let (truth, _, p) = try pool("pool-go-maxconns3-c10")
        #expect(truth.client_view.requests.count == 20)
        #expect(p.inferred.maxConnsPerHost?.value == 3)
        #expect((p.inferred.maxConnsPerHost?.observations ?? 0) >= 3)
        #expect(p.peakOpen == 3 && p.connections == 3)
        #expect(p.findings.isEmpty)
    }

    /// Without a cap there is no queueing to see: never reported.
    @Test(arguments: ["go-default-pool", "pool-go-default-c20", "pool-go-maxidle10-c10", "pool-py-session", "curl-keepalive-nano"])
    func noConnectionCapWithoutQueueing(scenario: String) throws {
        let (_, _, p) = try pool(scenario)
        #expect(p.inferred.maxConnsPerHost == nil)
    }

    @Test func portRangeSetsTheExhaustionEstimate() throws {
        let r = try runPoolscope(["analyze", Paths.fixture("pool-go-default-c20.pcap"), "--port-range", "60000-60050", "--format", "json"])
        #expect(r.status == 0)
        let pools = try #require(try parseJSON(r.stdout)["pools"] as? [[String: Any]])
        #expect(pools.first?["port_exhaustion_s"] as? Double != nil)
        let bad = try runPoolscope(["analyze", Paths.fixture("go-default-pool.pcap"), "--port-range", "9-3"])
        #expect(bad.status == 2)
    }

    /// Pools with no problem produce no findings.
    @Test(arguments: ["pool-py-session", "curl-keepalive-nano", "curl-keepalive-ipv6", "pool-go-maxidle10-c10"])
    func healthyPoolsHaveNoFindings(scenario: String) throws {
        let (truth, _, p) = try pool(scenario)
        #expect(p.findings.isEmpty, "\(p.findings.map(\.message))")
        #expect(p.inferred.keepAlive?.value == true)
        #expect(p.requests == truth.client_view.requests.count)
    }
}

/// Pools from synthetic connections whose shape the fixtures do not have.
@Suite struct PoolEdgeCases {
    /// A response lost to the capture (its bytes never seen) leaves its request
    /// without an end; the exchanges after it still count: each idle stretch
    /// that ended in a request is a reuse (Zeek's 1,000-request trace with one
    /// dropped response, in small).
    @Test func exchangesAfterAnUnansweredRequestStillCount() throws {
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80))
        c.handshake()
        for n in 1...5 {
            c.wait(seconds: 0.5)
            if n == 2 {
                c.fromClient([.psh, .ack], payload: Array("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
                c.skip(fromClient: false, bytes: UInt32(response.utf8.count))
                c.fromClient(.ack)
            } else {
                c.exchange(request: "GET /\(n) HTTP/1.1\r\nHost: a\r\n\r\n", response: response)
            }
        }
        c.wait(seconds: 0.5)
        c.clientCloses()
        let report = analyze(c)
        let transactions = try #require(report.connections.first?.http.transactions)
        let unanswered = transactions.indices.filter { transactions[$0].responseEnd == nil }
        let pool = try #require(report.pools.first)
        #expect(pool.requests == 5)
        // Idle stretches between answered responses and the next request: each a reuse.
        let reuses = transactions.indices.dropLast().filter { transactions[$0].responseEnd != nil }.count
        #expect(!unanswered.isEmpty && unanswered != [transactions.count - 1])
        #expect(pool.idleReused == reuses)
        #expect(pool.idleReused >= 2)
    }
}

/// A live view asks for the pools' reports as it goes (`Analyzer.snapshot`),
/// and the reports consume the state they are made from: a snapshot must
/// make them from a copy, leaving the analysis to finish as it would have.
@Suite struct SnapshotsLeaveTheAnalysisWhole {
    @Test(arguments: ["pool-go-default-c20.pcap", "pool-go-maxidle10-c10.pcap", "go-default-pool.pcap", "http-lossy.pcap"])
    func finishAfterSnapshotsEqualsFinishAlone(fixture: String) throws {
        let path = Paths.fixture(fixture)
        let alone = try CaptureRun.analyzeFiles([path], threads: 1)
        let capture = try OfflineCapture(path: path)
        var analyzer = Analyzer()
        var snapshots = 0
        func take(_ bytes: UnsafeRawBufferPointer, _ wireLength: Int, _ timestamp: Int64) {
            analyzer.ingest(bytes, wireLength: wireLength, linkType: LinkType(rawValue: capture.linkType), timestamp: timestamp)
            if analyzer.packets % 5 == 0 {
                _ = analyzer.snapshot()
                snapshots += 1
            }
        }
        // As CaptureRun reads a file: the savefile reader's records, then libpcap's.
        reading: while true {
            while let r = capture.savefileReader?.next() { take(r.bytes, r.wireLength, r.timestamp) }
            switch capture.next() {
            case .packet(let p):
                take(p.bytes, p.wireLength, p.timestamp)
            case .timeout, .failed:
                continue
            case .end:
                break reading
            }
        }
        let report = analyzer.finish()
        #expect(snapshots > 3)
        #expect(!report.pools.isEmpty)
        #expect(report.pools == alone.pools)
        #expect(report.capture.timeWaitHosts.map(\.host) == alone.capture.timeWaitHosts.map(\.host))
        #expect(report.capture.timeWaitHosts.map(\.peak) == alone.capture.timeWaitHosts.map(\.peak))
    }
}
