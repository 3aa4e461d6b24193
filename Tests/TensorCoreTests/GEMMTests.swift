import Foundation
import Testing
@testable import TensorCore

@Suite("GEMM seam against its naive twin")
struct GEMMTests {
    // FP32 sums of k products of values in [-1, 1): the rounding error is below k·2^-24·k; with
    // k ≤ 64, 1e-4 absolute (plus 1e-5 relative) bounds it with room to spare.
    @Test(arguments: 0..<40)
    func randomShapes(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed))
        let m = randomInt(1...33, &g), n = randomInt(1...33, &g), k = randomInt(1...64, &g)
        let transA = g.next() & 1 == 1, transB = g.next() & 1 == 1
        let alpha: Float = seed % 3 == 0 ? 0.5 : 1, beta: Float = seed % 4 == 0 ? 1.5 : 0
        let a = randomFloats(m * k, &g), b = randomFloats(k * n, &g), c0 = randomFloats(m * n, &g)
        var fast = c0, slow = c0
        fast.withUnsafeMutableBufferPointer { c in
            GEMM.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: beta, c: c.baseAddress!, ldc: n)
        }
        slow.withUnsafeMutableBufferPointer { c in
            GEMM.referenceGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: beta, c: c.baseAddress!, ldc: n)
        }
        expectClose(fast, slow, atol: 1e-4, rtol: 1e-5, "sgemm \(m)x\(n)x\(k) tA=\(transA) tB=\(transB)")
    }

    /// OpenBLAS's generic fallbacks are replaced on CPUs with more (`GEMM.selectKernels`): with
    /// AVX-512 F/BW/DQ/VL the kernels are SkylakeX's, with AVX2 and FMA at least Haswell's. Debian
    /// 12's OpenBLAS had chosen Prescott's SSE3 kernels on an Emerald Rapids Xeon (32 GFLOP/s
    /// against SkylakeX's 141 for a 256×3136×1152 sgemm). Left alone when the user chose.
    @Test func openBLASKernelsMatchTheCPU() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["TOUCHSTONE_KEEP_OPENBLAS_CORE"] == nil else { return }
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set((cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? "").split(separator: " ").map(String.init))
        let name = GEMM.coreName.lowercased()
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) {
            #expect(!["prescott", "core2", "nehalem", "sandybridge", "haswell"].contains(name), "OpenBLAS runs \(name) kernels on an AVX-512 CPU")
        } else if ["avx2", "fma"].allSatisfy(flags.contains) {
            #expect(!["prescott", "core2", "nehalem", "sandybridge"].contains(name), "OpenBLAS runs \(name) kernels on an AVX2 CPU")
        }
    }

    /// The threaded product gives the same bits for every thread count, on shapes around the
    /// split's thresholds (densenet121's 32×49×1152 among them, which gave other bits on two
    /// threads when the split followed the thread count), and agrees with the naive twin.
    @Test(arguments: [(32, 49, 1152), (64, 200, 64), (200, 64, 64), (17, 300, 96), (300, 17, 96), (128, 784, 288), (1, 1000, 512), (33, 33, 300)])
    func sameBitsForEveryThreadCount(m: Int, n: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 31 + n * 7 + k))
        let a = randomFloats(m * k, &g), b = randomFloats(k * n, &g)
        var results: [[UInt32]] = []
        for threads in 1...4 {
            var c = [Float](repeating: .nan, count: m * n)
            c.withUnsafeMutableBufferPointer { c in
                GEMM.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c.baseAddress!, ldc: n, threads: threads)
            }
            results.append(c.map(\.bitPattern))
            if threads == 1 {
                var slow = [Float](repeating: 0, count: m * n)
                slow.withUnsafeMutableBufferPointer { s in
                    GEMM.referenceGEMM(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: s.baseAddress!, ldc: n)
                }
                // k products of values in [-1, 1): |error| ≤ k·2^-23 (about 1.4e-4 at k = 1152).
                expectClose(c, slow, atol: Float(k) * 0x1p-23, "threaded sgemm \(m)x\(n)x\(k)")
            }
        }
        for t in 1..<results.count { #expect(results[t] == results[0], "\(m)x\(n)x\(k): \(t + 1) threads differ from one") }
    }

    /// One-row products go through sgemv: every transpose combination, with row strides wider
    /// than the matrices (the stride of a transposed A is the vector's increment), alpha and beta.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func singleRow(transA: Bool, transB: Bool) {
        var g = SeededGenerator(seed: transA ? 11 : 12)
        let m = 1, n = 37, k = 53, pad = 3
        let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad
        let a = randomFloats((transA ? k : m) * lda, &g), b = randomFloats((transB ? n : k) * ldb, &g), c0 = randomFloats(n, &g)
        var fast = c0, slow = c0
        fast.withUnsafeMutableBufferPointer { c in
            GEMM.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda, b: b, ldb: ldb, beta: 0.5, c: c.baseAddress!, ldc: n)
        }
        slow.withUnsafeMutableBufferPointer { c in
            GEMM.referenceGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda, b: b, ldb: ldb, beta: 0.5, c: c.baseAddress!, ldc: n)
        }
        expectClose(fast, slow, atol: 1e-4, rtol: 1e-5, "sgemv tA=\(transA) tB=\(transB)")
    }

    @Test func doublePrecision() {
        var g = SeededGenerator(seed: 7)
        let m = 5, n = 7, k = 9
        let a = (0..<(m * k)).map { _ in g.normal() }, b = (0..<(k * n)).map { _ in g.normal() }
        var fast = [Double](repeating: 0, count: m * n), slow = fast
        fast.withUnsafeMutableBufferPointer { GEMM.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: $0.baseAddress!, ldc: n) }
        slow.withUnsafeMutableBufferPointer { GEMM.referenceGEMM(transA: false, transB: false, m: m, n: n, k: k, alpha: 1.0, a: a, lda: k, b: b, ldb: n, beta: 0, c: $0.baseAddress!, ldc: n) }
        for i in 0..<(m * n) { #expect(abs(fast[i] - slow[i]) < 1e-12) }
    }

    @Test func emptyInnerDimensionScalesC() {
        var c: [Float] = [1, 2, 3, 4]
        c.withUnsafeMutableBufferPointer { p in
            GEMM.gemm(transA: false, transB: false, m: 2, n: 2, k: 0, alpha: 1, a: [], lda: 1, b: [], ldb: 2, beta: 2, c: p.baseAddress!, ldc: 2)
        }
        #expect(c == [2, 4, 6, 8])
    }

    /// `PackedGEMM.finish(_:from:_:count:_:)`, the residual and activation after a product, is the
    /// separate Add then the activation, bitwise, for every length around the vector width (the
    /// ragged end, lengths below one vector), with the output apart from its inputs and the same
    /// buffer as either; nothing outside the run is written.
    @Test(arguments: [nil, Activation.relu, .clip(low: -0.25, high: 0.5), .sigmoid])
    func residualFinishIsTheSeparateAdd(activation: Activation?) {
        var g = SeededGenerator(seed: 41)
        for count in 0...70 {
            for aliasing in 0..<3 {
                // Zeros of both signs and a NaN among the values: the clamp's edge cases.
                var src = randomFloats(count + 8, &g), res = randomFloats(count + 8, &g)
                if count > 5 { src[1] = -0.0; res[1] = 0; src[2] = .nan; src[3] = 0; res[3] = -0.0 }
                var want = src
                for i in 0..<count { want[i] = src[i] + res[i] }
                want.withUnsafeMutableBufferPointer { activation?.apply($0.baseAddress!, count: count) }
                var out = [Float](repeating: 7, count: count + 8)
                switch aliasing {
                case 0:
                    out.withUnsafeMutableBufferPointer { PackedGEMM.finish($0.baseAddress!, from: src, res, count: count, activation) }
                    for i in count..<out.count { want[i] = 7 }
                case 1:
                    src.withUnsafeMutableBufferPointer { PackedGEMM.finish($0.baseAddress!, from: $0.baseAddress!, res, count: count, activation) }
                    out = src
                default:
                    res.withUnsafeMutableBufferPointer { PackedGEMM.finish($0.baseAddress!, from: src, $0.baseAddress!, count: count, activation) }
                    out = res
                    for i in count..<out.count { want[i] = res[i] }
                }
                #expect(out.map(\.bitPattern) == want.map(\.bitPattern), "count \(count), aliasing \(aliasing), \(String(describing: activation))")
            }
        }
    }
}
