import ArgumentParser
import Dispatch
import FoundationEssentials
import PoolScope
import Synchronization

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

        @Flag(name: .long, help: "Analyse each file as its own capture, in parallel, each with its own report.")
        var each = false

        func validate() throws {
            if each && output.format == .csv { throw ValidationError("--each writes one report per file: use text, json or ndjson") }
        }

        /// The timelines go only into JSON and NDJSON reports (and HTML, another command's).
        var poolSettings: PoolSettings {
            var settings = analysis.poolSettings
            settings.keepsTimelines = output.format == .json || output.format == .ndjson
            return settings
        }

        func run() throws {
            let (files, filter) = input.resolved
            if each && files.count > 1 { return try runEach(files, filter: filter) }
            let destination = try output.open()
            let progress = ProgressLine(files: files, quiet: output.quiet)
            let report: Report
            do throws(CaptureError) {
                // The text report prints --connections of them: keep no more.
                let keep = output.format == .text ? output.connectionLimit : nil
                report = try CaptureRun.analyzeFiles(files, filter: filter, settings: analysis.flowSettings, poolSettings: poolSettings,
                                                     recordLimit: keep, threads: analysis.threads, onConnection: output.connectionSink(destination, files: files),
                                                     onProgress: progress.map { line in { line.update($0) } })
                progress?.finish()
            } catch {
                Diagnostics.error(error.description)
                throw ExitCode.usage
            }
            output.write(report, to: destination)
            throw Diagnostics.exitCode(for: report)
        }
    
        /// --each: independent captures on all cores; reports printed in file order.
        func runEach(_ files: [String], filter: String?) throws {
            let destination = try output.open()
            let results = Mutex<(reports: [Report?], filterError: CaptureError?)>((Array(repeating: nil, count: files.count), nil))
            let flowSettings = analysis.flowSettings, poolSettings = self.poolSettings
            let output = self.output
            DispatchQueue.concurrentPerform(iterations: files.count) { i in
                do throws(CaptureError) {
                    let report = try CaptureRun.analyzeFiles([files[i]], filter: filter, settings: flowSettings, poolSettings: poolSettings,
                                                             onConnection: output.connectionSink(destination, files: [files[i]]))
                    results.withLock { $0.reports[i] = report }
                } catch {
                    results.withLock { $0.filterError = error }
                }
            }
            let (reports, filterError) = results.withLock { ($0.reports, $0.filterError) }
            if let error = filterError {
                Diagnostics.error(error.description)
                throw ExitCode.usage
            }
            var faults = false
            for (file, report) in zip(files, reports) {
                guard let report else { continue }
                if output.format == .text { destination.write("== \(file)\n") }
                output.write(report, to: destination)
                for fault in report.capture.faults { Diagnostics.error(fault) }
                faults = faults || !report.capture.faults.isEmpty
            }
            if faults { throw ExitCode.inputFault }
        }
    }
}
