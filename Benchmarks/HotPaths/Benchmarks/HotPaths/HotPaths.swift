import Benchmark
import PoolScope

// Each benchmark iteration is 1,000 packets (or segments, or lookups), looped
// explicitly rather than with a scaling factor: the harness divides scaled
// counts with integer division, which would hide anything under one per packet.
// So `Malloc (total)` is allocations per 1,000 packets, exactly; the target on
// these steady-state paths is zero. Time is per 1,000; throughput in thousands/s.
// (Retain/release counts need the harness's Swift runtime interposer, which this
// machine's package list lacks; with the plain 6.3 runtime hooks they crash.)
let perIteration = 1_000

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    // Decode: Ethernet, IPv4, TCP with a 1,448-byte payload, as zero-copy views.
    Benchmark("Decode Ethernet/IPv4/TCP data segment") { benchmark in
        let frame = Frame(fromClient: false, flags: Frame.ack, seq: 1, ack: 1, payload: [UInt8](repeating: 0x61, count: 1448))
        benchmark.startMeasurement()
        frame.bytes.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                var payloadBytes = 0
                for _ in 0..<perIteration {
                    // identity(): the frame is the same each time, and with the link type a
                    // constant the optimiser had moved the whole decode out of the loop.
                    if case .tcp(let segment) = PacketDecoder.decode(identity(bytes), wireLength: bytes.count, linkType: .ethernet) {
                        payloadBytes &+= segment.payloadLength
                    }
                }
                blackHole(payloadBytes)
            }
        }
    }

    // Flow lookup: a hit among 10,000 live flows (symmetric key, precomputed hash).
    // Built once, outside the measured closure (which runs once per sample).
    let flowKeys = (0..<10_000).map { i in
        FlowKey(Endpoint(address: IPAddress(ipv4: 0x0A00_0000 | UInt32(i >> 8)), port: UInt16(30000 + (i & 0xFF))),
                Endpoint(address: IPAddress(ipv4: 0x0A01_0001), port: 80))
    }
    let flowTable = {
        var table = FlowTable<FlowKey, Int>(initialCapacity: 16_384)
        for (i, key) in flowKeys.enumerated() { table.insert(i, for: key) }
        return table
    }()
    Benchmark("FlowTable lookup among 10,000 flows") { benchmark in
        for _ in benchmark.scaledIterations {
            var found = 0
            for i in 0..<perIteration { found &+= flowTable.slot(for: flowKeys[(i &* 7) % 10_000]) ?? 0 }
            blackHole(found)
        }
    }

    // HTTP framing: a keep-alive response stream, 1,448-byte segments of
    // 16 KB responses (head, Content-Length body), through HTTPConversation.
    Benchmark("HTTP framing of response body segments") { benchmark in
        var http = HTTPConversation(openedAt: 0, midStream: false)
        let request = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n".utf8)
        request.withUnsafeBytes { http.receive($0, fromClient: true, at: 1) }
        head.withUnsafeBytes { http.receive($0, fromClient: false, at: 2) }
        let body = [UInt8](repeating: 0x61, count: 1448)
        benchmark.startMeasurement()
        body.withUnsafeBytes { segment in
            var t: Int64 = 3
            for _ in benchmark.scaledIterations {
                for _ in 0..<perIteration { t += 1; http.receive(segment, fromClient: false, at: t) }
            }
        }
        blackHole(http.requestsSoFar)
    }

    // The whole per-packet path (decode, flow lookup, TCP state, Zeek's model,
    // reassembly, HTTP) on an established connection: a response body in
    // 1,448-byte segments with the client's ACKs, sequence numbers patched in place.
    Benchmark("Analyzer.ingest on an established connection") { benchmark in
        var analyzer = Analyzer()
        var t: Int64 = 1_700_000_000_000_000_000
        let (cISN, sISN): (UInt32, UInt32) = (1000, 5000)
        let request = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n".utf8)
        for f in [Frame(fromClient: true, flags: Frame.syn, seq: cISN, ack: 0),
                  Frame(fromClient: false, flags: Frame.syn | Frame.ack, seq: sISN, ack: cISN + 1),
                  Frame(fromClient: true, flags: Frame.ack, seq: cISN + 1, ack: sISN + 1),
                  Frame(fromClient: true, flags: Frame.ack | Frame.psh, seq: cISN + 1, ack: sISN + 1, payload: request),
                  Frame(fromClient: false, flags: Frame.ack | Frame.psh, seq: sISN + 1, ack: cISN + 1 + UInt32(request.count), payload: head)] {
            t += 10_000
            analyzer.ingest(f, at: t)
        }
        let clientNext = cISN + 1 + UInt32(request.count)
        var serverNext = sISN + 1 + UInt32(head.count)
        var data = Frame(fromClient: false, flags: Frame.ack, seq: serverNext, ack: clientNext, payload: [UInt8](repeating: 0x61, count: 1448))
        var ack = Frame(fromClient: true, flags: Frame.ack, seq: clientNext, ack: serverNext)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            // 1,000 packets: two data segments, then the client's ACK (delayed ACKs).
            for i in 0..<perIteration {
                t += 1_000
                if i % 3 == 2 {
                    ack.setSequence(clientNext, ack: serverNext)
                    analyzer.ingest(ack, at: t)
                } else {
                    data.setSequence(serverNext, ack: clientNext)
                    analyzer.ingest(data, at: t)
                    serverNext &+= 1448
                }
            }
        }
        benchmark.stopMeasurement()
        blackHole(analyzer.packets)
    }

    // A whole real capture, connections opened and closed (per-connection
    // costs: HTTP transactions, records, pools), from memory: the Go client of
    // Fixtures/pool-go-default-c20.pcap. An iteration is the whole capture
    // through a new Analyzer, report included; allocations are per capture.
    Benchmark("Analyzer over a real capture, report included") { benchmark in
        let packets = Fixture.packets("pool-go-default-c20.pcap")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var analyzer = Analyzer()
            for p in packets {
                p.bytes.withUnsafeBytes { analyzer.ingest($0, wireLength: p.wireLength, linkType: .ethernet, timestamp: p.timestamp) }
            }
            blackHole(analyzer.finish())
        }
        benchmark.stopMeasurement()
        print("  (\(packets.count) packets per iteration)")
    }
}

enum Fixture {
    /// Fixtures/ of the repository this package sits in.
    static let directory: String = {
        let path = #filePath
        let marker = "/Benchmarks/HotPaths/"
        guard let range = path.range(of: marker) else { return "Fixtures" }
        return String(path[..<range.lowerBound]) + "/Fixtures"
    }()

    static func packets(_ name: String) -> [(timestamp: Int64, wireLength: Int, bytes: [UInt8])] {
        guard let capture = try? OfflineCapture(path: directory + "/" + name) else { fatalError("cannot open \(name)") }
        var result: [(timestamp: Int64, wireLength: Int, bytes: [UInt8])] = []
        while case .packet(let p) = capture.next() { result.append((p.timestamp, p.wireLength, Array(p.bytes))) }
        return result
    }
}
