/// Reads SNI and ALPN from a TLS ClientHello or ServerHello at the start of a
/// stream, without decrypting anything (RFC 8446 §4.1.2-3, RFC 6066 §3, RFC 7301).
/// Every read is bounds-checked; a malformed hello yields what was read.
public enum TLSHello {
    /// A TLS handshake record starts the stream: content type 22, version 3.x.
    public static func looksLikeTLS(_ bytes: some Collection<UInt8>) -> Bool {
        var it = bytes.makeIterator()
        guard let type = it.next(), let major = it.next() else { return false }
        return type == 0x16 && major == 0x03
    }

    public struct Parsed: Sendable, Equatable {
        public var serverName: String?
        public var alpn: [String] = []
        /// The hello is all there (the record was complete).
        public var complete = false
    }

    /// Parses the first handshake message in `bytes` (a ClientHello when
    /// `client`, else a ServerHello).
    public static func parse(_ bytes: [UInt8], client: Bool) -> Parsed {
        var result = Parsed()
        guard bytes.count >= 9, bytes[0] == 0x16 else { return result }
        let recordLength = Int(bytes[3]) << 8 | Int(bytes[4])
        let end = min(bytes.count, 5 + recordLength)
        result.complete = bytes.count >= 5 + recordLength
        var p = 5
        guard p + 4 <= end, bytes[p] == (client ? 1 : 2) else { return result }
        p += 4                                  // handshake type and length
        p += 2 + 32                             // version, random
        guard p < end else { return result }
        p += 1 + Int(bytes[p])                  // session id
        if client {
            guard p + 2 <= end else { return result }
            p += 2 + (Int(bytes[p]) << 8 | Int(bytes[p + 1]))   // cipher suites
            guard p < end else { return result }
            p += 1 + Int(bytes[p])              // compression methods
        } else {
            p += 2 + 1                          // cipher suite, compression method
        }
        guard p + 2 <= end else { return result }
        let extensionsEnd = min(end, p + 2 + (Int(bytes[p]) << 8 | Int(bytes[p + 1])))
        p += 2
        while p + 4 <= extensionsEnd {
            let type = Int(bytes[p]) << 8 | Int(bytes[p + 1])
            let length = Int(bytes[p + 2]) << 8 | Int(bytes[p + 3])
            let body = p + 4
            let bodyEnd = min(extensionsEnd, body + length)
            if type == 0 && client {
                // server_name_list: (type 1 byte, name length 2 bytes, name)...
                var q = body + 2
                while q + 3 <= bodyEnd {
                    let nameLength = Int(bytes[q + 1]) << 8 | Int(bytes[q + 2])
                    if bytes[q] == 0, q + 3 + nameLength <= bodyEnd {
                        result.serverName = String(decoding: bytes[(q + 3)..<(q + 3 + nameLength)], as: UTF8.self)
                        break
                    }
                    q += 3 + nameLength
                }
            } else if type == 16 {
                // protocol_name_list: (length 1 byte, name)...
                var q = body + 2
                while q < bodyEnd {
                    let nameLength = Int(bytes[q])
                    guard q + 1 + nameLength <= bodyEnd else { break }
                    result.alpn.append(String(decoding: bytes[(q + 1)..<(q + 1 + nameLength)], as: UTF8.self))
                    q += 1 + nameLength
                }
            }
            p = body + length
        }
        return result
    }
}
