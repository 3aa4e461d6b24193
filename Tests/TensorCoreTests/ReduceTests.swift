import Foundation
import Testing
@testable import TensorCore

@Suite("Float reductions and softmax against the Double twins")
struct ReduceKernelTests {
    static let u = Double(Float.ulpOfOne) / 2

    /// Values with a common offset (so that a sum's rounding is visible) and both signs.
    static func data(_ n: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ -> Float in
            let unit = Double(g.next() >> 11) / Double(1 << 53)
            return Float(0.5 + 3 * (unit * 2 - 1))
        }
    }

    /// Shapes and axes: rows (the reduced axes last, including after axes of length 1, lengths
    /// that leave a ragged vector tail) and strided layouts (a leading or middle axis).
    static let cases: [([Int], [Int])] = [
        ([3, 37], [1]), ([2, 5, 7, 7], [2, 3]), ([4, 1, 300], [2]), ([2, 3, 1], [1]), ([5, 1, 16], [1, 2]),
        ([6, 9], [0]), ([3, 4, 5], [1]), ([2, 3, 4], [0, 2]), ([7], [0]),
    ]

    /// Each op against `Reduce.reference` on the same Float values. Max and Min are exact. The sums
    /// (Sum, Mean, L1, SumSquare and those under L2, LogSum, LogSumExp) err by at most the
    /// first-order bound of n additions, (n + 1)·u·Σ|terms| (a blocked sum's error is below a
    /// sequential one's bound), plus the final step's rounding (u relative; the exponentials of
    /// LogSumExp 2 ulp each). Prod: (n + 1)·u relative.
    @Test(arguments: 0..<9)
    func reductionsMatchReference(index: Int) {
        let (shape, axes) = Self.cases[index]
        let x = Self.data(shape.reduce(1, *), seed: UInt64(index + 1))
        let n = axes.reduce(1) { $0 * shape[$1] }
        let outCount = x.count / n
        let xt = Tensor(shape: shape, scalars: x)
        let abs = Tensor(shape: shape, scalars: x.map { Swift.abs($0) })
        for op in [ReduceOp.sum, .mean, .max, .min, .prod, .l1, .l2, .logSum, .logSumExp, .sumSquare] {
            let got = Reduce.reduceFloat(op, x, shape: shape, axes: axes).map(Double.init)
            let want = Tensor(zeros: [outCount], dtype: .float64)
            // LogSum of a row whose sum is negative is NaN in both; take it of |x|.
            Reduce.reference(op, op == .logSum ? abs : xt.converted(to: .float64), axes: axes, into: want)
            let w = want.doubles()
            let gotForOp = op == .logSum ? Reduce.reduceFloat(op, abs.scalars(as: Float.self), shape: shape, axes: axes).map(Double.init) : got
            // Σ|terms| per output, for the bounds.
            let magnitude = Tensor(zeros: [outCount], dtype: .float64)
            Reduce.reference(op == .sumSquare || op == .l2 ? .sumSquare : .l1, xt.converted(to: .float64), axes: axes, into: magnitude)
            for o in 0..<outCount {
                let g = gotForOp[o], r = w[o], m = magnitude.doubles()[o]
                let bound: Double
                switch op {
                case .max, .min: bound = 0
                case .sum, .l1, .sumSquare: bound = Double(n + 1) * Self.u * m
                case .mean: bound = Double(n + 2) * Self.u * m / Double(n)
                case .l2: bound = Double(n + 3) * Self.u * r
                case .prod: bound = Double(n + 1) * Self.u * Swift.abs(r)
                case .logSum: bound = Double(n + 1) * Self.u * m / Swift.abs(Foundation.exp(r)) + 2 * Self.u * Swift.abs(r)
                case .logSumExp: bound = Double(n + 4) * Self.u + 2 * Self.u * Swift.abs(r)
                }
                #expect(Swift.abs(g - r) <= bound, "\(op) \(shape) over \(axes), output \(o): \(g) against \(r), bound \(bound)")
            }
        }
    }

    /// Softmax and log-softmax over the last axis (vector exponentials) and a middle one (scalar),
    /// against `softmaxReference` in Double. Per element, first order: the subtraction x − m
    /// rounds by u·|x − m|, which exp turns into a relative error of that size; exp adds 2 ulp,
    /// the sum (n + 1)·u, the division u: |y − ref| ≤ (|x − m| + n + 5)·u·ref. Log-softmax:
    /// (x − m) − log S errs by u·|x − m| + (n + 2)·u + u·|y|. 1 and 3 threads give equal bits.
    static let softmaxCases = [(4, 1000, 1), (3, 37, 1), (2, 16, 1), (2, 7, 5), (1, 3, 17)]

    @Test(arguments: 0..<5, [false, true])
    func softmaxMatchesReference(index: Int, log: Bool) {
        let (outer, axis, inner) = Self.softmaxCases[index]
        let count = outer * axis * inner
        let x = Self.data(count, seed: UInt64(count)).map { $0 * 4 }
        let xt = Tensor(shape: [outer, axis, inner], scalars: x)
        let want = Tensor(zeros: xt.shape, dtype: .float64)
        Reduce.softmaxReference(xt.converted(to: .float64), want, outer, axis, inner, log, Double.self)
        let one = Tensor(zeros: xt.shape, dtype: .float32), three = Tensor(zeros: xt.shape, dtype: .float32)
        Reduce.softmax(xt, into: one, outer: outer, axis: axis, inner: inner, log: log)
        Reduce.softmax(xt, into: three, outer: outer, axis: axis, inner: inner, log: log, threads: 3)
        #expect(one.scalars(as: Float.self).map(\.bitPattern) == three.scalars(as: Float.self).map(\.bitPattern))
        let got = one.scalars(as: Float.self), w = want.doubles()
        for o in 0..<outer {
            for i in 0..<inner {
                let m = (0..<axis).map { Double(x[(o * axis + $0) * inner + i]) }.max() ?? 0
                for a in 0..<axis {
                    let k = (o * axis + a) * inner + i
                    let shift = Swift.abs(Double(x[k]) - m)
                    let bound = log ? (shift + Double(axis) + 2 + Swift.abs(w[k])) * Self.u : (shift + Double(axis) + 5) * Self.u * w[k]
                    #expect(Swift.abs(Double(got[k]) - w[k]) <= bound, "\(log ? "log-" : "")softmax [\(outer), \(axis), \(inner)] element \(k): \(got[k]) against \(w[k])")
                }
            }
        }
    }
}
