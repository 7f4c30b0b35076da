/// One HTTP request and what answered it.
public struct HTTPTransaction: Sendable, Equatable {
    public var method: String
    public var host: String?
    public var target: String
    public var targetTruncated: Bool
    /// Final status (1xx interim responses are not counted as the answer).
    public var status: Int?
    /// Bytes of the request and of the response (heads and bodies).
    public var requestBytes: Int
    public var responseBytes: Int
    public var requestStart: Int64
    public var requestEnd: Int64?
    /// First byte of the final response.
    public var responseStart: Int64?
    public var responseEnd: Int64?
    /// Seconds the connection sat idle before this request: since the
    /// previous response ended, or since the connection was opened.
    public var idleBefore: Double
    /// 1 for the connection's first request, 2 for the second (a reuse), ...
    public var position: Int
    /// 1xx interim responses before the final one (100 Continue).
    public var interimResponses: Int
    /// The request or the response said "Connection: close" (or was HTTP/1.0 without keep-alive).
    public var connectionClose = false
}

/// TLS seen without decryption.
public struct TLSInfo: Sendable, Equatable {
    public var serverName: String?
    /// Protocols the client offered (ALPN).
    public var offeredALPN: [String]
    /// The protocol the server chose (visible in a TLS 1.2 ServerHello; TLS 1.3 sends it encrypted).
    public var alpn: String?

    public init(serverName: String?, offeredALPN: [String], alpn: String?) {
        self.serverName = serverName
        self.offeredALPN = offeredALPN
        self.alpn = alpn
    }
}

/// What HTTP analysis found on one connection.
public struct HTTPSummary: Sendable, Equatable {
    /// Requests seen; nil when the stream is not readable HTTP/1.x (TLS, HTTP/2, other).
    public var requests: Int?
    /// Final responses paired with requests; nil as `requests`.
    public var responses: Int?
    /// Stretches of stream lost to the capture (requests in them are unknown, not guessed).
    public var unknownGaps: Int
    /// "websocket", "h2c", "tunnel" ...: HTTP/1.x counting stopped there.
    public var upgraded: String?
    public var tls: TLSInfo?
    /// "http/1", "tls", "h2c", or "unknown".
    public var protocolName: String
    /// For TLS and HTTP/2: turns in which the client sent after the server had
    /// (an estimate of request/response exchanges; hidden requests are not counted).
    public var estimatedExchanges: Int?
    public var transactions: [HTTPTransaction]
    /// More requests than `HTTPConversation.maximumTransactions`: only the first are listed.
    public var transactionsTruncated: Bool
}

/// HTTP on one connection's two in-order streams: frames requests and
/// responses, pairs them in order (pipelining), times them, and recognises
/// TLS and HTTP/2 instead of misreading them.
public struct HTTPConversation: Sendable {
    public static let maximumTransactions = 10_000
    static let helloLimit = 16 * 1024 + 5

    enum Mode: Sendable { case undecided, http, tls, h2c, other }

    var mode = Mode.undecided
    var requestFramer = HTTPFramer(role: .requests)
    var responseFramer = HTTPFramer(role: .responses)
    var events: [HTTPFramerEvent] = []
    var transactions: [HTTPTransaction] = []
    var transactionCount = 0
    /// Index (into all requests) of the one the next final response answers.
    var answered = 0
    var responses = 0
    var unknownGaps = 0
    var upgraded: String?
    var lastResponseEnd: Int64?
    let opened: Int64
    var clientHello: [UInt8] = []
    var serverHello: [UInt8] = []
    var clientHelloDone = false
    var serverHelloDone = false
    var tls: TLSInfo?
    var exchanges = 0
    var lastSenderWasClient: Bool?
    /// The first final response's start for the transaction being answered.
    var pendingResponseStart: Int64?
    var pendingInterim = 0
    var pendingResponseHeadBytes = 0
    /// The client sent bytes that framed as no request since the last one:
    /// a response then proves a request the framer could not read.
    var unreadRequestBytes = false
    /// Since a gap in the request stream, until the next request line: what
    /// fails to frame then is the gap's remains, not an unread request.
    var resyncingAfterGap = false
    var lastRequestActivity: Int64 = 0

    public init(openedAt: Int64, midStream: Bool) {
        opened = openedAt
        if midStream {
            // Start counting at the first request line: skip to a line start.
            requestFramer.state = .resync
            responseFramer.state = .resync
        }
    }

    /// In-order bytes one side sent.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, at time: Int64) {
        guard !bytes.isEmpty else { return }
        if mode == .undecided { decideMode(bytes, fromClient: fromClient) }
        switch mode {
        case .http:
            if fromClient {
                requestFramer.consume(bytes, at: time, events: &events, responseBody: { _ in .none })
                applyRequestEvents()
            } else {
                let rule = responseRule()
                responseFramer.consume(bytes, at: time, events: &events, responseBody: rule)
                applyResponseEvents()
            }
        case .tls:
            countTurn(fromClient: fromClient)
            collectHello(bytes, fromClient: fromClient)
        case .h2c, .other:
            countTurn(fromClient: fromClient)
        case .undecided:
            break
        }
    }

    /// Bytes one side sent were lost to the capture.
    public mutating func gap(fromClient: Bool) {
        guard mode == .http else { return }
        if fromClient {
            requestFramer.gap(events: &events)
            if !events.isEmpty { unknownGaps += 1 }
            // Requests lost in a gap are unknown: responses to them prove
            // nothing to count (unlike bytes that framed as no request).
            resyncingAfterGap = true
            applyRequestEvents()
            unreadRequestBytes = false
        } else {
            responseFramer.gap(events: &events)
            applyResponseEvents()
        }
    }

    /// One side closed its stream (FIN): a body delimited by the close ends.
    public mutating func close(fromClient: Bool, at time: Int64) {
        guard mode == .http, !fromClient else { return }
        responseFramer.close(at: time, events: &events)
        applyResponseEvents()
    }

    /// Requests seen so far, and whether one is outstanding (sent, not yet answered).
    public var requestsSoFar: Int { transactionCount }
    public var hasOutstandingRequest: Bool { answered < transactionCount || !requestFramer.isIdle }

    public var summary: HTTPSummary {
        let readable = mode == .http || mode == .undecided
        let name: String
        switch mode {
        case .http, .undecided: name = "http/1"
        case .tls: name = "tls"
        case .h2c: name = "h2c"
        case .other: name = "unknown"
        }
        return HTTPSummary(
            requests: readable ? transactionCount : nil, responses: readable ? responses : nil,
            unknownGaps: unknownGaps, upgraded: upgraded, tls: tls, protocolName: name,
            estimatedExchanges: readable ? nil : exchanges, transactions: transactions,
            transactionsTruncated: transactionCount > transactions.count)
    }

    // MARK: - Mode

    mutating func decideMode(_ bytes: UnsafeRawBufferPointer, fromClient: Bool) {
        if TLSHello.looksLikeTLS(bytes) {
            mode = .tls
            tls = TLSInfo(serverName: nil, offeredALPN: [], alpn: nil)
        } else if fromClient && bytes.starts(with: Self.h2Preface.prefix(min(bytes.count, Self.h2Preface.count))) && bytes.count >= 4 {
            mode = .h2c
            upgraded = "h2c"
        } else if fromClient || HTTPStartLine.isResponse(bytes, orPrefixOfOne: true) {
            mode = .http
        } else {
            mode = .other
        }
    }

    static let h2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    mutating func countTurn(fromClient: Bool) {
        if fromClient && lastSenderWasClient != true { exchanges += 1 }
        lastSenderWasClient = fromClient
    }

    mutating func collectHello(_ bytes: UnsafeRawBufferPointer, fromClient: Bool) {
        // Gather each side's first record until its hello is whole, then let the buffer go.
        if fromClient {
            guard !clientHelloDone else { return }
            clientHello.append(contentsOf: bytes.prefix(Self.helloLimit - clientHello.count))
            let parsed = TLSHello.parse(clientHello, client: true)
            tls?.serverName = parsed.serverName
            tls?.offeredALPN = parsed.alpn
            if parsed.complete || clientHello.count >= Self.helloLimit { clientHelloDone = true; clientHello = [] }
        } else {
            guard !serverHelloDone else { return }
            serverHello.append(contentsOf: bytes.prefix(Self.helloLimit - serverHello.count))
            let parsed = TLSHello.parse(serverHello, client: false)
            tls?.alpn = parsed.alpn.first
            if parsed.complete || serverHello.count >= Self.helloLimit { serverHelloDone = true; serverHello = [] }
        }
    }

    // MARK: - Pairing

    /// How the next response's body is framed: it depends on the request it answers.
    func responseRule() -> HTTPFramer.ResponseBodyRule {
        let method = answered < transactionCount ? methodOf(answered) : nil
        return { head in
            guard let status = head.status else { return .none }
            if status == 101 { return .stop }
            if method == "CONNECT" && (200..<300).contains(status) { return .stop }
            if status < 200 || status == 204 || status == 304 || method == "HEAD" { return .none }
            if head.chunked { return .chunked }
            if let n = head.contentLength { return .length(n) }
            return .untilClose
        }
    }

    func methodOf(_ index: Int) -> String? {
        index < transactions.count ? transactions[index].method : nil
    }

    mutating func applyRequestEvents() {
        // Most segments are body bytes and frame no event (removeAll on an
        // empty array still went through the generic replaceSubrange).
        guard !events.isEmpty else { return }
        defer { events.removeAll(keepingCapacity: true) }
        for event in events {
            switch event {
            case let .head(head, start, _, headBytes):
                unreadRequestBytes = false
                resyncingAfterGap = false
                if head.isHTTP09 { responseFramer.expectBareBody(at: start) }
                transactionCount += 1
                let idle = Double(start - (lastResponseEnd ?? opened)) / 1e9
                if transactions.count < Self.maximumTransactions {
                    transactions.append(HTTPTransaction(
                        method: head.method ?? "", host: head.host, target: head.target ?? "",
                        targetTruncated: head.targetTruncated, status: nil, requestBytes: headBytes, responseBytes: 0,
                        requestStart: start, requestEnd: nil, responseStart: nil, responseEnd: nil,
                        idleBefore: max(0, idle), position: transactionCount, interimResponses: 0,
                        connectionClose: head.connectionClose || (head.isHTTP10 && !head.connectionKeepAlive)))
                }
            case let .end(at, bodyBytes):
                if let i = transactions.indices.last, i == transactionCount - 1 {
                    transactions[i].requestEnd = at
                    transactions[i].requestBytes += bodyBytes
                }
            case .lostSync:
                if !resyncingAfterGap { unreadRequestBytes = true }
            case .stopped:
                break
            }
        }
    }

    /// A request the framer could not read, proven by its response (Zeek logs
    /// these as method "-").
    mutating func addUnreadRequest(at time: Int64) {
        unreadRequestBytes = false
        transactionCount += 1
        if transactions.count < Self.maximumTransactions {
            let idle = Double(time - (lastResponseEnd ?? opened)) / 1e9
            transactions.append(HTTPTransaction(
                method: "-", host: nil, target: "-", targetTruncated: false, status: nil, requestBytes: 0, responseBytes: 0,
                requestStart: time, requestEnd: nil, responseStart: nil, responseEnd: nil,
                idleBefore: max(0, idle), position: transactionCount, interimResponses: 0))
        }
    }

    mutating func applyResponseEvents() {
        guard !events.isEmpty else { return }
        defer { events.removeAll(keepingCapacity: true) }
        var i = 0
        while i < events.count {
            let event = events[i]
            i += 1
            switch event {
            case let .head(head, start, _, headBytes):
                if answered >= transactionCount && unreadRequestBytes { addUnreadRequest(at: start) }
                guard answered < transactionCount, let status = head.status else { continue }   // before the first request: not counted
                if status < 200 && status != 101 {
                    pendingInterim += 1
                    if pendingResponseStart == nil { pendingResponseStart = start }
                    // Its .end follows; an interim response completes nothing.
                    if i < events.count, case .end = events[i] { i += 1 }
                    continue
                }
                if answered < transactions.count {
                    transactions[answered].status = status
                    transactions[answered].responseStart = pendingResponseStart ?? start
                    transactions[answered].interimResponses = pendingInterim
                }
                pendingResponseHeadBytes = headBytes
                if answered < transactions.count && (head.connectionClose || (head.isHTTP10 && !head.connectionKeepAlive)) {
                    transactions[answered].connectionClose = true
                }
                if status == 101 { upgraded = head.upgrade ?? "upgrade" }
                if methodOf(answered) == "CONNECT" && (200..<300).contains(status) { upgraded = "tunnel" }
            case let .end(at, bodyBytes):
                guard answered < transactionCount else { continue }
                if answered < transactions.count {
                    transactions[answered].responseEnd = at
                    transactions[answered].responseBytes = pendingResponseHeadBytes + bodyBytes
                }
                responses += 1
                answered += 1
                lastResponseEnd = at
                pendingResponseStart = nil
                pendingInterim = 0
            case .lostSync:
                // The responses lost can no longer be paired in order.
                answered = transactionCount
            case .stopped:
                // Upgraded or tunnelled: nothing more is HTTP/1.x either way.
                requestFramer.state = .stopped
            }
        }
    }
}

/// Recognises HTTP/1.x start lines at the beginning of a payload: to orient
/// a connection whose handshake was not captured, and to tell a stream's
/// protocol from its first bytes.
public enum HTTPStartLine {
    static let methods: [[UInt8]] = ["GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "].map { Array($0.utf8) }

    public static func isRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        methods.contains { bytes.starts(with: $0) }
    }

    /// Starts with "HTTP/1."; with `orPrefixOfOne`, bytes too few to hold it
    /// count when they are its beginning (a stream's first segment may be short).
    public static func isResponse(_ bytes: UnsafeRawBufferPointer, orPrefixOfOne: Bool = false) -> Bool {
        let prefix = HTTPFramer.http1Prefix
        if orPrefixOfOne && bytes.count < prefix.count { return bytes.elementsEqual(prefix.prefix(bytes.count)) }
        return bytes.starts(with: prefix)
    }
}
