import HTTPStreams
import Testing

/// Hostile payloads: random and mutated streams never trap the framer, the
/// pairing or the TLS hello reader, however they are cut.
@Suite struct HostileInput {
    static let seeds: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "POST /x HTTP/1.0\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching\r\nUpgrade: ws\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
    ]

    @Test func randomAndMutatedStreamsNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = Array(Self.seeds.randomElement(using: &rng)!.utf8)
                for _ in 0..<Int.random(in: 0...6, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            var conversation = HTTPConversation(openedAt: 0, midStream: round % 3 == 0)
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...64, using: &rng)
                let piece = Array(bytes[i..<min(i + n, bytes.count)])
                let fromClient = Bool.random(using: &rng)
                piece.withUnsafeBytes { conversation.receive($0, fromClient: fromClient, at: Int64(i)) }
                if Int.random(in: 0..<20, using: &rng) == 0 { conversation.gap(fromClient: fromClient) }
                i += n
            }
            conversation.close(fromClient: false, at: Int64(bytes.count))
            let summary = conversation.summary
            if let requests = summary.requests { #expect(requests >= 0 && summary.transactions.count <= requests) }
        }
    }

    @Test func truncatedAndRandomHellosNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        // A plausible ClientHello prefix, then noise; every truncation of it.
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x60, 0x01, 0x00, 0x00, 0x5C, 0x03, 0x03] + (0..<32).map { _ in 7 }
            + [0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0E, 0x00, 0x00, 0x0B]
            + Array("example.com".utf8) + [0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, 0x68, 0x32]
        for length in 0...hello.count {
            _ = TLSHello.parse(Array(hello.prefix(length)), client: true)
            _ = TLSHello.parse(Array(hello.prefix(length)), client: false)
        }
        #expect(TLSHello.parse(hello, client: true).serverName == "example.com")
        for _ in 0..<5000 {
            var bytes = (0..<Int.random(in: 0...120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if bytes.count > 5 { bytes[0] = 0x16; bytes[1] = 0x03 }
            _ = TLSHello.parse(bytes, client: Bool.random(using: &rng))
        }
    }
}
