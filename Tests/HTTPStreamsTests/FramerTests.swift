@testable import HTTPStreams
import Testing

/// NIO's ByteToMessageDecoderVerifier idea: the same stream fed whole, in
/// segments, and byte by byte must give the same events.
func frame(_ text: String, role: HTTPFramer.Role, chunk: Int? = nil,
           rule: HTTPFramer.ResponseBodyRule = { defaultRule($0) }, close: Bool = false) -> [HTTPFramerEvent] {
    var framer = HTTPFramer(role: role)
    var events: [HTTPFramerEvent] = []
    let bytes = Array(text.utf8)
    let size = chunk ?? max(bytes.count, 1)
    var i = 0
    while i < bytes.count {
        let piece = Array(bytes[i..<min(i + size, bytes.count)])
        piece.withUnsafeBytes { framer.consume($0, at: 0, events: &events, responseBody: rule) }
        i += size
    }
    if close { framer.close(at: 0, events: &events) }
    return events
}

func defaultRule(_ head: HTTPMessageHead) -> HTTPFramer.BodyRule {
    if head.status == 101 { return .stop }
    if let s = head.status, s < 200 || s == 204 || s == 304 { return .none }
    if head.chunked { return .chunked }
    if let n = head.contentLength { return .length(n) }
    return .untilClose
}

/// Events with the head reduced to what the tests compare.
func summary(_ events: [HTTPFramerEvent]) -> [String] {
    events.map { e in
        switch e {
        case let .head(h, _, _, _):
            return (["head"] + [h.method, h.target, h.status.map(String.init)].compactMap { $0 }).joined(separator: " ")
        case let .end(_, body): return "end \(body)"
        case .lostSync: return "lost"
        case .stopped: return "stopped"
        }
    }
}

func expectSameEverywhere(_ text: String, role: HTTPFramer.Role, close: Bool = false, _ expected: [String],
                          sourceLocation: SourceLocation = #_sourceLocation) {
    let whole = summary(frame(text, role: role, close: close))
    #expect(whole == expected, sourceLocation: sourceLocation)
    for size in [1, 2, 3, 7, 13] {
        #expect(summary(frame(text, role: role, chunk: size, close: close)) == expected, "chunk \(size)", sourceLocation: sourceLocation)
    }
}


@Suite struct Framing {
    @Test func getWithoutBody() {
        expectSameEverywhere("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", role: .requests, ["head GET /a", "end 0"])
    }

    @Test func pipelinedRequests() {
        let three = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /3 HTTP/1.1\r\nHost: x\r\n\r\n"
        expectSameEverywhere(three, role: .requests, ["head GET /1", "end 0", "head GET /2", "end 0", "head HEAD /3", "end 0"])
    }

    @Test func postWithContentLength() {
        expectSameEverywhere("POST /f HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello worldGET /n HTTP/1.1\r\n\r\n", role: .requests,
                             ["head POST /f", "end 11", "head GET /n", "end 0"])
    }

    @Test func chunkedWithTrailers() {
        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
            + "HTTP/1.1 204 No Content\r\n\r\n"
        expectSameEverywhere(response, role: .responses, ["head 200", "end 15", "head 204", "end 0"])
    }

    @Test func interimResponsesAreMessagesOfTheirOwn() {
        expectSameEverywhere("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", role: .responses,
                             ["head 100", "end 0", "head 201", "end 2"])
    }

    @Test func bodyDelimitedByClose() {
        expectSameEverywhere("HTTP/1.0 200 OK\r\n\r\nsome body bytes", role: .responses, close: true, ["head 200", "end 15"])
    }

    @Test func switchingProtocolsStops() {
        expectSameEverywhere("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\u{81}\u{05}hello", role: .responses,
                             ["head 101", "end 0", "stopped"])
    }

    @Test func garbageResyncsAtTheNextStartLine() {
        expectSameEverywhere("\u{16}\u{03}\u{01}junk\r\nmore junk\r\nGET /ok HTTP/1.1\r\n\r\n", role: .requests,
                             ["lost", "head GET /ok", "end 0"])
    }

    @Test func headersAreReadCaseInsensitively() {
        var events: [HTTPFramerEvent] = []
        var framer = HTTPFramer(role: .requests)
        let text = "PUT /x?q=1 HTTP/1.0\r\nhOsT: example.com\r\nCONNECTION: Keep-Alive\r\ncontent-LENGTH:  3 \r\nUpgrade: WebSocket\r\n\r\nabc"
        Array(text.utf8).withUnsafeBytes { framer.consume($0, at: 5, events: &events, responseBody: { defaultRule($0) }) }
        guard case let .head(h, start, _, headBytes) = events.first else { Issue.record("no head"); return }
        #expect(h.method == "PUT" && h.target == "/x?q=1" && h.isHTTP10)
        #expect(h.host == "example.com" && h.connectionKeepAlive && !h.connectionClose)
        #expect(h.contentLength == 3 && h.upgrade == "websocket")
        #expect(start == 5 && headBytes == text.utf8.count - 3)
        #expect(events.last == .end(at: 5, bodyBytes: 3))
    }

    /// Only the exact names count: names that share a first letter or a length
    /// with one the framer reads, or hold it whole with more after, or put a
    /// space before the colon (RFC 9112 §5.1), are other headers. The framer
    /// finds a name by its first letter and the colon at its length, not by a
    /// search for the first colon.
    @Test func lookAlikeHeaderNamesAreOtherHeaders() {
        func head(_ headers: String) -> HTTPMessageHead? {
            var events: [HTTPFramerEvent] = []
            var framer = HTTPFramer(role: .requests)
            Array("GET / HTTP/1.1\r\n\(headers)\r\n".utf8).withUnsafeBytes {
                framer.consume($0, at: 0, events: &events, responseBody: { defaultRule($0) })
            }
            guard case let .head(h, _, _, _) = events.first else { return nil }
            return h
        }
        let others = "Content-Type: 5\r\nContent-Lengths: 6\r\nContent-Lenxth: 7\r\nContent-Length : 8\r\nConnection-X: close\r\n"
            + "Connectionx: close\r\nHosts: a\r\nHost-Name: b\r\nhost : c\r\nTransfer-Encodings: chunked\r\nUpgrades: h2c\r\n"
            + "Upgrade-Insecure-Requests: 1\r\nX:Host: d\r\nc:ontent-length: 9\r\nHost\r\nh:\r\n"
        let h = head(others)
        #expect(h != nil)
        #expect(h?.contentLength == nil && h?.host == nil && h?.upgrade == nil)
        #expect(h?.chunked == false && h?.connectionClose == false)
        let exact = head(others + "cOnNeCtIoN: close\r\nHOST:e\r\nTRANSFER-ENCODING: chunked\r\nupgrade: H2C\r\nContent-Length:10\r\n")
        #expect(exact != nil)
        #expect(exact?.connectionClose == true && exact?.host == "e" && exact?.chunked == true)
        #expect(exact?.upgrade == "h2c" && exact?.contentLength == 10)
    }

    /// Each request names its own host: repeated or changed, bytes that are
    /// not UTF-8 included (decoded with U+FFFD, and equal to that character's
    /// bytes), none when it has no Host header, the last of two. (A framer
    /// that kept the previous request's Host String when the bytes repeat,
    /// tried in session 10, had to pass this.)
    @Test func eachRequestNamesItsOwnHost() {
        var bytes: [UInt8] = []
        let hosts: [[UInt8]?] = [Array("a.example".utf8), Array("a.example".utf8), Array("c.example".utf8), nil,
                                 Array("b.example:8080".utf8), Array("a.example".utf8), [0x61, 0xFF], [0x61, 0xEF, 0xBF, 0xBD],
                                 [], Array("a.example".utf8), nil]
        for host in hosts {
            bytes += Array("GET / HTTP/1.1\r\n".utf8)
            if let host { bytes += Array("Host: ".utf8) + host + Array("\r\n".utf8) }
            bytes += Array("\r\n".utf8)
        }
        // A second Host header in one head: the last one counts. Then an
        // HTTP/0.9 request, which has no headers at all.
        bytes += Array("GET / HTTP/1.1\r\nHost: a.example\r\nHost: d.example\r\n\r\nGET /old\r\n".utf8)
        var events: [HTTPFramerEvent] = []
        var framer = HTTPFramer(role: .requests)
        bytes.withUnsafeBytes { framer.consume($0, at: 0, events: &events, responseBody: { defaultRule($0) }) }
        let named = events.compactMap { e -> String? in
            if case let .head(h, _, _, _) = e { return h.host ?? "(none)" } else { return nil }
        }
        #expect(named == ["a.example", "a.example", "c.example", "(none)", "b.example:8080", "a.example", "a\u{FFFD}",
                          "a\u{FFFD}", "", "a.example", "(none)", "d.example", "(none)"])
    }

    /// The same requests through a conversation, whose pairing hands the
    /// framer the last request's Host String to reuse when the bytes repeat:
    /// every transaction still names its own host (a reused String must be
    /// the one those bytes decode to, invalid UTF-8 included).
    @Test func eachTransactionNamesItsOwnHost() {
        var bytes: [UInt8] = []
        let hosts: [[UInt8]?] = [Array("a.example".utf8), Array("a.example".utf8), Array("c.example".utf8), nil,
                                 Array("a.example".utf8), Array("a.example:80".utf8), [0x61, 0xFF], [0x61, 0xEF, 0xBF, 0xBD],
                                 [0x61, 0xFF], [], [], Array("a.example".utf8)]
        for host in hosts {
            bytes += Array("GET / HTTP/1.1\r\n".utf8)
            if let host { bytes += Array("Host: ".utf8) + host + Array("\r\n".utf8) }
            bytes += Array("\r\n".utf8)
        }
        bytes += Array("GET / HTTP/1.1\r\nHost: a.example\r\nHost: d.example\r\n\r\nGET /old\r\n".utf8)
        var conversation = HTTPConversation(openedAt: 0, midStream: false)
        // In two segments, split inside a Host value: the line is gathered first.
        let cut = bytes.count / 2
        bytes[..<cut].withUnsafeBytes { conversation.receive($0, fromClient: true, at: 1) }
        bytes[cut...].withUnsafeBytes { conversation.receive($0, fromClient: true, at: 2) }
        let named = conversation.transactionsSoFar.map { $0.host ?? "(none)" }
        #expect(named == ["a.example", "a.example", "c.example", "(none)", "a.example", "a.example:80", "a\u{FFFD}",
                          "a\u{FFFD}", "a\u{FFFD}", "", "", "a.example", "d.example", "(none)"])
    }

    /// A head reset in place (the framer does it at every start line,
    /// releasing only what is set) is a new head. Every field is set first;
    /// the count of fields keeps this list, and `reset()`, whole.
    @Test func resetHeadIsANewHead() {
        var head = HTTPMessageHead()
        head.method = "PATCH"; head.target = "/" + String(repeating: "t", count: 40); head.targetTruncated = true
        head.status = 204; head.isHTTP10 = true; head.isHTTP09 = true; head.host = "h.example"
        head.contentLength = 7; head.chunked = true; head.connectionClose = true; head.connectionKeepAlive = true
        head.upgrade = "websocket"
        #expect(Mirror(reflecting: head).children.count == 12, "a field was added: set it above and reset it in reset()")
        #expect(head != HTTPMessageHead())
        head.reset()
        #expect(head == HTTPMessageHead())
    }

    @Test func longTargetsAreCut() {
        var events: [HTTPFramerEvent] = []
        var framer = HTTPFramer(role: .requests)
        let text = "GET /" + String(repeating: "a", count: 2000) + " HTTP/1.1\r\n\r\n"
        Array(text.utf8).withUnsafeBytes { framer.consume($0, at: 0, events: &events, responseBody: { defaultRule($0) }) }
        guard case let .head(h, _, _, _) = events.first else { Issue.record("no head"); return }
        #expect(h.targetTruncated && h.target?.utf8.count == HTTPFramer.maximumTargetLength)
    }

    /// Request lines, usual and not: a common method or any other token, a
    /// space inside the target (the last space ends it), versions 1.0 and
    /// 1.1, HTTP/0.9's bare "GET target"; a method that is not a token, no
    /// target, or a version that is not HTTP/1.x is not a request line.
    @Test func requestLines() {
        func parse(_ line: String) -> String {
            var framer = HTTPFramer(role: .requests)
            let ok = Array(line.utf8).withUnsafeBytes { framer.parseRequestLine($0) }
            guard ok else { return "no" }
            let h = framer.head
            return "\(h.method ?? "-")|\(h.target ?? "-")|\(h.isHTTP10 ? "1.0" : h.isHTTP09 ? "0.9" : "1.x")"
        }
        #expect(parse("GET /a HTTP/1.1") == "GET|/a|1.x")
        #expect(parse("DELETE /a?b=c HTTP/1.0") == "DELETE|/a?b=c|1.0")
        #expect(parse("PROPFIND /dav/ HTTP/1.1") == "PROPFIND|/dav/|1.x")
        #expect(parse("GET /a b HTTP/1.1") == "GET|/a b|1.x")
        #expect(parse("GET /a HTTP/1.1 ") == "no")
        #expect(parse("GET /a HTTP/1. ") == "no")
        #expect(parse("GET /a  HTTP/1.1") == "GET|/a |1.x")
        #expect(parse("GET / HTTP/1.1") == "GET|/|1.x")
        #expect(parse("GET /a HTTP/2.0") == "no")
        #expect(parse("GET /a HTTP/1.") == "GET|/a|1.x")
        #expect(parse("GET /index.html") == "GET|/index.html|0.9")
        #expect(parse("POST /index.html") == "no")
        #expect(parse("G@T /a HTTP/1.1") == "no")
        #expect(parse("GET  HTTP/1.1") == "no")
        #expect(parse(" GET /a HTTP/1.1") == "no")
    }

    /// A header line past `maximumLineLength` loses sync, whether it came whole
    /// (read by the head's line loop) or in pieces (gathered), and framing
    /// picks up at the next request. One byte under the limit is a header.
    @Test func overLongHeaderLineLosesSync() {
        let long = "GET /a HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: HTTPFramer.maximumLineLength) + "\r\n\r\n"
        expectSameEverywhere(long + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", role: .requests, ["lost", "head GET /b", "end 0"])
        // "X-Long: " is 8 bytes: with the CR the line is just within the limit.
        let within = "GET /a HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: HTTPFramer.maximumLineLength - 9) + "\r\n\r\n"
        expectSameEverywhere(within + "GET /b HTTP/1.1\r\n\r\n", role: .requests, ["head GET /a", "end 0", "head GET /b", "end 0"])
    }

    @Test func gapThenResync() {
        var framer = HTTPFramer(role: .requests)
        var events: [HTTPFramerEvent] = []
        Array("POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc".utf8).withUnsafeBytes { framer.consume($0, at: 0, events: &events, responseBody: { defaultRule($0) }) }
        framer.gap(events: &events)
        Array("tail of the body\r\nGET /b HTTP/1.1\r\n\r\n".utf8).withUnsafeBytes { framer.consume($0, at: 1, events: &events, responseBody: { defaultRule($0) }) }
        #expect(summary(events) == ["head POST /a", "lost", "head GET /b", "end 0"])
    }
}
