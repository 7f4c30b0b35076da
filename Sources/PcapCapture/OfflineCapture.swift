/// A capture file read through libpcap: classic pcap in either byte order with
/// micro- or nanosecond timestamps, or pcapng. The path "-" is standard input.
public final class OfflineCapture: PacketSource {
    public let path: String
    /// The file's link-layer header type (a DLT_ value).
    public let linkType: Int32
    /// The file's snapshot length (the most any record may hold).
    public let snapshotLength: Int32
    public let sourceIndex: Int
    private let handle: PcapHandle
    private var finished = false
    /// Our own reader for classic pcap without a filter (see SavefileReader),
    /// while records come from it; nil once reading is on libpcap. Held as an
    /// owned Unmanaged reference: used per packet without a retain and a
    /// release each time, released in `dropReader()`.
    private var reader: Unmanaged<SavefileReader>?

    /// Opens `path`, optionally installing a BPF filter. Readers of the same
    /// file on other threads may share its `chunks` (each with its own
    /// `reader` number): then the file is read from disk once for all of them.
    public init(path: String, filter: String? = nil, sourceIndex: Int = 0,
                chunks: SavefileChunks? = nil, reader readerNumber: Int = 0) throws(CaptureError) {
        let handle: PcapHandle
        switch Libpcap.openOffline(path) {
        case .success(let h): handle = h
        case .failure(let error): throw error
        }
        if let filter, !filter.isEmpty, let error = Libpcap.setFilter(handle, expression: filter) {
            Libpcap.close(handle)
            throw error
        }
        self.path = path
        self.handle = handle
        self.sourceIndex = sourceIndex
        linkType = Libpcap.datalink(handle)
        snapshotLength = Libpcap.snapshotLength(handle)
        if filter?.isEmpty ?? true, path != "-" {
            if let chunks {
                reader = Unmanaged.passRetained(SavefileReader(chunks, reader: readerNumber))
            } else {
                reader = SavefileReader(path: path).map { Unmanaged.passRetained($0) }
            }
        }
    }

    /// Reading goes on through libpcap from the record at `offset` (where
    /// SavefileReader stopped at a record it leaves to libpcap).
    public func continueWithLibpcap(at offset: Int) {
        dropReader()
        if !Libpcap.seek(handle, to: offset) { finished = true }
    }

    private func dropReader() {
        reader?.release()
        reader = nil
    }

    deinit {
        dropReader()
        Libpcap.close(handle)
    }

    /// Bytes of the file read so far (nil when not known, as for a pipe).
    public var bytesRead: Int64? {
        if let reader { return Int64(reader._withUnsafeGuaranteedRef(\.offset)) }
        let offset = Libpcap.fileOffset(handle)
        return offset >= 0 ? offset : nil
    }

    /// The savefile reader while records come from it; nil once reading is
    /// on libpcap, or over. A caller's per-packet loop takes records straight
    /// from its `next()` (inlined there: plain values, no `PacketReadResult`,
    /// whose error case makes it costly to return and destroy per packet),
    /// and calls `next()` here when that returns nil, which says what follows
    /// (the end, or reading on through libpcap).
    public var savefileReader: SavefileReader? {
        guard !finished, let reader else { return nil }
        return reader.takeUnretainedValue()
    }

    @inline(__always)
    public func next() -> PacketReadResult {
        if finished { return .end }
        if let reader {
            if let record = reader._withUnsafeGuaranteedRef({ $0.next() }) {
                return .packet(CapturedPacket(timestamp: record.timestamp, wireLength: record.wireLength, bytes: record.bytes,
                                              linkType: linkType, sourceIndex: sourceIndex))
            }
            let (atEnd, offset) = reader._withUnsafeGuaranteedRef { ($0.atEnd, $0.offset) }
            if atEnd { finished = true; return .end }
            continueWithLibpcap(at: offset)
            if finished { return .end }
        }
        switch Libpcap.next(handle) {
        case let .packet(header, data):
            let h = header.pointee
            return .packet(CapturedPacket(
                timestamp: Int64(h.ts.tv_sec) &* 1_000_000_000 &+ Int64(h.ts.tv_usec),
                wireLength: Int(h.len),
                bytes: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)),
                linkType: linkType,
                sourceIndex: sourceIndex
            ))
        case .timeout:
            return .timeout
        case .end, .interrupted:
            finished = true
            return .end
        case let .error(message):
            finished = true
            return .failed(.read(source: path, message: message))
        }
    }
}

/// Several capture files read as one capture, packets in timestamp order
/// (rotated captures: `tcpdump -C/-G` output, or files from several taps).
///
/// Each source keeps its head packet; the earliest is returned, and that
/// source advances only on the following call, so the returned bytes stay
/// valid as the PacketSource contract promises. Ties go to the earlier file.
/// A source that faults is reported once (`.failed`) and the merge goes on
/// with the others.
public final class MergedCapture: PacketSource {
    public let sources: [OfflineCapture]
    private var heads: [CapturedPacket?]
    private var started = false
    private var advance = -1
    private var pendingFaults: [CaptureError] = []

    public init(_ sources: [OfflineCapture]) {
        self.sources = sources
        heads = Array(repeating: nil, count: sources.count)
    }

    private func refill(_ i: Int) {
        heads[i] = nil
        while true {
            switch sources[i].next() {
            case .packet(let p): heads[i] = p; return
            case .timeout: continue
            case .end: return
            case .failed(let error): pendingFaults.append(error); return
            }
        }
    }

    public func next() -> PacketReadResult {
        if !started {
            started = true
            for i in sources.indices { refill(i) }
        } else if advance >= 0 {
            refill(advance)
        }
        advance = -1
        if !pendingFaults.isEmpty { return .failed(pendingFaults.removeFirst()) }
        var best = -1
        var bestTime = Int64.max
        for i in heads.indices {
            if let p = heads[i], p.timestamp < bestTime { best = i; bestTime = p.timestamp }
        }
        guard best >= 0 else { return .end }
        advance = best
        return .packet(heads[best]!)
    }
}
