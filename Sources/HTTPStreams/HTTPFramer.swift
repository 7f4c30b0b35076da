#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An incremental HTTP/1.x message framer for one direction of a connection
/// (RFC 9112 §6): it finds each message's start line and headers and skips its
/// body exactly — Content-Length, chunked with trailers, or until the
/// connection closes — without copying body bytes.
///
/// Fed the same stream whole, in segments, or byte by byte, it reports the
/// same events: state lives between calls, and the only buffer is the line
/// being read (capped at `maximumLineLength`).
///
/// Hand-written rather than NIOHTTP1: NIOHTTP1's llhttp decoder runs only as
/// a channel handler, which needs a ByteBuffer copy of every segment; see
/// BENCHMARKS.md for the measurement.
public struct HTTPFramer: Sendable {
    public enum Role: Sendable { case requests, responses }

    public static let maximumLineLength = 16 * 1024
    public static let maximumTargetLength = 512

    enum State: Sendable, Equatable {
        /// Looking for a start line (after a gap, at lines' starts only).
        case resync
        case startLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case stopped
    }

    public let role: Role
    var state: State = .startLine
    var line: [UInt8] = []
    var head = HTTPMessageHead()
    var messageStart: Int64 = 0
    var headBytes = 0
    var bodyBytes = 0
    /// In resync: whether the last byte seen ended a line.
    var atLineStart = true
    /// Whether a request's target is kept (as a String). Off for a connection
    /// no report will show: its target was a String made and let go for
    /// each request (a sixtieth of a run's instructions).
    var keepsTargets = true

    public init(role: Role) {
        self.role = role
    }

    /// Whether the framer is between messages (nothing of a message read yet).
    public var isIdle: Bool { state == .startLine && line.isEmpty }

    /// Whether the stream stopped being HTTP (upgrade, tunnel).
    public var isStopped: Bool { state == .stopped }

    /// Decides the body of a response: the conversation knows the request.
    public typealias ResponseBodyRule = (HTTPMessageHead) -> BodyRule

    public enum BodyRule: Sendable {
        case none, length(Int), chunked, untilClose, stop
    }

    /// Feeds in-order stream bytes that arrived at `time`, collecting what
    /// they frame as events (the form tests and tools read).
    public mutating func consume(_ bytes: UnsafeRawBufferPointer, at time: Int64, events: inout [HTTPFramerEvent],
                                 responseBody: ResponseBodyRule) {
        withoutActuallyEscaping(responseBody) { rule in
            collecting(&events, rule: rule) { $0.consume(bytes, at: time, sink: &$1) }
        }
    }

    /// Runs `report` with a sink that appends what it frames to `events`.
    private mutating func collecting(_ events: inout [HTTPFramerEvent], rule: @escaping ResponseBodyRule = { _ in .none },
                                     _ report: (inout HTTPFramer, inout HTTPFramerEventCollector) -> Void) {
        var collector = HTTPFramerEventCollector(events: events, rule: rule)
        events = []
        report(&self, &collector)
        events = collector.events
    }

    /// Feeds in-order stream bytes that arrived at `time`, telling `sink` what
    /// they frame as it is found: the head is lent, not copied into an event.
    public mutating func consume<Sink: HTTPFramerSink>(_ bytes: UnsafeRawBufferPointer, at time: Int64, sink: inout Sink) {
        var i = 0
        let n = bytes.count
        while i < n {
            switch state {
            case .stopped:
                return
            case .body(let remaining):
                let take = min(remaining, n - i)
                i += take
                bodyBytes += take
                if take == remaining { finishMessage(at: time, sink: &sink) } else { state = .body(remaining: remaining - take) }
            case .chunkData(let remaining):
                let take = min(remaining, n - i)
                i += take
                bodyBytes += take
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .untilClose:
                bodyBytes += n - i
                i = n
            case .resync:
                // Only a line's start can begin a message: skip to the next one.
                while i < n {
                    let b = bytes[i]
                    if atLineStart && Self.canStartMessage(b, role: role) {
                        state = .startLine
                        break
                    }
                    atLineStart = b == 0x0A
                    i += 1
                }
            case .headers where line.isEmpty:
                i = headerLines(bytes, from: i, at: time, sink: &sink)
            case .startLine, .headers, .chunkSize, .chunkDataEnd, .trailers:
                // Line-oriented states: gather up to LF.
                let end = Self.indexOfLineFeed(bytes, from: i)
                if line.isEmpty && state == .startLine {
                    // Empty lines between messages are allowed (RFC 9112 §2.2).
                    if end < n && (end == i || (end == i + 1 && bytes[i] == 0x0D)) {
                        i = end + 1
                        continue
                    }
                    messageStart = time
                    headBytes = 0
                }
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[i..<end])
                if line.count + chunk.count > Self.maximumLineLength {
                    lostSync(sink: &sink)
                    i = end
                    continue
                }
                if end == n {                          // the line continues in the next segment
                    line.append(contentsOf: chunk)
                    i = n
                    break
                }
                i = end + 1
                headBytes += line.count + chunk.count + 1
                if line.isEmpty {
                    // The whole line is in this segment (the usual case): parsed in
                    // place, not copied into `line` first.
                    let withoutCR = chunk.last == 0x0D ? UnsafeRawBufferPointer(rebasing: chunk.dropLast()) : chunk
                    handleLine(withoutCR, at: time, sink: &sink)
                } else {
                    line.append(contentsOf: chunk)
                    if line.last == 0x0D { line.removeLast() }
                    let whole = line
                    line.removeAll(keepingCapacity: true)
                    whole.withUnsafeBytes { handleLine($0, at: time, sink: &sink) }
                }
            }
        }
    }

    /// Header lines whole in this segment, one after another, as the loop
    /// above reads them (line by line through `handleLine`) but without going
    /// back through the state for each: a head's lines are most of the lines
    /// framed. Returns where it stopped: after the head's empty line, at the
    /// end of the segment (a line cut there is gathered in `line`), or where
    /// an over-long line lost sync.
    @inline(__always)
    mutating func headerLines<Sink: HTTPFramerSink>(_ bytes: UnsafeRawBufferPointer, from start: Int, at time: Int64,
                                                     sink: inout Sink) -> Int {
        var i = start
        let n = bytes.count
        while true {
            let end = Self.indexOfLineFeed(bytes, from: i)
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[i..<end])
            if chunk.count > Self.maximumLineLength {
                lostSync(sink: &sink)
                return end
            }
            if end == n {
                line.append(contentsOf: chunk)
                return n
            }
            i = end + 1
            headBytes += chunk.count + 1
            let withoutCR = chunk.last == 0x0D ? UnsafeRawBufferPointer(rebasing: chunk.dropLast()) : chunk
            if withoutCR.isEmpty {
                handleLine(withoutCR, at: time, sink: &sink)    // the head ends: its body's state
                return i
            }
            parseHeader(withoutCR, sink: &sink)
            if i == n { return n }
        }
    }

    /// Bytes were lost in this direction (a capture gap).
    public mutating func gap(events: inout [HTTPFramerEvent]) {
        collecting(&events) { $0.gap(sink: &$1) }
    }

    /// Bytes were lost in this direction (a capture gap). Returns whether
    /// framing lost sync (it does not inside a body delimited by the close).
    @discardableResult
    public mutating func gap<Sink: HTTPFramerSink>(sink: inout Sink) -> Bool {
        switch state {
        case .untilClose, .stopped:
            return false   // a body to the close, or not HTTP: nothing to find
        case .startLine where line.isEmpty:
            state = .resync
            atLineStart = true
            sink.lostSync()
        default:
            lostSync(sink: &sink)
            // Segments mostly start at message boundaries: the first byte
            // after the gap may begin the next message.
            atLineStart = true
        }
        return true
    }

    /// The next message is an HTTP/0.9 response: a bare body up to the close.
    public mutating func expectBareBody(at time: Int64) {
        if state == .startLine || state == .resync { state = .untilClose; messageStart = time; bodyBytes = 0 }
    }

    /// The sender closed its side: a body delimited by the close ends here.
    public mutating func close(at time: Int64, events: inout [HTTPFramerEvent]) {
        collecting(&events) { $0.close(at: time, sink: &$1) }
    }

    /// The sender closed its side: a body delimited by the close ends here.
    public mutating func close<Sink: HTTPFramerSink>(at time: Int64, sink: inout Sink) {
        if state == .untilClose { finishMessage(at: time, sink: &sink) }
    }

    mutating func lostSync<Sink: HTTPFramerSink>(sink: inout Sink) {
        state = .resync
        atLineStart = false
        line.removeAll(keepingCapacity: true)
        head.reset()
        bodyBytes = 0
        sink.lostSync()
    }

    mutating func finishMessage<Sink: HTTPFramerSink>(at time: Int64, sink: inout Sink) {
        sink.end(at: time, bodyBytes: bodyBytes)
        bodyBytes = 0
        state = .startLine      // the head is reset when the next start line comes
    }

    // MARK: - Lines

    /// One line, without its CR LF (in place in a segment, or gathered in `line`).
    mutating func handleLine<Sink: HTTPFramerSink>(_ line: UnsafeRawBufferPointer, at time: Int64, sink: inout Sink) {
        switch state {
        case .startLine:
            head.reset()
            if role == .requests ? parseRequestLine(line) : parseStatusLine(line) {
                state = .headers
                if head.isHTTP09 {
                    // No headers follow a simple request, and nothing after it.
                    sink.head(head, start: messageStart, headEnd: time, headBytes: headBytes)
                    finishMessage(at: time, sink: &sink)
                    state = .stopped
                }
            } else {
                lostSync(sink: &sink)
                atLineStart = true
            }
        case .headers:
            if line.isEmpty {
                sink.head(head, start: messageStart, headEnd: time, headBytes: headBytes)
                let rule: BodyRule
                if role == .requests {
                    rule = head.chunked ? .chunked : (head.contentLength.map { .length($0) } ?? .none)
                } else {
                    rule = sink.responseBody(head)
                }
                switch rule {
                case .none: finishMessage(at: time, sink: &sink)
                case .length(let n): if n == 0 { finishMessage(at: time, sink: &sink) } else { state = .body(remaining: n) }
                case .chunked: state = .chunkSize
                case .untilClose: state = .untilClose
                case .stop:
                    finishMessage(at: time, sink: &sink)
                    state = .stopped
                    sink.stopped()
                }
            } else {
                parseHeader(line, sink: &sink)
            }
        case .chunkSize:
            // chunk-size [; extensions]
            var size = 0, digits = 0
            for b in line {
                guard let v = Self.hexValue(b) else { break }
                size = size &* 16 &+ v
                digits += 1
                if digits > 15 { break }
            }
            if digits == 0 || size < 0 {
                lostSync(sink: &sink)
            } else if size == 0 {
                state = .trailers
            } else {
                state = .chunkData(remaining: size)
            }
        case .chunkDataEnd:
            state = .chunkSize      // the CRLF after a chunk's data
        case .trailers:
            if line.isEmpty { finishMessage(at: time, sink: &sink) }
        default:
            break
        }
    }

    mutating func parseRequestLine(_ line: UnsafeRawBufferPointer) -> Bool {
        // method SP request-target SP HTTP-version
        guard let firstSpace = Self.index(of: 0x20, in: line), firstSpace > 0 else { return false }
        let method = UnsafeRawBufferPointer(rebasing: line[..<firstSpace])
        // A common method's bytes are tokens: only another's are checked one by one.
        let knownMethod = Self.commonMethodName(method)
        guard knownMethod != nil || method.allSatisfy(Self.isTokenByte) else { return false }
        let rest = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)...])
        // The usual end, SP "HTTP/1.x", holds no space after its own: the last
        // space is then found without a search back from the end.
        let usualEnd = rest.count >= 10 && rest[rest.count - 9] == 0x20 && rest[rest.count - 1] != 0x20
            && Self.bytes(UnsafeRawBufferPointer(rebasing: rest[(rest.count - 8)...]), startWith: "HTTP/1.")
        guard let lastSpace = usualEnd ? rest.count - 9 : rest.lastIndex(of: 0x20), lastSpace > 0 else {
            // HTTP/0.9 (RFC 1945 §4.1): "GET" SP target, nothing after.
            guard Self.bytes(UnsafeRawBufferPointer(rebasing: line[..<firstSpace]), equal: "GET"), !rest.isEmpty, !rest.contains(0x20) else { return false }
            head.method = "GET"
            head.isHTTP09 = true
            head.targetTruncated = rest.count > Self.maximumTargetLength
            head.target = keepsTargets ? String(decoding: rest.prefix(Self.maximumTargetLength), as: UTF8.self) : ""
            return true
        }
        let version = UnsafeRawBufferPointer(rebasing: rest[(lastSpace + 1)...])
        guard Self.bytes(version, startWith: "HTTP/1.") else { return false }
        head.isHTTP10 = Self.bytes(version, equal: "HTTP/1.0")
        head.method = knownMethod ?? String(decoding: method, as: UTF8.self)
        let target = rest[..<lastSpace]
        head.targetTruncated = target.count > Self.maximumTargetLength
        head.target = keepsTargets ? String(decoding: target.prefix(Self.maximumTargetLength), as: UTF8.self) : ""
        return true
    }

    /// A common method's name as a constant string (no decoding, no
    /// allocation); nil for any other bytes.
    static func commonMethodName(_ bytes: UnsafeRawBufferPointer) -> String? {
        switch bytes.count {
        case 3 where Self.bytes(bytes, equal: "GET"): return "GET"
        case 3 where Self.bytes(bytes, equal: "PUT"): return "PUT"
        case 4 where Self.bytes(bytes, equal: "POST"): return "POST"
        case 4 where Self.bytes(bytes, equal: "HEAD"): return "HEAD"
        case 5 where Self.bytes(bytes, equal: "PATCH"): return "PATCH"
        case 5 where Self.bytes(bytes, equal: "TRACE"): return "TRACE"
        case 6 where Self.bytes(bytes, equal: "DELETE"): return "DELETE"
        case 7 where Self.bytes(bytes, equal: "OPTIONS"): return "OPTIONS"
        case 7 where Self.bytes(bytes, equal: "CONNECT"): return "CONNECT"
        default: return nil
        }
    }

    /// memcmp against a literal: the generic elementsEqual and starts(with:)
    /// walked these byte by byte through iterators.
    @inline(__always)
    static func bytes(_ bytes: UnsafeRawBufferPointer, equal literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount && Self.bytes(bytes, startWith: literal)
    }

    @inline(__always)
    static func bytes(_ bytes: UnsafeRawBufferPointer, startWith literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        guard n > 0, let base = bytes.baseAddress else { return true }
        return memcmp(base, literal.utf8Start, n) == 0
    }

    mutating func parseStatusLine(_ line: UnsafeRawBufferPointer) -> Bool {
        // HTTP-version SP status-code SP [reason-phrase]
        guard Self.bytes(line, startWith: "HTTP/1."), line.count >= 12, line[8] == 0x20 else { return false }
        var code = 0
        for b in line[9..<12] {
            guard b >= 0x30 && b <= 0x39 else { return false }
            code = code * 10 + Int(b - 0x30)
        }
        head.status = code
        head.isHTTP10 = Self.bytes(UnsafeRawBufferPointer(rebasing: line[..<8]), equal: "HTTP/1.0")
        return true
    }

    /// Inlined into the header loop (`headerLines`): a call per header line
    /// was 2.4 M of a one-thread run's 622 M instructions.
    @inline(__always)
    mutating func parseHeader<Sink: HTTPFramerSink>(_ line: UnsafeRawBufferPointer, sink: inout Sink) {
        // Only the headers that frame a message or name its host matter here.
        // The name's first letter names the one or two it could be, and a colon
        // must follow at that name's length: none of the names holds a colon,
        // so that is the line's first, as a search would find it (the memchr
        // for it was a call on every header line).
        let colon: Int
        switch line.count > 4 ? line[0] | 0x20 : 0 {
        case UInt8(ascii: "c"): colon = line.count > 14 && line[14] == 0x3A ? 14 : 10
        case UInt8(ascii: "h"): colon = 4
        case UInt8(ascii: "t"): colon = 17
        case UInt8(ascii: "u"): colon = 7
        default: return
        }
        guard colon < line.count, line[colon] == 0x3A else { return }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        var valueStart = colon + 1
        while valueStart < line.count && (line[valueStart] == 0x20 || line[valueStart] == 0x09) { valueStart += 1 }
        var valueEnd = line.count
        while valueEnd > valueStart && (line[valueEnd - 1] == 0x20 || line[valueEnd - 1] == 0x09) { valueEnd -= 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[valueStart..<valueEnd])
        switch name.count {
        case 14 where Self.equalsIgnoringCase(name, "content-length"):
            var n = 0, ok = !value.isEmpty
            for b in value {
                guard b >= 0x30 && b <= 0x39, n < Int.max / 10 - 10 else { ok = false; break }
                n = n * 10 + Int(b - 0x30)
            }
            if ok && head.contentLength == nil { head.contentLength = n }
        case 17 where Self.equalsIgnoringCase(name, "transfer-encoding"):
            head.chunked = Self.lastCodingIsChunked(value)
        case 10 where Self.equalsIgnoringCase(name, "connection"):
            if Self.containsToken(value, "close") { head.connectionClose = true }
            if Self.containsToken(value, "keep-alive") { head.connectionKeepAlive = true }
        case 4 where Self.equalsIgnoringCase(name, "host"):
            // A connection's requests mostly name the same host: the last
            // one's String is reused when the bytes are the same.
            let host = UnsafeRawBufferPointer(rebasing: value[..<min(value.count, 256)])
            head.host = sink.host(matching: host) ?? String(decoding: host, as: UTF8.self)
        case 7 where Self.equalsIgnoringCase(name, "upgrade"):
            head.upgrade = String(decoding: value.prefix(64), as: UTF8.self).lowercased()
        default:
            break
        }
    }

    // MARK: - Bytes

    /// The next LF at or after `start`, or `bytes.count`: memchr, which scans
    /// a word or a vector at a time (the byte loop here was a sixth of HTTP's time).
    @inline(__always)
    static func indexOfLineFeed(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard start < bytes.count, let base = bytes.baseAddress else { return bytes.count }
        guard let found = memchr(base + start, 0x0A, bytes.count - start) else { return bytes.count }
        return UnsafeRawPointer(found) - base
    }

    /// The first `byte` in `bytes`, by memchr.
    @inline(__always)
    static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress, !bytes.isEmpty, let found = memchr(base, Int32(byte), bytes.count) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    static let http1Prefix = Array("HTTP/1.".utf8)

    static func canStartMessage(_ b: UInt8, role: Role) -> Bool {
        role == .responses ? b == UInt8(ascii: "H") : (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        // ! # $ % & ' * + - . ^ _ ` | ~ (RFC 9110 §5.6.2)
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }

    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: Int(b - 0x30)
        case 0x41...0x46: Int(b - 0x41 + 10)
        case 0x61...0x66: Int(b - 0x61 + 10)
        default: nil
        }
    }

    @inline(__always)
    static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: StaticString) -> Bool {
        guard a.count == b.utf8CodeUnitCount else { return false }
        return b.withUTF8Buffer { bb in
            zip(a, bb).allSatisfy { x, y in (x | 0x20) == (y | 0x20) }
        }
    }

    static func trimmed(_ part: Slice<UnsafeRawBufferPointer>) -> UnsafeRawBufferPointer {
        var start = part.startIndex, end = part.endIndex
        while start < end && (part.base[start] == 0x20 || part.base[start] == 0x09) { start += 1 }
        while end > start && (part.base[end - 1] == 0x20 || part.base[end - 1] == 0x09) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: part.base[start..<end])
    }

    /// Whether the comma-separated `value` lists `token` (no array of the parts is made).
    static func containsToken(_ value: UnsafeRawBufferPointer, _ token: StaticString) -> Bool {
        var start = 0
        while start <= value.count {
            let end = index(of: UInt8(ascii: ","), in: UnsafeRawBufferPointer(rebasing: value[start...])).map { start + $0 } ?? value.count
            if equalsIgnoringCase(trimmed(value[start..<end]), token) { return true }
            start = end + 1
        }
        return false
    }

    /// Whether the last coding `value` lists is chunked: its last non-empty
    /// comma-separated part, found from the end (no array of the parts is made).
    static func lastCodingIsChunked(_ value: UnsafeRawBufferPointer) -> Bool {
        var end = value.count
        while end > 0 && value[end - 1] == UInt8(ascii: ",") { end -= 1 }
        let start = value[..<end].lastIndex(of: UInt8(ascii: ",")).map { $0 + 1 } ?? 0
        return equalsIgnoringCase(trimmed(value[start..<end]), "chunked")
    }
}
