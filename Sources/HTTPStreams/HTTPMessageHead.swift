/// The start line and the headers that decide framing, for one HTTP/1.x message.
public struct HTTPMessageHead: Sendable, Equatable {
    /// Request method (requests only).
    public var method: String?
    /// Request target, at most `HTTPFramer.maximumTargetLength` bytes.
    public var target: String?
    /// The target was longer and was cut.
    public var targetTruncated = false
    /// Status code (responses only).
    public var status: Int?
    /// HTTP/1.0 rather than 1.1.
    public var isHTTP10 = false
    /// An HTTP/0.9 simple request ("GET /path", no version): the answer is a bare body up to the close.
    public var isHTTP09 = false
    public var host: String?
    public var contentLength: Int?
    public var chunked = false
    public var connectionClose = false
    public var connectionKeepAlive = false
    public var upgrade: String?

    public init() {}

    /// Back to `HTTPMessageHead()`, releasing only the Strings that are set:
    /// the framer resets its head at every start line, and destroying a whole
    /// head released four Strings each time (a response's head holds none).
    /// Every field is named here; a test compares it with a new head.
    @inline(__always)
    mutating func reset() {
        if method != nil { method = nil }
        if target != nil { target = nil }
        if host != nil { host = nil }
        if upgrade != nil { upgrade = nil }
        targetTruncated = false
        status = nil
        isHTTP10 = false
        isHTTP09 = false
        contentLength = nil
        chunked = false
        connectionClose = false
        connectionKeepAlive = false
    }

    /// The message ends its connection: "Connection: close", or HTTP/1.0 without keep-alive.
    public var closesConnection: Bool { connectionClose || (isHTTP10 && !connectionKeepAlive) }
}

/// What a framer found in a stream, in order.
public enum HTTPFramerEvent: Sendable, Equatable {
    /// A message's head is complete; `start` is when its first byte arrived.
    case head(HTTPMessageHead, start: Int64, headEnd: Int64, headBytes: Int)
    /// The message (head and body) is complete.
    case end(at: Int64, bodyBytes: Int)
    /// Bytes were lost; the framer will look for the next start line.
    case lostSync
    /// The stream stopped being HTTP/1.x after this message (101, CONNECT).
    case stopped
}

/// What a framer tells its reader, as it frames: each message's head (lent
/// for the call), each message's end, lost sync, and the end of HTTP/1.x.
/// A response's body rule comes from the reader, which knows the request.
public protocol HTTPFramerSink {
    mutating func head(_ head: HTTPMessageHead, start: Int64, headEnd: Int64, headBytes: Int)
    mutating func end(at time: Int64, bodyBytes: Int)
    mutating func lostSync()
    mutating func stopped()
    /// How a response with this head frames its body (not asked for requests).
    mutating func responseBody(_ head: HTTPMessageHead) -> HTTPFramer.BodyRule
    /// A String the reader already holds for these Host bytes (the last
    /// request's host, when they are the same), to reuse instead of decoding
    /// them again; nil to decode them.
    func host(matching bytes: UnsafeRawBufferPointer) -> String?
}

extension HTTPFramerSink {
    public func host(matching bytes: UnsafeRawBufferPointer) -> String? { nil }
}

/// Collects a framer's report as events, with a closure for response bodies.
struct HTTPFramerEventCollector: HTTPFramerSink {
    var events: [HTTPFramerEvent]
    let rule: HTTPFramer.ResponseBodyRule

    mutating func head(_ head: HTTPMessageHead, start: Int64, headEnd: Int64, headBytes: Int) {
        events.append(.head(head, start: start, headEnd: headEnd, headBytes: headBytes))
    }
    mutating func end(at time: Int64, bodyBytes: Int) { events.append(.end(at: time, bodyBytes: bodyBytes)) }
    mutating func lostSync() { events.append(.lostSync) }
    mutating func stopped() { events.append(.stopped) }
    func responseBody(_ head: HTTPMessageHead) -> HTTPFramer.BodyRule { rule(head) }
}
