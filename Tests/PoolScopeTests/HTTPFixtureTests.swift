import Foundation
import PcapTestSupport
import PoolScope
import Testing

/// HTTP fixtures recorded from real clients (Fixtures/README.md): request
/// counts against the server's own count per connection, and the framing
/// cases each fixture exists for.
@Suite struct HTTPFixtures {
    func load(_ scenario: String) throws -> (Truth, Report) {
        let truth = try Truth.load(scenario)
        return (truth, try CaptureRun.analyzeFiles([Paths.fixture(truth.capture.file)]))
    }

    /// Every plain-HTTP fixture: requests per connection equal the server's count.
    @Test(arguments: ["go-default-pool", "go-default-pool-any", "curl-keepalive-nano", "curl-keepalive-ipv6", "curl-keepalive-pcapng",
                      "go-client-idle-timeout", "go-server-idle-timeout", "go-keepalive-disabled", "py-port-reuse",
                      "http-pipelined", "http-websocket", "http-curl-features", "http-lossy"])
    func requestsMatchTheServersCount(scenario: String) throws {
        let (truth, report) = try load(scenario)
        for c in report.connections {
            let served = try #require(truth.server_view.first { $0.client_port == Int(c.client.port) && $0.requests > 0 } ?? truth.server_view.first { $0.client_port == Int(c.client.port) })
            #expect(c.http.protocolName == "http/1")
            #expect(c.http.unknownGaps == 0)
            if truth.server_view.filter({ $0.client_port == Int(c.client.port) }).count == 1 {
                #expect(c.http.requests == served.requests, "port \(c.client.port)")
                #expect(c.http.responses == served.requests)
            }
            #expect(c.http.transactions.map(\.position) == Array(1...max(1, c.http.transactions.count)).prefix(c.http.transactions.count).map { $0 })
        }
        let total = report.connections.reduce(0) { $0 + ($1.http.requests ?? 0) }
        #expect(total == truth.client_view.requests.count)
    }

    /// The Go pool from the problem statement: 7 + 2 + 1 + 1 requests, the
    /// reuses visible as positions above 1, matching Go's own Reused flags.
    @Test func goPoolReuseMatchesHttptrace() throws {
        let (truth, report) = try load("go-default-pool")
        let reusedByGo = truth.client_view.requests.filter { $0.reused == true }.count
        let reusedOnWire = report.connections.flatMap(\.http.transactions).filter { $0.position > 1 }.count
        #expect(reusedOnWire == reusedByGo)
        #expect(report.connections.map { $0.http.requests ?? -1 }.sorted() == [1, 1, 2, 7])
    }

    @Test func pipelinedRequestsInOneSegment() throws {
        let (_, report) = try load("http-pipelined")
        let c = try #require(report.connections.first)
        let t = c.http.transactions
        #expect(t.map(\.method) == ["GET", "HEAD", "GET"])
        #expect(t.map(\.status) == [200, 200, 200])
        #expect(Set(t.map(\.requestStart)).count == 1, "all three arrived in one segment")
        // HEAD's response has no body; the GETs' have 300 and 500 bytes after their heads.
        #expect(t[1].responseBytes < 150)
        #expect(t[0].responseBytes - 300 == t[2].responseBytes - 500)
    }

    @Test func webSocketUpgradeStopsCounting() throws {
        let (_, report) = try load("http-websocket")
        let c = try #require(report.connections.first)
        #expect(c.http.requests == 1 && c.http.responses == 1)
        #expect(c.http.upgraded == "websocket")
        #expect(c.http.transactions.first?.status == 101)
    }

    @Test func chunkedHeadHTTP10AndExpectContinue() throws {
        let (truth, report) = try load("http-curl-features")
        #expect(truth.client_view.requests.count == 5)
        let all = report.connections.flatMap(\.http.transactions)
        #expect(all.map(\.method) == ["GET", "HEAD", "GET", "GET", "POST"])
        #expect(all.map(\.status) == [200, 200, 200, 200, 200])
        // Chunked: 100 + 101 + 102 bytes of data plus chunk framing.
        #expect(all[0].responseBytes > 303 && all[0].responseEnd != nil)
        // The 200 KB upload: one 100 Continue, not counted as a response.
        let post = all[4]
        #expect(post.interimResponses == 1)
        #expect(post.requestBytes > 204_800)
        #expect(post.position == 1)
        #expect(report.connections.last?.http.responses == 1)
    }

    @Test func tlsWithSNIAndALPN() throws {
        let (truth, report) = try load("https-go-h2")
        #expect(truth.client_view.requests.count == 3)
        let c = try #require(report.connections.first)
        #expect(report.connections.count == 1)
        #expect(c.http.protocolName == "tls")
        #expect(c.http.requests == nil && c.http.responses == nil)
        #expect(c.http.tls == TLSInfo(serverName: "poolscope.test", offeredALPN: ["h2", "http/1.1"], alpn: "h2"))
        #expect((c.http.estimatedExchanges ?? 0) >= 3)
        #expect(c.http.transactions.isEmpty)
    }

    /// Real loss: nftables dropped every 10th server data segment at the
    /// client's input, after the capture saw it; TCP sent each again. Each
    /// retransmission is counted, each byte once, every request found.
    @Test func lossyLinkRetransmissions() throws {
        let (truth, report) = try load("http-lossy")
        let drops = try #require(truth.nftables_drops)
        #expect(drops > 20)
        let c = try #require(report.connections.first)
        #expect(c.retransmittedSegments == PerSide(client: 0, server: drops))
        let served = try #require(truth.server_view.first)
        #expect(c.bytes == PerSide(client: served.bytes_in, server: served.bytes_out))
        #expect(c.http.requests == 40 && c.http.responses == 40 && c.http.unknownGaps == 0)
        #expect(c.missedBytes == PerSide(client: 0, server: 0))
        #expect(c.zeekHistory.contains("t"))
        #expect(c.http.transactions.allSatisfy { $0.status == 200 && $0.responseBytes > 20_000 })
    }

    /// A gap the capture point never saw: the segment carrying the third
    /// request is cut out. That request is unknown, not guessed; the framer
    /// resynchronises at the next request line.
    @Test func gapInTheRequestStreamIsCountedAsUnknown() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("http-curl-features.pcap"))))
        let capture = try #require(PcapFileReader(bytes: bytes))
        let marker = Array("GET /?size=1000".utf8)
        let cut = try #require(capture.records.firstIndex { r in
            r.bytes.count >= marker.count && (0...(r.bytes.count - marker.count)).contains { Array(r.bytes[$0..<($0 + marker.count)]) == marker }
        })
        var writer = PcapFileWriter(linkType: capture.linkType)
        for (i, r) in capture.records.enumerated() where i != cut { writer.append(r.bytes, timestamp: r.timestamp, wireLength: r.wireLength) }
        let path = Paths.write(writer.bytes, named: "gap.pcap", in: Paths.temporaryDirectory())
        let report = try CaptureRun.analyzeFiles([path])
        let first = try #require(report.connections.first)
        #expect(first.http.unknownGaps == 1)
        #expect(first.http.requests == 3)
        #expect(first.http.transactions.map(\.method) == ["GET", "HEAD", "GET"])
        #expect(first.missedBytes.client > 0)
    }
}
