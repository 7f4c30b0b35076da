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
            var conn_state: String?
            var history: String?
            var missed_bytes: Int?
            var orig_bytes: Int?
            var resp_bytes: Int?
            var http_requests: Int?
        }
        struct RSTBehavior: Decodable {
            var conn_state: String
            var history: String
        }
        var trace: String
        var connections: [Connection]?
        var connection_ids_stated: [Connection]?
        var packets_total_in_original: Int?
        var rst_behavior: RSTBehavior?
    }

    static func expected(_ corpus: URL, _ trace: String) -> Stated? {
        let name = trace.replacingOccurrences(of: ".pcapng", with: ".json").replacingOccurrences(of: ".pcap", with: ".json")
        let url = corpus.appendingPathComponent("expected").appendingPathComponent(name)
        return try? JSONDecoder().decode(Stated.self, from: Data(contentsOf: url))
    }

    static func traces(_ corpus: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: corpus.appendingPathComponent("traces").path)
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
    }

    /// Differences from Zeek kept on purpose, with the reason (see README).
    static let knownDifferences: Set<String> = [
        // A connection first seen mid-stream: PoolScope counts from the first
        // request line (as the HTTP issue asks); Zeek does not analyse HTTP on
        // partial connections.
        "zeek-wikipedia.pcap 141.142.220.118:35634 -> 208.80.152.2:80: requests 1 != zeek 0",
        // The server sent 7 responses to 5 requests; Zeek logs the 2 extra
        // responses as requests with method "-". PoolScope counts requests the
        // client sent: phantom ones would distort pool inference.
        "zeek-http-desync-request-response-5.pcap 127.0.0.1:50170 -> 127.0.0.1:8080: requests 5 != zeek 7",
    ]

    /// Zeek's conn_state, history and sequence-derived byte counts, for every
    /// connection a Zeek baseline states.
    @Test(.enabled(if: corpus != nil, "../shared/corpus not found: Zeek conformance skipped (set POOLSCOPE_CORPUS to run it)"))
    func zeekConnStateAndHistoryMatchTheBaselines() throws {
        let corpus = try #require(Self.corpus)
        var facts = 0, agree = 0
        var differences: [String] = []
        for trace in try Self.traces(corpus) {
            guard let expected = Self.expected(corpus, trace) else { continue }
            let report = try CaptureRun.analyzeFiles([corpus.appendingPathComponent("traces/\(trace)").path])
            func compare(_ what: String, _ ours: String?, _ theirs: String?, _ label: String) {
                guard let theirs else { return }
                facts += 1
                if ours == theirs { agree += 1; return }
                let line = "\(trace) \(label): \(what) \(ours ?? "none") != zeek \(theirs)"
                if !Self.knownDifferences.contains(line) { differences.append(line) }
            }
            for c in expected.connections ?? [] where (c.proto ?? "tcp") == "tcp" && (c.conn_state != nil || c.http_requests != nil) {
                guard let oh = c.orig_h, let op = c.orig_p, let rh = c.resp_h, let rp = c.resp_p else { continue }
                let label = "\(oh):\(op) -> \(rh):\(rp)"
                // Zeek's originator may be PoolScope's client or server.
                let ours = report.connections.first {
                    let a = ($0.client.address.description, Int($0.client.port), $0.server.address.description, Int($0.server.port))
                    return a == (oh, op, rh, rp) || a == (rh, rp, oh, op)
                }
                if c.conn_state != nil {
                    compare("conn_state", ours?.zeekConnState, c.conn_state, label)
                    compare("history", ours?.zeekHistory, c.history, label)
                    compare("missed_bytes", ours.map { String($0.zeekMissedBytes) }, c.missed_bytes.map(String.init), label)
                    compare("orig_bytes", ours.map { String($0.zeekOriginatorBytes) }, c.orig_bytes.map(String.init), label)
                    compare("resp_bytes", ours.map { String($0.zeekResponderBytes) }, c.resp_bytes.map(String.init), label)
                }
                compare("requests", ours.map { $0.http.requests.map(String.init) ?? "null" }, c.http_requests.map(String.init), label)
            }
            if let rst = expected.rst_behavior {
                let only = report.connections.count == 1 ? report.connections.first : nil
                compare("conn_state", only?.zeekConnState, rst.conn_state, "the connection")
                compare("history", only?.zeekHistory, rst.history, "the connection")
            }
        }
        print("zeek conformance: \(agree)/\(facts) conn_state, history, byte and request-count facts agree, "
              + "\(Self.knownDifferences.count) differences kept on purpose (README)")
        for d in Self.knownDifferences.sorted() { print("  kept: \(d)") }
        for d in differences { print("  difference: \(d)") }
        #expect(facts >= 250)
        #expect(agree + Self.knownDifferences.count == facts)
        #expect(differences.isEmpty)
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
