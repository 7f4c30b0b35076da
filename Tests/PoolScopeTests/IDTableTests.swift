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
    }

    @Test(arguments: [Int64.min, -1_700_000_000_000_000_000, -5, 0, 1, (1 << 32) - 1, 1 << 32, 1_700_000_000_123_456_789, Int64.max] as [Int64])
    func splitTimeKeepsEveryNanosecond(time: Int64) {
        #expect(SplitTime(time).nanoseconds == time)
        #expect(HostSweep.Point(time: time, count: 3).time == time)
        #expect(TimelinePoint(time: time, open: 1, active: 2, idle: 3).time == time)
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
