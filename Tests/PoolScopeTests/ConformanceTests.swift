import Foundation
import PoolScope
import Testing

/// Conformance against the peers' own test traces in ../shared/corpus (Zeek's
/// and tcpdump's suites, with their committed baselines). Runs when the folder
/// exists (or $POOLSCOPE_CORPUS names one) and says it skipped otherwise.
///
/// Today it holds PoolScope to: every trace opens and decodes without a
/// crash; only the deliberately cut file reports a fault (and still reports
/// its 13 whole packets); and every TCP connection a peer baseline states
/// (by 4-tuple) is reported. It prints the agreement and lists differences.
@Suite struct Conformance {
    static let corpus = Paths.corpus

    struct Stated: Decodable {
        struct Connection: Decodable {
            var orig_h: String?
            var orig_p: Int?
            var resp_h: String?
            var resp_p: Int?
            var proto: String?
        }
        var trace: String
        var connections: [Connection]?
        var connection_ids_stated: [Connection]?
        var packets_total_in_original: Int?
    }

    @Test(.enabled(if: corpus != nil, "../shared/corpus not found: conformance skipped (set POOLSCOPE_CORPUS to run it)"))
    func everyTraceDecodesAndEveryStatedConnectionIsReported() throws {
        let corpus = try #require(Self.corpus)
        let traces = try FileManager.default.contentsOfDirectory(atPath: corpus.appendingPathComponent("traces").path)
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
        #expect(traces.count >= 30, "the corpus should hold the peers' traces")
        var stated = 0, found = 0
        var differences: [String] = []
        for trace in traces {
            let path = corpus.appendingPathComponent("traces").appendingPathComponent(trace).path
            let report = try CaptureRun.analyzeFiles([path])
            let expectedFile = corpus.appendingPathComponent("expected")
                .appendingPathComponent(trace.replacingOccurrences(of: ".pcapng", with: ".json").replacingOccurrences(of: ".pcap", with: ".json"))
            let expected = try? JSONDecoder().decode(Stated.self, from: Data(contentsOf: expectedFile))
            if trace.hasPrefix("derived-truncated") {
                #expect(report.capture.faults.count == 1, "\(trace): the cut record is a fault")
                #expect(report.capture.packets == (expected?.packets_total_in_original ?? 14) - 1)
            } else {
                #expect(report.capture.faults.isEmpty, "\(trace): \(report.capture.faults)")
            }
            let tuples = Set(report.connections.map { "\($0.client.address) \($0.client.port) \($0.server.address) \($0.server.port)" })
            let peerConnections = (expected?.connections ?? []) + (expected?.connection_ids_stated ?? [])
            for c in peerConnections where (c.proto ?? "tcp") == "tcp" {
                guard let oh = c.orig_h, let op = c.orig_p, let rh = c.resp_h, let rp = c.resp_p else { continue }
                stated += 1
                if tuples.contains("\(oh) \(op) \(rh) \(rp)") || tuples.contains("\(rh) \(rp) \(oh) \(op)") {
                    found += 1
                } else {
                    differences.append("\(trace): peer states \(oh):\(op) -> \(rh):\(rp), not reported")
                }
            }
        }
        print("conformance: \(traces.count) traces decoded; \(found)/\(stated) peer-stated TCP connections reported")
        for d in differences { print("  difference: \(d)") }
        #expect(stated > 50)
        #expect(differences.isEmpty)
    }
}
