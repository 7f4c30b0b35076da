/// A minimal JSON writer: deterministic key order (the order written), exact
/// numbers, RFC 8259 string escaping. Reports are written with it rather than
/// JSONEncoder so that field order and number formats are part of the contract.
///
/// It appends UTF-8 bytes to one buffer: a report of 100,000 connections must
/// not cost more than reading the capture did (String appends did, 10 µs each).
public struct JSONText {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(reservingCapacity capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    /// The document as a String.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always)
    private mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject(_ key: String? = nil) {
        if let key { self.key(key) } else { separator() }
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray(_ key: String? = nil) {
        if let key { self.key(key) } else { separator() }
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Keys are PoolScope's own ASCII names: no escaping needed.
    @inline(__always)
    private mutating func key(_ k: String) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        appendUTF8(k)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A string's bytes in one copy from its storage (the generic append went
    /// byte by byte through String.UTF8View: 6% of an NDJSON run).
    @inline(__always)
    private mutating func appendUTF8(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Empties the text for the next record, keeping its buffer.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma.removeAll(keepingCapacity: true)
        needsComma.append(false)
    }

    /// A line break between NDJSON records.
    public mutating func newline() {
        bytes.append(0x0A)
    }

    public mutating func field(_ k: String, _ v: String?) {
        key(k)
        if let v { appendQuoted(v) } else { appendRaw("null") }
    }

    public mutating func field(_ k: String, _ v: Int?) {
        key(k)
        if let v { appendInteger(v) } else { appendRaw("null") }
    }

    public mutating func field(_ k: String, _ v: Bool?) {
        key(k)
        appendRaw(v.map { $0 ? "true" : "false" } ?? "null")
    }

    /// A number already formatted (e.g. an exact timestamp).
    public mutating func field(_ k: String, number: String?) {
        key(k)
        appendRaw(number ?? "null")
    }

    /// A non-integral number, to `decimals` places (e.g. milliseconds to 3).
    public mutating func field(_ k: String, _ v: Double?, decimals: Int) {
        key(k)
        guard let v, v.isFinite else { appendRaw("null"); return }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int((abs(v) * scale).rounded())
        if v < 0 && scaled != 0 { bytes.append(UInt8(ascii: "-")) }
        appendInteger(scaled / Int(scale))
        if decimals > 0 {
            bytes.append(UInt8(ascii: "."))
            appendPadded(scaled % Int(scale), width: decimals)
        }
    }

    /// Nanoseconds since the epoch as exact seconds with 6 or 9 decimals.
    public mutating func field(_ k: String, epochNanoseconds ns: Int64?, nanosecondDigits: Bool) {
        key(k)
        guard let ns else { appendRaw("null"); return }
        appendEpoch(ns, nanosecondDigits: nanosecondDigits)
    }

    /// An array element: a timestamp number.
    public mutating func rawNumber(epochNanoseconds ns: Int64, nanosecondDigits: Bool) {
        separator()
        appendEpoch(ns, nanosecondDigits: nanosecondDigits)
    }

    /// An array element: an integer.
    public mutating func rawNumber(_ v: Int) {
        separator()
        appendInteger(v)
    }

    public mutating func value(_ v: String) {
        separator()
        appendQuoted(v)
    }

    // MARK: - Bytes

    /// Integer arithmetic, not Double: a Double cannot hold epoch nanoseconds exactly.
    private mutating func appendEpoch(_ ns: Int64, nanosecondDigits: Bool) {
        let seconds = ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
        let fraction = ns - seconds * 1_000_000_000
        appendInteger(Int(seconds))
        bytes.append(UInt8(ascii: "."))
        if nanosecondDigits {
            appendPadded(Int(fraction), width: 9)
        } else {
            appendPadded(Int(fraction / 1000), width: 6)
        }
    }

    private mutating func appendRaw(_ s: String) {
        appendUTF8(s)
    }

    private mutating func appendInteger(_ v: Int) {
        if v < 0 {
            bytes.append(UInt8(ascii: "-"))
            if v == Int.min { appendRaw("9223372036854775808"); return }
            appendInteger(-v)
            return
        }
        var digits = 1
        var rest = v / 10
        while rest > 0 { digits += 1; rest /= 10 }
        appendPadded(v, width: digits)
    }

    private mutating func appendPadded(_ v: Int, width: Int) {
        // Digits right to left into a stack buffer, then one append.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(width, 1)) { digits in
            var rest = v
            for i in stride(from: width - 1, through: 0, by: -1) {
                digits[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[0..<width]))
        }
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (addresses, names) need no escaping: copy them whole.
        var s = s
        let plain = s.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): appendRaw("\\\"")
            case UInt8(ascii: "\\"): appendRaw("\\\\")
            case 0x0A: appendRaw("\\n")
            case 0x0D: appendRaw("\\r")
            case 0x09: appendRaw("\\t")
            case 0..<0x20:
                appendRaw("\\u00")
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default:
                bytes.append(byte)   // UTF-8 passes through unchanged
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var json = JSONText(reservingCapacity: s.utf8.count + 2)
        json.appendQuoted(s)
        return json.text
    }
}
