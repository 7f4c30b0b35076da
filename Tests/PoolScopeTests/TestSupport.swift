import Foundation
import PoolScope
import Testing

/// Where things are, found from this file's path (fixtures sit outside every target).
enum Paths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    /// `../shared/corpus` beside the repository, or $POOLSCOPE_CORPUS.
    static var corpus: URL? {
        let candidate = ProcessInfo.processInfo.environment["POOLSCOPE_CORPUS"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("traces").path) ? candidate : nil
    }

    /// A fresh temporary directory for one test.
    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("poolscope-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func write(_ bytes: [UInt8], named name: String, in directory: URL) -> String {
        let url = directory.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url.path
    }

    /// The `poolscope` binary built beside the test bundle.
    static var binary: String {
        var candidates: [URL] = []
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("poolscope"))
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/poolscope"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path ?? candidates.last!.path
    }
}

/// Runs the `poolscope` binary.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runPoolscope(_ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Paths.binary)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    // Read both pipes before waiting, so a large report cannot block the child.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs a command line in a pseudo-terminal with script(1) and returns what it printed.
let scriptTool = FileManager.default.isExecutableFile(atPath: "/usr/bin/script") ? "/usr/bin/script" : nil

func runThroughPTY(_ commandLine: String) throws -> (status: Int32, output: String) {
    let r = try runProgram(scriptTool ?? "/usr/bin/script", ["-qc", commandLine, "/dev/null"])
    return (r.status, r.stdout)
}

/// Runs any program with no input and returns its exit status and both outputs.
func runProgram(_ path: String, _ arguments: [String]) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = Pipe()
    try p.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// A fixture's truth file (see Fixtures/README.md).
struct Truth: Decodable {
    struct Capture: Decodable { var file: String; var link_type: String; var packets: Int; var timestamp_precision: String }
    struct Server: Decodable { var ip: String; var port: Int }
    struct Request: Decodable { var n: Int; var local_port: Int; var status: Int; var reused: Bool?; var num_connects: Int?; var connection: Int? }
    struct TimeWaitSocket: Decodable { var local: String; var peer: String }
    struct ClientView: Decodable { var client: String; var requests: [Request] }
    struct ServerConnection: Decodable { var client_port: Int; var bytes_in: Int; var bytes_out: Int; var requests: Int }
    struct Expected: Decodable { var connections: Int; var client_ports: [Int]; var requests_per_connection: [String: Int] }
    var scenario: String
    var capture: Capture
    var server: Server
    var client_view: ClientView
    var server_view: [ServerConnection]
    var expected: Expected
    /// `ss -tan state time-wait` right after the client ran (lifecycle fixtures).
    var ss_time_wait: [TimeWaitSocket]?
    /// Segments nftables dropped after the capture saw them (http-lossy).
    var nftables_drops: Int?

    static func load(_ scenario: String) throws -> Truth {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("\(scenario).truth.json")))
        return try JSONDecoder().decode(Truth.self, from: data)
    }
}

/// Parses the JSON report the binary or JSONReport printed.
func parseJSON(_ text: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any])
}
