import Foundation
import PoolScope
import Testing

/// At scale: a capture from ../shared/tools/genpcap.c (deterministic,
/// protocol-correct, with per-connection ground truth) must come out exactly
/// as the generator says, connection by connection. Runs when the generator's
/// source and a C compiler are there; says it skipped otherwise.
@Suite struct GeneratedCapture {
    static let source = Paths.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/tools/genpcap.c")
    static let compiler = ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let available = FileManager.default.fileExists(atPath: source.path) && compiler != nil

    static func run(_ path: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "\(path) \(arguments.joined(separator: " ")) failed")
    }

    /// genpcap compiled into `dir`; its path.
    static func buildGenerator(in dir: URL) throws -> String {
        let generator = dir.appendingPathComponent("genpcap").path
        try run(compiler!, ["-O2", "-o", generator, source.path, "-lm"])
        return generator
    }

    @Test(.enabled(if: available, "../shared/tools/genpcap.c or a C compiler not found: generated-capture check skipped"))
    func everyConnectionMatchesTheGeneratorsTruth() throws {
        let dir = Paths.temporaryDirectory()
        let generator = try Self.buildGenerator(in: dir)
        let capture = dir.appendingPathComponent("g.pcap").path, csv = dir.appendingPathComponent("g.csv").path
        // 3,000 connections, 128 at once, 2% of data segments sent twice.
        try Self.run(generator, ["-o", capture, "-n", "3000", "-j", "128", "-e", "0.02", "-p", csv, "-t", dir.appendingPathComponent("g.json").path])
        defer { try? FileManager.default.removeItem(at: dir) }

        let report = try CaptureRun.analyzeFiles([capture])
        let byClient = Dictionary(uniqueKeysWithValues: report.connections.map { ("\($0.client.address):\($0.client.port)", $0) })
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.count == 3000)
        #expect(report.connections.count == 3000)
        func time(_ text: String) -> Int64 { Int64((Double(text)! * 1e6).rounded()) * 1000 }
        var differences = 0
        for row in rows {
            // id,client_ip,client_port,server_ip,server_port,kind,closer,requests,syn_ts,first_fin_or_rst_ts,time_wait_start_ts,retransmissions
            guard let c = byClient["\(row[1]):\(row[2])"] else { differences += 1; continue }
            let kind = row[5], closer = row[6]
            let expectedKind: CloseKind = kind == "open" ? .open : (kind == "rst" ? .rst : .fin)
            var ok = c.close.kind == expectedKind
            if kind != "open" { ok = ok && c.close.initiator?.rawValue == closer && c.close.at?.nanoseconds == time(row[9]) }
            ok = ok && c.handshake?.syn?.nanoseconds == time(row[8])
            if row[10] != "0.000000" {
                ok = ok && c.timeWait?.holder.rawValue == closer && c.timeWait?.start.nanoseconds == time(row[10]) && c.timeWait?.estimated == false
            } else {
                ok = ok && c.timeWait == nil
            }
            ok = ok && c.retransmittedSegments.client + c.retransmittedSegments.server == Int(row[11])!
            ok = ok && c.missedBytes == PerSide(client: 0, server: 0)
            if !ok {
                differences += 1
                if differences <= 5 { Issue.record("connection \(row[0]) (\(kind) by \(closer)) differs: \(c.close) \(String(describing: c.timeWait))") }
            }
        }
        #expect(differences == 0)
    }

    /// One client, one server, 29,000 connections: past the 28,232 ephemeral
    /// ports, so 4-tuples are reused, some of connections never seen to close.
    /// Every connection and request is still found, in one pool.
    @Test(.enabled(if: available, "../shared/tools/genpcap.c or a C compiler not found: generated-capture check skipped"))
    func portReuseInOnePool() throws {
        let dir = Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let generator = try Self.buildGenerator(in: dir)
        let capture = dir.appendingPathComponent("one.pcap").path, truthPath = dir.appendingPathComponent("one.json").path
        try Self.run(generator, ["-o", capture, "-n", "29000", "-j", "64", "-c", "1", "-s", "1", "-r", "1-3", "-b", "100-200", "-t", truthPath])
        let truth = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truthPath))) as? [String: Any])
        let report = try CaptureRun.analyzeFiles([capture])
        #expect((truth["tuple_reuse"] as? Int ?? 0) > 0)
        #expect(report.connections.count == truth["connections"] as? Int)
        #expect(report.connections.reduce(0) { $0 + ($1.http.requests ?? 0) } == truth["requests"] as? Int)
        #expect(report.connections.filter { $0.close.kind == .open }.count == truth["open"] as? Int)
        // A reuse is linked to the connection before it while that one's
        // tombstone lasts (its TIME_WAIT, or 2*MSL after it ended); a port
        // reused later than that was long free, and is just a new connection.
        let linked = report.connections.filter { $0.portReuse != nil }
        let reuses = truth["tuple_reuse"] as? Int ?? 0
        #expect(linked.count <= reuses && linked.count * 10 >= reuses * 9, "\(linked.count) of \(reuses) reuses linked")
        let byID = Dictionary(uniqueKeysWithValues: report.connections.map { ($0.id, $0) })
        for c in linked {
            let previous = try #require(byID[c.portReuse!.previousID])
            #expect(previous.client == c.client && previous.server == c.server)
            #expect(previous.id < c.id)
        }
        #expect(report.pools.count == 1)
        #expect(report.pools.first?.connections == truth["connections"] as? Int)
    }
}
