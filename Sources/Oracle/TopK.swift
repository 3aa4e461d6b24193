import TensorCore

/// The result of comparing the top-k indices of a candidate and a reference, row by row along
/// the last axis.
public struct IndexComparison: Sendable {
    public let k: Int
    public let rows: Int
    public let rowsAgreeing: Int
    public let passed: Bool
    /// The first row whose indices fail, with both index lists.
    public let firstMismatch: (row: Int, candidate: [Int], reference: [Int])?
}

extension Oracle {
    /// The indices of the `k` largest values of each row along the last axis (descending; ties
    /// to the lower index; NaN ranks above every number, as in a descending sort that keeps NaN
    /// first so that it is noticed).
    public static func topKIndices(_ t: Tensor, k: Int) -> [[Int]] {
        guard let last = t.shape.last, last > 0 else { return [] }
        let v = t.doubles()
        let rows = v.count / last
        let kk = Swift.min(k, last)
        return (0..<rows).map { r in
            let base = r * last
            return (0..<last).sorted { a, b in
                let x = v[base + a], y = v[base + b]
                if x.isNaN != y.isNaN { return x.isNaN }
                if x != y && !x.isNaN { return x > y }
                return a < b
            }.prefix(kk).map { $0 }
        }
    }

    /// Compares the top-`k` indices of each row with Polygraphy's index rule (its `indices`
    /// comparison on the outputs of a TopK): each candidate index, but the last
    /// `indexTolerance`, must be at the same position in the reference's list or at most
    /// `indexTolerance` positions away.
    public static func compareTopK(_ candidate: Tensor, _ reference: Tensor, k: Int, indexTolerance: Int = 0) -> IndexComparison {
        guard candidate.shape == reference.shape, k >= 1 else {
            return IndexComparison(k: k, rows: 0, rowsAgreeing: 0, passed: false, firstMismatch: nil)
        }
        let c = topKIndices(candidate, k: k), r = topKIndices(reference, k: k)
        var agreeing = 0
        var first: (Int, [Int], [Int])?
        for row in 0..<c.count {
            var ok = true
            let checked = indexTolerance > 0 ? Array(c[row].dropLast(indexTolerance)) : c[row]
            for (p, idx) in checked.enumerated() where r[row][p] != idx {
                guard let q = r[row].firstIndex(of: idx), Swift.abs(q - p) <= indexTolerance else { ok = false; break }
            }
            if ok { agreeing += 1 } else if first == nil { first = (row, c[row], r[row]) }
        }
        return IndexComparison(k: k, rows: c.count, rowsAgreeing: agreeing, passed: agreeing == c.count, firstMismatch: first)
    }
}
