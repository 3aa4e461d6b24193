import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import TensorCore

/// `Parallel.forEachChunk` through the worker pool: every index covered exactly once, chunks that
/// depend only on the count and the thread count, and callers that meet the pool taken (regions
/// inside regions, several threads at once) still getting every chunk. These run under
/// ThreadSanitizer in `.ci/sanitizers`.
@Suite("Parallel regions on the worker pool")
struct ParallelTests {
    /// Each index is visited exactly once, and the chunks are the ones the formula gives, for
    /// counts around the thread count and grains that merge chunks.
    @Test(arguments: [1, 2, 3, 4, 7, 16])
    func everyIndexOnceInFixedChunks(threads: Int) {
        for count in [1, 2, 3, 5, 8, 17, 100, 1001] {
            for grain in [1, 3, 64] {
                // Per index: how often it was visited and the start of the chunk that visited it.
                // (A pthread lock through NSLock: ThreadSanitizer sees it, not the futexes of `Mutex`.)
                let lock = NSLock()
                nonisolated(unsafe) var result = Array(repeating: (visits: 0, start: -1), count: count)
                Parallel.forEachChunk(count, threads: threads, grain: grain) { range in
                    lock.withLock {
                        for i in range { result[i] = (result[i].visits + 1, range.lowerBound) }
                    }
                }
                let chunks = min(threads, max(1, count / grain))
                var wrong = 0
                for i in 0..<count {
                    if result[i].visits != 1 { wrong += 1 }
                    // The chunk holding i starts at count·p/chunks for the p with that start ≤ i.
                    let p = (0..<chunks).last { count * $0 / chunks <= i } ?? 0
                    if result[i].start != count * p / chunks { wrong += 1 }
                }
                #expect(wrong == 0, "count \(count), grain \(grain), threads \(threads)")
            }
        }
    }

    /// On two threads the caller always runs the first chunk and the worker, when it runs one, the
    /// second: the caller claims from the first piece up, the workers from the last down, so a
    /// worker that reaches the counter first does not take the caller's half (whose data the next
    /// layer then reads from the other core's cache). Over 500 regions run on the pool itself (one
    /// that finds it taken by another test is tried again; `Parallel` would run it on Dispatch,
    /// whose threads take chunks as they come), with chunks long and short enough that the worker
    /// sometimes comes first and sometimes late, and with however many workers earlier tests
    /// started (the workers never take the first piece). (Claimed from one end by both, the first
    /// chunk ran on the caller in 115 of 500.)
    @Test func callerTakesTheFirstChunk() {
        let caller = pthread_self()
        let lock = NSLock()
        nonisolated(unsafe) var firstOnCaller = 0, secondOnCaller = 0
        var onPool = 0, region = 0
        let deadline = Date().addingTimeInterval(60)
        while onPool < 500 && Date() < deadline {
            let slow = region % 2 == 0
            region += 1
            let ran = WorkerPool.shared.run(pieces: 2) { piece in
                let onCaller = pthread_equal(pthread_self(), caller) != 0
                if slow { usleep(20) }
                lock.withLock {
                    if piece == 0, onCaller { firstOnCaller += 1 }
                    if piece == 1, onCaller { secondOnCaller += 1 }
                }
            }
            if ran { onPool += 1 } else { usleep(100) }
        }
        #expect(onPool == 500, "the pool was free for only \(onPool) regions in 60 s (\(region) tried)")
        #expect(firstOnCaller == onPool, "the first chunk ran on the caller in \(firstOnCaller) of \(onPool) regions")
        // Not an assertion that the worker took part: on a loaded machine it may come late every
        // time. Printed so that a run shows how the chunks were shared.
        print("second chunk on the caller in \(secondOnCaller) of \(onPool) regions on the pool")
    }

    /// A region started inside a region (the pool is taken) still runs all of its chunks.
    @Test func nestedRegions() {
        let total = Atomic<Int>(0)
        Parallel.forEachChunk(6, threads: 3) { outer in
            for _ in outer {
                Parallel.forEachChunk(10, threads: 2) { inner in
                    total.add(inner.count, ordering: .relaxed)
                }
            }
        }
        #expect(total.load(ordering: .relaxed) == 60)
    }

    /// Several threads starting regions at once: one gets the pool, the others fall back, and every
    /// region sums its own range correctly, many times over.
    @Test func concurrentCallers() {
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<200 {
                let count = 50 + caller * 13 + round % 7
                let sum = Atomic<Int>(0)
                Parallel.forEachChunk(count, threads: 2 + caller % 2) { range in
                    sum.add(range.reduce(0, +), ordering: .relaxed)
                }
                if sum.load(ordering: .relaxed) != count * (count - 1) / 2 { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    /// Regions far apart in time: the workers have gone to sleep in between and must wake for the
    /// next (the default spin is 2 ms; the 20 ms gap outlasts it).
    @Test func regionsAfterTheWorkersSleep() {
        for gap in [0, 3_000, 20_000] {
            if gap > 0 { usleep(UInt32(gap)) }
            let sum = Atomic<Int>(0)
            Parallel.forEachChunk(1000, threads: 4) { range in sum.add(range.count, ordering: .relaxed) }
            #expect(sum.load(ordering: .relaxed) == 1000, "after \(gap) µs idle")
        }
    }
}
