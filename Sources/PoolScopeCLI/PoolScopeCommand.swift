import ArgumentParser
import Foundation
import PoolScope

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
        subcommands: [Analyze.self, Sniff.self]
    )

    /// Usage errors exit 2 (argument-parser's default is 64, EX_USAGE): the
    /// documented codes are 0 ok, 1 input fault, 2 usage.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitCode.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

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
    case text, json
}

/// Output flags shared by every command that prints a report.
struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: "Report format: \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: OutputFormat = .text

    @Option(name: [.customShort("o"), .long], help: "Write the report to FILE instead of standard output.")
    var output: String?

    func render(_ report: Report) -> String {
        switch format {
        case .text: TextReport.render(report)
        case .json: JSONReport.render(report)
        }
    }

    /// Writes the report; an unwritable -o file is an input/output fault (exit 1).
    func write(_ report: Report) throws {
        let text = render(report)
        if let output, output != "-" {
            do {
                try text.write(toFile: output, atomically: false, encoding: .utf8)
            } catch {
                Diagnostics.error("\(output): cannot write report: \(error.localizedDescription)")
                throw ExitCode.inputFault
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

enum Diagnostics {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data("poolscope: \(line)\n".utf8))
    }

    /// Reports input faults and returns the exit code the run ends with.
    static func exitCode(for report: Report) -> ExitCode {
        for fault in report.capture.faults { error(fault) }
        return report.capture.faults.isEmpty ? .success : .inputFault
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
