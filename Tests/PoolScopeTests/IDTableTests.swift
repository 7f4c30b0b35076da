@testable import PoolInference
@testable import TCPFlows
import PacketDecode
import Testing

/// The feed's id table against Swift's Dictionary: random inserts, updates,
/// lookups and removals (removal shifts later entries of a probe run back,
/// which is where such tables go wrong), then every value visited once.
@Suite struct IDTableAgainstDictionary {
    @Test(arguments: [1, 2, 3]) func sameContentsAfterRandomOperations(seed: UInt64) {
        var generator = SplitMix(seed: seed)
        var table = IDTable<Int>()
        var reference: [Int: Int] = [:]
        for step in 0..<60_000 {
            // Few distinct ids (first a handful, in the smallest table: probe runs
            // wrap past its end), so that runs collide and removals shift them.
            let id = Int(generator.next() % (step < 30_000 ? 7 : step % 2 == 0 ? 150 : 3_000)) + 1
            switch generator.next() % 4 {
            case 0, 1:
                table[id] = step
                reference[id] = step
            case 2:
                #expect(table.removeValue(forKey: id) == reference.removeValue(forKey: id))
            default:
                #expect(table[id] == reference[id])
            }
            #expect(table.count == reference.count)
        }
        for (id, value) in reference { #expect(table[id] == value) }
        var visited = 0, sum = 0
        table.forEachValue { value in
            visited += 1
            sum += value
        }
        #expect(visited == reference.count && sum == reference.values.reduce(0, +))
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A finding's id list against sorting every id: the lowest `limit`, and the
/// count, with ids nearly in order (as connections finish), and with ids past
/// four bytes (a sharded run's packet numbers in a capture of billions of
/// packets) coming after the list has stored narrow ones.
@Suite struct IDListAgainstSorting {
    @Test(arguments: [(1, 0), (2, 0), (3, 5_000), (4, 20_000)])
    func lowestIDsAndCount(seed: UInt64, wideFrom: Int) {
        var generator = SplitMix(seed: seed)
        let limit = 1_000
        var list = IDList(), other = IDList()
        var all: [Int] = []
        for step in 0..<30_000 {
            var id = step * 8 + Int(generator.next() % 64)
            if wideFrom > 0 && step >= wideFrom { id += Int(UInt32.max) }
            all.append(id)
            if generator.next() % 3 == 0 { other.add(id, limit: limit) } else { list.add(id, limit: limit) }
        }
        list.merge(other, limit: limit)
        let final = list.final(limit: limit, nil)
        #expect(final.count == all.count)
        #expect(final.ids == Array(all.sorted().prefix(limit)))
        // Every id wide from the first, in reverse order, renumbered back.
        let shift = 1 << 32
        var late = IDList()
        for id in all.reversed() { late.add(id + shift, limit: 10) }
        #expect(late.final(limit: 10, { $0 - shift }).ids == Array(all.sorted().prefix(10)))
    }

    /// Under the limit every id is kept, packed as gaps (back and forth,
    /// wide ones too): two such lists merged, and one that reaches the limit
    /// exactly, then passes it.
    @Test func everyIDUnderTheLimit() {
        var generator = SplitMix(seed: 7)
        var list = IDList(), other = IDList()
        var all: [Int] = []
        for step in 0..<3_000 {
            var id = step * 300 + Int(generator.next() % 1_000) - 500
            if step % 97 == 0 { id += Int(UInt32.max) * 3 }
            if step % 89 == 0 { id = -id }
            all.append(id)
            if step % 2 == 0 { list.add(id, limit: 5_000) } else { other.add(id, limit: 5_000) }
        }
        list.merge(other, limit: 5_000)
        #expect(list.final(limit: 5_000, nil).ids == all.sorted())
        var full = IDList()
        for id in all.prefix(100) { full.add(id, limit: 100) }
        #expect(full.final(limit: 100, nil).ids == Array(all.prefix(100)).sorted())
        full.add(Int.min, limit: 100)
        #expect(full.final(limit: 100, nil).ids == Array(([Int.min] + all.prefix(100)).sorted().prefix(100)))
        #expect(full.final(limit: 100, nil).count == 101)
    }
}

/// The sizes the memory budget counts on (BENCHMARKS.md, "Memory"): what a
/// pool, a host and a running TIME_WAIT window keep, each (the tracker's
/// tombstone and key, the feed's window).
@Suite struct PoolStateLayout {
    @Test func sizes() {
        #expect(MemoryLayout<HostSweep.Point>.stride == 12)
        #expect(MemoryLayout<PoolFeed.RunningTimeWait>.stride == 24)
        #expect(MemoryLayout<PoolEvent>.stride == 24)
        #expect(MemoryLayout<PackedIPv4FlowKey>.stride == 12)
        #expect(MemoryLayout<ClosedFlows.Tombstone>.stride == 16)
        #expect(MemoryLayout<TimelinePoint>.stride == 20)
        #expect(MemoryLayout<ThinnedTimeline<TimelinePoint>>.stride == 32)
        #expect(MemoryLayout<IdleDurations>.stride == 56)
    }

    @Test(arguments: [Int64.min, -1_700_000_000_000_000_000, -5, 0, 1, (1 << 32) - 1, 1 << 32, 1_700_000_000_123_456_789, Int64.max] as [Int64])
    func splitTimeKeepsEveryNanosecond(time: Int64) {
        #expect(SplitTime(time).nanoseconds == time)
        #expect(HostSweep.Point(time: time, count: 3).time == time)
        #expect(TimelinePoint(time: time, open: 1, active: 2, idle: 3).time == time)
    }
}

/// Packed integers read back as they went in: every magnitude and sign,
/// the extremes too.
@Suite struct PackedIntsRoundTrip {
    @Test func valuesComeBackInOrder() {
        var generator = SplitMix(seed: 9)
        var values: [Int64] = [0, 1, -1, 63, 64, -64, -65, 127, 128, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1]
        for _ in 0..<5_000 {
            let bits = Int(generator.next() % 64)
            values.append(Int64(bitPattern: generator.next()) >> bits)
        }
        var packed = PackedInts()
        for v in values { packed.append(v) }
        var back: [Int64] = []
        packed.withReader { reader in
            while !reader.atEnd { back.append(reader.next()) }
        }
        #expect(back == values)
        #expect(LEB128.unzigzag(LEB128.zigzag(-3)) == -3 && LEB128.zigzag(-1) == 1 && LEB128.zigzag(1) == 2)
    }
}

/// The packed timeline against the plain array it replaced (the same
/// thinning, written out here): after every append, the same points. The
/// replacement of a group's last point by a heavier one, and each halving,
/// are where a packed form goes wrong.
@Suite struct ThinnedTimelineAgainstArray {
    struct Reference<Point: Weighted> {
        var points: [Point] = []
        var group = 1, inGroup = 0
        mutating func append(_ p: Point) {
            if inGroup == 0 {
                if points.count >= ThinnedTimeline<Point>.cap {
                    points = stride(from: 0, to: points.count, by: 2).map { i in
                        i + 1 < points.count && points[i + 1].weight > points[i].weight ? points[i + 1] : points[i]
                    }
                    group *= 2
                }
                points.append(p)
            } else if p.weight > points[points.count - 1].weight {
                points[points.count - 1] = p
            }
            inGroup += 1
            if inGroup >= group { inGroup = 0 }
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func samePointsAsTheArray(seed: UInt64) {
        var generator = SplitMix(seed: seed)
        var timeline = ThinnedTimeline<TimelinePoint>()
        var reference = Reference<TimelinePoint>()
        var time: Int64 = 1_700_000_000_000_000_000
        for step in 0..<6_000 {
            switch generator.next() % 4 {
            case 0: time += 0
            case 1: time += Int64(generator.next() % (1 << 40))
            default: time += Int64(generator.next() % 5_000_000)
            }
            let open = generator.next() % 50 == 0 ? Int(Int32.max) : Int(generator.next() % 300)
            let p = TimelinePoint(time: time, open: open, active: Int(generator.next() % 200), idle: Int(generator.next() % 3))
            timeline.append(p)
            reference.append(p)
            if step % 7 == 0 || step > 5_990 {
                #expect(timeline.points == reference.points, "after \(step + 1) points")
            }
        }
        #expect(timeline.group == reference.group && timeline.group > 8)
        // A host's points, negative times and counts among them.
        var hosts = ThinnedTimeline<HostSweep.Point>()
        var hostReference = Reference<HostSweep.Point>()
        for i in 0..<1_000 {
            let p = HostSweep.Point(time: Int64(i) * 1_000_003 - 5_000_000, count: Int32(truncatingIfNeeded: generator.next() % 40) - 3)
            hosts.append(p)
            hostReference.append(p)
        }
        #expect(hosts.points.map { [$0.time, Int64($0.count)] } == hostReference.points.map { [$0.time, Int64($0.count)] })
        #expect(hosts.count == hostReference.points.count && hosts.group == 8)
    }
}

/// The idle-close samples, packed, against Doubles kept the way they were:
/// every close counted, 1,024 kept, every other one dropped each time it fills.
@Suite struct IdleDurationsAgainstDoubles {
    @Test func sameSamples() {
        var generator = SplitMix(seed: 4)
        var durations = IdleDurations()
        var reference: [Double] = []
        var every = 1, skip = 0
        var lastIdle: Int64 = 0
        for i in 0..<5_000 {
            let idle = Int64(generator.next() % (i % 3 == 0 ? 200_000_000_000 : 50_000_000))
            // Ends 10 ms apart: none is one of a bulk close.
            durations.add(end: Int64(i) * 10_000_000, idle: idle)
            if i > 0 {
                // The previous one is flushed by this add.
                if skip > 0 { skip -= 1 } else {
                    reference.append(Double(lastIdle) / 1e9)
                    skip = every - 1
                    if reference.count >= 1024 {
                        reference = stride(from: 0, to: reference.count, by: 2).map { reference[$0] }
                        every *= 2
                        skip = every - 1
                    }
                }
            }
            lastIdle = idle
        }
        #expect(durations.values == reference)
        #expect(durations.count == 4_999 && every == 8)
    }
}

/// A sharded run's record of the packets that opened connections, against
/// counting in a plain array: gaps of one byte, several bytes, and none.
@Suite struct AscendingIDsAgainstCounting {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func countBelowEveryNumber(seed: UInt64) {
        var generator = SplitMix(seed: seed)
        var ids = AscendingIDs()
        var plain: [Int] = []
        var id = Int(generator.next() % 1000) - 500
        for _ in 0..<5_000 {
            switch generator.next() % 8 {
            case 0: id += 0
            case 1: id += Int(generator.next() % (1 << 40))
            case 2: id += 128
            default: id += Int(generator.next() % 127) + 1
            }
            ids.append(id)
            plain.append(id)
        }
        #expect(ids.count == plain.count)
        var probes = [plain[0] - 1, plain[plain.count - 1], plain[plain.count - 1] + 1, Int.min, Int.max]
        for _ in 0..<1_000 { probes.append(plain[Int(generator.next() % UInt64(plain.count))] + Int(generator.next() % 3) - 1) }
        for probe in probes {
            #expect(ids.countBelow(probe) == plain.filter { $0 < probe }.count, "below \(probe)")
        }
    }
}

/// Hosts are swept only while events wait for them. One that sat sweeps out
/// takes a late event as though it had been swept at each of them: an event
/// for an instant already swept counts from the last sweep's point. A host
/// never swept before sat out none.
@Suite struct HostSweepWaitingList {
    static let second: Int64 = 1_000_000_000

    static func batch(newHosts: [IPAddress], _ events: [(host: Int32, delta: Int8, at: Double)]) -> PoolBatch {
        var b = PoolBatch()
        b.newHosts = newHosts
        b.hostEvents = events.map { HostTimeWaitEvent(host: $0.host, delta: $0.delta, time: Int64($0.at * 1e9)) }
        return b
    }

    @Test func aHostOffTheListCatchesUpWithTheSweeps() {
        let a = IPAddress(ipv4: 0x0A01_0001), c = IPAddress(ipv4: 0x0A01_0003)
        var sweeper = PoolSweeper()
        sweeper.take(Self.batch(newHosts: [a], [(0, 1, 1), (0, -1, 2)]))
        sweeper.sweep(through: 3 * Self.second, timeWaitThrough: 3 * Self.second)
        #expect(sweeper.waitingHosts.isEmpty)
        // Sweeps the host sits out, the last at 6 s.
        for t in [4, 5, 6] as [Int64] {
            sweeper.take(PoolBatch())
            sweeper.sweep(through: t * Self.second, timeWaitThrough: t * Self.second)
        }
        // A window from 4.5 s on the known host counts from 6 s; on a new one, from 4.5 s.
        sweeper.take(Self.batch(newHosts: [c], [(0, 1, 4.5), (0, -1, 7), (1, 1, 4.5), (1, -1, 7)]))
        sweeper.sweep(through: .max, timeWaitThrough: .max)
        var sweepers = [sweeper]
        let loads = PoolSweeper.hostLoads(of: &sweepers)
        let times = Dictionary(uniqueKeysWithValues: loads.map { ($0.host, $0.timeline.map { Double($0.time.nanoseconds) / 1e9 }) })
        #expect(times[a] == [1, 2, 6, 7])
        #expect(times[c] == [4.5, 7])
    }
}
