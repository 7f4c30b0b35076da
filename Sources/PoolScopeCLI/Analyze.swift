import ArgumentParser
import PoolScope

extension PoolScopeCommand {
    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Analyse capture files (pcap or pcapng; - is standard input).",
            discussion: """
                Several files are read as one capture, merged in timestamp order. A BPF filter \
                may follow the files, as tcpdump takes it, or be given with -f.
                Examples:
                  poolscope analyze capture.pcap
                  poolscope analyze rotated-*.pcap tcp port 80
                  tcpdump -w - -i lo | poolscope analyze - --format json
                """
        )

        @OptionGroup var input: InputOptions

        @OptionGroup var output: OutputOptions

        @OptionGroup var analysis: AnalysisOptions

        func run() throws {
            let (files, filter) = input.resolved
            let destination = try output.open()
            let progress = ProgressLine(files: files, quiet: output.quiet)
            let report: Report
            do {
                report = try CaptureRun.analyzeFiles(files, filter: filter, settings: analysis.flowSettings, poolSettings: analysis.poolSettings,
                                                     onConnection: output.connectionSink(destination),
                                                     onProgress: progress.map { line in { line.update($0) } })
                progress?.finish()
            } catch {
                Diagnostics.error(error.description)
                throw ExitCode.usage
            }
            output.write(report, to: destination)
            throw Diagnostics.exitCode(for: report)
        }
    }
}
