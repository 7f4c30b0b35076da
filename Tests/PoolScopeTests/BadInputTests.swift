import Foundation
import PcapTestSupport
import PoolScope
import Testing

/// Bad input through the `poolscope` binary: one line on stderr naming the
/// file and the cause, the report of what was read on stdout, exit code 1
/// (2 for usage errors). Never a crash, never a hang.
@Suite struct BadInput {
    /// A capture of the sample conversation (9 packets) with `tail` appended.
    func capture(then tail: (inout PcapFileWriter) -> Void) -> String {
        var writer = PcapFileWriter(linkType: 1)
        for f in sampleConversation().frames { writer.append(f.bytes, timestamp: f.timestamp) }
        tail(&writer)
        return Paths.write(writer.bytes, named: "bad.pcap", in: Paths.temporaryDirectory())
    }

    func errorLines(_ r: CommandResult) -> [Substring] {
        r.stderr.split(separator: "\n")
    }

    func packetsReported(_ r: CommandResult) throws -> Int {
        let json = try parseJSON(r.stdout)
        let capture = try #require(json["capture"] as? [String: Any])
        return try #require(capture["packets"] as? Int)
    }

    @Test func missingFile() throws {
        let path = Paths.temporaryDirectory().appendingPathComponent("nosuch.pcap").path
        let r = try runPoolscope(["analyze", path, "--format", "json"])
        #expect(r.status == 1)
        #expect(errorLines(r) == ["poolscope: \(path): No such file or directory"])
        #expect(try packetsReported(r) == 0)
    }

    @Test func notACapture() throws {
        let path = Paths.write(Array("GET / HTTP/1.1\r\nHost: example\r\n\r\n".utf8), named: "notes.txt", in: Paths.temporaryDirectory())
        let r = try runPoolscope(["analyze", path])
        #expect(r.status == 1)
        #expect(errorLines(r) == ["poolscope: \(path): unknown file format"])
    }

    @Test func emptyFile() throws {
        let path = Paths.write([], named: "empty.pcap", in: Paths.temporaryDirectory())
        let r = try runPoolscope(["analyze", path])
        #expect(r.status == 1)
        #expect(errorLines(r).count == 1)
        #expect(r.stderr.contains(path))
    }

    @Test func cutOffMidRecordKeepsEverythingBefore() throws {
        let path = capture { w in w.appendRaw(capturedLength: 60, wireLength: 60, body: [UInt8](repeating: 0, count: 20)) }
        let r = try runPoolscope(["analyze", path, "--format", "json"])
        #expect(r.status == 1)
        #expect(errorLines(r) == ["poolscope: \(path): truncated dump file; tried to read 60 captured bytes, only got 20"])
        #expect(try packetsReported(r) == 9)
    }

    @Test func cutOffInsideRecordHeader() throws {
        let path = capture { w in w.appendRaw(capturedLength: 60, wireLength: 60, body: []); w.truncate(by: 7) }
        let r = try runPoolscope(["analyze", path, "--format", "json"])
        #expect(r.status == 1)
        #expect(errorLines(r) == ["poolscope: \(path): truncated dump file; tried to read 16 header bytes, only got 9"])
        #expect(try packetsReported(r) == 9)
    }

    @Test func impossibleRecordLength() throws {
        let path = capture { w in w.appendRaw(capturedLength: 0xFFFF_FFF0, wireLength: 60, body: [1, 2, 3]) }
        let r = try runPoolscope(["analyze", path, "--format", "json"])
        #expect(r.status == 1)
        #expect(errorLines(r).count == 1)
        #expect(r.stderr.contains("\(path): invalid packet capture length 4294967280"))
        #expect(try packetsReported(r) == 9)
    }

    @Test func textReportStillPrintedOnFault() throws {
        let path = capture { w in w.appendRaw(capturedLength: 60, wireLength: 60, body: [0]) }
        let r = try runPoolscope(["analyze", path])
        #expect(r.status == 1)
        #expect(r.stdout.contains("packets 9,"))
        #expect(r.stdout.contains("fault: \(path): truncated dump file"))
        #expect(r.stdout.contains("10.0.0.1:40000"))
    }

    @Test func oneBadFileAmongSeveral() throws {
        let dir = Paths.temporaryDirectory()
        let good = Paths.write(sampleConversation().pcap(), named: "good.pcap", in: dir)
        let missing = dir.appendingPathComponent("missing.pcap").path
        let r = try runPoolscope(["analyze", good, missing, "--format", "json"])
        #expect(r.status == 1)
        #expect(errorLines(r) == ["poolscope: \(missing): No such file or directory"])
        #expect(try packetsReported(r) == 9)
    }

    @Test func hostilePayloadsDoNotCrash() throws {
        // Random bytes behind valid record headers, every link type.
        var generator = SystemRandomNumberGenerator()
        let dir = Paths.temporaryDirectory()
        var paths: [String] = []
        for link: Int32 in [0, 1, 101, 108, 113, 228, 229, 239, 276] {
            var w = PcapFileWriter(linkType: link)
            for i in 0..<300 {
                var bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if bytes.count > 40, i % 2 == 0 { bytes[0] = 0x45; bytes[9] = 6 }
                w.append(bytes, timestamp: Int64(i) * 1000, wireLength: bytes.count + Int.random(in: 0...64, using: &generator))
            }
            paths.append(Paths.write(w.bytes, named: "random-\(link).pcap", in: dir))
        }
        let r = try runPoolscope(["analyze"] + paths + ["--format", "json"])
        #expect(r.status == 0)
        #expect(try packetsReported(r) == 2700)
    }

    @Test func headerOnlyFileIsAnEmptyCapture() throws {
        let path = Paths.write(PcapFileWriter(linkType: 1).bytes, named: "empty-capture.pcap", in: Paths.temporaryDirectory())
        let r = try runPoolscope(["analyze", path])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty)
        #expect(r.stdout.contains("connections: 0"))
    }
}

/// Usage errors exit 2; the filter syntax and standard input behave like tcpdump's.
@Suite struct CommandLineUsage {
    @Test func invalidFilterExitsTwoQuotingLibpcap() throws {
        let path = Paths.fixture("go-default-pool.pcap")
        let r = try runPoolscope(["analyze", path, "tcp", "portt", "80"])
        #expect(r.status == 2)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.hasPrefix("poolscope: invalid filter expression 'tcp portt 80': "))
        #expect(r.stderr.contains("syntax error"))
    }

    @Test func noFileIsAUsageError() throws {
        let r = try runPoolscope(["analyze"])
        #expect(r.status == 2)
    }

    @Test func filterTwiceIsAUsageError() throws {
        let r = try runPoolscope(["analyze", Paths.fixture("go-default-pool.pcap"), "-f", "tcp", "port", "80"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("either with -f or after the files"))
    }

    @Test func trailingFilterWordsAndDashFAgree() throws {
        let truth = try Truth.load("go-default-pool")
        let port = truth.expected.client_ports[0]
        let path = Paths.fixture("go-default-pool.pcap")
        let trailing = try runPoolscope(["analyze", path, "--format", "json", "tcp", "port", String(port)])
        let dashF = try runPoolscope(["analyze", "-f", "tcp port \(port)", path, "--format", "json"])
        let dashR = try runPoolscope(["analyze", "-r", path, "--format", "json", "tcp", "port", String(port)])
        for r in [trailing, dashF, dashR] {
            #expect(r.status == 0)
            let connections = try #require(try parseJSON(r.stdout)["connections"] as? [[String: Any]])
            #expect(connections.count == 1)
            #expect((connections.first?["client"] as? [String: Any])?["port"] as? Int == port)
        }
    }

    @Test func standardInput() throws {
        let truth = try Truth.load("curl-keepalive-pcapng")
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("curl-keepalive-pcapng.pcapng")))
        let r = try runPoolscope(["analyze", "-", "--format", "json"], stdin: data)
        #expect(r.status == 0)
        let capture = try #require(try parseJSON(r.stdout)["capture"] as? [String: Any])
        #expect(capture["packets"] as? Int == truth.capture.packets)
        let sources = try #require(capture["sources"] as? [[String: Any]])
        #expect(sources.first?["file"] as? String == "-")
    }

    @Test func outputFile() throws {
        let out = Paths.temporaryDirectory().appendingPathComponent("report.json").path
        let r = try runPoolscope(["analyze", Paths.fixture("curl-keepalive-ipv6.pcap"), "--format", "json", "-o", out])
        #expect(r.status == 0)
        #expect(r.stdout.isEmpty)
        let json = try parseJSON(try String(contentsOfFile: out, encoding: .utf8))
        #expect(json["schema"] as? String == "poolscope.report/1")
        let connections = try #require(json["connections"] as? [[String: Any]])
        #expect((connections.first?["server"] as? [String: Any])?["ip"] as? String == "::1")
    }

    /// -o opens the path and writes through it, as a shell redirect does: a
    /// symlink stays a symlink (and /dev/null stays a device). The CLI once
    /// created the file by replacing it, which, run as root with -o /dev/null,
    /// left /dev/null a regular file.
    @Test func outputThroughASymlinkKeepsTheLink() throws {
        let dir = Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("target.json").path, link = dir.appendingPathComponent("link.json").path
        try "old, longer than the report will be: ".appending(String(repeating: "x", count: 100_000)).write(toFile: target, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        for command in [["analyze", Paths.fixture("go-default-pool.pcap"), "--format", "json", "-o", link],
                        ["report", Paths.fixture("go-default-pool.pcap"), "-o", link]] {
            let r = try runPoolscope(command)
            #expect(r.status == 0, "\(command[0])")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target, "\(command[0])")
            let written = try String(contentsOfFile: target, encoding: .utf8)
            #expect(!written.contains("old, longer"), "\(command[0]): truncated, not appended to")
            #expect(written.hasPrefix(command[0] == "analyze" ? "{" : "<!DOCTYPE"), "\(command[0])")
        }
    }

    @Test func versionNamesLibpcap() throws {
        let r = try runPoolscope(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("libpcap version"))
    }
}
