#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A classic pcap savefile (format 2.4) read in 1 MB chunks, once, for one
/// or more readers: the shards of a sharded analysis all read every packet,
/// and each chunk is read from the file (a kernel copy) once for all of them
/// rather than once per shard.
///
/// Why not libpcap for this case: `pcap_next_ex` on a savefile goes through
/// stdio (4 KB reads, then a copy of each record into libpcap's buffer). On
/// the 1 GB benchmark capture in the page cache, that loop takes 0.42 s; 1 MB
/// reads parsed in place take 0.17 s, and a memory mapping 0.37 s (page
/// faults) with the mapped pages counted in the process's memory. So offline
/// reading of the common format is ours, and libpcap stays for the rest:
///
/// the file is first opened with libpcap, which validates the header and
/// names the link type; anything a reader is not sure of (a cut record, a
/// length beyond the snapshot length, a read error) stops it at that record's
/// offset, and the capture goes on from there through libpcap, so faults read
/// exactly as libpcap words them. pcapng, standard input, BPF filters and live
/// capture stay on libpcap.
///
/// Chunks live in a ring of slots. A slot is refilled with a later chunk once
/// every reader has moved past the chunk it holds, so a reader ahead waits for
/// the others at most a ring's length ahead, and memory stays a few chunks.
/// Readers take the same records in the same order, so the one behind never
/// waits for the one ahead.
public final class SavefileChunks: @unchecked Sendable {
    private let fd: Int32
    let swapped: Bool
    let timestampScale: Int64
    let snapshotLength: UInt32
    let chunkSize: Int
    private let slotCount: Int
    private let buffers: UnsafeMutableRawPointer
    /// Per slot: the chunk it holds (-1: none), its length, whether it is the
    /// file's last (short) one, whether its read failed, whether it is being read.
    private var held: [Int]
    private var lengths: [Int]
    private var isLast: [Bool]
    private var failed: [Bool]
    private var loading: [Bool]
    /// Per reader: the chunk it reads now (Int.max once it stopped reading).
    private var cursors: [Int]
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>

    static let fileHeaderLength = 24
    @usableFromInline static let recordHeaderLength = 16
    /// 1 MB: reads are few; 16 MB reads were slower than 1 or 4 MB.
    public static let defaultChunkSize = 1 << 20

    /// Opens `path` for `readers` readers if it is a regular file in classic
    /// pcap format 2.4 with a snapshot length libpcap accepts; nil otherwise
    /// (libpcap reads it then).
    public init?(path: String, readers: Int = 1, chunkSize: Int = SavefileChunks.defaultChunkSize) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        var info = stat()
        var header = [UInt8](repeating: 0, count: Self.fileHeaderLength)
        guard readers >= 1, fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
              pread(fd, &header, Self.fileHeaderLength, 0) == Self.fileHeaderLength else {
            close(fd)
            return nil
        }
        let magic = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
        let (swapped, nanosecond): (Bool, Bool)
        switch magic {
        case 0xA1B2_C3D4: (swapped, nanosecond) = (false, false)
        case 0xA1B2_3C4D: (swapped, nanosecond) = (false, true)
        case 0xD4C3_B2A1: (swapped, nanosecond) = (true, false)
        case 0x4D3C_B2A1: (swapped, nanosecond) = (true, true)
        default: close(fd); return nil
        }
        func field16(_ at: Int) -> UInt16 {
            let v = UInt16(header[at]) | UInt16(header[at + 1]) << 8
            return swapped ? v.byteSwapped : v
        }
        let snap = UInt32(header[16]) | UInt32(header[17]) << 8 | UInt32(header[18]) << 16 | UInt32(header[19]) << 24
        let snapshotLength = swapped ? snap.byteSwapped : snap
        // Other versions (2.3 swapped the length fields in some writers) and odd
        // snapshot lengths are left to libpcap, which knows those cases. A
        // record fits in the chunk after the one it starts in.
        guard field16(4) == 2, field16(6) == 4, snapshotLength > 0, snapshotLength <= 262_144,
              Int(snapshotLength) + Self.recordHeaderLength <= chunkSize else {
            close(fd)
            return nil
        }
        self.fd = fd
        self.swapped = swapped
        timestampScale = nanosecond ? 1 : 1000
        self.snapshotLength = snapshotLength
        self.chunkSize = chunkSize
        // One reader needs one slot; several get slack so the first can read on.
        slotCount = readers == 1 ? 1 : readers + 2
        buffers = UnsafeMutableRawPointer.allocate(byteCount: slotCount * chunkSize, alignment: 64)
        held = Array(repeating: -1, count: slotCount)
        lengths = Array(repeating: 0, count: slotCount)
        isLast = Array(repeating: false, count: slotCount)
        failed = Array(repeating: false, count: slotCount)
        loading = Array(repeating: false, count: slotCount)
        cursors = Array(repeating: Int.max, count: readers)
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
        changed = .allocate(capacity: 1)
        changed.initialize(to: pthread_cond_t())
        pthread_cond_init(changed, nil)
    }

    deinit {
        close(fd)
        buffers.deallocate()
        pthread_mutex_destroy(lock)
        pthread_cond_destroy(changed)
        lock.deallocate()
        changed.deallocate()
    }

    /// File offset of chunk `k`'s first byte.
    func offset(ofChunk k: Int) -> Int { Self.fileHeaderLength + k * chunkSize }

    /// Reader `reader` starts: until it stops, no chunk from the first on is dropped before it has read it.
    func attach(_ reader: Int) {
        pthread_mutex_lock(lock)
        cursors[reader] = 0
        pthread_mutex_unlock(lock)
    }

    /// Reader `reader` reads no more: the others need not wait for it.
    func detach(_ reader: Int) {
        pthread_mutex_lock(lock)
        cursors[reader] = .max
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
    }

    /// Chunk `k` for `reader`, which thereby lets go of the chunks before it:
    /// its bytes, its length, whether it is the last and whether its read failed.
    func chunk(_ k: Int, for reader: Int) -> (bytes: UnsafeRawPointer, length: Int, isLast: Bool, failed: Bool) {
        let slot = k % slotCount
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        cursors[reader] = k
        pthread_cond_broadcast(changed)
        while held[slot] != k {
            // The slot's chunk (an earlier one) may go once every reader is past it.
            if !loading[slot] && (cursors.min() ?? .max) > held[slot] {
                loading[slot] = true
                pthread_mutex_unlock(lock)
                let (length, readFailed) = read(into: buffers + slot * chunkSize, at: offset(ofChunk: k))
                pthread_mutex_lock(lock)
                held[slot] = k
                lengths[slot] = length
                isLast[slot] = length < chunkSize
                failed[slot] = readFailed
                loading[slot] = false
                pthread_cond_broadcast(changed)
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
        return (UnsafeRawPointer(buffers + slot * chunkSize), lengths[slot], isLast[slot], failed[slot])
    }

    /// Fills a chunk from `offset`: short only at the end of the file or on an error.
    private func read(into buffer: UnsafeMutableRawPointer, at offset: Int) -> (length: Int, failed: Bool) {
        var filled = 0
        while filled < chunkSize {
            let n = pread(fd, buffer + filled, chunkSize - filled, off_t(offset + filled))
            if n > 0 { filled += n; continue }
            if n < 0 && errno == EINTR { continue }
            return (filled, n < 0)
        }
        return (filled, false)
    }
}

/// One reader's records of a savefile, handed out in place in the shared
/// chunks (a record that runs into the next chunk is put together in a small
/// buffer of its own).
public final class SavefileReader {
    private let chunks: SavefileChunks
    private let reader: Int
    /// The chunk being read: its number, and in `cursor` its bytes, length,
    /// and where the next record starts in it.
    private var chunkNumber = 0
    /// What `next()` reads and moves, behind a pointer: `next()` is inlined
    /// into the caller's loop (a call per record cost a shard 30-40
    /// instructions), and a class's stored `var`s used from another module
    /// are checked for exclusive access at run time on every use.
    @usableFromInline let cursor: UnsafeMutablePointer<Cursor>
    @usableFromInline struct Cursor {
        @usableFromInline var bytes: UnsafeRawPointer?
        @usableFromInline var length: Int
        @usableFromInline var position: Int
    }
    private var bytes: UnsafeRawPointer? {
        get { cursor.pointee.bytes }
        set { cursor.pointee.bytes = newValue }
    }
    private var length: Int {
        get { cursor.pointee.length }
        set { cursor.pointee.length = newValue }
    }
    private var position: Int {
        get { cursor.pointee.position }
        set { cursor.pointee.position = newValue }
    }
    private var lastChunk = false
    private var readFailed = false
    /// A record that spans two chunks, copied whole.
    private let spanning: UnsafeMutableRawPointer
    private var stoppedAt: Int?
    private var endedCleanly = false
    @usableFromInline let swapped: Bool
    @usableFromInline let timestampScale: Int64
    @usableFromInline let snapshotLength: UInt32

    /// Reader number `reader` (below the `readers` the chunks were opened for).
    public init(_ chunks: SavefileChunks, reader: Int = 0) {
        self.chunks = chunks
        self.reader = reader
        swapped = chunks.swapped
        timestampScale = chunks.timestampScale
        snapshotLength = chunks.snapshotLength
        spanning = .allocate(byteCount: Int(snapshotLength) + SavefileChunks.recordHeaderLength, alignment: 16)
        cursor = .allocate(capacity: 1)
        cursor.initialize(to: Cursor(bytes: nil, length: 0, position: 0))
        chunks.attach(reader)
    }

    /// Opens `path` for a reader of its own; nil when it is not a savefile this reads.
    public convenience init?(path: String) {
        guard let chunks = SavefileChunks(path: path) else { return nil }
        self.init(chunks)
    }

    deinit {
        chunks.detach(reader)
        spanning.deallocate()
        cursor.deallocate()
    }

    /// File offset of the next record.
    public var offset: Int { stoppedAt ?? chunks.offset(ofChunk: chunkNumber) + position }

    /// True when `next()` returned nil because the file ended cleanly; false
    /// when it stopped at a record it leaves to libpcap (at `offset`).
    public var atEnd: Bool { endedCleanly }

    @inlinable @inline(__always)
    func word(_ base: UnsafeRawPointer, _ at: Int) -> UInt32 {
        let v = base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    @inlinable @inline(__always)
    func record(_ base: UnsafeRawPointer, _ header: Int, captured: Int) -> (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer) {
        let seconds = Int64(word(base, header))
        let fraction = Int64(word(base, header &+ 4))
        return (seconds &* 1_000_000_000 &+ fraction &* timestampScale, Int(word(base, header &+ 12)),
                UnsafeRawBufferPointer(start: base + header + SavefileChunks.recordHeaderLength, count: captured))
    }

    /// The next record (timestamp in ns, wire length, bytes valid until the
    /// next call), or nil at the end of the file or at a record left to libpcap.
    @inlinable @inline(__always)
    public func next() -> (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)? {
        if let base = cursor.pointee.bytes {
            let position = cursor.pointee.position
            let available = cursor.pointee.length &- position
            if available >= SavefileChunks.recordHeaderLength {
                let captured = word(base, position &+ 8)
                if captured <= snapshotLength && available &- SavefileChunks.recordHeaderLength >= Int(captured) {
                    cursor.pointee.position = position &+ SavefileChunks.recordHeaderLength &+ Int(captured)
                    return record(base, position, captured: Int(captured))
                }
            }
        }
        return nextAcrossChunks()
    }

    /// The slow path: the first chunk, a record running into the next chunk, the end, or a stop.
    @usableFromInline
    func nextAcrossChunks() -> (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)? {
        guard stoppedAt == nil, !endedCleanly else { return nil }
        guard let base = bytes else {
            load(0)
            return next()
        }
        let recordStart = chunks.offset(ofChunk: chunkNumber) + position
        let tail = length - position
        if tail >= SavefileChunks.recordHeaderLength && word(base, position + 8) > snapshotLength { return stop(at: recordStart) }
        if lastChunk {
            // Nothing follows: the file ended here, cleanly or in a cut record.
            if tail == 0 && !readFailed { endedCleanly = true; return nil }
            return stop(at: recordStart)
        }
        if tail == 0 {
            // The chunk ended with a record: the next starts the next chunk.
            load(chunkNumber + 1)
            return next()
        }
        // The record (or its header) runs into the next chunk: copy what is here, then the rest.
        spanning.copyMemory(from: base + position, byteCount: tail)
        let next = load(chunkNumber + 1)
        var have = tail
        if have < SavefileChunks.recordHeaderLength {
            let take = SavefileChunks.recordHeaderLength - have
            guard length >= take else { return stop(at: recordStart) }
            (spanning + have).copyMemory(from: next, byteCount: take)
            have += take
        }
        let captured = Int(word(UnsafeRawPointer(spanning), 8))
        guard captured <= Int(snapshotLength) else { return stop(at: recordStart) }
        let whole = SavefileChunks.recordHeaderLength + captured
        let fromNext = whole - tail
        guard length >= fromNext else { return stop(at: recordStart) }
        (spanning + have).copyMemory(from: next + (have - tail), byteCount: whole - have)
        position = fromNext
        return record(UnsafeRawPointer(spanning), 0, captured: captured)
    }

    /// Makes chunk `k` the one being read, from its start; returns its bytes.
    @discardableResult
    private func load(_ k: Int) -> UnsafeRawPointer {
        let c = chunks.chunk(k, for: reader)
        chunkNumber = k
        bytes = c.bytes
        length = c.length
        position = 0
        lastChunk = c.isLast
        readFailed = c.failed
        return c.bytes
    }

    /// Stops at the record at `offset` (libpcap reads on from there and names any fault).
    private func stop(at offset: Int) -> (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)? {
        stoppedAt = offset
        chunks.detach(reader)
        return nil
    }
}
