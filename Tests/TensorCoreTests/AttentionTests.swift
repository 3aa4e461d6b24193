import Foundation
import Testing
@testable import TensorCore

@Suite("Scaled dot-product attention against the naive twin")
struct AttentionKernelTests {
    /// Grouped heads (4 query heads on 2 key/value heads), a causal mask with an offset, a float
    /// bias, and one query row whose every key is masked (it must give 0).
    @Test(arguments: [(1, 1, 1, 1, 1, 4, 4), (2, 4, 2, 3, 5, 8, 6), (1, 2, 2, 7, 33, 16, 16)])
    func matchesReference(batch: Int, qHeads: Int, kvHeads: Int, qLength: Int, keyLength: Int, headSize: Int, valueSize: Int) {
        let g = ScaledDotProductAttention.Geometry(
            batch: batch, qHeads: qHeads, kvHeads: kvHeads, qLength: qLength, keyLength: keyLength, headSize: headSize, valueSize: valueSize)
        var rng = SeededGenerator(seed: UInt64(batch * 100 + qLength * 10 + keyLength))
        func values(_ n: Int) -> [Double] { (0..<n).map { _ in Double(Float(Double(rng.next() >> 11) / Double(1 << 53) * 4 - 2)) } }
        let q = values(batch * qHeads * qLength * headSize), k = values(batch * kvHeads * keyLength * headSize)
        let v = values(batch * kvHeads * keyLength * valueSize)
        let offset = keyLength - qLength
        let bias: (Int, Int, Int, Int) -> Double = { b, h, i, j in
            if b == batch - 1 && h == 0 && i == 0 && qLength > 1 { return -.infinity }  // a fully masked row
            if j > i + offset { return -.infinity }  // causal
            return 0.25 * Double((b + h + i + j) % 3) - 0.25
        }
        let scale = 1 / Double(headSize).squareRoot()
        let want = ScaledDotProductAttention.reference(q: q, keys: k, values: v, geometry: g, scale: scale, bias: bias)
        var yf: [Float] = [], sf: [Float] = [], yd: [Double] = [], sd: [Double] = []
        ScaledDotProductAttention.compute(q: q.map { Float($0) }, keys: k.map { Float($0) }, values: v.map { Float($0) }, geometry: g, scale: scale,
                                          softcap: 0, bias: bias, rounding: nil, scoresOutput: .scores, y: &yf, scores: &sf)
        ScaledDotProductAttention.compute(q: q, keys: k, values: v, geometry: g, scale: scale,
                                          softcap: 0, bias: bias, rounding: nil, scoresOutput: .scores, y: &yd, scores: &sd)
        // Outputs are convex combinations of values in [-2, 2]: Float's sums of at most 33 terms
        // measured at most 3.3e-7 off (0 for the one-key case); 2e-6 absolute is a sixfold margin
        // that still catches a wrong head, key or mask (errors of O(0.1)).
        let worstFloat = zip(yf, want).map { abs(Double($0) - $1) }.max() ?? 0
        let worstDouble = zip(yd, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worstFloat <= 2e-6, "float: worst \(worstFloat)")
        #expect(worstDouble <= 1e-13, "double: worst \(worstDouble)")
        if qLength > 1 {
            let row = ((batch - 1) * qHeads) * qLength * valueSize
            #expect(yd[row..<(row + valueSize)].allSatisfy { $0 == 0 }, "a fully masked row gives 0")
        }
    }
}
