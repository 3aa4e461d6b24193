import Foundation
import Testing
@testable import TensorCore

@Suite("Contraction (Einsum's loops) against independent forms")
struct ContractionTests {
    func uniform(_ n: Int, _ rng: inout SeededGenerator) -> [Double] {
        (0..<n).map { _ in Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1 }
    }

    /// "bij,bjk->bik": a batched matrix product, against the naive GEMM twin per batch.
    @Test func batchedMatrixProduct() {
        let (b, m, k, n) = (3, 4, 5, 6)
        var rng = SeededGenerator(seed: 1)
        let x = uniform(b * m * k, &rng), y = uniform(b * k * n, &rng)
        // Labels b, i, k (output) then j (summed); x [b, i, j], y [b, j, k].
        let layout = Contraction.Layout(outputExtents: [b, m, n], summedExtents: [k],
                                        steps: [[m * k, k, 0, 1], [k * n, 0, 1, n]])
        let got = Contraction.compute([x, y], layout: layout)
        for batch in 0..<b {
            var want = [Double](repeating: 0, count: m * n)
            let xb = Array(x[(batch * m * k)..<((batch + 1) * m * k)]), yb = Array(y[(batch * k * n)..<((batch + 1) * k * n)])
            GEMM.referenceGEMM(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: xb, lda: k, b: yb, ldb: n, beta: 0, c: &want, ldc: n)
            for e in 0..<(m * n) {
                // Both sum 5 products in Double in the same order: equal to the last bit or two.
                #expect(abs(got[batch * m * n + e] - want[e]) <= 1e-15, "batch \(batch) element \(e)")
            }
        }
    }

    /// "ii->" (trace), "ii->i" (diagonal), "i,j->ij" (outer) and "ij->" (a sum), against loops.
    @Test func diagonalsOuterProductsAndSums() {
        var rng = SeededGenerator(seed: 2)
        let a = uniform(16, &rng), u = uniform(3, &rng), v = uniform(5, &rng)
        let trace = Contraction.compute([a], layout: Contraction.Layout(outputExtents: [], summedExtents: [4], steps: [[5]]))
        #expect(abs(trace[0] - (0..<4).reduce(0.0) { $0 + a[$1 * 5] }) <= 1e-15)
        let diagonal = Contraction.compute([a], layout: Contraction.Layout(outputExtents: [4], summedExtents: [], steps: [[5]]))
        #expect(diagonal == (0..<4).map { a[$0 * 5] })
        let outer = Contraction.compute([u, v], layout: Contraction.Layout(outputExtents: [3, 5], summedExtents: [], steps: [[1, 0], [0, 1]]))
        #expect(outer == (0..<15).map { u[$0 / 5] * v[$0 % 5] })
        let total = Contraction.compute([a], layout: Contraction.Layout(outputExtents: [], summedExtents: [4, 4], steps: [[4, 1]]))
        #expect(abs(total[0] - a.reduce(0, +)) <= 1e-14)
    }
}
