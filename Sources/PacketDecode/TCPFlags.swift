/// The TCP control bits, with their RFC 9293 bit values.
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// No more data from sender.
    public static let fin = TCPFlags(rawValue: 0x001)
    /// Synchronize sequence numbers.
    public static let syn = TCPFlags(rawValue: 0x002)
    /// Reset the connection.
    public static let rst = TCPFlags(rawValue: 0x004)
    /// Push function.
    public static let psh = TCPFlags(rawValue: 0x008)
    /// The acknowledgment field is significant.
    public static let ack = TCPFlags(rawValue: 0x010)
    /// The urgent pointer is significant.
    public static let urg = TCPFlags(rawValue: 0x020)
    /// ECN echo.
    public static let ece = TCPFlags(rawValue: 0x040)
    /// Congestion window reduced.
    public static let cwr = TCPFlags(rawValue: 0x080)
    /// Accurate ECN (formerly the experimental nonce sum).
    public static let ae = TCPFlags(rawValue: 0x100)

    /// tcpdump's notation: `S`, `S.`, `F.`, `R`, `P.` ...
    public var description: String {
        var s = ""
        if contains(.fin) { s += "F" }
        if contains(.syn) { s += "S" }
        if contains(.rst) { s += "R" }
        if contains(.psh) { s += "P" }
        if contains(.urg) { s += "U" }
        if contains(.ece) { s += "E" }
        if contains(.cwr) { s += "W" }
        if contains(.ack) { s += "." }
        return s.isEmpty ? "none" : s
    }
}
