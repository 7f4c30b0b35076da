import Foundation
import PcapTestSupport
import PoolScope
import Testing

typealias B = PacketBuilder

/// One HTTP exchange on a fresh connection, closed by the client:
/// 6 segments from the client, 3 from the server.
func sampleConversation(ipv6: Bool = false, start: Int64 = 1_700_000_000_123_456_000, step: Int64 = 1_000_000) -> TCPConversation {
    var c = ipv6 ? TCPConversation(client: ("2001:db8::1", 40000), server: ("2001:db8::2", 80), start: start)
                 : TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80), start: start)
    c.step = step
    c.handshake()
    c.exchange(request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.clientCloses()
    return c
}

let sampleRequestBytes = 27
let sampleResponseBytes = 40

/// Re-wraps a conversation's Ethernet frames in another link layer.
func rewrap(_ conversation: TCPConversation, link: Int32, wrap: ([UInt8], UInt16) -> [UInt8],
            byteOrder: PcapFileWriter.ByteOrder = .little, nanosecond: Bool = false) -> [UInt8] {
    var writer = PcapFileWriter(linkType: link, byteOrder: byteOrder, nanosecond: nanosecond)
    for frame in conversation.frames {
        let etherType = UInt16(frame.bytes[12]) << 8 | UInt16(frame.bytes[13])
        writer.append(wrap(Array(frame.bytes.dropFirst(14)), etherType), timestamp: frame.timestamp)
    }
    return writer.bytes
}

func expectSampleConnection(_ report: Report, ipv6: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(report.capture.faults.isEmpty, sourceLocation: sourceLocation)
    #expect(report.capture.packets == 9, sourceLocation: sourceLocation)
    #expect(report.capture.tcpPackets == 9, sourceLocation: sourceLocation)
    #expect(report.connections.count == 1, sourceLocation: sourceLocation)
    guard let c = report.connections.first else { return }
    #expect(c.client.description == (ipv6 ? "[2001:db8::1]:40000" : "10.0.0.1:40000"), sourceLocation: sourceLocation)
    #expect(c.server.description == (ipv6 ? "[2001:db8::2]:80" : "10.0.0.2:80"), sourceLocation: sourceLocation)
    #expect(c.packets == PerSide(client: 6, server: 3), sourceLocation: sourceLocation)
    #expect(c.bytes == PerSide(client: sampleRequestBytes, server: sampleResponseBytes), sourceLocation: sourceLocation)
    #expect(!c.midStream, sourceLocation: sourceLocation)
}

@Suite struct LinkTypesThroughLibpcap {
    /// (name, LINKTYPE_ written in the file, how to wrap an IP packet, libpcap's name)
    static let links: [(String, Int32, @Sendable ([UInt8], UInt16) -> [UInt8], String)] = [
        ("ethernet", 1, { B.ethernet(type: $1, payload: $0) }, "EN10MB"),
        ("802.1Q", 1, { B.ethernet(type: $1, payload: $0, vlanTags: [(0x8100, 7)]) }, "EN10MB"),
        ("802.1ad", 1, { B.ethernet(type: $1, payload: $0, vlanTags: [(0x88A8, 7), (0x8100, 8)]) }, "EN10MB"),
        ("sll", 113, { B.linuxSLL(protocol: $1, payload: $0) }, "LINUX_SLL"),
        ("sll2", 276, { B.linuxSLL2(protocol: $1, payload: $0) }, "LINUX_SLL2"),
        ("null", 0, { B.null(family: $1 == 0x0800 ? 2 : 30, payload: $0) }, "NULL"),
        ("loop", 108, { B.loop(family: $1 == 0x0800 ? 2 : 24, payload: $0) }, "LOOP"),
        ("raw", 101, { p, _ in p }, "RAW"),
        ("ipv4-or-6", -1, { p, _ in p }, ""),
        ("nflog", 239, { B.nflog(family: $1 == 0x0800 ? 2 : 10, payload: $0) }, "NFLOG"),
    ]

    @Test(arguments: links.map(\.0), [false, true])
    func oneConnectionThroughEveryLinkType(name: String, ipv6: Bool) throws {
        let (_, fileLink, wrap, libpcapName) = Self.links.first { $0.0 == name }!
        let link = fileLink >= 0 ? fileLink : (ipv6 ? 229 : 228)
        let expectedName = fileLink >= 0 ? libpcapName : (ipv6 ? "IPV6" : "IPV4")
        let dir = Paths.temporaryDirectory()
        let path = Paths.write(rewrap(sampleConversation(ipv6: ipv6), link: link, wrap: wrap), named: "\(name).pcap", in: dir)
        let report = try CaptureRun.analyzeFiles([path])
        #expect(report.capture.sources.first?.linkType == expectedName)
        expectSampleConnection(report, ipv6: ipv6)
    }

    @Test func unsupportedLinkTypeIsCountedNotDropped() throws {
        let dir = Paths.temporaryDirectory()
        let path = Paths.write(rewrap(sampleConversation(), link: 105, wrap: { p, _ in p }), named: "wifi.pcap", in: dir)
        let report = try CaptureRun.analyzeFiles([path])
        #expect(report.capture.packets == 9)
        #expect(report.capture.undecoded[.unsupportedLinkType] == 9)
        #expect(report.connections.isEmpty)
    }
}

@Suite struct FileFormats {
    /// Both byte orders and both timestamp resolutions give the same report;
    /// nanosecond files keep their nanoseconds.
    @Test(arguments: [PcapFileWriter.ByteOrder.little, .big], [false, true])
    func byteOrderAndPrecision(order: PcapFileWriter.ByteOrder, nanosecond: Bool) throws {
        let conversation = sampleConversation(start: 1_700_000_000_123_456_789, step: 1_000_333)
        let dir = Paths.temporaryDirectory()
        let path = Paths.write(rewrap(conversation, link: 1, wrap: { B.ethernet(type: $1, payload: $0) },
                                      byteOrder: order, nanosecond: nanosecond), named: "f.pcap", in: dir)
        let report = try CaptureRun.analyzeFiles([path])
        expectSampleConnection(report)
        let first = conversation.frames.first!.timestamp, last = conversation.frames.last!.timestamp
        let scale: Int64 = nanosecond ? 1 : 1000
        #expect(report.capture.first?.nanoseconds == first / scale * scale)
        #expect(report.capture.last?.nanoseconds == last / scale * scale)
        #expect(report.capture.nanosecondTimestamps == nanosecond)
    }

    /// Several files are one capture, merged in timestamp order, whatever
    /// order they are named in.
    @Test func severalFilesMergeInTimestampOrder() throws {
        let conversation = sampleConversation()
        var even = PcapFileWriter(linkType: 1), odd = PcapFileWriter(linkType: 1, byteOrder: .big)
        for (i, f) in conversation.frames.enumerated() {
            if i % 2 == 0 { even.append(f.bytes, timestamp: f.timestamp) } else { odd.append(f.bytes, timestamp: f.timestamp) }
        }
        let dir = Paths.temporaryDirectory()
        let a = Paths.write(odd.bytes, named: "odd.pcap", in: dir)
        let b = Paths.write(even.bytes, named: "even.pcap", in: dir)
        let whole = Paths.write(conversation.pcap(), named: "whole.pcap", in: dir)
        let merged = try CaptureRun.analyzeFiles([a, b])
        let single = try CaptureRun.analyzeFiles([whole])
        expectSampleConnection(merged)
        // The SYN (frame 0) is in the second file named: the connection comes from there.
        #expect(merged.connections.first?.sourceIndex == 1)
        var sameSource = merged.connections
        for i in sameSource.indices { sameSource[i].sourceIndex = 0 }
        #expect(sameSource == single.connections)
        #expect(merged.capture.first == single.capture.first)
        #expect(merged.capture.sources.map(\.name) == [a, b])
    }

    /// A second connection only in the second file still merges by time.
    @Test func mergeInterleavesConnectionsFromDifferentFiles() throws {
        let early = sampleConversation(start: 1_700_000_000_000_000_000)
        var late = TCPConversation(client: ("10.0.0.3", 40001), server: ("10.0.0.2", 80), start: 1_700_000_000_000_500_000)
        late.handshake()
        let dir = Paths.temporaryDirectory()
        let a = Paths.write(late.pcap(), named: "late.pcap", in: dir)
        let b = Paths.write(early.pcap(), named: "early.pcap", in: dir)
        let report = try CaptureRun.analyzeFiles([a, b])
        #expect(report.connections.map(\.client.description) == ["10.0.0.1:40000", "10.0.0.3:40001"])
        #expect(report.capture.packets == 12)
    }
}

@Suite struct Filters {
    @Test func bpfFilterApplies() throws {
        let dir = Paths.temporaryDirectory()
        let path = Paths.write(sampleConversation().pcap(), named: "c.pcap", in: dir)
        #expect(try CaptureRun.analyzeFiles([path], filter: "tcp port 80").capture.packets == 9)
        #expect(try CaptureRun.analyzeFiles([path], filter: "tcp[tcpflags] & tcp-syn != 0").capture.packets == 2)
        #expect(try CaptureRun.analyzeFiles([path], filter: "port 81").capture.packets == 0)
        #expect(try CaptureRun.analyzeFiles([path], filter: "src host 10.0.0.2").connections.first?.packets == PerSide(client: 0, server: 3))
    }

    @Test func invalidFilterQuotesLibpcap() throws {
        let dir = Paths.temporaryDirectory()
        let path = Paths.write(sampleConversation().pcap(), named: "c.pcap", in: dir)
        #expect {
            try CaptureRun.analyzeFiles([path], filter: "tcp portt 80")
        } throws: { error in
            guard case let .filter(expression, message) = error as? CaptureError else { return false }
            return expression == "tcp portt 80" && message.contains("syntax error")
        }
    }
}

@Suite struct UndecodedCounting {
    /// Every reason a packet is not decoded is counted, and only TCP reaches the flows.
    @Test func everyReasonIsCounted() throws {
        var writer = PcapFileWriter(linkType: 1, snaplen: 65535)
        var t: Int64 = 1_700_000_000_000_000_000
        func add(_ frame: [UInt8], wire: Int? = nil) { writer.append(frame, timestamp: t, wireLength: wire); t += 1000 }
        let syn = B.tcp(sourcePort: 1234, destinationPort: 80, flags: .syn)
        let ip = B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: syn)
        add(B.ethernet(type: 0x0800, payload: ip))                                                       // TCP
        add(B.ethernet(type: 0x0806, payload: [UInt8](repeating: 0, count: 28)))                        // ARP: not TCP
        add(B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", protocol: 17,
                                                     payload: [0, 1, 0, 2, 0, 8, 0, 0])))               // UDP: not TCP
        add(B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2",
                                                     payload: syn, fragmentField: 0x2000)))              // fragment
        let full = B.ethernet(type: 0x0800, payload: ip)
        add(Array(full.prefix(40)), wire: full.count)                                                   // truncated
        add(B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2",
                                                     payload: syn, totalLength: 9)))                     // malformed
        let request = B.tcp(sourcePort: 1234, destinationPort: 80, sequence: 1001, flags: [.psh, .ack], payload: Array(repeating: 65, count: 100))
        let big = B.ethernet(type: 0x0800, payload: B.ipv4(source: "10.0.0.1", destination: "10.0.0.2", payload: request))
        add(Array(big.prefix(64)), wire: big.count)                                                     // payload cut: still TCP
        let dir = Paths.temporaryDirectory()
        let report = try CaptureRun.analyzeFiles([Paths.write(writer.bytes, named: "mix.pcap", in: dir)])
        #expect(report.capture.packets == 7)
        #expect(report.capture.tcpPackets == 2)
        #expect(report.capture.payloadTruncatedPackets == 1)
        #expect(report.capture.undecoded[.notTCP] == 2)
        #expect(report.capture.undecoded[.fragment] == 1)
        #expect(report.capture.undecoded[.truncated] == 1)
        #expect(report.capture.undecoded[.malformed] == 1)
        #expect(report.capture.undecoded[.unsupportedLinkType] == 0)
        #expect(report.connections.first?.bytes.client == 100)   // from the IP length, not the cut capture
        let json = JSONReport.render(report)
        #expect(json.contains("\"undecoded\":{\"not_tcp\":2,\"fragment\":1,\"truncated\":1,\"malformed\":1}"))
    }
}

/// Classic pcap without a filter is read by SavefileReader, in place; the rest
/// by libpcap. Both must hand out the same packets, and a record the reader is
/// not sure of must reach libpcap at the right offset.
@Suite struct SavefileReaderAgreesWithLibpcap {
    /// Every packet of `path`, read with (filter nil) and without (a filter that
    /// passes everything, which keeps libpcap) the in-place reader.
    static func packets(_ path: String, throughLibpcap: Bool) throws -> [(Int64, Int, [UInt8])] {
        let capture = try OfflineCapture(path: path, filter: throughLibpcap ? "len >= 0" : nil)
        var result: [(Int64, Int, [UInt8])] = []
        loop: while true {
            switch capture.next() {
            case .packet(let p): result.append((p.timestamp, p.wireLength, Array(p.bytes)))
            case .timeout: continue
            case .end, .failed: break loop
            }
        }
        return result
    }

    static func expectSame(_ path: String, count: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ours = try packets(path, throughLibpcap: false)
        let theirs = try packets(path, throughLibpcap: true)
        if let count { #expect(ours.count == count, sourceLocation: sourceLocation) }
        #expect(ours.count == theirs.count, sourceLocation: sourceLocation)
        #expect(ours.elementsEqual(theirs) { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 }, sourceLocation: sourceLocation)
    }

    @Test(arguments: [(PcapFileWriter.ByteOrder.little, false), (.little, true), (.big, false), (.big, true)])
    func byteOrdersAndResolutions(_ order: PcapFileWriter.ByteOrder, _ nanosecond: Bool) throws {
        var writer = PcapFileWriter(linkType: 1, byteOrder: order, nanosecond: nanosecond)
        // Enough large frames to cross the reader's 1 MB buffer several times.
        var c = sampleConversation(step: 1_234)
        for i in 0..<2000 {
            c.exchange(request: "GET /\(i) HTTP/1.1\r\nHost: a\r\n\r\n",
                       response: "HTTP/1.1 200 OK\r\nContent-Length: 1400\r\n\r\n" + String(repeating: "x", count: 1400))
        }
        for frame in c.frames { writer.append(frame.bytes, timestamp: frame.timestamp) }
        let path = NSTemporaryDirectory() + "savefile-\(order)-\(nanosecond).pcap"
        try Data(writer.bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(writer.bytes.count > 3_000_000)
        try Self.expectSame(path, count: c.frames.count)
    }

    /// Shards read a file through one set of chunks. Two readers on two
    /// threads, with chunks small enough that records often span two of them
    /// and the ring (4 slots) makes the reader ahead wait: each gets libpcap's
    /// packets, and both hand the cut last record to libpcap.
    @Test func readersOnTwoThreadsShareChunks() throws {
        var writer = PcapFileWriter(linkType: 1, snaplen: 3000)
        var c = sampleConversation(step: 1_234)
        for i in 0..<300 {
            c.exchange(request: "GET /\(i) HTTP/1.1\r\nHost: a\r\n\r\n",
                       response: "HTTP/1.1 200 OK\r\nContent-Length: \(i * 7)\r\n\r\n" + String(repeating: "x", count: i * 7))
        }
        #expect(c.frames.allSatisfy { $0.bytes.count <= 3000 })
        for frame in c.frames { writer.append(frame.bytes, timestamp: frame.timestamp) }
        writer.truncate(by: 7)
        let path = NSTemporaryDirectory() + "savefile-shared.pcap"
        try Data(writer.bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let theirs = try Self.packets(path, throughLibpcap: true)
        #expect(theirs.count == c.frames.count - 1)

        let chunks = try #require(SavefileChunks(path: path, readers: 2, chunkSize: 4096))
        nonisolated(unsafe) let captures = try (0..<2).map { try OfflineCapture(path: path, chunks: chunks, reader: $0) }
        var results: [(packets: [(Int64, Int, [UInt8])], fault: String)] = [([], ""), ([], "")]
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                var packets: [(Int64, Int, [UInt8])] = []
                var fault = ""
                loop: while true {
                    switch captures[i].next() {
                    case .packet(let p): packets.append((p.timestamp, p.wireLength, Array(p.bytes)))
                    case .timeout: continue
                    case .end: break loop
                    case .failed(let error): fault = error.description; break loop
                    }
                }
                out[i] = (packets, fault)
            }
        }
        for i in 0..<2 {
            #expect(results[i].packets.count == theirs.count)
            #expect(results[i].packets.elementsEqual(theirs) { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 })
            #expect(results[i].fault.contains("truncated dump file"))
        }
    }

    /// With a classifier, the reader that loads a chunk indexes its records
    /// (`SavefileChunks`), and the first record of the next chunk is found from
    /// the one that runs into it. Small chunks and records of many lengths
    /// make records span two chunks with their header cut at every one of its
    /// 16 bytes and beyond. A record longer than the snapshot length, halfway,
    /// stops the index and the readers there (libpcap reads on). One reader
    /// takes index entries first, as a shard does; the other reads through
    /// `OfflineCapture`. Both get libpcap's packets, and every entry has the
    /// class of its record.
    @Test func indexedChunksGiveTheSameRecords() throws {
        let snaplen = 3000, chunkSize = 4096
        var writer = PcapFileWriter(linkType: 1, snaplen: UInt32(snaplen))
        // Bytes only the classifier looks at; now and then one near the snapshot length.
        let frames = (0..<20_000).map { i in
            [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: i % 97 == 0 ? snaplen - i % 13 : 20 + (i &* i &* 31 &+ i &* 7) % 503)
        }
        let good = frames.count / 2
        for (i, frame) in frames[..<good].enumerated() { writer.append(frame, timestamp: 1_700_000_000_000_000_000 + Int64(i) * 1_001_000) }
        let badOffset = writer.bytes.count
        writer.appendRaw(capturedLength: UInt32(snaplen + 1), wireLength: UInt32(snaplen + 1), body: [UInt8](repeating: 0, count: snaplen + 1))
        for frame in frames[good...] { writer.append(frame, timestamp: 1_800_000_000_000_000_000) }
        let path = NSTemporaryDirectory() + "savefile-indexed.pcap"
        try Data(writer.bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        // Where chunk boundaries cut records: at every byte of a header, and in bodies.
        var cuts = Set<Int>()
        var at = 24
        for frame in frames[..<good] {
            let end = at + 16 + frame.count
            let boundary = (at - 24) / chunkSize * chunkSize + chunkSize + 24
            if boundary < end { cuts.insert(min(boundary - at, 16)) }
            at = end
        }
        #expect(cuts == Set(1...16), "cut offsets: \(cuts.sorted())")

        let theirs = try Self.packets(path, throughLibpcap: true)
        #expect(theirs.count == frames.count + 1)
        let classify: RecordClassifier = { bytes, wireLength in
            bytes.count < 60 ? SavefileChunks.unclassified : UInt8((bytes.count + wireLength / 7) % 3)
        }
        nonisolated(unsafe) var linkTypes: [UInt32] = []
        let chunks = try #require(SavefileChunks(path: path, readers: 2, chunkSize: chunkSize, indexer: { linkType in
            linkTypes.append(linkType)
            return { records in records.index(classify) }
        }))
        #expect(linkTypes == [1])
        nonisolated(unsafe) let reader = SavefileReader(chunks, reader: 0)
        nonisolated(unsafe) let capture = try OfflineCapture(path: path, chunks: chunks, reader: 1)
        // Each written by one thread, read after both are done.
        final class Results: @unchecked Sendable {
            var indexed: (packets: [(Int64, Int, [UInt8])], entries: Int, misclassed: Int, stoppedAt: Int, atEnd: Bool) = ([], 0, 0, 0, true)
            var other: (packets: [(Int64, Int, [UInt8])], fault: String) = ([], "")
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            if i == 0 {
                var result = results.indexed
                while true {
                    // As a shard takes them, prefetching one class's records ahead.
                    if let entry = reader.nextEntry(prefetching: 1) {
                        let bytes = reader.bytes(of: entry)
                        result.entries += 1
                        if entry.recordClass != classify(bytes, Int(entry.wireLength)) { result.misclassed += 1 }
                        result.packets.append((entry.timestamp, Int(entry.wireLength), Array(bytes)))
                    } else if let record = reader.next() {
                        result.packets.append((record.timestamp, record.wireLength, Array(record.bytes)))
                    } else {
                        break
                    }
                }
                result.stoppedAt = reader.offset
                result.atEnd = reader.atEnd
                results.indexed = result
            } else {
                var result = results.other
                loop: while true {
                    switch capture.next() {
                    case .packet(let p): result.packets.append((p.timestamp, p.wireLength, Array(p.bytes)))
                    case .timeout: continue
                    case .end: break loop
                    case .failed(let error): result.fault = error.description; break loop
                    }
                }
                results.other = result
            }
        }
        let (indexed, other) = (results.indexed, results.other)
        let same = { (a: (Int64, Int, [UInt8]), b: (Int64, Int, [UInt8])) in a.0 == b.0 && a.1 == b.1 && a.2 == b.2 }
        #expect(indexed.packets.count == good)
        #expect(indexed.packets.elementsEqual(theirs[..<good], by: same))
        // All but the records that run into the next chunk come from the index.
        #expect(indexed.entries > good * 9 / 10)
        #expect(indexed.misclassed == 0)
        #expect(indexed.stoppedAt == badOffset)
        #expect(!indexed.atEnd)
        #expect(other.packets.count == theirs.count)
        #expect(other.packets.elementsEqual(theirs, by: same))
        #expect(other.fault.isEmpty)
    }

    @Test func aCutRecordIsLeftToLibpcap() throws {
        var writer = PcapFileWriter(linkType: 1)
        for frame in sampleConversation().frames { writer.append(frame.bytes, timestamp: frame.timestamp) }
        writer.truncate(by: 7)
        let path = NSTemporaryDirectory() + "savefile-cut.pcap"
        try Data(writer.bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.expectSame(path, count: 8)
        let capture = try OfflineCapture(path: path)
        var outcome = ""
        while outcome.isEmpty {
            switch capture.next() {
            case .packet, .timeout: continue
            case .end: outcome = "end"
            case .failed(let error): outcome = error.description
            }
        }
        #expect(outcome.hasSuffix("truncated dump file; tried to read 54 captured bytes, only got 47"))
    }
}
