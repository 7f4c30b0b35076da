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

        @Option(name: .customShort("r"), help: ArgumentHelp("Read packets from FILE (repeatable).", valueName: "file"))
        var read: [String] = []

        @Option(name: .customShort("f"), help: ArgumentHelp("BPF filter expression (as tcpdump).", valueName: "expression"))
        var filter: String?

        @Argument(help: ArgumentHelp("Capture files, then optionally filter words.", valueName: "file-or-filter"))
        var words: [String] = []

        @OptionGroup var output: OutputOptions

        @OptionGroup var analysis: AnalysisOptions

        var inputs: (files: [String], filter: String?) {
            let split = InputWords.split(words, readFiles: read)
            let trailing = split.filter.joined(separator: " ")
            return (split.files, filter ?? (trailing.isEmpty ? nil : trailing))
        }

        func validate() throws {
            let split = InputWords.split(words, readFiles: read)
            if split.files.isEmpty { throw ValidationError("no capture file given (poolscope analyze FILE...)") }
            if filter != nil && !split.filter.isEmpty {
                throw ValidationError("give the filter either with -f or after the files, not both")
            }
        }

        func run() throws {
            let (files, filter) = inputs
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
