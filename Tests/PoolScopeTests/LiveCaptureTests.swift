import Foundation
import Glibc
import Testing

/// Loopback TCP traffic made in-process: a listener and short connections,
/// each carrying "hello" and "world". Bounded: `count` connections, no loops.
struct LoopbackTraffic {
    let listener: Int32
    let port: UInt16

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0)
        try #require(listen(listener, 16) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
    }

    /// Opens `count` connections one after another; each sends a line each way and closes.
    func connections(_ count: Int) {
        for _ in 0..<count {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = port.bigEndian
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            let server = accept(listener, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 16)
            _ = "hello".withCString { write(client, $0, 5) }
            _ = read(server, &buffer, 16)
            _ = "world".withCString { write(server, $0, 5) }
            _ = read(client, &buffer, 16)
            Glibc.close(client)
            Glibc.close(server)
            usleep(20_000)
        }
    }

    func close() { Glibc.close(listener) }
}

/// A running `poolscope sniff` whose stderr goes to a file we can poll.
final class SniffProcess {
    let process = Process()
    let stdoutPipe = Pipe()
    let stderrPath: String

    init(_ arguments: [String]) throws {
        stderrPath = Paths.temporaryDirectory().appendingPathComponent("stderr.txt").path
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        process.arguments = ["sniff"] + arguments
        process.standardOutput = stdoutPipe
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits (at most 10 s) until the capture is open.
    func waitUntilListening() throws {
        for _ in 0..<200 where !stderr.contains("listening on") && process.isRunning { usleep(50_000) }
        try #require(stderr.contains("listening on"), "sniff did not start: \(stderr)")
        usleep(200_000)
    }

    /// Waits for exit and returns (status, stdout).
    func finish() -> (Int32, String) {
        let out = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self))
    }
}

let isRoot = getuid() == 0

@Suite(.serialized) struct LiveSniff {
    /// `any` captures through the Linux cooked header, and used to drop
    /// packets with libpcap's default buffer: dropped must be 0 on both.
    @Test(.enabled(if: isRoot, "live capture needs root (CI runs as root)"), arguments: ["lo", "any"])
    func capturesLoopbackTrafficAndWritesSavefile(interface: String) throws {
        let traffic = try LoopbackTraffic()
        defer { traffic.close() }
        let savefile = Paths.temporaryDirectory().appendingPathComponent("live.pcap").path
        let sniff = try SniffProcess(["-i", interface, "--duration", "3", "-w", savefile, "--format", "json", "tcp", "port", String(traffic.port)])
        try sniff.waitUntilListening()
        traffic.connections(3)
        let (status, stdout) = sniff.finish()
        #expect(status == 0, "\(sniff.stderr)")
        let json = try parseJSON(stdout)
        let connections = try #require(json["connections"] as? [[String: Any]])
        #expect(connections.count == 3)
        for c in connections {
            #expect((c["server"] as? [String: Any])?["port"] as? Int == Int(traffic.port))
            #expect((c["bytes"] as? [String: Any])?["client"] as? Int == 5)
            #expect((c["bytes"] as? [String: Any])?["server"] as? Int == 5)
        }
        let capture = try #require(json["capture"] as? [String: Any])
        let live = try #require(capture["live"] as? [String: Any])
        let packets = try #require(capture["packets"] as? Int)
        #expect((live["received"] as? Int ?? 0) >= packets)
        #expect(live["dropped"] as? Int == 0)
        // The -w file holds exactly what was analysed.
        let again = try runPoolscope(["analyze", savefile, "--format", "json"])
        #expect(again.status == 0)
        let replay = try parseJSON(again.stdout)
        #expect((replay["capture"] as? [String: Any])?["packets"] as? Int == packets)
        #expect((replay["connections"] as? [[String: Any]])?.count == 3)
    }

    @Test(.enabled(if: isRoot, "live capture needs root (CI runs as root)"))
    func packetCountStopsCapture() throws {
        let traffic = try LoopbackTraffic()
        defer { traffic.close() }
        let sniff = try SniffProcess(["-i", "lo", "-c", "5", "--duration", "20", "--format", "json", "-f", "tcp port \(traffic.port)"])
        try sniff.waitUntilListening()
        traffic.connections(3)
        let (status, stdout) = sniff.finish()
        #expect(status == 0)
        #expect((try parseJSON(stdout)["capture"] as? [String: Any])?["packets"] as? Int == 5)
    }

    @Test(.enabled(if: isRoot, "live capture needs root (CI runs as root)"), arguments: [SIGINT, SIGTERM])
    func signalStopsCleanlyWithFinalReport(signal: Int32) throws {
        let traffic = try LoopbackTraffic()
        defer { traffic.close() }
        let sniff = try SniffProcess(["-i", "lo", "tcp", "port", String(traffic.port)])
        try sniff.waitUntilListening()
        traffic.connections(1)
        usleep(200_000)
        kill(sniff.process.processIdentifier, signal)
        let (status, stdout) = sniff.finish()
        #expect(status == 0)
        // Into a pipe with no --format: NDJSON, a record per finished connection, then the capture line.
        let lines = stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let connection = try parseJSON(String(lines.first ?? ""))
        #expect(connection["type"] as? String == "connection")
        let capture = try parseJSON(String(lines.last ?? ""))
        #expect(capture["type"] as? String == "capture")
        #expect(((capture["capture"] as? [String: Any])?["live"] as? [String: Any])?["received"] != nil)
    }

    /// On a terminal the text report is the default (and a live summary refreshes there).
    @Test(.enabled(if: isRoot && scriptTool != nil, "needs root and script(1)"))
    func liveSummaryOnATerminal() throws {
        let (status, text) = try runThroughPTY("\(Paths.binary) sniff -i lo --duration 2.5 --interval 0.5 tcp port 1")
        #expect(status == 0)
        #expect(text.components(separatedBy: "(Ctrl-C for the final report)").count - 1 >= 3, "\(text.prefix(300))")
        #expect(text.contains("libpcap received"))
    }

    @Test(.enabled(if: isRoot, "needs root to reach the device lookup"))
    func missingInterfaceIsOneLine() throws {
        let r = try runPoolscope(["sniff", "-i", "nosuchif0", "--duration", "1"])
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n") == ["poolscope: nosuchif0: no such interface (list them with `ip link` or `tcpdump -D`)"])
    }

    /// As root, the capture runs as `nobody` through setpriv(1) to reach the permission error.
    @Test(.enabled(if: !isRoot || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs setpriv to drop root"))
    func withoutPermissionSaysWhatToDo() throws {
        let r: CommandResult
        if isRoot {
            r = try runProgram("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Paths.binary,
                                                    "sniff", "-i", "lo", "--duration", "1"])
        } else {
            r = try runPoolscope(["sniff", "-i", "lo", "--duration", "1"])
        }
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains("CAP_NET_RAW"))
    }

    @Test func invalidLiveFilterIsAUsageError() throws {
        guard isRoot else { return }
        let r = try runPoolscope(["sniff", "-i", "lo", "--duration", "1", "tcp", "portt"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("invalid filter expression 'tcp portt'"))
    }
}
