import Foundation
import Testing
@testable import TensorCore

@Suite("Group normalisation kernels against the naive twin")
struct GroupNormalizeTests {
    /// Groups of several sizes, values with an offset (a mean far from 0 is where a one-pass
    /// variance cancels) and a spread of 3.
    static func data(_ groups: Int, _ size: Int, seed: UInt64) -> [Double] {
        var g = SeededGenerator(seed: seed)
        return (0..<(groups * size)).map { _ in 5 + 3 * (Double(g.next() >> 11) / Double(1 << 53) * 2 - 1) }
    }

    // Float: sequential sums of n values err by up to n·2^-24 relative in the worst case; the
    // normalised values (peak ~1.7) measured at most 3.1e-6 off (n = 1000; 2.5e-7 for n = 7), so
    // 1e-5 absolute is a threefold margin that still fails for any dropped element or wrong group
    // (errors of O(0.01)). Double: 1e-12.
    @Test(arguments: [(1, 1), (3, 7), (4, 64), (2, 1000), (16, 49)])
    func meanVarianceMatchesReference(groups: Int, size: Int) {
        let x = Self.data(groups, size, seed: UInt64(groups * 1000 + size))
        let ref = Normalize.groupsReference(x, groups: groups, size: size, epsilon: 1e-5)
        var yf = [Float](repeating: .nan, count: x.count)
        let sf = Normalize.meanVariance(x.map { Float($0) }, into: &yf, groups: groups, size: size, epsilon: 1e-5, scale: { _, _ in 1 }, shift: { _, _ in 0 })
        var yd = [Double](repeating: .nan, count: x.count)
        let sd = Normalize.meanVariance(x, into: &yd, groups: groups, size: size, epsilon: 1e-5, scale: { _, _ in 1 }, shift: { _, _ in 0 })
        let worstFloat = x.indices.map { abs(Double(yf[$0]) - ref.y[$0]) }.max() ?? 0
        let worstDouble = x.indices.map { abs(yd[$0] - ref.y[$0]) }.max() ?? 0
        #expect(worstFloat <= 1e-5, "float: worst error \(worstFloat)")
        #expect(worstDouble <= 1e-12, "double: worst error \(worstDouble)")
        for g in 0..<groups {
            #expect(abs(Double(sf.mean[g]) - ref.stats.mean[g]) <= 1e-5 * 5)
            #expect(abs(Double(sf.invStdDev[g]) / ref.stats.invStdDev[g] - 1) <= 1e-5)
            #expect(abs(sd.invStdDev[g] / ref.stats.invStdDev[g] - 1) <= 1e-12)
        }
    }

    /// The affine parameters are applied per element as the closures index them.
    @Test func affineParameters() {
        let (groups, size) = (3, 5)
        let x = Self.data(groups, size, seed: 7)
        let ref = Normalize.groupsReference(x, groups: groups, size: size, epsilon: 1e-3)
        var y = [Double](repeating: .nan, count: x.count)
        _ = Normalize.meanVariance(x, into: &y, groups: groups, size: size, epsilon: 1e-3,
                                   scale: { g, j in Double(g + 1) * 0.5 + Double(j) }, shift: { g, j in Double(g) - Double(j) * 0.25 })
        for g in 0..<groups { for j in 0..<size {
            let want = ref.y[g * size + j] * (Double(g + 1) * 0.5 + Double(j)) + Double(g) - Double(j) * 0.25
            #expect(abs(y[g * size + j] - want) <= 1e-12)
        } }
    }

    /// The in-place LayerNorm kernel (`Normalize.layerNorm`, float32 buffers) gives the bits of
    /// the array form it replaced (`meanVariance` with per-element scale and shift), with and
    /// without a shift (where −0 still becomes +0), sizes off the vector width, in place and not,
    /// on one and two threads; and both are the naive twin within the Float bound above.
    @Test(arguments: [(3, 7), (5, 16), (64, 768), (9, 1000), (2, 33)])
    func layerNormKernelIsTheArrayForm(groups: Int, size: Int) {
        let x = Self.data(groups, size, seed: UInt64(groups * 31 + size)).map { Float($0) }
        var g = SeededGenerator(seed: UInt64(size))
        let scale = randomFloats(size, &g), shift = randomFloats(size, &g)
        let ref = Normalize.groupsReference(x.map { Double($0) }, groups: groups, size: size, epsilon: 1e-5)
        for withShift in [true, false] {
            var want = [Float](repeating: .nan, count: x.count)
            let wantStats = Normalize.meanVariance(x, into: &want, groups: groups, size: size, epsilon: 1e-5, scale: scale, shift: withShift ? shift : nil)
            for i in x.indices {
                let r = ref.y[i] * Double(scale[i % size]) + (withShift ? Double(shift[i % size]) : 0)
                #expect(abs(Double(want[i]) - r) <= 1e-5 * max(1, abs(r)))
            }
            for (threads, inPlace) in [(1, false), (2, false), (2, true)] {
                let xt = Tensor(shape: [groups, size], scalars: x)
                let y = inPlace ? xt : Tensor(zeros: [groups, size])
                let stats = Normalize.layerNorm(xt, into: y, groups: groups, size: size, epsilon: 1e-5, scale: Tensor(shape: [size], scalars: scale),
                                                shift: withShift ? Tensor(shape: [size], scalars: shift) : nil, threads: threads)
                #expect(y.scalars(as: Float.self).map(\.bitPattern) == want.map(\.bitPattern), "\(groups)×\(size) shift \(withShift) \(threads) threads in place \(inPlace)")
                #expect(stats.mean.map(\.bitPattern) == wantStats.mean.map(\.bitPattern) && stats.invStdDev.map(\.bitPattern) == wantStats.invStdDev.map(\.bitPattern))
            }
        }
    }

    @Test(arguments: [(2, 9), (4, 768)])
    func rmsMatchesReference(groups: Int, size: Int) {
        let x = Self.data(groups, size, seed: UInt64(size))
        let ref = Normalize.groupsReference(x, groups: groups, size: size, epsilon: 1e-6, rms: true)
        let scale = (0..<size).map { 1 + 0.01 * Double($0 % 7) }
        var yf = [Float](repeating: .nan, count: x.count), yd = [Double](repeating: .nan, count: x.count)
        Normalize.rms(x.map { Float($0) }, into: &yf, groups: groups, size: size, epsilon: 1e-6, scale: scale.map { Float($0) })
        Normalize.rms(x, into: &yd, groups: groups, size: size, epsilon: 1e-6, scale: scale)
        for i in x.indices {
            let want = ref.y[i] * scale[i % size]
            // Sums of squares of values near 5: relative error ≤ n·2^-24 worst case, far less measured.
            #expect(abs(Double(yf[i]) - want) <= 1e-5 * abs(want) + 1e-6, "float \(i)")
            #expect(abs(yd[i] - want) <= 1e-12 * abs(want), "double \(i)")
        }
    }

    /// Batch statistics (BatchNormalization in training mode) against the twin over the channels
    /// made contiguous: the same bounds as `meanVarianceMatchesReference` (n = N·inner ≤ 196 here),
    /// the variance to 1e-5 of max(variance, 1) in Float (a single element's is 0); the affine factor and shift per channel.
    @Test(arguments: [(1, 3, 1), (4, 5, 49), (2, 8, 1)])
    func batchStatisticsMatchReference(n: Int, c: Int, inner: Int) {
        let x = Self.data(n * c, inner, seed: UInt64(n * 100 + c * 10 + inner))
        var channelsFirst = [Double](repeating: 0, count: x.count)
        for b in 0..<n { for ch in 0..<c { for i in 0..<inner { channelsFirst[(ch * n + b) * inner + i] = x[(b * c + ch) * inner + i] } } }
        let ref = Normalize.groupsReference(channelsFirst, groups: c, size: n * inner, epsilon: 1e-5)
        let scale = (0..<c).map { 0.5 + Double($0) }, shift = (0..<c).map { Double($0) - 1 }
        let f = Normalize.batchStatistics(x.map { Float($0) }, batch: n, channels: c, inner: inner, scale: scale.map { Float($0) }, shift: shift.map { Float($0) }, epsilon: 1e-5)
        let d = Normalize.batchStatistics(x, batch: n, channels: c, inner: inner, scale: scale, shift: shift, epsilon: 1e-5)
        for ch in 0..<c {
            let variance = 1 / (ref.stats.invStdDev[ch] * ref.stats.invStdDev[ch]) - 1e-5
            #expect(abs(Double(f.mean[ch]) - ref.stats.mean[ch]) <= 1e-5 * 5 && abs(d.mean[ch] - ref.stats.mean[ch]) <= 1e-12 * 5)
            #expect(abs(Double(f.variance[ch]) - variance) <= 1e-5 * max(variance, 1) && abs(d.variance[ch] - variance) <= 1e-9 * max(variance, 1))
        }
        for b in 0..<n { for ch in 0..<c { for i in 0..<inner {
            let k = (b * c + ch) * inner + i
            let want = ref.y[(ch * n + b) * inner + i] * scale[ch] + shift[ch]
            #expect(abs(Double(f.y[k]) - want) <= 1e-5 * scale[ch] + 1e-6, "float \(k)")
            #expect(abs(d.y[k] - want) <= 1e-12 * scale[ch] + 1e-12, "double \(k)")
        } } }
    }
}
