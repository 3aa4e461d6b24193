import Foundation
import Testing
@testable import TensorCore

@Suite("Vectorised exp, sigmoid and tanh against Double libm")
struct VectorMathTests {
    let lanes = VectorMath.V.scalarCount

    /// Units in the last place between a Float and the exact (Double) value.
    func ulps(_ got: Float, _ exact: Double) -> Double {
        let e = Float(exact)
        if got == e { return 0 }
        return abs(Double(got) - exact) / Double(e.ulp)
    }

    static let sweep: [Float] = {
        var g = SeededGenerator(seed: 42)
        return (0..<20000).map { _ in Float(Double(g.next() >> 11) / Double(1 << 53) * 175 - 87) } + [-87, -20, -1, -1e-6, 0, 1e-6, 0.5, 1, 10, 88]
    }()

    @Test func expWithinTwoUlps() {
        var worst = 0.0
        for chunk in stride(from: 0, to: Self.sweep.count - lanes, by: lanes) {
            let v = VectorMath.exp(VectorMath.V(Self.sweep[chunk..<(chunk + lanes)]))
            for j in 0..<lanes { worst = max(worst, ulps(v[j], Foundation.exp(Double(Self.sweep[chunk + j])))) }
        }
        #expect(worst <= 2, "worst exp error \(worst) ulp")
    }

    @Test func sigmoidAndTanhAbsoluteError() {
        // Outputs lie in [0, 1] and [-1, 1]: an absolute bound of 3e-7 is about 2–3 float ulps near 1.
        var worstS = 0.0, worstT = 0.0
        for chunk in stride(from: 0, to: Self.sweep.count - lanes, by: lanes) {
            let x = VectorMath.V(Self.sweep[chunk..<(chunk + lanes)].map { $0 / 4 })
            let s = VectorMath.sigmoid(x), t = VectorMath.tanh(x)
            for j in 0..<lanes {
                let d = Double(x[j])
                worstS = max(worstS, abs(Double(s[j]) - 1 / (1 + Foundation.exp(-d))))
                worstT = max(worstT, abs(Double(t[j]) - Foundation.tanh(d)))
            }
        }
        #expect(worstS <= 3e-7 && worstT <= 3e-7, "sigmoid \(worstS), tanh \(worstT)")
    }

    @Test func sigmoidRelativeErrorOverTheFloatRange() {
        // Where sigmoid is tiny (x down to −86) its value is e^x over (1 + e^x): relative error of
        // the exp plus one division and one addition, ≤ 4 ulps in all (~4.8e-7 relative).
        var worst = 0.0
        let xs = Self.sweep.filter { $0 >= -86 }
        for chunk in stride(from: 0, to: xs.count - lanes, by: lanes) {
            let s = VectorMath.sigmoid(VectorMath.V(xs[chunk..<(chunk + lanes)]))
            for j in 0..<lanes {
                let exact = 1 / (1 + Foundation.exp(-Double(xs[chunk + j])))
                worst = max(worst, abs(Double(s[j]) - exact) / exact)
            }
        }
        #expect(worst <= 4.8e-7, "worst relative sigmoid error \(worst)")
    }

    @Test func specialValues() {
        var x = VectorMath.V(repeating: 0)
        x[0] = .nan; x[1] = .infinity; x[2] = -.infinity; x[3] = 100; x[4] = -100
        let s = VectorMath.sigmoid(x), e = VectorMath.exp(x)
        #expect(s[0].isNaN && s[1] == 1 && s[2] == 0 && s[3] == 1 && s[4] >= 0 && s[4] < 1e-30)
        #expect(e[2] == 0 && e[4] > 0 && e[4] < Float(bitPattern: 72) && e[5] == 1)  // exp(-100) ≈ 3.7e-44 is subnormal; 72 ulps of the smallest subnormal ≈ 1.0e-43
    }

    /// The buffer path (a vector at a time, a ragged end through an overlapping last vector)
    /// against the one-value path, which runs the same lane function: equal bit for bit, for every
    /// length up to 41 and in place or not; and against the Double formulas within 1e-6 relative
    /// (+1e-7 absolute), a few float ulps.
    @Test(arguments: [Activation.relu, .leakyRelu(alpha: 0.1), .clip(low: -1, high: 2), .sigmoid, .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .tanh, .swish])
    func bufferPathMatchesOneValuePath(activation: Activation) {
        var g = SeededGenerator(seed: 9)
        for count in 0...41 {
            let x = randomFloats(count, &g).map { $0 * 12 }
            var out = [Float](repeating: .nan, count: count), inPlace = x
            x.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    if count > 0 { activation.apply(src.baseAddress!, into: dst.baseAddress!, count: count) }
                }
            }
            inPlace.withUnsafeMutableBufferPointer { p in if count > 0 { activation.apply(p.baseAddress!, count: count) } }
            for j in 0..<count {
                let one = activation.apply(x[j]), exact = activation.apply(Double(x[j]))
                #expect(out[j].bitPattern == one.bitPattern && inPlace[j].bitPattern == one.bitPattern, "\(activation) count \(count) lane \(j): \(out[j]), \(inPlace[j]) vs \(one)")
                #expect(abs(Double(one) - exact) <= 1e-7 + 1e-6 * abs(exact), "\(activation)(\(x[j])) = \(one), exact \(exact)")
            }
        }
    }
}

@Suite("sigmoid in ulps over its range")
struct SigmoidULPTests {
    /// Error in float ulps against Double over ±[10⁻⁶, 86] (every 0.07%): at most 2 (measured 1.52,
    /// at x ≈ −17 where sigmoid ≈ e^x carries exp's own error; mean 0.29). The rounding error of
    /// 1 + e^−x is carried into the quotient; without that the worst was 2.14 and the mean 0.42, and
    /// near x = −0.01 the error reached 2 ulps where onnxruntime's MLAS logistic is correctly rounded.
    @Test func sigmoidWithinTwoUlps() {
        let lanes = VectorMath.V.scalarCount
        var worst = 0.0, at: Float = 0, sum = 0.0
        var xs: [Float] = []
        var x: Float = 1e-6
        while x < 86 { xs.append(x); xs.append(-x); x *= 1.0007 }
        let count = xs.count / lanes * lanes
        for chunk in stride(from: 0, to: count, by: lanes) {
            let v = VectorMath.sigmoid(VectorMath.V(xs[chunk..<(chunk + lanes)]))
            for j in 0..<lanes {
                let exact = 1 / (1 + Foundation.exp(-Double(xs[chunk + j])))
                let u = abs(Double(v[j]) - exact) / Double(Float(exact).ulp)
                sum += u
                if u > worst { worst = u; at = xs[chunk + j] }
            }
        }
        #expect(worst <= 2, "worst sigmoid error \(worst) ulp at \(at), mean \(sum / Double(count))")
    }
}

@Suite("tanh in ulps over its range")
struct TanhULPTests {
    /// Relative error in float ulps against Double's tanh over ±[10⁻⁴, 10] (every 0.07%): at most 6
    /// (4.35 measured, at |x| ≈ 0.51, where 2·sigmoid(2x) − 1 takes over from the series).
    @Test func tanhWithinSixUlps() {
        let lanes = VectorMath.V.scalarCount
        var worst = 0.0, at: Float = 0
        var xs: [Float] = []
        var x: Float = 1e-4
        while x < 10 { xs.append(x); xs.append(-x); x *= 1.0007 }
        for chunk in stride(from: 0, to: xs.count - lanes, by: lanes) {
            let v = VectorMath.tanh(VectorMath.V(xs[chunk..<(chunk + lanes)]))
            for j in 0..<lanes {
                let exact = Foundation.tanh(Double(xs[chunk + j]))
                let u = abs(Double(v[j]) - exact) / Double(Float(exact).ulp)
                if u > worst { worst = u; at = xs[chunk + j] }
            }
        }
        #expect(worst <= 6, "worst tanh error \(worst) ulp at \(at)")
    }
}

@Suite("erf in ulps over its range")
struct ErfULPTests {
    /// Error in float ulps against Double `erf` over ±[10⁻⁶, 5] (every 0.01%, ~300,000 points,
    /// across both polynomials' ranges and the switch at 0.921875): at most 1.6 (measured in the
    /// fit's float emulation: 1.07 below the switch, 1.5 above). A coefficient off in its fourth
    /// digit moves the worst case to tens of ulps.
    @Test func erfWithinOnePointSixUlps() {
        let lanes = VectorMath.V.scalarCount
        var xs: [Float] = []
        var x: Float = 1e-6
        while x < 5 { xs.append(x); xs.append(-x); x *= 1.0001 }
        let count = xs.count / lanes * lanes
        var worst = 0.0, at: Float = 0, sum = 0.0
        for chunk in stride(from: 0, to: count, by: lanes) {
            let v = VectorMath.erf(VectorMath.V(xs[chunk..<(chunk + lanes)]))
            for j in 0..<lanes {
                let exact = Foundation.erf(Double(xs[chunk + j]))
                let u = Double(v[j]) == exact ? 0 : abs(Double(v[j]) - exact) / Double(Float(exact).ulp)
                sum += u
                if u > worst { worst = u; at = xs[chunk + j] }
            }
        }
        #expect(worst <= 1.6, "worst erf error \(worst) ulp at \(at), mean \(sum / Double(count))")
    }

    /// Zero keeps its sign, ±∞ and large values give ±1, NaN stays NaN, a subnormal gives 2/√π·x.
    @Test func specialValues() {
        var v = VectorMath.V(repeating: 0)
        let subnormal = Float(bitPattern: 0x0001_0000)  // about 9.2e-41
        let inputs: [Float] = [0, -0.0, .infinity, -.infinity, .nan, subnormal, 3.95, -4, 10, 3.9, -0.921875, 0.921875]
        for (j, x) in inputs.enumerated() { v[j] = x }
        let r = VectorMath.erf(v)
        #expect(r[0] == 0 && r[0].sign == .plus && r[1] == 0 && r[1].sign == .minus)
        #expect(r[2] == 1 && r[3] == -1 && r[4].isNaN && r[6] == 1 && r[7] == -1 && r[8] == 1)
        #expect(abs(Double(r[5]) - Foundation.erf(Double(subnormal))) <= Double(subnormal.ulp))
        for j in 9..<12 { #expect(abs(Double(r[j]) - Foundation.erf(Double(inputs[j]))) <= 1.6 * Double(r[j].ulp), "x = \(inputs[j])") }
    }
}
