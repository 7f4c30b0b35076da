/// The TCP control bits, with their RFC 9293 bit values. The named values
/// (here and in LinkType) are inlinable constants, not stored statics: read
/// from another module, a stored one went through its lazy initialiser's
/// check on every packet.
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// No more data from sender.
    @inlinable public static var fin: TCPFlags { TCPFlags(rawValue: 0x001) }
    /// Synchronize sequence numbers.
    @inlinable public static var syn: TCPFlags { TCPFlags(rawValue: 0x002) }
    /// Reset the connection.
    @inlinable public static var rst: TCPFlags { TCPFlags(rawValue: 0x004) }
    /// Push function.
    @inlinable public static var psh: TCPFlags { TCPFlags(rawValue: 0x008) }
    /// The acknowledgment field is significant.
    @inlinable public static var ack: TCPFlags { TCPFlags(rawValue: 0x010) }
    /// The urgent pointer is significant.
    @inlinable public static var urg: TCPFlags { TCPFlags(rawValue: 0x020) }
    /// ECN echo.
    @inlinable public static var ece: TCPFlags { TCPFlags(rawValue: 0x040) }
    /// Congestion window reduced.
    @inlinable public static var cwr: TCPFlags { TCPFlags(rawValue: 0x080) }
    /// Accurate ECN (formerly the experimental nonce sum).
    @inlinable public static var ae: TCPFlags { TCPFlags(rawValue: 0x100) }

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
