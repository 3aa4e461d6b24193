import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits independent work over threads.
///
/// `threads` is the session's setting; with 1 the work runs inline on the caller's thread.
/// Where the chunks start and end depends only on `count`, `threads` and `grain`, never on
/// which thread runs a chunk or when, so results are the same bits whoever runs them.
public enum Parallel {
    /// Calls `body(range)` over disjoint chunks covering `0..<count`, at most `threads` at a time.
    /// Chunks are at least `grain` long so that tiny loops stay on one thread.
    public static func forEachChunk(_ count: Int, threads: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let chunks = min(max(1, threads), max(1, count / max(1, grain)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        let pieces = chunks
        withoutActuallyEscaping(body) { body in
            let piece: (Int) -> Void = { p in
                let lo = count * p / pieces
                let hi = count * (p + 1) / pieces
                if lo < hi { body(lo..<hi) }
            }
            if WorkerPool.enabled, WorkerPool.shared.run(pieces: pieces, piece) { return }
            // The pool is in use (another session's run, or a region nested in one): Dispatch's
            // threads run the same chunks. The box only tells the compiler they are disjoint.
            let box = UncheckedBox(piece)
            DispatchQueue.concurrentPerform(iterations: pieces) { p in box.value(p) }
        }
    }
}

/// Carries a non-Sendable value into concurrent work whose disjointness the caller guarantees.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Worker threads that stay awake between parallel regions.
///
/// A model's run is a chain of short parallel regions (tens of microseconds each). Waking a
/// sleeping thread for each costs about as much as the region itself (measured: a two-way
/// `concurrentPerform` over 10 µs chunks takes 27–30 µs here, the second thread joining about
/// 18 µs late), so the workers spin for a while after each region, looking for the next, and
/// only then sleep on a condition variable. The caller runs pieces too; pieces are claimed one
/// at a time, so a late worker costs nothing but its absence: the caller from the first piece up,
/// the workers from the last one down (never the first), so that on two threads the caller takes
/// the first half of every split and the worker the second, whichever reaches the counter first.
/// (When both claimed from the first piece up, a worker that came first took the caller's half,
/// and the next layer read that half from the other core's cache; EfficientNet-B0 at batch 1 on
/// two threads, four alternating rounds of 100 runs on an Emerald Rapids Xeon, medians 8.09–8.62
/// → 7.88–8.34 ms.)
///
/// One region runs at a time: a caller that finds the pool taken (another thread's region, or a
/// region inside a region) falls back to Dispatch. `TOUCHSTONE_THREAD_POOL=dispatch` turns the
/// pool off; `TOUCHSTONE_SPIN_MICROSECONDS` sets how long an idle worker spins (default 2000).
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    static let enabled: Bool = ProcessInfo.processInfo.environment["TOUCHSTONE_THREAD_POOL"] != "dispatch"

    /// The region being run: generation (bits 32–63), one past the last unclaimed piece (16–31),
    /// the first unclaimed piece (0–15).
    private let state = Atomic<UInt64>(0)
    /// Pieces finished in the current region.
    private let finished = Atomic<Int>(0)
    /// Whether a caller owns the pool.
    private let owned = Atomic<Bool>(false)
    /// Workers waiting on the condition variable.
    private let sleepers = Atomic<Int>(0)
    /// Written by the owner before it publishes a region and cleared after every piece has finished;
    /// read by a worker only after it has claimed a piece, so never while being written.
    private var body: ((Int) -> Void)?
    /// Started workers; changed only by the owner.
    private var workers = 0
    private let spinNanoseconds: UInt64
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    static let maxWorkers = 255

    private init() {
        let spin = ProcessInfo.processInfo.environment["TOUCHSTONE_SPIN_MICROSECONDS"].flatMap { UInt64($0) } ?? 2000
        spinNanoseconds = min(spin, 1_000_000) * 1000
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    /// Runs `piece(0..<pieces)`, each exactly once, on the caller and the workers; false (nothing run)
    /// when the pool is taken.
    func run(pieces: Int, _ piece: @escaping (Int) -> Void) -> Bool {
        guard pieces > 1, pieces <= 0xFFFF else { return false }
        guard owned.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        let wanted = min(pieces - 1, Self.maxWorkers)
        while workers < wanted {
            workers += 1
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "touchstone-worker"
            thread.start()
        }
        body = piece
        finished.store(0, ordering: .relaxed)
        let generation = (state.load(ordering: .relaxed) >> 32) &+ 1
        let published = (generation << 32) | (UInt64(pieces) << 16)
        state.store(published, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        runPieces(generation: generation)
        var spins = 0
        while finished.load(ordering: .acquiring) < pieces {
            spins += 1
            if spins & 255 == 0 { sched_yield() }
        }
        body = nil
        owned.store(false, ordering: .releasing)
        return true
    }

    /// Claims and runs pieces of the region `generation` until none is left: the caller from the
    /// first piece up, the workers from the last one down (`fromTop`) and never the first, which
    /// waits for the caller (with several workers, two could otherwise take both pieces of two).
    private func runPieces(generation: UInt64, fromTop: Bool = false) {
        var s = state.load(ordering: .acquiring)
        while true {
            let high = (s >> 16) & 0xFFFF
            let low = s & 0xFFFF
            guard s >> 32 == generation, low < high, !fromTop || high > 1 else { return }
            let (claimed, current) = state.compareExchange(
                expected: s, desired: fromTop ? s - (1 << 16) : s + 1, ordering: .acquiringAndReleasing)
            if claimed {
                runPiece(Int(fromTop ? high - 1 : low))
                finished.add(1, ordering: .releasing)
                s = state.load(ordering: .acquiring)
            } else {
                s = current
            }
        }
    }

    /// Kept out of line so the worker's reference to the body is gone before the piece is counted.
    @inline(never)
    private func runPiece(_ p: Int) {
        body?(p)
    }

    private func work() {
        var seen = state.load(ordering: .acquiring) >> 32
        var idleSince = Self.now()
        var spins = 0
        while true {
            let generation = state.load(ordering: .acquiring) >> 32
            if generation != seen {
                seen = generation
                runPieces(generation: generation, fromTop: true)
                idleSince = Self.now()
                spins = 0
                continue
            }
            spins += 1
            if spins & 63 != 0 { continue }
            if Self.now() &- idleSince < spinNanoseconds {
                if spins & 1023 == 0 { sched_yield() }
                continue
            }
            sleepers.add(1, ordering: .sequentiallyConsistent)
            pthread_mutex_lock(mutex)
            while state.load(ordering: .sequentiallyConsistent) >> 32 == seen {
                pthread_cond_wait(condition, mutex)
            }
            pthread_mutex_unlock(mutex)
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
            spins = 0
        }
    }

    private static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }
}
