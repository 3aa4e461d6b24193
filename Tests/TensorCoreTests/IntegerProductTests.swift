import Testing
@testable import TensorCore

@Suite("Integer products and requantization")
struct IntegerProductTests {
    /// The batched integer product against its definition per element, with a batch broadcast
    /// (A has one batch entry, B three) and per-row / per-column zero points.
    @Test func integerMatMulMatchesDefinition() {
        var g = SeededGenerator(seed: 41)
        let (m, k, n) = (3, 5, 4)
        let a = (0..<(m * k)).map { _ in Int64(randomInt(-128...127, &g)) }
        let b = (0..<(3 * k * n)).map { _ in Int64(randomInt(0...255, &g)) }
        let za = (0..<m).map { _ in Int64(randomInt(-5...5, &g)) }, zb = [Int64(128)]
        let pairs = Broadcast.batchPairs([1], [3], batch: [3])
        let y = Quantization.integerMatMul(a, b, pairs: pairs, m: m, k: k, n: n, aZero: za, bZero: zb)
        for t in 0..<3 {
            for i in 0..<m {
                for j in 0..<n {
                    let want = (0..<k).reduce(Int64(0)) { $0 + (a[i * k + $1] - za[i]) * (b[(t * k + $1) * n + j] - zb[0]) }
                    #expect(y[(t * m + i) * n + j] == want)
                }
            }
        }
    }

    /// Rescaled sums saturate to the 8-bit range and round half to even; a zero output scale
    /// (an infinite factor, 0·∞ = NaN for a zero sum) saturates instead of trapping.
    @Test func requantizeSaturatesAndSurvivesAZeroScale() {
        let range: (lo: Int64, hi: Int64) = (-128, 127)
        #expect(Quantization.requantize([5, 7, -1000, 1000], factor: { _ in 0.5 }, zeroPoint: 0, range: range) == [2, 4, -128, 127])
        #expect(Quantization.requantize([0, 3, -3], factor: { _ in .infinity }, zeroPoint: 0, range: range) == [0, 127, -128])
        #expect(Quantization.requantize([1], factor: { _ in .nan }, zeroPoint: 0, range: range) == [0])
    }
}
