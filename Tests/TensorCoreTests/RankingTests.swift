import Foundation
import Testing
@testable import TensorCore

@Suite("Ranking kernels against their naive twins")
struct RankingTests {
    /// Values from a small set (so that ties are common), with NaNs and infinities.
    static func data(_ n: Int, seed: UInt64) -> [Double] {
        var g = SeededGenerator(seed: seed)
        let pool: [Double] = [-2, -1, 0, 0.5, 1, 3, .infinity, -.infinity, .nan]
        return (0..<n).map { _ in pool[Int(g.next() % UInt64(pool.count))] }
    }

    /// TopK (every k, both orders) and ArgMax/ArgMin (first and last) equal the twins position
    /// for position, on slices along a middle axis (inner 3) full of ties and NaNs.
    @Test(arguments: [UInt64(1), 2, 3])
    func matchTwins(seed: UInt64) {
        let (outer, length, inner) = (2, 9, 3)
        let v = Self.data(outer * length * inner, seed: seed)
        for largest in [true, false] {
            for k in 0...length {
                let got = Ranking.topK(v, outer: outer, length: length, inner: inner, k: k, largest: largest)
                #expect(got == Ranking.topKReference(v, outer: outer, length: length, inner: inner, k: k, largest: largest), "k \(k) largest \(largest)")
            }
        }
        for isMax in [true, false] {
            for selectLast in [true, false] {
                let got = Ranking.argExtreme(v, outer: outer, length: length, inner: inner, isMax: isMax, selectLast: selectLast)
                #expect(got == Ranking.argExtremeReference(v, outer: outer, length: length, inner: inner, isMax: isMax, selectLast: selectLast),
                        "isMax \(isMax) selectLast \(selectLast)")
            }
        }
    }

    /// Hardmax puts a single 1 per slice, at the first largest number.
    @Test func hardmaxMarksTheFirstLargest() {
        let v: [Double] = [1, 3, 3, 2, /* second slice */ -1, -1, -5, -2]
        #expect(Ranking.hardmax(v, outer: 2, length: 4, inner: 1) == [0, 1, 0, 0, 1, 0, 0, 0])
    }
}
