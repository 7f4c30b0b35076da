import ArgumentParser
import PoolScope

extension PoolScopeCommand {
    struct HTMLReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write a self-contained HTML report with a timeline of every connection.",
            discussion: "Example: poolscope report capture.pcap -o report.html"
        )

        @OptionGroup var input: InputOptions

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The HTML file to write.", valueName: "file"))
        var output: String = "report.html"

        @OptionGroup var analysis: AnalysisOptions

        func run() throws {
            let (files, filter) = input.resolved
            let report: Report
            do throws(CaptureError) {
                report = try CaptureRun.analyzeFiles(files, filter: filter,
                                                     settings: analysis.flowSettings, poolSettings: analysis.poolSettings,
                                                     threads: analysis.threads)
            } catch {
                Diagnostics.error(error.description)
                throw ExitCode.usage
            }
            guard let file = Descriptor(creating: output) else {
                Diagnostics.error("\(output): cannot write report")
                throw ExitCode.inputFault
            }
            file.write(HTMLReport.render(report))
            file.close()
            throw Diagnostics.exitCode(for: report)
        }
    }
}
