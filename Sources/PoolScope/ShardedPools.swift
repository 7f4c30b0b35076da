import Dispatch
import PoolInference
import Synchronization

/// The pool sweep of a sharded analysis. A pool's connections are spread
/// over the shards (by 4-tuple), and its peaks need all of them in time
/// order: each shard hands over its batch at each tick (a quarter second of
/// capture time; the shards tick at the same packets, since every shard sees
/// every packet's time). Each shard also sweeps a share of the pools (and
/// hosts), those whose key hashes to it, from every shard's batches, once a
/// tick's batches are all in: the sweep runs on both cores, as the reading
/// does, and no pool is touched by two threads. The last sweeper of a tick
/// hands its batches back to their shards, whose next batches fill the same
/// buffers.
public final class ShardedPools: @unchecked Sendable {
    private struct State {
        /// Batches of the ticks some sweeper has not taken, the first being tick `first`.
        var ticks: [[PoolBatch?]] = []
        var first = 0
        /// The next tick each shard's sweeper takes.
        var cursors: [Int]
        /// How many sweepers have yet to sweep each tick some have taken.
        var unswept: [Int: Int] = [:]
        /// Per shard: batches of its own every sweeper is done with, for their
        /// buffers (`spare(for:)`), at most `ShardedPools.sparesKept`.
        var spares: [[PoolBatch]]
        /// Per shard: whether its last batch came (it needs no more buffers:
        /// they go at once, before the last sweep and the reports, the run's peak).
        var delivered: [Bool]
    }

    /// One shard's sweeper, mutated only by that shard's thread (and after all have finished).
    private final class Share: @unchecked Sendable {
        var sweeper: PoolSweeper
        init(_ sweeper: PoolSweeper) { self.sweeper = sweeper }
    }

    private let shards: Int
    private let state: Mutex<State>
    private let shares: [Share]

    public init(shards: Int, settings: PoolSettings) {
        self.shards = shards
        state = Mutex(State(cursors: Array(repeating: 0, count: shards), spares: Array(repeating: [], count: shards),
                           delivered: Array(repeating: false, count: shards)))
        shares = (0..<shards).map { Share(PoolSweeper(settings: settings, feeds: shards, share: $0, of: shards)) }
    }

    /// Shard `shard`'s batch for its `tick`-th tick (its last batch
    /// included); then that shard sweeps its share of every tick now complete.
    /// The last batch is only left: `finished` sweeps the last tick's shares
    /// side by side (every window still running ends in it, so it is the
    /// largest), where the shard completing it would sweep its share alone.
    func deliver(_ batch: consuming PoolBatch, shard: Int, tick: Int, last: Bool = false) {
        let work = state.withLock { s -> [(tick: Int, batches: [PoolBatch])] in
            let k = tick - s.first
            while s.ticks.count <= k { s.ticks.append(Array(repeating: nil, count: shards)) }
            s.ticks[k][shard] = batch
            if last {
                s.delivered[shard] = true
                s.spares[shard] = []
                return []
            }
            return self.takeComplete(&s, for: shard)
        }
        sweep(consume work, share: shard)
    }

    /// Every shard has delivered its last batch and stopped: each share takes
    /// the ticks it has not, and the sweepers are handed over.
    func finished() -> [PoolSweeper] {
        // What each share has not swept, the last tick included, side by side
        // (each share is its own sweeper).
        let remaining = (0..<shards).map { i in state.withLock { self.takeComplete(&$0, for: i) } }
        DispatchQueue.concurrentPerform(iterations: shards) { i in sweep(remaining[i], share: i) }
        // Moved out of the shares, so that the reports let each pool's state go as they are made.
        return shares.map { share in
            var sweeper = PoolSweeper(settings: share.sweeper.settings)
            swap(&sweeper, &share.sweeper)
            sweeper.doneTaking()
            return sweeper
        }
    }

    /// A shard's batches are swept a tick or two after it made them (the
    /// other shard's of that tick come, then each sweeper's turn): so many
    /// are in flight, and handed back, at once.
    static let sparesKept = 2
    /// Every 8th tick's batches are let go rather than kept: a kept buffer
    /// holds every page its fullest batch wrote, so kept for good, the
    /// fullest of a longer capture's bursts stayed resident (two threads'
    /// 1 GB peak 0.9 MiB over the 100 MB one's more; with renewal 0.4, and
    /// 136 unmappings of the 627 that not keeping any made).
    static let renewal = 8

    /// A batch of `shard`'s own that every sweeper is done with, if there is
    /// one: its next batch fills these buffers.
    func spare(for shard: Int) -> PoolBatch? {
        state.withLock { $0.spares[shard].popLast() }
    }

    private func sweep(_ work: consuming [(tick: Int, batches: [PoolBatch])], share i: Int) {
        var work = work
        for k in work.indices {
            // Held here alone: the work list lets go of them.
            var batches: [PoolBatch] = []
            swap(&batches, &work[k].batches)
            var through = Int64.max, timeWaitThrough = Int64.max
            for (feed, batch) in batches.enumerated() {
                through = min(through, batch.through)
                timeWaitThrough = min(timeWaitThrough, batch.timeWaitThrough)
                shares[i].sweeper.take(batch, from: feed)
            }
            shares[i].sweeper.sweep(through: through, timeWaitThrough: timeWaitThrough)
            // The last sweeper of a tick hands its batches back to their
            // shards (the others let go of theirs first, under the lock, so
            // the last holds them alone and no buffer is copied).
            state.withLock { s in
                let left = (s.unswept[work[k].tick] ?? shards) - 1
                if left > 0 {
                    s.unswept[work[k].tick] = left
                    batches = []
                    return
                }
                s.unswept[work[k].tick] = nil
                // Every `renewal`-th tick's go (see there).
                let renew = work[k].tick % Self.renewal == 0
                for (feed, batch) in batches.enumerated() where !renew && !s.delivered[feed] && s.spares[feed].count < Self.sparesKept {
                    s.spares[feed].append(batch)
                }
                batches = []
            }
        }
    }

    /// The complete ticks from `shard`'s cursor on; ticks every sweeper has
    /// taken are dropped.
    private func takeComplete(_ s: inout State, for shard: Int) -> [(tick: Int, batches: [PoolBatch])] {
        var taken: [(tick: Int, batches: [PoolBatch])] = []
        var t = s.cursors[shard]
        while t - s.first < s.ticks.count {
            let batches = s.ticks[t - s.first].compactMap { $0 }
            guard batches.count == shards else { break }
            taken.append((t, batches))
            t += 1
        }
        s.cursors[shard] = t
        let done = (s.cursors.min() ?? s.first) - s.first
        if done > 0 {
            s.ticks.removeFirst(done)
            s.first += done
        }
        return taken
    }
}
