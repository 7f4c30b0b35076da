#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CPcap

/// A classic pcap savefile (format 2.4) read in 1 MB chunks, once, for one
/// or more readers: the shards of a sharded analysis all see every packet,
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
///
/// With an indexer (`ChunkIndexer`), the thread that reads a chunk from the
/// file also indexes its records while they are in its cache: each record's time,
/// wire length, place and class (for a sharded analysis, the shard that owns
/// it). A reader that only needs the time of other shards' records then reads
/// 16 dense bytes a record from the index (`SavefileReader.nextEntry()`)
/// rather than each record's scattered first lines, which the other core
/// brought in: that first load was a sixth of a two-thread run's record loop.
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
    /// Per slot: its index entries (`indexCapacity` each), how many, and the
    /// offsets of the first record indexed and of the byte after the last.
    private let entries: UnsafeMutablePointer<RecordIndexEntry>?
    private let indexCapacity: Int
    private var indexCounts: [Int]
    private var indexStarts: [Int]
    private var indexEnds: [Int]
    private let indexer: ChunkIndexer?
    /// Where the next chunk's first record starts, for its index: the bytes of
    /// the record that runs into it (up to its header's 16) and how many of
    /// that record's bytes the chunk before holds. Written by the chunk's
    /// loader before the chunk is handed out, read by the next one's after:
    /// chunks are loaded in order, under the lock. `indexing` goes false for
    /// good at a record the readers will stop at.
    private var carry = (0, 0) as (UInt64, UInt64)
    private var carriedBytes = 0
    private var indexing: Bool
    /// Per reader: the chunk it reads now (Int.max once it stopped reading).
    private var cursors: [Int]
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>

    static let fileHeaderLength = 24
    @usableFromInline static let recordHeaderLength = 16
    /// 1 MB: reads are few; 16 MB reads were slower than 1 or 4 MB.
    public static let defaultChunkSize = 1 << 20

    /// The class of a record the classifier did not place, or of one not indexed.
    public static let unclassified: UInt8 = 0xFF

    /// Opens `path` for `readers` readers if it is a regular file in classic
    /// pcap format 2.4 with a snapshot length libpcap accepts; nil otherwise
    /// (libpcap reads it then). `indexer`, given the file header's link type
    /// (a LINKTYPE_ value), may return an indexer for the records' index
    /// (`ChunkRecords.index(_:)` with a classifier the caller inlines: a call
    /// per record, through a closure, cost the loading core as much as the
    /// classifier itself); nil: no index.
    public init?(path: String, readers: Int = 1, chunkSize: Int = SavefileChunks.defaultChunkSize,
                 indexer: ((_ linkType: UInt32) -> ChunkIndexer?)? = nil) {
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
        let linkType = UInt32(header[20]) | UInt32(header[21]) << 8 | UInt32(header[22]) << 16 | UInt32(header[23]) << 24
        // An entry's place holds the record's offset in 24 bits.
        self.indexer = chunkSize <= 1 << 24 ? indexer?(swapped ? linkType.byteSwapped : linkType) : nil
        indexing = self.indexer != nil
        // Every record is at least its 16-byte header.
        indexCapacity = chunkSize / Self.recordHeaderLength
        entries = self.indexer == nil ? nil : .allocate(capacity: slotCount * indexCapacity)
        indexCounts = Array(repeating: 0, count: slotCount)
        indexStarts = Array(repeating: 0, count: slotCount)
        indexEnds = Array(repeating: 0, count: slotCount)
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
        entries?.deallocate()
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

    /// What a reader gets of a chunk.
    struct Chunk {
        var bytes: UnsafeRawPointer
        var length: Int
        var isLast: Bool
        var failed: Bool
        /// Its records' index (none: `entries` nil or `count` 0), from the
        /// record at `start` to the byte before `end`.
        var entries: UnsafePointer<RecordIndexEntry>?
        var count: Int
        var start: Int
        var end: Int
    }

    /// Chunk `k` for `reader`, which thereby lets go of the chunks before it.
    func chunk(_ k: Int, for reader: Int) -> Chunk {
        let slot = k % slotCount
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        cursors[reader] = k
        pthread_cond_broadcast(changed)
        while held[slot] != k {
            // The slot's chunk (an earlier one) may go once every reader is past it.
            if !loading[slot] && (cursors.min() ?? .max) > held[slot] {
                fill(slot, with: k)
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
        let chunk = Chunk(bytes: UnsafeRawPointer(buffers + slot * chunkSize), length: lengths[slot], isLast: isLast[slot],
                          failed: failed[slot], entries: entries.map { UnsafePointer($0 + slot * indexCapacity) },
                          count: indexCounts[slot], start: indexStarts[slot], end: indexEnds[slot])
        // The first reader here reads the next chunk now, if its slot is free:
        // the others then find it read, rather than wait for a read in
        // progress when they come to it close behind (a context switch each).
        let next = (k + 1) % slotCount
        if !chunk.isLast, !chunk.failed, held[next] < k + 1, !loading[next], (cursors.min() ?? .max) > held[next] {
            fill(next, with: k + 1)
        }
        return chunk
    }

    /// Reads chunk `k` into `slot` (and indexes it), the lock held except
    /// while reading; then tells the waiting readers.
    private func fill(_ slot: Int, with k: Int) {
        loading[slot] = true
        pthread_mutex_unlock(lock)
        let (length, readFailed) = read(into: buffers + slot * chunkSize, at: offset(ofChunk: k))
        let index = indexer != nil && indexing
            ? self.index(slot, length: length, isLast: length < chunkSize || readFailed) : (0, 0, 0)
        pthread_mutex_lock(lock)
        held[slot] = k
        lengths[slot] = length
        isLast[slot] = length < chunkSize
        failed[slot] = readFailed
        (indexCounts[slot], indexStarts[slot], indexEnds[slot]) = index
        loading[slot] = false
        pthread_cond_broadcast(changed)
    }

    /// A record header's 32-bit field at `at`, in the file's byte order.
    @inlinable @inline(__always)
    static func word(_ base: UnsafeRawPointer, _ at: Int, swapped: Bool) -> UInt32 {
        let v = base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    /// The time of the record whose header starts at `header`, in ns.
    @inlinable @inline(__always)
    static func timestamp(_ base: UnsafeRawPointer, _ header: Int, swapped: Bool, scale: Int64) -> Int64 {
        Int64(word(base, header, swapped: swapped)) &* 1_000_000_000 &+ Int64(word(base, header &+ 4, swapped: swapped)) &* scale
    }

    @inline(__always)
    private func word(_ base: UnsafeRawPointer, _ at: Int) -> UInt32 { Self.word(base, at, swapped: swapped) }

    /// Indexes the whole records of the chunk just read into `slot` (the
    /// next chunk's loader goes on from where this one stopped): the entries'
    /// count and the offsets of the first record indexed and of the byte after
    /// the last. It takes the records `SavefileReader.next()` takes in place,
    /// and stops indexing for good where a reader would stop.
    private func index(_ slot: Int, length: Int, isLast: Bool) -> (count: Int, start: Int, end: Int) {
        let base = UnsafeRawPointer(buffers + slot * chunkSize)
        let index = entries! + slot * indexCapacity
        let header = Self.recordHeaderLength
        // Where the first record starts: after the one the last chunk ends in.
        var position = 0
        if carriedBytes > 0 {
            var record = carry
            let inCarry = min(carriedBytes, header)
            withUnsafeMutableBytes(of: &record) { r in
                if inCarry < header, length >= header - inCarry {
                    (r.baseAddress! + inCarry).copyMemory(from: base, byteCount: header - inCarry)
                }
            }
            let captured = withUnsafeBytes(of: &record) { Int(word($0.baseAddress!, 8)) }
            position = header + captured - carriedBytes
            guard length >= header - inCarry, captured <= Int(snapshotLength), position <= length else {
                indexing = false
                return (0, 0, 0)
            }
        }
        let start = position
        let walked = indexer!(ChunkRecords(base: base, start: start, length: length, snapshotLength: snapshotLength,
                                           swapped: swapped, timestampScale: timestampScale, entries: index))
        if walked.stopped {
            // The readers stop at that record (libpcap names the fault).
            indexing = false
            return (walked.count, start, walked.end)
        }
        position = walked.end
        // The record that runs into the next chunk, for its loader.
        carriedBytes = isLast ? 0 : length - position
        if carriedBytes > 0 {
            carry = (0, 0)
            withUnsafeMutableBytes(of: &carry) { $0.baseAddress!.copyMemory(from: base + position, byteCount: min(carriedBytes, header)) }
        }
        return (walked.count, start, position)
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

/// Names the class of a record (its captured bytes and wire length) for a
/// chunk's index: a number below `SavefileChunks.unclassified`, or that.
/// Called on whichever reader's thread loads the chunk.
public typealias RecordClassifier = @Sendable (_ bytes: UnsafeRawBufferPointer, _ wireLength: Int) -> UInt8

/// Writes a chunk's index: `records.index(classify)`, with the classifier
/// written where the indexer is made, so that it is inlined into the walk.
public typealias ChunkIndexer = @Sendable (_ records: ChunkRecords) -> (count: Int, end: Int, stopped: Bool)

/// The whole records of a chunk just read, from `start`, for its index.
public struct ChunkRecords {
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let start: Int
    @usableFromInline let length: Int
    @usableFromInline let snapshotLength: UInt32
    @usableFromInline let swapped: Bool
    @usableFromInline let timestampScale: Int64
    @usableFromInline let entries: UnsafeMutablePointer<RecordIndexEntry>

    /// Writes an entry for each whole record from `start` on, its class from
    /// `classify`: how many, the offset after the last, and whether the walk
    /// stopped at a record the readers stop at (a captured length beyond the
    /// snapshot length) rather than at the chunk's end. It takes the records
    /// `SavefileReader.next()` takes in place.
    @inlinable @inline(__always)
    public func index(_ classify: (_ bytes: UnsafeRawBufferPointer, _ wireLength: Int) -> UInt8) -> (count: Int, end: Int, stopped: Bool) {
        let header = SavefileChunks.recordHeaderLength
        var position = start, count = 0
        while length &- position >= header {
            let captured = Int(SavefileChunks.word(base, position &+ 8, swapped: swapped))
            if captured > Int(snapshotLength) { return (count, position, true) }
            guard length &- position &- header >= captured else { break }
            let wireLength = SavefileChunks.word(base, position &+ 12, swapped: swapped)
            let timestamp = SavefileChunks.timestamp(base, position, swapped: swapped, scale: timestampScale)
            let owner = classify(UnsafeRawBufferPointer(start: base + (position &+ header), count: captured), Int(wireLength))
            entries[count] = RecordIndexEntry(timestamp: timestamp, wireLength: wireLength, place: UInt32(truncatingIfNeeded: position) << 8 | UInt32(owner))
            count &+= 1
            position &+= header &+ captured
        }
        return (count, position, false)
    }
}

/// A record in a chunk's index (16 bytes).
public struct RecordIndexEntry: Sendable {
    /// Nanoseconds since the epoch.
    public var timestamp: Int64
    public var wireLength: UInt32
    /// The record's offset in its chunk (high 24 bits) and its class (low 8).
    @usableFromInline var place: UInt32

    @inlinable init(timestamp: Int64, wireLength: UInt32, place: UInt32) {
        self.timestamp = timestamp
        self.wireLength = wireLength
        self.place = place
    }

    /// What the classifier named (`SavefileChunks.unclassified` if nothing).
    @inlinable public var recordClass: UInt8 { UInt8(truncatingIfNeeded: place) }
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
        /// The chunk's index entries not yet taken (equal: none); `position`
        /// is then past the records they name.
        @usableFromInline var nextEntry: UnsafePointer<RecordIndexEntry>?
        @usableFromInline var entriesEnd: UnsafePointer<RecordIndexEntry>?
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
        cursor.initialize(to: Cursor(bytes: nil, length: 0, position: 0, nextEntry: nil, entriesEnd: nil))
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
    public var offset: Int {
        if let stoppedAt { return stoppedAt }
        if let entry = cursor.pointee.nextEntry, entry != cursor.pointee.entriesEnd {
            return chunks.offset(ofChunk: chunkNumber) + Int(entry.pointee.place >> 8)
        }
        return chunks.offset(ofChunk: chunkNumber) + position
    }

    /// True when `next()` returned nil because the file ended cleanly; false
    /// when it stopped at a record it leaves to libpcap (at `offset`).
    public var atEnd: Bool { endedCleanly }

    @inlinable @inline(__always)
    func word(_ base: UnsafeRawPointer, _ at: Int) -> UInt32 { SavefileChunks.word(base, at, swapped: swapped) }

    @inlinable @inline(__always)
    func record(_ base: UnsafeRawPointer, _ header: Int, captured: Int) -> (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer) {
        (SavefileChunks.timestamp(base, header, swapped: swapped, scale: timestampScale), Int(word(base, header &+ 12)),
         UnsafeRawBufferPointer(start: base + header + SavefileChunks.recordHeaderLength, count: captured))
    }

    /// The next record's index entry, when the chunk it is in was indexed
    /// (`SavefileChunks`' indexer); nil otherwise, and `next()` reads on.
    /// Only its bytes (`bytes(of:)`) touch the record itself.
    @inlinable @inline(__always)
    public func nextEntry() -> RecordIndexEntry? {
        guard let entry = cursor.pointee.nextEntry, entry != cursor.pointee.entriesEnd else { return nil }
        cursor.pointee.nextEntry = entry + 1
        return entry.pointee
    }

    /// `nextEntry()`, and a prefetch of the record `prefetchDistance` entries
    /// on if its class is `mine`: a shard reads its own records' bytes, which
    /// the other core mostly brought in (it read and indexed the chunk), so
    /// each was a wait on the shared cache.
    @inlinable @inline(__always)
    public func nextEntry(prefetching mine: UInt8) -> RecordIndexEntry? {
        guard let entry = cursor.pointee.nextEntry, let end = cursor.pointee.entriesEnd, entry != end else { return nil }
        cursor.pointee.nextEntry = entry + 1
        let later = entry + Self.prefetchDistance
        if later < end, later.pointee.recordClass == mine {
            poolscope_prefetch_record(cursor.pointee.bytes.unsafelyUnwrapped + Int(later.pointee.place >> 8))
        }
        return entry.pointee
    }

    /// How many index entries ahead `nextEntry(prefetching:)` looks: two of
    /// the shard's own records on two threads, some microseconds of work. 2,
    /// 4, 6 and 8 timed alike (paired, 2-3% quicker than none); 16 slower.
    @usableFromInline static let prefetchDistance = 4

    /// The captured bytes of the record `entry` (the last `nextEntry()`'s), valid until the next chunk.
    @inlinable @inline(__always)
    public func bytes(of entry: RecordIndexEntry) -> UnsafeRawBufferPointer {
        let base = cursor.pointee.bytes.unsafelyUnwrapped
        let at = Int(entry.place >> 8)
        return UnsafeRawBufferPointer(start: base + at + SavefileChunks.recordHeaderLength, count: Int(word(base, at &+ 8)))
    }

    /// The next record (timestamp in ns, wire length, bytes valid until the
    /// next call), or nil at the end of the file or at a record left to libpcap.
    @inlinable @inline(__always)
    public func next() -> (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)? {
        if let entry = nextEntry() { return (entry.timestamp, Int(entry.wireLength), bytes(of: entry)) }
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
            enter(at: 0)
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
            enter(at: 0)
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
        enter(at: fromNext)
        return record(UnsafeRawPointer(spanning), 0, captured: captured)
    }

    /// Makes chunk `k` the one being read (then `enter` it); returns its bytes.
    @discardableResult
    private func load(_ k: Int) -> UnsafeRawPointer {
        let c = chunks.chunk(k, for: reader)
        chunkNumber = k
        bytes = c.bytes
        length = c.length
        position = 0
        lastChunk = c.isLast
        readFailed = c.failed
        loaded = c
        return c.bytes
    }

    /// The chunk just loaded, for its index.
    private var loaded: SavefileChunks.Chunk?

    /// Reads on in the loaded chunk from the record at `offset`: through its
    /// index when the index starts there (it always does when there is one;
    /// a reader that disagreed would read the records itself).
    private func enter(at offset: Int) {
        position = offset
        cursor.pointee.nextEntry = nil
        cursor.pointee.entriesEnd = nil
        if let c = loaded, let entries = c.entries, c.count > 0, c.start == offset {
            cursor.pointee.nextEntry = entries
            cursor.pointee.entriesEnd = entries + c.count
            position = c.end
        }
        loaded = nil
    }

    /// Stops at the record at `offset` (libpcap reads on from there and names any fault).
    private func stop(at offset: Int) -> (timestamp: Int64, wireLength: Int, bytes: UnsafeRawBufferPointer)? {
        stoppedAt = offset
        chunks.detach(reader)
        return nil
    }
}
