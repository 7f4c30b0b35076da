import PacketDecode

/// Turns decoded TCP segments into connections: finds or creates the
/// connection for each segment's 4-tuple and accounts the segment to it.
///
/// Connections are numbered 1, 2, ... in the order their first packet was seen.
public struct FlowTracker {
    private var table = FlowTable<Connection>()
    private var nextID = 1

    public init() {}

    /// Connections being tracked now.
    public var liveConnections: Int { table.count }

    @inline(__always)
    public mutating func ingest(_ segment: TCPSegment, at time: CaptureTime) {
        let key = FlowKey(segment.source, segment.destination)
        let hash = key.hash64
        if let slot = table.slot(for: key, hash: hash) {
            table[slot: slot].ingest(segment, at: time)
        } else {
            var connection = Connection(id: nextID, firstSegment: segment, at: time)
            nextID += 1
            connection.ingest(segment, at: time)
            table.insert(connection, for: key)
        }
    }

    /// Ends tracking (the capture is over) and returns every connection's
    /// record, in the order the connections were first seen.
    public mutating func finish() -> [ConnectionRecord] {
        var records: [ConnectionRecord] = []
        records.reserveCapacity(table.count)
        for slot in table.occupiedSlots {
            records.append(table.remove(slot: slot).record)
        }
        records.sort { $0.id < $1.id }
        return records
    }
}
