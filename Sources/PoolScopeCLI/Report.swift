import ArgumentParser
import Foundation
import PoolScope

extension PoolScopeCommand {
    struct HTMLReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write a self-contained HTML report with a timeline of every connection.",
            discussion: "Example: poolscope report capture.pcap -o report.html"
        )

        @Option(name: .customShort("r"), help: ArgumentHelp("Read packets from FILE (repeatable).", valueName: "file"))
        var read: [String] = []

        @Option(name: .customShort("f"), help: ArgumentHelp("BPF filter expression (as tcpdump).", valueName: "expression"))
        var filter: String?

        @Argument(help: ArgumentHelp("Capture files, then optionally filter words.", valueName: "file-or-filter"))
        var words: [String] = []

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The HTML file to write.", valueName: "file"))
        var output: String = "report.html"

        @OptionGroup var analysis: AnalysisOptions

        func validate() throws {
            let split = InputWords.split(words, readFiles: read)
            if split.files.isEmpty { throw ValidationError("no capture file given (poolscope report FILE... -o report.html)") }
            if filter != nil && !split.filter.isEmpty { throw ValidationError("give the filter either with -f or after the files, not both") }
        }

        func run() throws {
            let split = InputWords.split(words, readFiles: read)
            let words = split.filter.joined(separator: " ")
            let report: Report
            do {
                report = try CaptureRun.analyzeFiles(split.files, filter: filter ?? (words.isEmpty ? nil : words),
                                                     settings: analysis.flowSettings, poolSettings: analysis.poolSettings)
            } catch {
                Diagnostics.error(error.description)
                throw ExitCode.usage
            }
            do {
                try HTMLReport.render(report).write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                Diagnostics.error("\(output): cannot write report: \(error.localizedDescription)")
                throw ExitCode.inputFault
            }
            throw Diagnostics.exitCode(for: report)
        }
    }
}
