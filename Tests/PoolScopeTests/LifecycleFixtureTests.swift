import Foundation
import PoolScope
import Testing

/// Lifecycle fixtures recorded from real clients (Fixtures/README.md), checked
/// against the clients' own view and the kernel's: `ss -tan state time-wait`
/// taken right after the client ran says which end really held TIME_WAIT.
@Suite struct LifecycleFixtures {
    static let scenarios = ["go-client-idle-timeout", "go-server-idle-timeout", "go-keepalive-disabled", "py-rst-linger",
                            "py-refused", "py-simultaneous-close", "py-port-reuse"]

    func load(_ scenario: String) throws -> (Truth, Report) {
        let truth = try Truth.load(scenario)
        return (truth, try CaptureRun.analyzeFiles([Paths.fixture(truth.capture.file)]))
    }

    /// Connections, packets and bytes as the truth states them, and every
    /// TIME_WAIT socket the kernel listed matched by PoolScope's holder.
    @Test(arguments: scenarios)
    func matchesTruthAndTheKernelsTimeWait(scenario: String) throws {
        let (truth, report) = try load(scenario)
        #expect(report.capture.faults.isEmpty)
        #expect(report.capture.packets == truth.capture.packets)
        #expect(report.connections.count == truth.expected.connections)
        #expect(report.connections.map { Int($0.client.port) }.sorted() == truth.expected.client_ports)
        for c in report.connections {
            #expect(Int(c.server.port) == truth.server.port)
            if let server = truth.server_view.first(where: { $0.client_port == Int(c.client.port) }), truth.server_view.count == report.connections.count {
                #expect(c.bytes == PerSide(client: server.bytes_in, server: server.bytes_out))
            }
        }
        let ports = Set(report.connections.map { "127.0.0.1:\($0.client.port)" })
        let rows = (truth.ss_time_wait ?? []).filter { ports.contains($0.local) || ports.contains($0.peer) }
        for row in rows {
            let clientHolds = ports.contains(row.local)
            let port = Int(clientHolds ? row.local.split(separator: ":").last! : row.peer.split(separator: ":").last!)
            let holders = report.connections.filter { Int($0.client.port) == port }.compactMap(\.timeWait?.holder)
            let expected: [TimeWaitHolder] = clientHolds ? [.client, .both] : [.server, .both]
            #expect(holders.contains { expected.contains($0) }, "ss: \(row.local) holds TIME_WAIT with \(row.peer)")
        }
    }

    @Test func goClientIdleTimeout_clientClosesTheIdleConnection() throws {
        let (_, report) = try load("go-client-idle-timeout")
        let c = try #require(report.connections.first)
        #expect(c.close.kind == .fin && c.close.initiator == .client)
        #expect(c.timeWait?.holder == .client)
        // IdleConnTimeout is 500 ms: the two requests take milliseconds, then
        // the client closes the idle connection 0.5 s later (not the 1.5 s it waits).
        let lifetime = CaptureTime.seconds(from: c.start, to: try #require(c.close.at))
        #expect(lifetime >= 0.5 && lifetime < 1.0)
        #expect(c.zeekConnState == "SF")
    }

    @Test func goServerIdleTimeout_serverClosesFirst() throws {
        let (_, report) = try load("go-server-idle-timeout")
        #expect(report.connections.map(\.close.initiator) == [.server, .client])
        #expect(report.connections.map { $0.timeWait?.holder } == [.server, .client])
        #expect(report.connections.first?.zeekHistory == "ShADadfF")
    }

    @Test func keepAliveDisabled_oneConnectionPerRequest() throws {
        let (truth, report) = try load("go-keepalive-disabled")
        #expect(truth.client_view.requests.count == 3)
        #expect(report.connections.count == 3)
        #expect(report.connections.allSatisfy { $0.close.kind == .fin })
        // Go's server closes a "Connection: close" exchange first.
        #expect(report.connections.prefix(2).allSatisfy { $0.close.initiator == .server })
    }

    @Test func soLingerZero_resetOnAnIdleConnection() throws {
        let (truth, report) = try load("py-rst-linger")
        let c = try #require(report.connections.first)
        #expect(c.close.kind == .rst && c.close.initiator == .client && c.close.resetPhase == .idle)
        #expect(c.timeWait == nil)
        #expect((truth.ss_time_wait ?? []).filter { $0.local.hasSuffix(":\(c.client.port)") }.isEmpty)
        #expect(c.zeekConnState == "RSTO")
    }

    @Test func refusedPort() throws {
        let (_, report) = try load("py-refused")
        let c = try #require(report.connections.first)
        #expect(c.close.kind == .refused && c.close.initiator == .server)
        #expect(c.zeekConnState == "REJ" && c.zeekHistory == "Sr")
    }

    @Test func simultaneousClose_bothEndsHoldTimeWait() throws {
        let (truth, report) = try load("py-simultaneous-close")
        let c = try #require(report.connections.first)
        #expect(c.close.kind == .fin && c.close.initiator == .simultaneous)
        #expect(c.timeWait?.holder == .both)
        #expect(c.states == PerSide(client: "TIME-WAIT", server: "TIME-WAIT"))
        let rows = (truth.ss_time_wait ?? []).filter { $0.local.hasSuffix(":\(c.client.port)") || $0.peer.hasSuffix(":\(c.client.port)") }
        #expect(rows.count == 2, "the kernel lists both ends in TIME_WAIT")
    }

    @Test func portReuseInsideTimeWait() throws {
        let (_, report) = try load("py-port-reuse")
        #expect(report.connections.count == 2)
        let (first, second) = (report.connections[0], report.connections[1])
        #expect(first.client == second.client)
        #expect(first.timeWait?.holder == .client)
        #expect(second.portReuse == PortReuseRecord(previousID: first.id, withinTimeWait: true))
        #expect(first.timeWait?.reusedAt == second.handshake?.syn)
        #expect(first.timeWait?.runningAtCaptureEnd == false)
        // The reuse ended the first window (after its record was reported):
        // one TIME_WAIT at a time, for the pool as for the host.
        #expect(report.pools.count == 1)
        #expect(report.pools[0].peakTimeWaitClient == 1)
        #expect(report.capture.timeWaitHosts.map(\.peak) == [1])
        #expect(report.capture.timeWaitHosts.map(\.connections) == [2])
    }
}
