import PoolScope

/// Ethernet/IPv4/TCP frames built in place, so a benchmark can feed one
/// connection millions of segments by patching sequence numbers (no capture
/// file, no per-iteration allocation).
struct Frame {
    var bytes: [UInt8]
    static let tcpOffset = 14 + 20

    /// A segment between 10.0.0.1:`clientPort` and 10.0.0.2:80.
    init(fromClient: Bool, clientPort: UInt16 = 40000, flags: UInt8, seq: UInt32, ack: UInt32, payload: [UInt8] = []) {
        var b = [UInt8](repeating: 0, count: 14)
        b[12] = 0x08                                         // IPv4
        let total = 20 + 20 + payload.count
        let (src, dst): ([UInt8], [UInt8]) = fromClient ? ([10, 0, 0, 1], [10, 0, 0, 2]) : ([10, 0, 0, 2], [10, 0, 0, 1])
        b += [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0] + src + dst
        let (sport, dport) = fromClient ? (clientPort, UInt16(80)) : (UInt16(80), clientPort)
        b += [UInt8(sport >> 8), UInt8(sport & 0xFF), UInt8(dport >> 8), UInt8(dport & 0xFF)]
        b += Self.word(seq) + Self.word(ack) + [0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]
        bytes = b + payload
    }

    static func word(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    /// In place, allocating nothing (the benchmark counts allocations).
    mutating func setSequence(_ seq: UInt32, ack: UInt32) {
        for i in 0..<4 {
            bytes[Self.tcpOffset + 4 + i] = UInt8(truncatingIfNeeded: seq >> (24 - 8 * i))
            bytes[Self.tcpOffset + 8 + i] = UInt8(truncatingIfNeeded: ack >> (24 - 8 * i))
        }
    }

    static let syn: UInt8 = 0x02, ack: UInt8 = 0x10, psh: UInt8 = 0x08, fin: UInt8 = 0x01
}

extension Analyzer {
    mutating func ingest(_ frame: Frame, at time: Int64) {
        frame.bytes.withUnsafeBytes { ingest($0, wireLength: $0.count, linkType: .ethernet, timestamp: time) }
    }
}
