import PoolInference
import Synchronization

/// The one pool sweeper that a sharded analysis's shards feed. A pool's
/// connections are spread over the shards (by 4-tuple), and its peaks need
/// all of them in time order: each shard hands over its batch at each tick,
/// a quarter second of capture time (the shards tick at the same packets: every shard sees every packet's time), and once every shard's
/// batch for a tick is in, the shard that completed it sweeps them, tick
/// after tick, while the others read on.
public final class ShardedPools: @unchecked Sendable {
    private struct State {
        /// Batches of the ticks not swept yet, the first being tick `first`.
        var ticks: [[PoolBatch?]] = []
        var first = 0
        /// A shard is sweeping: the others only leave their batches.
        var sweeping = false
    }

    private let shards: Int
    private let state = Mutex(State())
    /// Touched only by the shard holding `sweeping`, and after every shard has finished.
    private var sweeper: PoolSweeper

    public init(shards: Int, settings: PoolSettings) {
        self.shards = shards
        sweeper = PoolSweeper(settings: settings, feeds: shards)
    }

    /// Shard `shard`'s batch for its `tick`-th tick (its last batch included).
    func deliver(_ batch: consuming PoolBatch, shard: Int, tick: Int) {
        var work = state.withLock { s -> [[PoolBatch]] in
            let k = tick - s.first
            while s.ticks.count <= k { s.ticks.append(Array(repeating: nil, count: shards)) }
            s.ticks[k][shard] = batch
            guard !s.sweeping else { return [] }
            let taken = Self.takeComplete(&s)
            s.sweeping = !taken.isEmpty
            return taken
        }
        while !work.isEmpty {
            for tick in work {
                var through = Int64.max, timeWaitThrough = Int64.max
                for (feed, batch) in tick.enumerated() {
                    var batch = batch
                    through = min(through, batch.through)
                    timeWaitThrough = min(timeWaitThrough, batch.timeWaitThrough)
                    sweeper.take(&batch, from: feed)
                }
                sweeper.sweep(through: through, timeWaitThrough: timeWaitThrough)
            }
            work = state.withLock { s in
                let taken = Self.takeComplete(&s)
                if taken.isEmpty { s.sweeping = false }
                return taken
            }
        }
    }

    /// The leading ticks every shard has delivered.
    private static func takeComplete(_ s: inout State) -> [[PoolBatch]] {
        var n = 0
        while n < s.ticks.count && s.ticks[n].allSatisfy({ $0 != nil }) { n += 1 }
        guard n > 0 else { return [] }
        let taken = s.ticks[0..<n].map { $0.map { $0! } }
        s.ticks.removeFirst(n)
        s.first += n
        return taken
    }

    /// After every shard delivered its last batch.
    func finished() -> PoolSweeper {
        sweeper
    }
}
