import Foundation
import Testing
import Touchstone
import TouchstoneTesting

/// TF32 rounding, the TF32 policy, derived tolerances and the top-k index check, each against an
/// independent reference.
@Suite("derived tolerances and TF32")
struct DerivedToleranceTests {
    /// The nearest value with 11 significant bits, ties to even, computed in Double from the
    /// value's exponent (independent of the bit manipulation in `Simulate.tf32`).
    func tf32Reference(_ x: Float) -> Float {
        guard x.isFinite, x != 0 else { return x }
        let d = Double(x)
        let unit = Double(sign: .plus, exponent: x.exponent - 10, significand: 1)
        let r = (d / unit).rounded(.toNearestOrEven) * unit
        return Float(r)  // exact: r has at most 11 significant bits and is in float32's range, or rounds to ∞ beyond it
    }

    @Test func tf32RoundsToNearestEvenWithTenMantissaBits() {
        var rng = SystemRandomNumberGenerator()
        var checked = 0
        for _ in 0..<200_000 {
            let x = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            guard x.isFinite, x.magnitude >= Float.leastNormalMagnitude else { continue }
            let got = Simulate.tf32(x), want = tf32Reference(x)
            #expect(got.bitPattern == want.bitPattern, "\(x): \(got) against \(want)")
            if got.bitPattern != want.bitPattern { return }
            checked += 1
        }
        #expect(checked > 150_000)
        // Ties: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 and goes to the even 1; 1 + 3·2^-11 to 1 + 2^-9.
        #expect(Simulate.tf32(1 + 0x1p-11) == 1)
        #expect(Simulate.tf32(1 + 3 * 0x1p-11) == 1 + 0x1p-9)
        #expect(Simulate.tf32(.greatestFiniteMagnitude) == .infinity)
        #expect(Simulate.tf32(.infinity) == .infinity && Simulate.tf32(.nan).isNaN)
    }

    /// A MatMul under the tf32 policy equals a float64 product of the TF32-rounded operands within
    /// float32's summation error (5 terms: 1e-6 of the row's magnitude), and differs from the
    /// FP32 run by the rounding (checked to be larger than that bound).
    @Test func tf32PolicyRoundsTheOperandsOfProducts() throws {
        let model = try Model(contentsOf: repoRoot.appendingPathComponent("ModelZoo/ops/models/matmul_2d_weight.onnx"))
        var rng = SeededGenerator(seed: 7)
        let a = (0..<(2 * 7 * 5)).map { _ in Float(rng.unit() * 2 - 1) }
        let input = Tensor(shape: [2, 7, 5], scalars: a)
        let tf32 = try model.run(["A": input], options: SessionOptions(threads: 1, policy: ExecutionPolicy(precision: .tf32)))["Y"]
        let fp32 = try model.run(["A": input], options: SessionOptions(threads: 1))["Y"]
        let y = try #require(tf32).scalars(as: Float.self), y32 = try #require(fp32).scalars(as: Float.self)
        // B from the file, read back through an FP32 run on identity rows (exact).
        var eye = [Float](repeating: 0, count: 7 * 5)
        for i in 0..<5 { eye[i * 5 + i] = 1 }
        let b = try #require(try model.run(["A": Tensor(shape: [1, 7, 5], scalars: eye)], options: SessionOptions(threads: 1))["Y"]).scalars(as: Float.self)
        var largestGap = 0.0
        for r in 0..<14 {
            for c in 0..<4 {
                var sum = 0.0, scale = 0.0
                for k in 0..<5 {
                    let p = Double(Simulate.tf32(a[r * 5 + k])) * Double(Simulate.tf32(b[k * 4 + c]))
                    sum += p
                    scale += p.magnitude
                }
                #expect((Double(y[r * 4 + c]) - sum).magnitude <= 1e-6 * scale, "row \(r) column \(c)")
                largestGap = max(largestGap, (Double(y32[r * 4 + c]) - Double(y[r * 4 + c])).magnitude / max(scale, 1e-30))
            }
        }
        #expect(largestGap > 1e-5, "the TF32 run should differ from FP32 by the operands' rounding (largest gap \(largestGap))")
    }

    /// The derived atol is the factor times max(|sim − truth| + |ref − truth| + 1 ulp).
    @Test func derivedToleranceFollowsItsFormula() throws {
        let truth = Tensor(shape: [4], scalars: [1.0, -2.0, 0.5, 100.0] as [Double])
        let reference = Tensor(shape: [4], scalars: [Float(1.0), -2.0000002, 0.5, 100.00001])
        let simulated = Tensor(shape: [4], scalars: [Float(1.001), -2.0, 0.499, 100.0])
        let d = try #require(Oracle.deriveTolerance(reference: reference, truth: truth, simulated: simulated, precision: .fp16, statistic: .elemwise, factor: 4))
        let r = reference.doubles(), s = simulated.doubles(), t = truth.doubles()
        var expected = 0.0
        for i in 0..<4 {
            let ulp = Double(Float(Float16(Float(r[i]))).magnitude == 0 ? 0 : Float(Float16(Float(r[i])).ulp))
            expected = max(expected, (s[i] - t[i]).magnitude + (r[i] - t[i]).magnitude + ulp)
        }
        #expect(d.tolerance.atol == 4 * expected)
        #expect(d.tolerance.rtol == 0)
        #expect(d.explanation.contains("× 4"))
    }

    /// Top-k indices per row and Polygraphy's index rule with a tolerance.
    @Test func topKIndexRule() {
        let ref = Tensor(shape: [2, 5], scalars: [Float(0.1), 0.9, 0.5, 0.3, 0.2, 5, 4, 3, 2, 1])
        let same = Tensor(shape: [2, 5], scalars: [Float(0.2), 0.8, 0.6, 0.3, 0.1, 9, 8, 7, 6, 5])
        #expect(Oracle.topKIndices(ref, k: 3) == [[1, 2, 3], [0, 1, 2]])
        #expect(Oracle.compareTopK(same, ref, k: 3).passed)
        let swapped = Tensor(shape: [2, 5], scalars: [Float(0.1), 0.5, 0.9, 0.3, 0.2, 5, 4, 3, 2, 1])
        let strict = Oracle.compareTopK(swapped, ref, k: 3)
        #expect(!strict.passed && strict.rowsAgreeing == 1 && strict.firstMismatch?.row == 0)
        #expect(Oracle.compareTopK(swapped, ref, k: 3, indexTolerance: 1).passed)
    }
}
