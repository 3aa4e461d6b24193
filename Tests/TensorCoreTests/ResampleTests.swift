import Foundation
import Testing
@testable import TensorCore

@Suite("Resampling against the naive twin")
struct ResampleKernelTests {
    /// The tap tables of one case: axes 1 and 2 of a [2, h, w, 3] tensor resized to [2, oh, ow, 3].
    static func taps(
        _ mode: ResizeTaps.Mode, _ transform: ResizeTaps.CoordinateTransform, antialias: Bool, input: [Int], output: [Int]
    ) -> [ResizeTaps?] {
        [nil] + (0..<2).map { a in
            ResizeTaps.make(
                input: input[a], output: output[a], scale: Double(output[a]) / Double(input[a]), mode: mode, transform: transform,
                nearest: .roundPreferFloor, cubicA: -0.75, excludeOutside: false, antialias: antialias, roi: (0.1, 0.8))
        } + [nil]
    }

    static let cases: [(ResizeTaps.Mode, ResizeTaps.CoordinateTransform, Bool, [Int], [Int])] = [
        (.nearest, .asymmetric, false, [5, 7], [11, 3]),
        (.linear, .halfPixel, false, [5, 7], [13, 16]),
        (.linear, .alignCorners, false, [6, 4], [3, 9]),
        (.cubic, .pytorchHalfPixel, false, [7, 5], [15, 4]),
        (.linear, .halfPixel, true, [17, 12], [5, 7]),
        (.cubic, .halfPixel, true, [16, 9], [6, 4]),
        (.linear, .tfCropAndResize, false, [6, 6], [9, 5]),
    ]

    /// The Double kernel sums each output's taps in the twin's order: equal bits. The Float kernel
    /// (weights rounded to Float, products and sums in Float) stays within the first-order bound
    /// of its two passes: per pass, (n + 2)·u·Σ|w|·max|input| for n taps (the weights' rounding and
    /// n roundings of the sum), the second pass also carrying the first's error times its Σ|w|.
    /// Thread counts give equal bits (each output is computed by one thread, in one order).
    @Test(arguments: 0..<7)
    func matchesReference(index: Int) {
        let (mode, transform, antialias, input, output) = Self.cases[index]
        let shape = [2, input[0], input[1], 3]
        var rng = SeededGenerator(seed: UInt64(100 + index))
        let x = randomFloats(shape.product, &rng).map { Double($0) }
        let taps = Self.taps(mode, transform, antialias: antialias, input: input, output: output)
        let passes = Resample.passes(taps)
        let want = Resample.reference(x, shape: shape, taps: taps, extrapolation: -3)
        let double = Resample.apply(x, shape: shape, passes: passes, extrapolation: -3)
        #expect(double == want, "\(mode) \(transform): the Double kernel differs from the twin")

        let float = Resample.apply(x.map { Float($0) }, shape: shape, passes: passes, extrapolation: -3)
        let floatThreaded = Resample.apply(x.map { Float($0) }, shape: shape, passes: passes, extrapolation: -3, threads: 3)
        #expect(float == floatThreaded, "\(mode) \(transform): 1 and 3 threads differ")
        let u = Double(Float.ulpOfOne) / 2
        var bound = 0.0
        var magnitude = max(x.map { abs($0) }.max() ?? 0, 3)
        for t in taps.compactMap({ $0 }) {
            let n = Double(t.taps.map(\.count).max() ?? 0)
            let gain = t.taps.map { $0.reduce(0) { $0 + abs($1.1) } }.max() ?? 0
            bound = bound * gain + (n + 2) * u * gain * magnitude
            magnitude *= max(gain, 1)
        }
        let worst = zip(float, want).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst <= bound, "\(mode) \(transform): Float worst \(worst), bound \(bound)")
        #expect(float.count == want.count && want.count == 2 * output[0] * output[1] * 3)
    }
}
