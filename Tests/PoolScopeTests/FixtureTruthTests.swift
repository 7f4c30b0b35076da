import Foundation
import PoolScope
import Testing

/// The real captures in Fixtures/ against their truth files: the packet count
/// as tcpdump reads it, the client's own connections (local ports), and each
/// connection's payload bytes as the server counted them.
@Suite struct FixtureTruth {
    static let fixtures: [(scenario: String, file: String)] = [
        ("go-default-pool", "go-default-pool.pcap"),
        ("go-default-pool-any", "go-default-pool-any.pcap"),
        ("curl-keepalive-nano", "curl-keepalive-nano.pcap"),
        ("curl-keepalive-ipv6", "curl-keepalive-ipv6.pcap"),
        ("curl-keepalive-pcapng", "curl-keepalive-pcapng.pcapng"),
    ]

    @Test(arguments: fixtures.map(\.scenario))
    func matchesTruth(scenario: String) throws {
        let truth = try Truth.load(scenario)
        let report = try CaptureRun.analyzeFiles([Paths.fixture(truth.capture.file)])
        #expect(report.capture.faults.isEmpty)
        #expect(report.capture.packets == truth.capture.packets)
        #expect(report.capture.tcpPackets == truth.capture.packets)
        #expect(report.capture.undecoded.total == 0)
        #expect(report.connections.count == truth.expected.connections)
        #expect(report.connections.map { Int($0.client.port) }.sorted() == truth.expected.client_ports)
        for connection in report.connections {
            #expect(connection.server.address.description == truth.server.ip)
            #expect(Int(connection.server.port) == truth.server.port)
            #expect(connection.client.address.description == truth.server.ip)   // loopback: same address
            #expect(!connection.midStream)
            let server = try #require(truth.server_view.first { $0.client_port == Int(connection.client.port) })
            #expect(connection.bytes.client == server.bytes_in, "client payload bytes, port \(connection.client.port)")
            #expect(connection.bytes.server == server.bytes_out, "server payload bytes, port \(connection.client.port)")
        }
        let ids = report.connections.map(\.id)
        #expect(ids == Array(1...report.connections.count))
        #expect(report.connections.map(\.start) == report.connections.map(\.start).sorted())
    }

    /// The problem statement, from Go's own view: 11 requests on 4 connections
    /// (7, 2, 1, 1): MaxIdleConnsPerHost = 2 closes one connection per burst.
    @Test func goDefaultPoolShape() throws {
        let truth = try Truth.load("go-default-pool")
        #expect(truth.client_view.requests.count == 11)
        #expect(truth.expected.requests_per_connection.values.sorted() == [1, 1, 2, 7])
        #expect(truth.client_view.requests.filter { $0.reused == true }.count == 7)
        let report = try CaptureRun.analyzeFiles([Paths.fixture("go-default-pool.pcap")])
        // The two connections that carried one request each are the ones the
        // client closed after a burst: short-lived, opened with the others.
        let single = Set(truth.expected.requests_per_connection.filter { $0.value == 1 }.keys.compactMap(Int.init))
        let singles = report.connections.filter { single.contains(Int($0.client.port)) }
        #expect(singles.count == 2)
        for c in singles { #expect(c.duration < 0.5) }
    }

    @Test func sameRunThroughCookedV2MatchesEthernet() throws {
        let ethernet = try CaptureRun.analyzeFiles([Paths.fixture("go-default-pool.pcap")])
        let cooked = try CaptureRun.analyzeFiles([Paths.fixture("go-default-pool-any.pcap")])
        #expect(ethernet.capture.sources.first?.linkType == "EN10MB")
        #expect(cooked.capture.sources.first?.linkType == "LINUX_SLL2")
        // Different runs, same client behaviour: equal shapes.
        #expect(ethernet.connections.map(\.packets) == cooked.connections.map(\.packets))
        #expect(ethernet.connections.map(\.bytes).map(\.client).sorted() == cooked.connections.map(\.bytes).map(\.client).sorted())
    }

    @Test func nanosecondFileKeepsNanoseconds() throws {
        let report = try CaptureRun.analyzeFiles([Paths.fixture("curl-keepalive-nano.pcap")])
        #expect(report.capture.nanosecondTimestamps)
        let first = try #require(report.capture.first).nanoseconds
        #expect(first % 1000 != 0 || report.capture.last!.nanoseconds % 1000 != 0)
        let text = JSONReport.render(report)
        let expected = "\"first\":\(first / 1_000_000_000).\(String(first % 1_000_000_000).leftPadded(to: 9))"
        #expect(text.contains(expected))
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
