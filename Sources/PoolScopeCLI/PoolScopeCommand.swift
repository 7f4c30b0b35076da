import ArgumentParser
import CAllocatorTuning
// FoundationEssentials, not Foundation: the CLI needs files and process info,
// not Foundation's internationalisation (ICU), which cost 6 MB of resident memory.
import FoundationEssentials
import PoolScope
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `poolscope`: the command tree. Argument parsing and output only; the
/// analysis is the PoolScope library's.
@main
struct PoolScopeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poolscope",
        abstract: "Explain the life of every HTTP connection in a packet capture.",
        discussion: """
            Exit codes: 0 ok; 1 an input fault (the report covers what was read before it); \
            2 a usage error (bad flags, invalid filter expression).
            """,
        version: "poolscope \(PoolScopeVersion.current) (\(CaptureRun.libpcapVersion))",
        subcommands: [Analyze.self, Sniff.self, HTMLReportCommand.self]
    )

    /// Usage errors exit 2 (argument-parser's default is 64, EX_USAGE): the
    /// documented codes are 0 ok, 1 input fault, 2 usage.
    static func main() {
        MallocTuning.apply()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                Descriptor.standardError.write(fullMessage(for: error) + "\n")
                terminate(ExitCode.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// glibc's allocator, set for a long streaming run. By default glibc raises
/// its mmap threshold to the size of each large block freed, after which
/// blocks of up to 32 MB come from the heap: the tables and queues that grow
/// by doubling, and each second's batch of finished records, then left holes
/// the heap kept resident. With a fixed 256 KB threshold every large block
/// is its own mapping, returned when freed: the 1 GB benchmark capture's peak
/// went from 73.6 to 61.8 MiB (its connections all closed; BENCHMARKS.md).
enum MallocTuning {
    static func apply() {
        _ = poolscope_fix_mmap_threshold(256 * 1024)
    }
}

/// The C library's exit (inside a ParsableCommand, `exit` names ArgumentParser's).
func terminate(_ code: Int32) -> Never { exit(code) }

extension ExitCode {
    /// An input fault (missing or broken capture, capture device error); the report covers what was read.
    static let inputFault = ExitCode(1)
    /// A usage error: bad flags, a missing argument, an invalid filter expression.
    static let usage = ExitCode(2)
}

enum PoolScopeVersion {
    static let current = "0.1.0"
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, ndjson, csv
}

/// Analysis settings shared by analyze and sniff.
struct AnalysisOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "TIME_WAIT length (2*MSL) in seconds: 60 on Linux, 240 on Windows, 30 on macOS.", valueName: "seconds"))
    var timeWait: Double = 60

    @Option(name: .long, help: ArgumentHelp("Report and forget a connection idle this long.", valueName: "seconds"))
    var idleTimeout: Double = 600

    @Option(name: .long, help: ArgumentHelp(
        "Track at most this many connections; the least recently active are reported early (counted as evictions).",
        valueName: "count"))
    var maxConnections: Int = 1_000_000

    @Option(name: .long, help: ArgumentHelp(
        "The client's ephemeral port range, for the port exhaustion estimate (Linux: net.ipv4.ip_local_port_range).",
        valueName: "low-high"))
    var portRange: String = "32768-60999"

    @Option(name: .long, help: ArgumentHelp(
        "Analysis threads for whole-capture reports (default: the cores available, at most 4). Each walks every record "
            + "(a file is read from disk once for all) and tracks its share of the flows; the report is the same for any count. "
            + "NDJSON and standard input use one.",
        valueName: "count"))
    var threads: Int = min(4, ProcessInfo.processInfo.activeProcessorCount)

    var ports: ClosedRange<Int>? {
        let parts = portRange.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[1] <= 65535, parts[0] <= parts[1] else { return nil }
        return parts[0]...parts[1]
    }

    func validate() throws {
        if ports == nil { throw ValidationError("--port-range must be LOW-HIGH within 1-65535, e.g. 32768-60999") }
        if !(timeWait >= 0) { throw ValidationError("--time-wait must be zero or more seconds") }
        if !(idleTimeout > 0) { throw ValidationError("--idle-timeout must be positive") }
        if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        if threads < 1 || threads > 64 { throw ValidationError("--threads must be 1 to 64") }
    }

    var poolSettings: PoolSettings {
        var s = PoolSettings()
        s.portRange = ports ?? 32768...60999
        return s
    }

    var flowSettings: FlowSettings {
        var s = FlowSettings()
        s.timeWaitSeconds = timeWait
        s.idleTimeoutSeconds = idleTimeout
        s.maxConnections = maxConnections
        return s
    }
}

/// Output flags shared by every command that prints a report.
struct OutputOptions: ParsableArguments {
    @Option(name: .customLong("format"), help: "Report format: \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", ")) (default text; sniff into a pipe: ndjson).")
    var formatOption: OutputFormat?

    /// The format asked for, text when none was.
    var format: OutputFormat {
        get { formatOption ?? .text }
        set { formatOption = newValue }
    }

    var formatGiven: Bool { formatOption != nil }

    @Option(name: [.customShort("o"), .long], help: "Write the report to FILE instead of standard output.")
    var output: String?

    @Option(name: .long, help: ArgumentHelp(
        "Connections listed in the text report: a number, or all (default 50; the rest are summarised).", valueName: "n|all"))
    var connections: String = "50"

    @Flag(name: .customShort("n"), help: "Accepted for tcpdump's sake: PoolScope never resolves names or ports.")
    var numeric = false

    @Flag(name: [.customShort("q"), .long], help: "No progress line on standard error.")
    var quiet = false

    var connectionLimit: Int? {
        connections == "all" ? nil : Int(connections)
    }

    func validate() throws {
        if connections != "all" && (Int(connections) ?? -1) < 0 {
            throw ValidationError("--connections takes a number or all")
        }
    }

    /// Colour only for a person at a terminal, and never with NO_COLOR set (no-color.org).
    var useColour: Bool {
        (output == nil || output == "-") && Descriptor.standardOutput.isTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    func render(_ report: Report) -> String {
        switch format {
        case .text: TextReport.render(report, connectionLimit: connectionLimit, colour: useColour)
        case .json: JSONReport.render(report)
        case .ndjson: JSONReport.captureRecord(report.capture, pools: report.pools)
        case .csv: CSVReport.render(report)
        }
    }

    /// Opens the destination (stdout or -o FILE); an unwritable file is exit 1.
    func open() throws -> BufferedOutput {
        guard let output, output != "-" else { return BufferedOutput(.standardOutput) }
        guard let file = Descriptor(creating: output) else {
            Diagnostics.error("\(output): cannot write report")
            throw ExitCode.inputFault
        }
        return BufferedOutput(file)
    }

    /// For NDJSON: a sink that writes each finished connection as one line.
    /// Lines are buffered (64 KiB) unless `flushEachRecord` (live capture).
    func connectionSink(_ output: BufferedOutput, files: [String] = [], flushEachRecord: Bool = false) -> ((ConnectionRecord) -> Void)? {
        guard format == .ndjson else { return nil }
        final class Scratch { var json = JSONText(reservingCapacity: 1 << 14) }
        let scratch = Scratch()
        return { record in
            // Each record's times to the nanosecond when they have sub-microsecond digits.
            let ns = record.start.nanoseconds % 1000 != 0 || record.end.nanoseconds % 1000 != 0
            scratch.json.reset()
            JSONReport.writeRecord(record, nanoseconds: ns, files: files, into: &scratch.json)
            scratch.json.withBytes { output.write(bytes: $0) }
            if flushEachRecord { output.flush() }
        }
    }

    /// Writes the report (for NDJSON: its closing capture record) and flushes.
    func write(_ report: Report, to output: BufferedOutput) {
        if format == .json {
            JSONReport.render(report) { output.write($0) }
        } else {
            output.write(render(report))
        }
        output.flush()
    }
}

/// A progress line on standard error while a long file is read: only on a
/// terminal, at most 4 times a second, cleared at the end.
final class ProgressLine {
    private let total: Int64
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var last: ContinuousClock.Instant
    private var shown = false

    /// Nil when there is nothing to show it on (not a terminal, --quiet).
    init?(files: [String], quiet: Bool) {
        guard !quiet, Descriptor.standardError.isTerminal else { return nil }
        total = files.reduce(0) { total, path in
            var info = stat()
            return total + (stat(path, &info) == 0 ? Int64(info.st_size) : 0)
        }
        started = clock.now
        last = started
    }

    func update(_ p: CaptureRun.Progress) {
        let now = clock.now
        guard now - last >= .milliseconds(250) else { return }
        last = now
        shown = true
        Descriptor.standardError.write("\r\u{1B}[2K" + Self.text(p, total: total, elapsed: (now - started) / .seconds(1)))
    }

    func finish() {
        if shown { Descriptor.standardError.write("\r\u{1B}[2K") }
    }

    /// "42% 430 MB of 1.0 GB, 1.2 M packets/s, 3456 connections".
    static func text(_ p: CaptureRun.Progress, total: Int64, elapsed: Double) -> String {
        func megabytes(_ b: Int64) -> String { b >= 1_000_000_000 ? "\(Double(b / 100_000_000) / 10) GB" : "\(b / 1_000_000) MB" }
        var out = total > 0 ? "\(min(100, Int(Double(p.bytesRead) / Double(total) * 100)))% \(megabytes(p.bytesRead)) of \(megabytes(total))" : megabytes(p.bytesRead)
        let rate = elapsed > 0 ? Double(p.packets) / elapsed : 0
        out += ", \(rate >= 1e6 ? "\(Double(Int(rate / 1e5)) / 10) M" : "\(Int(rate / 1000)) k") packets/s, \(p.liveConnections) connections"
        return out
    }
}

/// Report output, written in 64 KiB pieces rather than a system call per line.
/// Safe to share between the threads of `--each`: a lock around the buffer.
final class BufferedOutput: Sendable {
    private let file: Descriptor
    private let buffer = Mutex<[UInt8]>([])

    init(_ file: Descriptor) {
        self.file = file
    }

    func write(_ text: String) {
        var text = text
        text.withUTF8 { write(bytes: $0) }
    }

    func write(bytes: some Collection<UInt8>) {
        buffer.withLock { buffer in
            buffer.append(contentsOf: bytes)
            if buffer.count >= 1 << 16 { flush(&buffer) }
        }
    }

    func flush() {
        buffer.withLock { flush(&$0) }
    }

    private func flush(_ buffer: inout [UInt8]) {
        guard !buffer.isEmpty else { return }
        file.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// An open file descriptor written with write(2), whole buffers at a time.
struct Descriptor: Sendable {
    let fd: Int32

    static let standardOutput = Descriptor(fd: STDOUT_FILENO)
    static let standardError = Descriptor(fd: STDERR_FILENO)

    init(fd: Int32) { self.fd = fd }

    /// Creates or truncates `path` for writing; nil when that fails.
    init?(creating path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        self.fd = fd
    }

    var isTerminal: Bool { isatty(fd) == 1 }

    func write(_ text: String) { write(Array(text.utf8)) }

    /// All of `bytes`, across short writes and signals; a broken pipe or a full
    /// disk ends the attempt (the exit code already reflects the analysis).
    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    func close() { _ = systemClose(fd) }
}

// The C functions under names a type's own `write` and `close` do not shadow.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, bytes, count) }
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }

enum Diagnostics {
    static func error(_ line: String) {
        Descriptor.standardError.write("poolscope: \(line)\n")
    }

    /// Reports input faults and returns the exit code the run ends with.
    static func exitCode(for report: Report) -> ExitCode {
        for fault in report.capture.faults { error(fault) }
        return report.capture.faults.isEmpty ? .success : .inputFault
    }
}

/// Capture files and a filter, as analyze and report take them: -r FILE...,
/// -f EXPR, or files then filter words, as tcpdump.
struct InputOptions: ParsableArguments {
    @Option(name: .customShort("r"), help: ArgumentHelp("Read packets from FILE (repeatable).", valueName: "file"))
    var read: [String] = []

    @Option(name: .customShort("f"), help: ArgumentHelp("BPF filter expression (as tcpdump).", valueName: "expression"))
    var filter: String?

    @Argument(help: ArgumentHelp("Capture files, then optionally filter words.", valueName: "file-or-filter"))
    var words: [String] = []

    /// The files, and the filter from -f or the trailing words.
    var resolved: (files: [String], filter: String?) {
        let split = InputWords.split(words, readFiles: read)
        let trailing = split.filter.joined(separator: " ")
        return (split.files, filter ?? (trailing.isEmpty ? nil : trailing))
    }

    func validate() throws {
        let split = InputWords.split(words, readFiles: read)
        if split.files.isEmpty { throw ValidationError("no capture file given") }
        if filter != nil && !split.filter.isEmpty {
            throw ValidationError("give the filter either with -f or after the files, not both")
        }
    }
}

/// Splits trailing words into capture files and a tcpdump-style filter.
enum InputWords {
    /// With `-r` given, every word is filter. Otherwise the first word is a
    /// file, and so is each next word that is "-", exists, or has a capture
    /// extension; the filter starts at the first word that is none of these.
    static func split(_ words: [String], readFiles: [String]) -> (files: [String], filter: [String]) {
        if !readFiles.isEmpty { return (readFiles, words) }
        var files: [String] = []
        var index = 0
        while index < words.count {
            let word = words[index]
            let isFile = files.isEmpty || word == "-" || FileManager.default.fileExists(atPath: word)
                || [".pcap", ".pcapng", ".cap", ".dmp", ".pcap0"].contains(where: { word.hasSuffix($0) })
            guard isFile else { break }
            files.append(word)
            index += 1
        }
        return (files, Array(words[index...]))
    }
}
