/// A minimal JSON writer: deterministic key order (the order written), exact
/// numbers, RFC 8259 string escaping. Reports are written with it rather than
/// JSONEncoder so that field order and number formats are part of the contract.
public struct JSONText {
    public private(set) var text = ""
    private var needsComma: [Bool] = [false]

    public init() {}

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject(_ key: String? = nil) {
        if let key { self.key(key) } else { separator() }
        text += "{"
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        text += "}"
    }

    public mutating func beginArray(_ key: String? = nil) {
        if let key { self.key(key) } else { separator() }
        text += "["
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        text += "]"
    }

    private mutating func key(_ k: String) {
        separator()
        text += JSONText.quoted(k)
        text += ":"
    }

    public mutating func field(_ k: String, _ v: String?) {
        key(k)
        text += v.map(JSONText.quoted) ?? "null"
    }

    public mutating func field(_ k: String, _ v: Int?) {
        key(k)
        text += v.map { String($0) } ?? "null"
    }

    public mutating func field(_ k: String, _ v: Bool?) {
        key(k)
        text += v.map { $0 ? "true" : "false" } ?? "null"
    }

    /// A number already formatted (e.g. an exact timestamp).
    public mutating func field(_ k: String, number: String?) {
        key(k)
        text += number ?? "null"
    }

    public mutating func value(_ v: String) {
        separator()
        text += JSONText.quoted(v)
    }

    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
