import Dispatch

/// Splits independent work over threads with `DispatchQueue.concurrentPerform`.
///
/// `threads` is the session's setting; with 1 the work runs inline on the caller's thread.
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
        // One chunk per thread: concurrentPerform then never runs more than `threads` at once.
        let pieces = chunks
        withoutActuallyEscaping(body) { body in
            // Chunks are disjoint by construction; the box only tells the compiler so.
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: pieces) { p in
                let lo = count * p / pieces
                let hi = count * (p + 1) / pieces
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }
}

/// Carries a non-Sendable value into concurrent work whose disjointness the caller guarantees.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
