import Foundation
import Testing
@testable import TensorCore

@Suite("Grid sampling against the naive twin")
struct GridSampleKernelTests {
    /// Zeros padding, 2-D and 3-D images, every mode, both corner conventions; coordinates in
    /// [−1.2, 1.2] so that some taps fall outside. The twin sums every pixel weighted by the
    /// interpolation kernel at its distance, so a wrong tap, weight or stride shows.
    @Test(arguments: [[5, 4], [3, 4, 6]], [true, false])
    func matchesReference(dims: [Int], alignCorners: Bool) {
        let g = GridSampling.Geometry(batch: 2, channels: 3, dims: dims, points: 7)
        var rng = SeededGenerator(seed: UInt64(dims.product * (alignCorners ? 2 : 1)))
        func uniform(_ n: Int, _ lo: Double, _ hi: Double) -> [Double] {
            (0..<n).map { _ in Double(Float(lo + (hi - lo) * Double(rng.next() >> 11) / Double(1 << 53))) }
        }
        let x = uniform(g.batch * g.channels * dims.product, -1, 1), grid = uniform(g.batch * g.points * dims.count, -1.2, 1.2)
        for mode in [GridSampling.Mode.nearest, .linear, .cubic] {
            let want = GridSampling.referenceZeros(x, grid: grid, geometry: g, mode: mode, alignCorners: alignCorners)
            let double = GridSampling.sample(x, grid: grid, geometry: g, mode: mode, padding: .zeros, alignCorners: alignCorners)
            let worstDouble = zip(double, want).map { abs($0 - $1) }.max() ?? 0
            #expect(worstDouble <= 1e-12, "\(mode) \(dims): Double worst \(worstDouble)")
            // Float: nearest could round a coordinate within an ulp of a half the other way, so
            // only the interpolating modes are compared; sums of at most 64 weighted values in
            // [−1, 1] measured at most 1.1e-6 off, bound 1e-5.
            guard mode != .nearest else { continue }
            let float = GridSampling.sample(x.map { Float($0) }, grid: grid.map { Float($0) }, geometry: g, mode: mode, padding: .zeros, alignCorners: alignCorners)
            let worstFloat = zip(float, want).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worstFloat <= 1e-5, "\(mode) \(dims): Float worst \(worstFloat)")
        }
    }
}
