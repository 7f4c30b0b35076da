import ArgumentParser
import PoolScope

extension PoolScopeCommand {
    struct Sniff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Capture live from an interface and report when stopped.",
            discussion: """
                Stops after -c packets, --duration seconds, or SIGINT/SIGTERM, then prints the report \
                with libpcap's received and dropped counters. Needs root or CAP_NET_RAW.
                Example: poolscope sniff -i eth0 -w run.pcap tcp port 80
                """
        )

        @Option(name: .customShort("i"), help: ArgumentHelp("Interface to capture on (any for all).", valueName: "interface"))
        var interface: String

        @Option(name: .customShort("c"), help: ArgumentHelp("Stop after this many packets.", valueName: "count"))
        var count: Int?

        @Option(name: .long, help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
        var duration: Double?

        @Option(name: .customShort("s"), help: ArgumentHelp("Snapshot length in bytes.", valueName: "snaplen"))
        var snaplen: Int32 = 262_144

        @Option(name: .customShort("B"), help: ArgumentHelp("Kernel capture buffer in KiB, as tcpdump's -B.", valueName: "KiB"))
        var bufferKiB: Int32 = 32768

        @Flag(name: .long, help: "Put the interface in promiscuous mode (off by default).")
        var promisc = false

        @Option(name: .customShort("w"), help: ArgumentHelp("Also write the raw packets to a pcap file.", valueName: "file"))
        var write: String?

        @Option(name: .customShort("f"), help: ArgumentHelp("BPF filter expression (as tcpdump).", valueName: "expression"))
        var filter: String?

        @Argument(help: ArgumentHelp("Filter words, as tcpdump takes them.", valueName: "filter"))
        var filterWords: [String] = []

        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: ArgumentHelp("Seconds between live summaries on a terminal.", valueName: "seconds"))
        var interval: Double = 1

        @OptionGroup var analysis: AnalysisOptions

        func validate() throws {
            if filter != nil && !filterWords.isEmpty {
                throw ValidationError("give the filter either with -f or as trailing words, not both")
            }
            if let count, count <= 0 { throw ValidationError("-c must be a positive packet count") }
            if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
            if snaplen <= 0 { throw ValidationError("-s must be a positive snapshot length") }
            if !(interval > 0) { throw ValidationError("--interval must be positive") }
            if bufferKiB <= 0 || bufferKiB > 2_097_151 { throw ValidationError("-B must be between 1 and 2097151 KiB") }
        }

        func run() throws {
            var settings = LiveCapture.Settings(device: interface)
            settings.snaplen = snaplen
            settings.promiscuous = promisc
            settings.bufferBytes = bufferKiB * 1024
            settings.writeTo = write
            let words = filterWords.joined(separator: " ")
            settings.filter = filter ?? (words.isEmpty ? nil : words)
            // Not on a terminal and no --format: NDJSON as connections finish.
            var output = self.output
            let onTerminal = Descriptor.standardOutput.isTerminal && (output.output == nil || output.output == "-")
            if !onTerminal && !output.formatGiven { output.format = .ndjson }
            let destination = try output.open()
            let live = onTerminal && output.format == .text
            let rates = LiveView.Rates()
            let report: Report
            do throws(CaptureError) {
                report = try CaptureRun.sniff(settings, packetLimit: count, duration: duration,
                                              flowSettings: analysis.flowSettings, poolSettings: analysis.poolSettings,
                                              onConnection: output.connectionSink(destination, flushEachRecord: true),
                                              onStart: {
                    Descriptor.standardError.write("poolscope: listening on \(interface)\n")
                }, interval: interval, onTick: live ? { snapshot, stats in
                    // Redraw in place: home, clear, then the summary.
                    let rate = Double(snapshot.requests - rates.lastRequests) / interval
                    rates.lastRequests = snapshot.requests
                    Descriptor.standardOutput.write("\u{1B}[H\u{1B}[2J" + LiveView.text(snapshot, stats, interface: interface,
                                                                                          requestsPerSecond: rate))
                } : nil)
            } catch {
                Diagnostics.error(error.description)
                if case .filter = error { throw ExitCode.usage }
                throw ExitCode.inputFault
            }
            output.write(report, to: destination)
            throw Diagnostics.exitCode(for: report)
        }
    }
}

/// The refreshing summary `sniff` shows on a terminal.
enum LiveView {
    /// The previous tick's request count, for the rate.
    final class Rates { var lastRequests = 0 }

    static func text(_ s: Analyzer.Snapshot, _ stats: LiveCapture.Statistics?, interface: String, requestsPerSecond: Double) -> String {
        var out = "poolscope sniff -i \(interface) (Ctrl-C for the final report)\n"
        out += "  packets \(s.packets); connections open \(s.liveConnections) (idle \(s.idleConnections)), finished \(s.finishedConnections), "
        out += "in TIME_WAIT \(s.timeWaitNow); requests \(s.requests), \(TextReport.format(requestsPerSecond))/s"
        if let stats { out += ", kernel drops \(stats.dropped)" }
        out += "\n"
        return out + TextReport.pools(s.pools)
    }
}
