/// A minimal JSON writer: deterministic key order (the order written), exact
/// numbers, RFC 8259 string escaping. Reports are written with it rather than
/// JSONEncoder so that field order and number formats are part of the contract.
///
/// It appends UTF-8 bytes to one buffer: a report of 100,000 connections must
/// not cost more than reading the capture did (String appends did, 10 µs each).
public struct JSONText {
    /// The text so far, in a buffer of its own. Through `[UInt8]`, each of the
    /// hundreds of small appends of a record (a key, a comma, a number's
    /// digits) was a uniqueness check and a generic copy: half of an NDJSON
    /// run's instructions. Here a public call checks uniqueness once and
    /// makes room once, and bytes are stored straight into the buffer.
    private final class Storage {
        // Unchecked: a Storage is only changed through the one JSONText that
        // holds it (copied first when shared), so accesses never overlap; the
        // dynamic check at each append cost as much as the append.
        @exclusivity(unchecked) var base: UnsafeMutablePointer<UInt8>
        @exclusivity(unchecked) var count = 0
        @exclusivity(unchecked) var capacity: Int

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = .allocate(capacity: self.capacity)
        }

        deinit { base.deallocate() }

        func copy() -> Storage {
            let other = Storage(capacity: capacity)
            other.base.update(from: base, count: count)
            other.count = count
            return other
        }

        /// Room for `n` more bytes.
        @inline(__always)
        func reserve(_ n: Int) {
            if count &+ n > capacity { grow(to: count + n) }
        }

        private func grow(to needed: Int) {
            var newCapacity = capacity * 2
            while newCapacity < needed { newCapacity *= 2 }
            let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
            newBase.update(from: base, count: count)
            base.deallocate()
            base = newBase
            capacity = newCapacity
        }

        @inline(__always)
        func append(_ byte: UInt8) {
            reserve(1)
            base[count] = byte
            count &+= 1
        }

        @inline(__always)
        func append(_ bytes: UnsafeRawBufferPointer) {
            guard let source = bytes.baseAddress, bytes.count > 0 else { return }
            reserve(bytes.count)
            (base + count).update(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
            count &+= bytes.count
        }
    }

    private var storage: Storage
    /// Per open object or array (innermost in bit 0): whether the next member
    /// needs a comma before it. Reports nest a few levels, far below 64.
    private var needsComma: UInt64 = 0
    private var depth = 0

    public init(reservingCapacity capacity: Int = 4096) {
        storage = Storage(capacity: capacity)
    }

    /// The buffer, made this value's own before a change (value semantics).
    @inline(__always)
    private mutating func out() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    /// The text so far, as bytes.
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// Lends the text so far, in place.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: storage.count))
    }

    /// The document as a String.
    public var text: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    @inline(__always)
    private mutating func separator(_ out: Storage) {
        if needsComma & 1 != 0 { out.append(UInt8(ascii: ",")) }
        needsComma |= 1
    }

    private mutating func open(_ bracket: UInt8) {
        precondition(depth < 63, "JSONText: nested too deep")
        out().append(bracket)
        needsComma <<= 1
        depth += 1
    }

    private mutating func close(_ bracket: UInt8) {
        precondition(depth > 0, "JSONText: nothing open")
        needsComma >>= 1
        depth -= 1
        out().append(bracket)
    }

    public mutating func beginObject(_ key: StaticString? = nil) {
        if let key { self.key(key) } else { separator(out()) }
        open(UInt8(ascii: "{"))
    }

    public mutating func endObject() {
        close(UInt8(ascii: "}"))
    }

    public mutating func beginArray(_ key: StaticString? = nil) {
        if let key { self.key(key) } else { separator(out()) }
        open(UInt8(ascii: "["))
    }

    public mutating func endArray() {
        close(UInt8(ascii: "]"))
    }

    /// Keys are PoolScope's own ASCII names, compile-time constants: no
    /// escaping, and no String to retain and release around each (that was a
    /// twentieth of an NDJSON run). Returns the buffer (made unique) for the
    /// value that follows.
    @inline(__always)
    @discardableResult
    private mutating func key(_ k: StaticString) -> Storage {
        let out = out()
        separator(out)
        let n = k.utf8CodeUnitCount
        out.reserve(n &+ 3)
        let at = out.base + out.count
        at[0] = UInt8(ascii: "\"")
        (at + 1).update(from: k.utf8Start, count: n)
        at[n &+ 1] = UInt8(ascii: "\"")
        at[n &+ 2] = UInt8(ascii: ":")
        out.count &+= n &+ 3
        return out
    }

    /// A key made at run time (a name from data, such as a counter's): quoted and escaped.
    @inline(__always)
    @discardableResult
    private mutating func key(named k: String) -> Storage {
        let out = out()
        separator(out)
        Self.appendQuoted(k, to: out)
        out.append(UInt8(ascii: ":"))
        return out
    }

    /// A string's bytes in one copy from its storage (the generic append went
    /// byte by byte through String.UTF8View: 6% of an NDJSON run).
    @inline(__always)
    private static func appendUTF8(_ s: String, to out: Storage) {
        var s = s
        s.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
    }

    /// Empties the text for the next record, keeping its buffer.
    public mutating func reset() {
        out().count = 0
        needsComma = 0
        depth = 0
    }

    /// A line break between NDJSON records.
    public mutating func newline() {
        out().append(0x0A)
    }

    public mutating func field(_ k: StaticString, _ v: String?) {
        let out = key(k)
        if let v { Self.appendQuoted(v, to: out) } else { Self.appendUTF8("null", to: out) }
    }

    public mutating func field(_ k: StaticString, _ v: Int?) {
        let out = key(k)
        if let v { Self.appendInteger(v, to: out) } else { Self.appendUTF8("null", to: out) }
    }

    /// An integer under a key made at run time.
    public mutating func field(named k: String, _ v: Int?) {
        let out = key(named: k)
        if let v { Self.appendInteger(v, to: out) } else { Self.appendUTF8("null", to: out) }
    }

    public mutating func field(_ k: StaticString, _ v: Bool?) {
        let out = key(k)
        Self.appendUTF8(v.map { $0 ? "true" : "false" } ?? "null", to: out)
    }

    /// A number already formatted (e.g. an exact timestamp).
    public mutating func field(_ k: StaticString, number: String?) {
        let out = key(k)
        Self.appendUTF8(number ?? "null", to: out)
    }

    /// A non-integral number, to `decimals` places (e.g. milliseconds to 3).
    public mutating func field(_ k: StaticString, _ v: Double?, decimals: Int) {
        let out = key(k)
        guard let v, v.isFinite else { Self.appendUTF8("null", to: out); return }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int((abs(v) * scale).rounded())
        if v < 0 && scaled != 0 { out.append(UInt8(ascii: "-")) }
        Self.appendInteger(scaled / Int(scale), to: out)
        if decimals > 0 {
            out.append(UInt8(ascii: "."))
            Self.appendPadded(UInt64(scaled % Int(scale)), width: decimals, to: out)
        }
    }

    /// Nanoseconds since the epoch as exact seconds with 6 or 9 decimals.
    public mutating func field(_ k: StaticString, epochNanoseconds ns: Int64?, nanosecondDigits: Bool) {
        let out = key(k)
        guard let ns else { Self.appendUTF8("null", to: out); return }
        Self.appendEpoch(ns, nanosecondDigits: nanosecondDigits, to: out)
    }

    /// An array element: a timestamp number.
    public mutating func rawNumber(epochNanoseconds ns: Int64, nanosecondDigits: Bool) {
        let out = out()
        separator(out)
        Self.appendEpoch(ns, nanosecondDigits: nanosecondDigits, to: out)
    }

    /// An array element: an integer.
    public mutating func rawNumber(_ v: Int) {
        let out = out()
        separator(out)
        Self.appendInteger(v, to: out)
    }

    public mutating func value(_ v: String) {
        let out = out()
        separator(out)
        Self.appendQuoted(v, to: out)
    }

    // MARK: - Bytes

    /// Integer arithmetic, not Double: a Double cannot hold epoch nanoseconds exactly.
    private static func appendEpoch(_ ns: Int64, nanosecondDigits: Bool, to out: Storage) {
        let seconds = ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
        let fraction = ns - seconds * 1_000_000_000
        appendInteger(Int(seconds), to: out)
        out.append(UInt8(ascii: "."))
        if nanosecondDigits {
            appendPadded(UInt64(fraction), width: 9, to: out)
        } else {
            appendPadded(UInt64(fraction / 1000), width: 6, to: out)
        }
    }

    private static func appendInteger(_ v: Int, to out: Storage) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        // The magnitude unsigned (Int.min's included), its digits counted by
        // comparisons, not divisions.
        let magnitude = UInt64(v.magnitude)
        var digits = 1
        var power: UInt64 = 10
        while magnitude >= power {
            digits &+= 1
            guard power <= UInt64.max / 10 else { break }
            power &*= 10
        }
        appendPadded(magnitude, width: digits, to: out)
    }

    /// "00" to "99": two digits per division.
    private static let digitPairs: [UInt8] = (0..<100).flatMap { [UInt8(ascii: "0") + UInt8($0 / 10), UInt8(ascii: "0") + UInt8($0 % 10)] }

    /// `v`'s last `width` decimal digits, zero-padded, written right to left in place.
    @inline(__always)
    private static func appendPadded(_ v: UInt64, width: Int, to out: Storage) {
        out.reserve(width)
        let end = out.base + out.count
        var rest = v
        var i = width
        digitPairs.withUnsafeBufferPointer { pairs in
            while i >= 2 {
                i &-= 2
                let (quotient, pair) = rest.quotientAndRemainder(dividingBy: 100)
                end[i] = pairs[Int(pair) &* 2]
                end[i &+ 1] = pairs[Int(pair) &* 2 &+ 1]
                rest = quotient
            }
            if i == 1 { end[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10) }
        }
        out.count &+= width
    }

    private static func appendQuoted(_ s: String, to out: Storage) {
        out.append(UInt8(ascii: "\""))
        // Most strings (addresses, names) need no escaping: copy them whole.
        var s = s
        let plain = s.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(UnsafeRawBufferPointer(utf8))
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): appendUTF8("\\\"", to: out)
            case UInt8(ascii: "\\"): appendUTF8("\\\\", to: out)
            case 0x0A: appendUTF8("\\n", to: out)
            case 0x0D: appendUTF8("\\r", to: out)
            case 0x09: appendUTF8("\\t", to: out)
            case 0..<0x20:
                appendUTF8("\\u00", to: out)
                let hex = Array("0123456789abcdef".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default:
                out.append(byte)   // UTF-8 passes through unchanged
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        let out = Storage(capacity: s.utf8.count + 2)
        appendQuoted(s, to: out)
        return String(decoding: UnsafeRawBufferPointer(start: out.base, count: out.count), as: UTF8.self)
    }
}
