import Testing
@testable import TensorCore

/// The independent reference of one FP16 multiply-add: the exact value in Double (two float16
/// values multiply exactly in Double, and the sum is exact while the operands' bits span at most
/// 53 places, as they do for the magnitudes used here), rounded once to float16.
func referenceHalfFMA(_ a: Float, _ b: Float, _ acc: Float) -> Float {
    Float(Float16(Double(acc) + Double(a) * Double(b)))
}

/// Random float16 values held in Floats, with magnitudes spread over 2^-8…2^8.
func randomHalves(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
    randomFloats(n, &g).map { v in Float(Float16(v * Float(1 << randomInt(0...16, &g)) / 256)) }
}

@Suite("FP16 accumulation")
struct HalfAccumulationTests {
    @Test func multiplyAddRoundsOnce() {
        var g = SeededGenerator(seed: 5)
        var naiveWrong = 0
        for _ in 0..<200_000 {
            let v = randomHalves(3, &g)
            let got = HalfAccumulation.fma(v[0], v[1], v[2])
            let want = referenceHalfFMA(v[0], v[1], v[2])
            #expect(got.bitPattern == want.bitPattern, "\(v[2]) + \(v[0])·\(v[1]): got \(got), expected \(want)")
            if got.bitPattern != want.bitPattern { return }
            // The sum rounded to float32 first and then to float16: wrong when the first rounding
            // lands on a float16 midpoint. The test data must contain such cases.
            if Float(Float16(v[2] + v[0] * v[1])).bitPattern != want.bitPattern { naiveWrong += 1 }
        }
        #expect(naiveWrong > 0, "no double-rounding case in the data: the test does not exercise the correction")
    }

    @Test func overflowGoesToInfinity() {
        #expect(HalfAccumulation.fma(256, 256, 0) == .infinity)  // 65536 > 65504
        #expect(HalfAccumulation.fma(-256, 256, -1) == -.infinity)
        #expect(HalfAccumulation.fma(1, 1, .infinity) == .infinity)
        #expect(HalfAccumulation.fma(1, 1, .nan).isNaN)
        // 2048 + 1: the exact sum is a midpoint between 2048 and 2050; ties to even keeps 2048,
        // so a long sum of ones stops growing there.
        #expect(HalfAccumulation.fma(1, 1, 2048) == 2048)
    }

    /// C = A·B with the same sequential float16 sums as the reference FMA.
    func referenceProduct(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var acc: Float = 0
                for p in 0..<k { acc = referenceHalfFMA(Float(Float16(a[i * k + p])), Float(Float16(b[p * n + j])), acc) }
                c[i * n + j] = acc
            }
        }
        return c
    }

    @Test(arguments: [(1, 1, 1), (5, 17, 9), (4, 16, 300), (7, 33, 64)])
    func matmulMatchesSequentialReference(m: Int, n: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 1000 + n * 10 + k))
        let a = randomFloats(m * k, &g), b = randomFloats(k * n, &g)
        let want = referenceProduct(a, b, m: m, n: n, k: k)
        for threads in [1, 3] {
            let y = Tensor(zeros: [m, n])
            HalfAccumulation.matmul(Tensor(shape: [m, k], scalars: a), Tensor(shape: [k, n], scalars: b), into: y, m: m, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0, threads: threads)
            #expect(y.scalars(as: Float.self) == want, "threads \(threads)")
        }
        // Transposed operands, alpha and beta·C: the product, then alpha, then beta·C, each rounded.
        func transposed(_ x: [Float], _ r: Int, _ c: Int) -> [Float] { (0..<r * c).map { x[($0 % r) * c + $0 / r] } }
        let cInit = randomFloats(m * n, &g)
        let y = Tensor(shape: [m, n], scalars: cInit)
        HalfAccumulation.matmul(
            Tensor(shape: [k, m], scalars: transposed(a, m, k)), Tensor(shape: [n, k], scalars: transposed(b, k, n)), into: y,
            m: m, n: n, k: k, transA: true, transB: true, alpha: 0.5, beta: 2, threads: 1)
        let scaled = zip(want, cInit).map { p, c in Float(Float16(Float(Float16(0.5 * p)) + Float(Float16(2 * c)))) }
        #expect(y.scalars(as: Float.self) == scaled)
    }

    @Test func batchedMatmulBroadcasts() {
        var g = SeededGenerator(seed: 8)
        let (m, n, k) = (3, 5, 20)
        let a = randomFloats(2 * m * k, &g), b = randomFloats(k * n, &g)
        let y = Tensor(zeros: [2, m, n])
        HalfAccumulation.batchedMatmul(Tensor(shape: [2, m, k], scalars: a), Tensor(shape: [1, k, n], scalars: b), into: y, batch: [2], m: m, n: n, k: k, threads: 1)
        let want = referenceProduct(Array(a[..<(m * k)]), b, m: m, n: n, k: k) + referenceProduct(Array(a[(m * k)...]), b, m: m, n: n, k: k)
        #expect(y.scalars(as: Float.self) == want)
    }

    @Test func convolutionMatchesSequentialReference() {
        var g = SeededGenerator(seed: 9)
        // Two groups, stride 2, dilation 2 across, padding: every index path of the patches.
        let geo = Conv2DGeometry(
            batch: 2, inChannels: 4, inHeight: 9, inWidth: 8, outChannels: 6, outHeight: 5, outWidth: 3,
            kernelHeight: 3, kernelWidth: 2, strideH: 2, strideW: 3, dilationH: 1, dilationW: 2, padTop: 1, padLeft: 1, groups: 2)
        let x = randomFloats(2 * 4 * 9 * 8, &g), w = randomFloats(6 * 2 * 3 * 2, &g), bias = randomFloats(6, &g)
        let y = Tensor(zeros: [2, 6, 5, 3])
        HalfAccumulation.conv2D(
            input: Tensor(shape: [2, 4, 9, 8], scalars: x), weight: Tensor(shape: [6, 2, 3, 2], scalars: w), bias: Tensor(shape: [6], scalars: bias),
            output: y, geometry: geo, activation: .relu, threads: 2)
        var want = [Float]()
        for n in 0..<2 { for o in 0..<6 { for oy in 0..<5 { for ox in 0..<3 {
            let grp = o / 3
            var acc: Float = 0
            for c in 0..<2 { for ky in 0..<3 { for kx in 0..<2 {
                let iy = oy * 2 - 1 + ky, ix = ox * 3 - 1 + kx * 2
                let v = iy >= 0 && iy < 9 && ix >= 0 && ix < 8 ? x[((n * 4 + grp * 2 + c) * 9 + iy) * 8 + ix] : 0
                acc = referenceHalfFMA(Float(Float16(w[((o * 2 + c) * 3 + ky) * 2 + kx])), Float(Float16(v)), acc)
            } } }
            want.append(max(0, Float(Float16(acc + Float(Float16(bias[o]))))))
        } } } }
        #expect(y.scalars(as: Float.self) == want)
    }
}

@Suite("float16 rounding in lanes")
struct HalfLanesTests {
    /// Every float32 bit pattern of a stride through the whole range against Float16's own conversion.
    @Test func roundsLikeFloat16() {
        var bits: UInt32 = 0
        var lanes = [Float](), wants = [Float]()
        while true {
            let x = Float(bitPattern: bits)
            lanes.append(x)
            wants.append(Float(Float16(x)))
            if lanes.count == 16 {
                let got = HalfAccumulation.half(SIMD16(lanes))
                for l in 0..<16 where !(got[l].bitPattern == wants[l].bitPattern || (got[l].isNaN && wants[l].isNaN)) {
                    Issue.record("\(lanes[l]) (0x\(String(lanes[l].bitPattern, radix: 16))): got \(got[l]), expected \(wants[l])")
                    return
                }
                lanes.removeAll(keepingCapacity: true)
                wants.removeAll(keepingCapacity: true)
            }
            let (next, overflow) = bits.addingReportingOverflow(4093)
            if overflow { break }
            bits = next
        }
        // Midpoints and the edges of the ranges, both signs.
        let edges: [Float] = [65504, 65519.99, 65520, 0x1p-14, 0x1p-14 - 0x1p-25, 0x1p-25, 0x1.8p-25, 0x1p-26, 1 + 0x1p-11, 1 + 0x1.8p-10, 2049, 2051]
        let all = edges + edges.map { -$0 } + [.infinity, -.infinity, 0, -0.0, .nan, 3, 1e-9, 70000]
        for x in all {
            let got = HalfAccumulation.half(SIMD16(repeating: x))[0]
            let want = Float(Float16(x))
            #expect(got.bitPattern == want.bitPattern || (got.isNaN && want.isNaN), "\(x): got \(got), expected \(want)")
        }
    }
}
