/// Kernels that rank values: along one axis of `[outer, length, inner]` (TopK, ArgMax/ArgMin,
/// Hardmax, each beside a naive twin) and boxes by score (NonMaxSuppression). They compare values
/// and never round them, so Double holds every input dtype exactly (integers up to 2^53).
public enum Ranking {
    /// The first k positions of each slice in TopK's order: larger (or smaller) values first,
    /// NaN beyond every number for `largest` (before every number otherwise, as ONNX's reference
    /// sorts), equal values by position. Returns `[outer, k, inner]` positions along the axis.
    public static func topK(_ v: [Double], outer: Int, length: Int, inner: Int, k: Int, largest: Bool) -> [Int] {
        var picked = [Int](repeating: 0, count: outer * k * inner)
        guard k > 0 else { return picked }
        for o in 0..<outer {
            for i in 0..<inner {
                let order = (0..<length).sorted { p, q in precedes(v[(o * length + p) * inner + i], p, v[(o * length + q) * inner + i], q, largest) }
                for r in 0..<k { picked[(o * k + r) * inner + i] = order[r] }
            }
        }
        return picked
    }

    /// Whether value `a` at position p comes before value `b` at position q in TopK's order.
    @inline(__always)
    static func precedes(_ a: Double, _ p: Int, _ b: Double, _ q: Int, _ largest: Bool) -> Bool {
        if a == b || (a.isNaN && b.isNaN) { return p < q }
        if a.isNaN { return largest }
        if b.isNaN { return !largest }
        return largest ? a > b : a < b
    }

    /// The naive twin of `topK`: each position's rank is the number of positions that precede it
    /// (counted, O(length²)); the position of rank r is written at r.
    public static func topKReference(_ v: [Double], outer: Int, length: Int, inner: Int, k: Int, largest: Bool) -> [Int] {
        var picked = [Int](repeating: 0, count: outer * k * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                for p in 0..<length {
                    let vp = v[(o * length + p) * inner + i]
                    let rank = (0..<length).filter { q in q != p && precedes(v[(o * length + q) * inner + i], q, vp, p, largest) }.count
                    if rank < k { picked[(o * k + rank) * inner + i] = p }
                }
            }
        }
        return picked
    }

    /// ArgMax (`isMax`) or ArgMin of each slice: the first extreme position, or the last with
    /// `selectLast`; a NaN counts as the extreme (numpy's argmax), the first NaN unless
    /// `selectLast`. Returns `[outer, inner]` positions.
    public static func argExtreme(_ v: [Double], outer: Int, length: Int, inner: Int, isMax: Bool, selectLast: Bool) -> [Int] {
        var result = [Int](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0
                for k in 1..<Swift.max(1, length) {
                    let cand = v[(o * length + k) * inner + i], cur = v[(o * length + best) * inner + i]
                    if cur.isNaN && !selectLast { continue }
                    let better = cand.isNaN || (isMax ? cand > cur : cand < cur) || (selectLast && cand == cur)
                    if better { best = k }
                }
                result[o * inner + i] = best
            }
        }
        return result
    }

    /// The naive twin of `argExtreme`: the positions holding the extreme (any NaN being it), then
    /// the first or the last of them.
    public static func argExtremeReference(_ v: [Double], outer: Int, length: Int, inner: Int, isMax: Bool, selectLast: Bool) -> [Int] {
        var result = [Int](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                let slice = (0..<length).map { v[(o * length + $0) * inner + i] }
                let nans = slice.indices.filter { slice[$0].isNaN }
                let candidates: [Int]
                if !nans.isEmpty {
                    candidates = nans
                } else {
                    let extreme = isMax ? slice.max() : slice.min()
                    candidates = slice.indices.filter { slice[$0] == extreme }
                }
                result[o * inner + i] = (selectLast ? candidates.last : candidates.first) ?? 0
            }
        }
        return result
    }

    /// Hardmax: 1 at the first largest value of each slice (NaNs never win), 0 elsewhere; `[outer,
    /// length, inner]` like the input.
    public static func hardmax(_ v: [Double], outer: Int, length: Int, inner: Int) -> [Double] {
        var y = [Double](repeating: 0, count: v.count)
        for o in 0..<outer {
            for i in 0..<inner where length > 0 {
                var best = 0
                for t in 1..<length where v[(o * length + t) * inner + i] > v[(o * length + best) * inner + i] { best = t }
                y[(o * length + best) * inner + i] = 1
            }
        }
        return y
    }

    /// ONNX NonMaxSuppression, greedy per batch and class: the boxes whose score exceeds
    /// `scoreThreshold` (all without one), by descending score (ties by index), each kept unless
    /// its IoU with an already kept box exceeds `iouThreshold`, at most `limit` per class.
    /// `boxes` `[B, N, 4]` as (y1, x1, y2, x2) in any corner order, or (cx, cy, w, h) with
    /// `centerPointBox`; `scores` `[B, C, N]`. Returns (batch, class, box) triples, flattened.
    /// Its reference is ONNX's node tests (NonMaxSuppression's conformance cases).
    public static func nonMaxSuppression(
        boxes b: [Double], scores s: [Double], batches: Int, classes: Int, boxCount n: Int,
        centerPointBox: Bool, limit: Int, iouThreshold: Double, scoreThreshold: Double?
    ) -> [Int64] {
        // Each box as (yMin, xMin, yMax, xMax).
        func corners(_ batch: Int, _ i: Int) -> (Double, Double, Double, Double) {
            let o = (batch * n + i) * 4
            if centerPointBox {
                let (cx, cy, w, h) = (b[o], b[o + 1], b[o + 2], b[o + 3])
                return (cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2)
            }
            return (min(b[o], b[o + 2]), min(b[o + 1], b[o + 3]), max(b[o], b[o + 2]), max(b[o + 1], b[o + 3]))
        }
        func overlaps(_ batch: Int, _ i: Int, _ j: Int) -> Bool {
            let p = corners(batch, i), q = corners(batch, j)
            let h = min(p.2, q.2) - max(p.0, q.0), w = min(p.3, q.3) - max(p.1, q.1)
            guard h > 0, w > 0 else { return false }
            let inter = h * w, a1 = (p.2 - p.0) * (p.3 - p.1), a2 = (q.2 - q.0) * (q.3 - q.1)
            let union = a1 + a2 - inter
            guard a1 > 0, a2 > 0, union > 0 else { return false }
            return inter / union > iouThreshold
        }
        var out: [Int64] = []
        for batch in 0..<batches {
            for cls in 0..<classes {
                let row = (batch * classes + cls) * n
                let candidates = (0..<n).filter { i in scoreThreshold.map { s[row + i] > $0 } ?? true }
                    .sorted { s[row + $0] > s[row + $1] || (s[row + $0] == s[row + $1] && $0 < $1) }
                var kept: [Int] = []
                for i in candidates where kept.count < limit {
                    if !kept.contains(where: { overlaps(batch, $0, i) }) { kept.append(i) }
                }
                for i in kept { out += [Int64(batch), Int64(cls), Int64(i)] }
            }
        }
        return out
    }
}
