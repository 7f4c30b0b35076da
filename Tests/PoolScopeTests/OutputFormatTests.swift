import Foundation
import PcapTestSupport
import PoolScope
import Testing

@Suite struct OutputFormats {
    @Test func csvQuotesAsRFC4180() {
        #expect(CSVReport.quote("plain") == "plain")
        #expect(CSVReport.quote("a,b") == "\"a,b\"")
        #expect(CSVReport.quote("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVReport.quote("two\r\nlines") == "\"two\r\nlines\"")
    }

    /// One row per connection under the header, CRLF line ends, fields that agree with the JSON.
    @Test func csvRowsMatchTheConnections() throws {
        let csv = try runPoolscope(["analyze", Paths.fixture("http-curl-features.pcap"), "--format", "csv"])
        #expect(csv.status == 0)
        let lines = csv.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.first == CSVReport.header.joined(separator: ","))
        let report = try CaptureRun.analyzeFiles([Paths.fixture("http-curl-features.pcap")])
        #expect(lines.count == report.connections.count + 1)
        for (line, c) in zip(lines.dropFirst(), report.connections) {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            #expect(fields.count == CSVReport.header.count)
            #expect(fields[0] == String(c.id) && fields[2] == String(c.client.port))
            #expect(fields[15] == String(c.http.requests ?? -1))
            #expect(fields[18] == c.close.kind.rawValue && fields[19] == c.close.initiator?.rawValue)
        }
    }

    @Test func longTablesAreSummarisedUnlessAll() throws {
        let few = try runPoolscope(["analyze", Paths.fixture("pool-go-default-c20.pcap"), "--connections", "3"])
        #expect(few.stdout.contains("connections: 56"))
        #expect(few.stdout.contains("... 53 more connections (--connections all to list them)"))
        let all = try runPoolscope(["analyze", Paths.fixture("pool-go-default-c20.pcap"), "--connections", "all"])
        #expect(!all.stdout.contains("more connections"))
        let bad = try runPoolscope(["analyze", Paths.fixture("go-default-pool.pcap"), "--connections", "many"])
        #expect(bad.status == 2)
    }

    /// The table lists the first connections by id, though they finish in
    /// another order: in go-default-pool connection 3 finishes first (3, 1, 2, 4).
    @Test func aShortTableListsTheFirstConnectionsById() throws {
        let two = try runPoolscope(["analyze", Paths.fixture("go-default-pool.pcap"), "--connections", "2"])
        let table = two.stdout.components(separatedBy: "\n").drop { !$0.hasPrefix("id ") }.dropFirst()
        let ids = table.prefix { $0.first == " " }.compactMap { Int($0.split(separator: " ").first ?? "") }
        #expect(ids == [1, 2])
        #expect(two.stdout.contains("... 2 more connections"))
    }

    /// Colour is for a terminal only: never into a pipe, never with NO_COLOR.
    @Test func noColourIntoAPipe() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        for env in [nil, environment] {
            let r = try runPoolscope(["analyze", Paths.fixture("go-default-pool.pcap")], environment: env)
            #expect(r.stdout.contains("[warning] idle-cap-churn"))
            #expect(!r.stdout.contains("\u{1B}["))
        }
    }

    @Test func tcpdumpsNumericFlagIsAccepted() throws {
        let r = try runPoolscope(["analyze", "-n", "-r", Paths.fixture("curl-keepalive-ipv6.pcap")])
        #expect(r.status == 0 && r.stdout.contains("[::1]"))
    }

    /// The help says what a user needs: formats, tcpdump-style flags, analysis settings, exit codes.
    @Test func helpText() throws {
        let root = try runPoolscope(["--help"])
        #expect(root.status == 0)
        #expect(root.stdout.contains("Exit codes: 0 ok; 1 an input fault"))
        #expect(root.stdout.contains("analyze") && root.stdout.contains("sniff"))
        let analyze = try runPoolscope(["analyze", "--help"])
        for expected in ["-r <file>", "-f <expression>", "--format <format>", "text, json, ndjson, csv", "--time-wait <seconds>",
                         "--idle-timeout <seconds>", "--max-connections <count>", "--port-range <low-high>", "--connections <n|all>",
                         "-o, --output <output>", "tcpdump -w - -i lo | poolscope analyze - --format json"] {
            #expect(analyze.stdout.contains(expected), "analyze --help lacks \(expected)")
        }
        let sniff = try runPoolscope(["sniff", "--help"])
        for expected in ["-i <interface>", "-c <count>", "--duration <seconds>", "-s <snaplen>", "-w <file>", "--promisc", "-B <KiB>"] {
            #expect(sniff.stdout.contains(expected), "sniff --help lacks \(expected)")
        }
    }
}

/// The progress line: on a terminal only (a pty from script(1)), never in a pipe or with -q.
@Suite struct ProgressDisplay {

    /// 70,000 packets in one file: enough for a progress tick.
    static func bigCapture() -> String {
        var writer = PcapFileWriter(linkType: 1)
        let frame = PacketBuilder.ethernet(type: 0x0800, payload: PacketBuilder.ipv4(
            source: "10.0.0.1", destination: "10.0.0.2",
            payload: PacketBuilder.tcp(sourcePort: 40000, destinationPort: 80, sequence: 1, flags: .ack)))
        for i in 0..<70_000 { writer.append(frame, timestamp: 1_700_000_000_000_000_000 + Int64(i) * 10_000_000) }
        return Paths.write(writer.bytes, named: "big.pcap", in: Paths.temporaryDirectory())
    }

    func throughPTY(_ arguments: [String]) throws -> String {
        try runThroughPTY(([Paths.binary] + arguments).joined(separator: " ")).output
    }

    @Test(.enabled(if: scriptTool != nil, "script(1) not found: the terminal check is skipped"))
    func progressOnATerminalOnly() throws {
        let path = Self.bigCapture()
        // Slow the reading down enough for a 250 ms tick: the debug build reads 70,000 packets in well over that.
        let onTerminal = try throughPTY(["analyze", path, "--format", "ndjson", "-o", "/dev/null"])
        #expect(onTerminal.contains("% ") && onTerminal.contains("packets/s"), "\(onTerminal.prefix(200))")
        let quiet = try throughPTY(["analyze", path, "--format", "ndjson", "-o", "/dev/null", "-q"])
        #expect(!quiet.contains("packets/s"))
        let piped = try runPoolscope(["analyze", path, "--format", "ndjson", "-o", "/dev/null"])
        #expect(piped.status == 0 && piped.stderr.isEmpty)
    }
}

/// Many files: merged as one capture by default; with --each, independent captures analysed in
/// parallel, each with its own report; NDJSON records say which file they came from.
@Suite struct ManyFiles {
    static let files = ["go-default-pool.pcap", "curl-keepalive-ipv6.pcap", "py-refused.pcap"].map(Paths.fixture)

    @Test func eachFileItsOwnReport() throws {
        let r = try runPoolscope(["analyze", "--each"] + Self.files + ["--format", "json"])
        #expect(r.status == 0)
        let documents = r.stdout.split(separator: "\n").map { try? parseJSON(String($0)) }
        #expect(documents.count == 3)
        for (file, document) in zip(Self.files, documents) {
            let alone = try parseJSON(try runPoolscope(["analyze", file, "--format", "json"]).stdout)
            let sources = (document?["capture"] as? [String: Any])?["sources"] as? [[String: Any]]
            #expect(sources?.first?["file"] as? String == file)
            #expect((document?["connections"] as? [Any])?.count == (alone["connections"] as? [Any])?.count)
        }
    }

    @Test func ndjsonRecordsNameTheirFile() throws {
        let merged = try runPoolscope(["analyze"] + Self.files + ["--format", "ndjson"])
        let each = try runPoolscope(["analyze", "--each"] + Self.files + ["--format", "ndjson"])
        for r in [merged, each] {
            #expect(r.status == 0)
            let records = r.stdout.split(separator: "\n").compactMap { try? parseJSON(String($0)) }.filter { $0["type"] as? String == "connection" }
            #expect(records.count == 4 + 1 + 1)
            var perFile: [String: Int] = [:]
            for record in records { perFile[record["file"] as? String ?? "?", default: 0] += 1 }
            #expect(perFile == [Self.files[0]: 4, Self.files[1]: 1, Self.files[2]: 1])
        }
        #expect(try runPoolscope(["analyze", "--each"] + Self.files + ["--format", "csv"]).status == 2)
    }
}
