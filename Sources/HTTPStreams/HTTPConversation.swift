#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP request and what answered it.
///
/// One is kept for every request of a live connection: the optional times,
/// status and counts are stored packed (a sentinel for nil, 32-bit counts),
/// 120 bytes where plain optionals took 176.
public struct HTTPTransaction: Sendable, Equatable {
    public var method: String
    public var host: String?
    public var target: String
    /// Bytes of the request and of the response (heads and bodies).
    public var requestBytes: Int
    public var responseBytes: Int
    public var requestStart: Int64
    /// Seconds the connection sat idle before this request: since the
    /// previous response ended, or since the connection was opened.
    public var idleBefore: Double
    fileprivate var requestEndOrMin: Int64
    fileprivate var responseStartOrMin: Int64
    fileprivate var responseEndOrMin: Int64
    fileprivate var statusOrMinus1: Int32
    fileprivate var position32: Int32
    fileprivate var interimResponses32: Int32
    public var targetTruncated: Bool
    /// The request or the response said "Connection: close" (or was HTTP/1.0 without keep-alive).
    public var connectionClose: Bool

    /// A request just read: nothing of its answer known yet.
    static func request(method: String, host: String?, target: String, targetTruncated: Bool, requestBytes: Int,
                        requestStart: Int64, idleBefore: Double, position: Int, connectionClose: Bool = false) -> HTTPTransaction {
        // The memberwise initialiser: an initialiser of its own had built the
        // value aside and copied it into the list.
        HTTPTransaction(method: method, host: host, target: target, requestBytes: requestBytes, responseBytes: 0,
                        requestStart: requestStart, idleBefore: idleBefore, requestEndOrMin: .min, responseStartOrMin: .min,
                        responseEndOrMin: .min, statusOrMinus1: -1, position32: Int32(clamping: position),
                        interimResponses32: 0, targetTruncated: targetTruncated, connectionClose: connectionClose)
    }

    /// Final status (1xx interim responses are not counted as the answer).
    public var status: Int? {
        get { statusOrMinus1 < 0 ? nil : Int(statusOrMinus1) }
        set { statusOrMinus1 = newValue.map { Int32(clamping: $0) } ?? -1 }
    }
    public var requestEnd: Int64? {
        get { requestEndOrMin == .min ? nil : requestEndOrMin }
        set { requestEndOrMin = newValue ?? .min }
    }
    /// First byte of the final response.
    public var responseStart: Int64? {
        get { responseStartOrMin == .min ? nil : responseStartOrMin }
        set { responseStartOrMin = newValue ?? .min }
    }
    public var responseEnd: Int64? {
        get { responseEndOrMin == .min ? nil : responseEndOrMin }
        set { responseEndOrMin = newValue ?? .min }
    }
    /// 1 for the connection's first request, 2 for the second (a reuse), ...
    public var position: Int {
        get { Int(position32) }
        set { position32 = Int32(clamping: newValue) }
    }
    /// 1xx interim responses before the final one (100 Continue).
    public var interimResponses: Int {
        get { Int(interimResponses32) }
        set { interimResponses32 = Int32(clamping: newValue) }
    }
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
    /// What the framers report goes straight into this (a part of self apart
    /// from the framers, so a framer can write it while it runs): collecting
    /// events first copied every head twice and was a fifth of the analysis.
    @usableFromInline var pairing: HTTPPairing
    var clientHello: [UInt8] = []
    var serverHello: [UInt8] = []
    var clientHelloDone = false
    var serverHelloDone = false
    @usableFromInline var tls: TLSInfo?
    var exchanges = 0
    var lastSenderWasClient: Bool?

    /// `keepsTargets` false: requests' targets are not kept (empty), for a
    /// connection whose record no report shows (see `HTTPFramer.keepsTargets`).
    public init(openedAt: Int64, midStream: Bool, keepsTargets: Bool = true) {
        pairing = HTTPPairing(opened: openedAt)
        requestFramer.keepsTargets = keepsTargets
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
            pairing.fromClient = fromClient
            if fromClient {
                requestFramer.consume(bytes, at: time, sink: &pairing)
            } else {
                responseFramer.consume(bytes, at: time, sink: &pairing)
            }
            applyFramerRequests()
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
        pairing.fromClient = fromClient
        if fromClient {
            // Requests lost in a gap are unknown: responses to them prove
            // nothing to count (unlike bytes that framed as no request).
            pairing.resyncingAfterGap = true
            if requestFramer.gap(sink: &pairing) { pairing.unknownGaps += 1 }
            pairing.unreadRequestBytes = false
        } else {
            responseFramer.gap(sink: &pairing)
        }
        applyFramerRequests()
    }

    /// One side closed its stream (FIN): a body delimited by the close ends.
    public mutating func close(fromClient: Bool, at time: Int64) {
        guard mode == .http, !fromClient else { return }
        pairing.fromClient = false
        responseFramer.close(at: time, sink: &pairing)
        applyFramerRequests()
    }

    /// What the pairing asked of the other direction's framer while one ran.
    mutating func applyFramerRequests() {
        if let start = pairing.bareBodyAt {
            responseFramer.expectBareBody(at: start)
            pairing.bareBodyAt = nil
        }
        if pairing.stopRequests {
            requestFramer.state = .stopped
            pairing.stopRequests = false
        }
    }

    /// Requests seen so far, and whether one is outstanding (sent, not yet answered).
    public var requestsSoFar: Int { pairing.transactionCount }
    /// The transactions so far (the pool analysis follows them while the connection is open).
    /// (This and `progress` are inlinable, hence the pairing's `@usableFromInline`:
    /// TCPFlows reads them at every tick from a connection in place, and a
    /// call across the module took a copy of the whole conversation first.)
    @inlinable public var transactionsSoFar: [HTTPTransaction] { pairing.transactions }
    /// The TLS hello's details, once seen.
    public var tlsSoFar: TLSInfo? { tls }
    /// Grows whenever a request starts, a response ends or the TLS hello is
    /// read: whether there is anything new for the pool analysis.
    @inlinable public var progress: Int { pairing.transactionCount &+ pairing.answered &+ (tls == nil ? 0 : 1) }
    public var hasOutstandingRequest: Bool { pairing.answered < pairing.transactionCount || !requestFramer.isIdle }

    /// `summary.requests`, without the rest of the summary.
    public var requests: Int? { mode == .http || mode == .undecided ? pairing.transactionCount : nil }

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
            requests: requests, responses: readable ? pairing.responses : nil,
            unknownGaps: pairing.unknownGaps, upgraded: pairing.upgraded, tls: tls, protocolName: name,
            estimatedExchanges: readable ? nil : exchanges, transactions: pairing.transactions,
            transactionsTruncated: pairing.transactionCount > pairing.transactions.count)
    }

    // MARK: - Mode

    mutating func decideMode(_ bytes: UnsafeRawBufferPointer, fromClient: Bool) {
        if TLSHello.looksLikeTLS(bytes) {
            mode = .tls
            tls = TLSInfo(serverName: nil, offeredALPN: [], alpn: nil)
        } else if fromClient && bytes.starts(with: Self.h2Preface.prefix(min(bytes.count, Self.h2Preface.count))) && bytes.count >= 4 {
            mode = .h2c
            pairing.upgraded = "h2c"
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
}

/// Pairs requests with responses in order (pipelining) and times them, as
/// the two framers report: the requests' framer when `fromClient`, else the
/// responses'. A request is answered by the next final response.
@usableFromInline struct HTTPPairing: HTTPFramerSink, Sendable {
    let opened: Int64
    var fromClient = true
    @usableFromInline var transactions: [HTTPTransaction] = []
    @usableFromInline var transactionCount = 0
    /// Index (into all requests) of the one the next final response answers.
    @usableFromInline var answered = 0
    var responses = 0
    var unknownGaps = 0
    var upgraded: String?
    var lastResponseEnd: Int64?
    /// The first final response's start for the transaction being answered.
    var pendingResponseStart: Int64?
    var pendingInterim = 0
    var pendingResponseHeadBytes = 0
    /// An interim (1xx) response's head was reported: its end completes nothing.
    var interimEndPending = false
    /// The client sent bytes that framed as no request since the last one:
    /// a response then proves a request the framer could not read.
    var unreadRequestBytes = false
    /// Since a gap in the request stream, until the next request line: what
    /// fails to frame then is the gap's remains, not an unread request.
    var resyncingAfterGap = false
    /// For the other framer, applied when this one returns: an HTTP/0.9
    /// request's bare response body starts, or requests stop being HTTP/1.x.
    var bareBodyAt: Int64?
    var stopRequests = false

    init(opened: Int64) {
        self.opened = opened
    }

    /// The last request's host, when `bytes` are its UTF-8 (no String is
    /// kept for this: the last transaction holds it).
    @usableFromInline func host(matching bytes: UnsafeRawBufferPointer) -> String? {
        // By index: `last` copied the whole transaction (three Strings retained and released).
        let n = transactions.count
        guard n > 0, var known = transactions[n - 1].host else { return nil }
        let same = known.withUTF8 { utf8 in
            utf8.count == bytes.count && (utf8.isEmpty || memcmp(utf8.baseAddress!, bytes.baseAddress!, utf8.count) == 0)
        }
        return same ? known : nil
    }

    /// Whether the request at `index` used `method`. Lengths first: a
    /// String `==` between two different methods went through the
    /// standard library's comparison slow path, twice a response.
    @inline(__always)
    func method(of index: Int, is method: String) -> Bool {
        index < transactions.count && transactions[index].method.utf8.count == method.utf8.count
            && transactions[index].method == method
    }

    @usableFromInline mutating func head(_ head: HTTPMessageHead, start: Int64, headEnd: Int64, headBytes: Int) {
        if fromClient { requestHead(head, start: start, headBytes: headBytes) } else { responseHead(head, start: start, headBytes: headBytes) }
    }

    mutating func requestHead(_ head: HTTPMessageHead, start: Int64, headBytes: Int) {
        unreadRequestBytes = false
        resyncingAfterGap = false
        if head.isHTTP09 { bareBodyAt = start }
        transactionCount += 1
        let idle = Double(start - (lastResponseEnd ?? opened)) / 1e9
        if transactions.count < HTTPConversation.maximumTransactions {
            // Room for 4 at the first request, not 1 then 2: the
            // reallocations (each a move of every transaction) a connection
            // that carries two or more would make, for 3 unused places (360
            // bytes) in a record of a single request.
            if transactions.isEmpty && transactions.capacity < 4 { transactions.reserveCapacity(4) }
            transactions.append(HTTPTransaction.request(
                method: head.method ?? "", host: head.host, target: head.target ?? "", targetTruncated: head.targetTruncated,
                requestBytes: headBytes, requestStart: start, idleBefore: max(0, idle), position: transactionCount,
                connectionClose: head.closesConnection))
        }
    }

    mutating func responseHead(_ head: HTTPMessageHead, start: Int64, headBytes: Int) {
        if answered >= transactionCount && unreadRequestBytes { addUnreadRequest(at: start) }
        guard answered < transactionCount, let status = head.status else { return }   // before the first request: not counted
        if status < 200 && status != 101 {
            pendingInterim += 1
            if pendingResponseStart == nil { pendingResponseStart = start }
            // Its end follows at once (no body); an interim response completes nothing.
            interimEndPending = true
            return
        }
        if answered < transactions.count {
            transactions[answered].status = status
            transactions[answered].responseStart = pendingResponseStart ?? start
            transactions[answered].interimResponses = pendingInterim
            if head.closesConnection {
                transactions[answered].connectionClose = true
            }
        }
        pendingResponseHeadBytes = headBytes
        if status == 101 { upgraded = head.upgrade ?? "upgrade" }
        if (200..<300).contains(status) && method(of: answered, is: "CONNECT") { upgraded = "tunnel" }
    }

    /// A request the framer could not read, proven by its response (Zeek logs
    /// these as method "-").
    mutating func addUnreadRequest(at time: Int64) {
        unreadRequestBytes = false
        transactionCount += 1
        if transactions.count < HTTPConversation.maximumTransactions {
            let idle = Double(time - (lastResponseEnd ?? opened)) / 1e9
            transactions.append(HTTPTransaction.request(
                method: "-", host: nil, target: "-", targetTruncated: false, requestBytes: 0, requestStart: time,
                idleBefore: max(0, idle), position: transactionCount))
        }
    }

    @usableFromInline mutating func end(at time: Int64, bodyBytes: Int) {
        if fromClient {
            if let i = transactions.indices.last, i == transactionCount - 1 {
                transactions[i].requestEnd = time
                transactions[i].requestBytes += bodyBytes
            }
            return
        }
        if interimEndPending { interimEndPending = false; return }
        guard answered < transactionCount else { return }
        if answered < transactions.count {
            transactions[answered].responseEnd = time
            transactions[answered].responseBytes = pendingResponseHeadBytes + bodyBytes
        }
        responses += 1
        answered += 1
        lastResponseEnd = time
        pendingResponseStart = nil
        pendingInterim = 0
    }

    @usableFromInline mutating func lostSync() {
        if fromClient {
            if !resyncingAfterGap { unreadRequestBytes = true }
        } else {
            // The responses lost can no longer be paired in order.
            answered = transactionCount
        }
    }

    @usableFromInline mutating func stopped() {
        // Upgraded or tunnelled: nothing more is HTTP/1.x either way.
        if !fromClient { stopRequests = true }
    }

    /// How the response's body is framed: it depends on the request it answers.
    @usableFromInline func responseBody(_ head: HTTPMessageHead) -> HTTPFramer.BodyRule {
        guard let status = head.status else { return .none }
        if status == 101 { return .stop }
        if (200..<300).contains(status) && method(of: answered, is: "CONNECT") { return .stop }
        if status < 200 || status == 204 || status == 304 || method(of: answered, is: "HEAD") { return .none }
        if head.chunked { return .chunked }
        if let n = head.contentLength { return .length(n) }
        return .untilClose
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
