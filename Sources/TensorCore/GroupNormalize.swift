/// Normalisation over groups of contiguous elements: the kernels of InstanceNormalization,
/// LayerNormalization, GroupNormalization and RMSNormalization, each beside a naive twin in Double.
///
/// `x` is seen as `[groups, size]`. The kernels compute in `T`, the tensor's own precision (Float
/// for float32, Double for float64), as a backend does. Float sums are `Reduce.blockedSum`s (16
/// lanes, added pairwise), as vector code sums: sequential sums of a 64×64 instance erred 2–4×
/// onnxruntime's; Double sums are sequential.
extension Normalize {
    /// The statistics of each group: its mean and 1/√(variance + ε) (`rms` leaves the mean 0).
    public struct GroupStatistics<T: BinaryFloatingPoint> {
        public var mean: [T]
        public var invStdDev: [T]
    }

    /// `y = (x − mean)·r·scale[g, j] + shift[g, j]` per group, with the group's mean and
    /// r = 1/√(variance + ε), the biased variance from a second pass (the mean of squared
    /// deviations). `scale(g, j)` and `shift(g, j)` give the affine parameters of element j of
    /// group g.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func meanVariance<T: BinaryFloatingPoint>(
        _ x: [T], into y: inout [T], groups: Int, size: Int, epsilon: Double,
        scale: (Int, Int) -> T, shift: (Int, Int) -> T
    ) -> GroupStatistics<T> {
        var stats = GroupStatistics(mean: [T](repeating: 0, count: groups), invStdDev: [T](repeating: 0, count: groups))
        for g in 0..<groups {
            let base = g * size
            let (mean, r) = groupMoments(x, base, size, epsilon: epsilon)
            for j in 0..<size { y[base + j] = (x[base + j] - mean) * r * scale(g, j) + shift(g, j) }
            stats.mean[g] = mean
            stats.invStdDev[g] = r
        }
        return stats
    }

    /// One group's mean and r = 1/√(variance + ε), the variance from a second pass.
    @inline(__always)
    static func groupMoments<T: BinaryFloatingPoint>(_ x: [T], _ base: Int, _ size: Int, epsilon: Double) -> (mean: T, r: T) {
        let mean = size > 0 ? groupSum(x, base, size, shift: nil) / T(size) : 0
        let squares = groupSum(x, base, size, shift: mean)
        return (mean, 1 / (squares / T(Swift.max(size, 1)) + T(epsilon)).squareRoot())
    }

    /// `meanVariance` with one scale and shift per element of a group (LayerNormalization): the
    /// same arithmetic, `((x − mean)·r)·scale[j] + shift[j]` rounded step by step, in a loop over
    /// the buffers instead of through two closures per element (BERT-base's LayerNorms of 128×768
    /// took 4.5 ms each that way).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    ///
    /// - threads: groups split over threads (each group is one thread's, in one order, so the bits
    ///   do not depend on the split).
    public static func meanVariance<T: BinaryFloatingPoint>(
        _ x: [T], into y: inout [T], groups: Int, size: Int, epsilon: Double, scale: [T], shift: [T]?, threads: Int = 1
    ) -> GroupStatistics<T> {
        var stats = GroupStatistics(mean: [T](repeating: 0, count: groups), invStdDev: [T](repeating: 0, count: groups))
        guard scale.count >= size, (shift?.count ?? size) >= size, x.count >= groups * size, y.count >= groups * size else { return stats }
        let zeros = shift == nil ? [T](repeating: 0, count: size) : []
        y.withUnsafeMutableBufferPointer { ys in
            stats.mean.withUnsafeMutableBufferPointer { means in
                stats.invStdDev.withUnsafeMutableBufferPointer { rs in
                    (shift ?? zeros).withUnsafeBufferPointer { b in
                        scale.withUnsafeBufferPointer { a in
                            x.withUnsafeBufferPointer { xs in
                                let box = UncheckedBox((xs, ys, means, rs, a, b))
                                Parallel.forEachChunk(groups, threads: groups * size >= 1 << 15 ? threads : 1) { range in
                                    let (xs, ys, means, rs, a, b) = box.value
                                    for g in range {
                                        let base = g * size
                                        let (mean, r) = groupMoments(x, base, size, epsilon: epsilon)
                                        for j in 0..<size { ys[base + j] = (xs[base + j] - mean) * r * a[j] + b[j] }
                                        means[g] = mean
                                        rs[g] = r
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return stats
    }

    /// `layerNorm` on float32 tensors: x and y `[groups, size]` (y may be x), scale and shift at
    /// least `size` elements. Returns each group's mean and 1/√(variance + ε).
    public static func layerNorm(
        _ x: Tensor, into y: Tensor, groups: Int, size: Int, epsilon: Double, scale: Tensor, shift: Tensor?, threads: Int
    ) -> GroupStatistics<Float> {
        var stats = GroupStatistics(mean: [Float](repeating: 0, count: groups), invStdDev: [Float](repeating: 0, count: groups))
        stats.mean.withUnsafeMutableBufferPointer { m in
            stats.invStdDev.withUnsafeMutableBufferPointer { r in
                layerNorm(
                    x.storage.base.assumingMemoryBound(to: Float.self), into: y.storage.base.assumingMemoryBound(to: Float.self),
                    groups: groups, size: size, epsilon: epsilon, scale: scale.storage.base.assumingMemoryBound(to: Float.self),
                    shift: shift.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) },
                    means: m.baseAddress, invStdDevs: r.baseAddress, threads: threads)
            }
        }
        return stats
    }

    /// `meanVariance` with one scale and shift per element (LayerNormalization) on float32
    /// buffers, read and written in place: the same arithmetic in the same order, so the same bits
    /// (the mean and the squared deviations as `blockedSum`s, then `((x − mean)·r)·scale[j] +
    /// shift[j]` rounded step by step, sixteen elements at a time; + 0 without a shift, as
    /// `meanVariance` adds its zeros). The array form copied x, y and the output through Swift
    /// arrays: four passes over each tensor, a BERT-base LayerNorm of 8×128×768 at 3.5 ms.
    /// - means, invStdDevs: `groups` floats each, or nil.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, groups: Int, size: Int, epsilon: Double,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>?, means: UnsafeMutablePointer<Float>?, invStdDevs: UnsafeMutablePointer<Float>?,
        threads: Int
    ) {
        guard groups > 0, size > 0 else { return }
        typealias V = VectorMath.V
        let w = V.scalarCount
        let box = UncheckedBox((x, y, scale, shift, means, invStdDevs))
        Parallel.forEachChunk(groups, threads: groups * size >= 1 << 15 ? threads : 1) { range in
            let (x, y, a, b, means, rs) = box.value
            for g in range {
                let xs = x + g * size, ys = y + g * size
                let mean = Reduce.blockedSum(xs, size) { $0 } / Float(size)
                let mv = V(repeating: mean)
                let squares = Reduce.blockedSum(xs, size) { let d = $0 - mv; return d * d }
                let r = 1 / (squares / Float(size) + Float(epsilon)).squareRoot()
                let rv = V(repeating: r)
                var j = 0
                while j + w <= size {
                    let v = UnsafeRawPointer(xs + j).loadUnaligned(as: V.self)
                    let av = UnsafeRawPointer(a + j).loadUnaligned(as: V.self)
                    let bv = b.map { UnsafeRawPointer($0 + j).loadUnaligned(as: V.self) } ?? V(repeating: 0)
                    UnsafeMutableRawPointer(ys + j).storeBytes(of: (v - mv) * rv * av + bv, as: V.self)
                    j += w
                }
                while j < size {
                    ys[j] = (xs[j] - mean) * r * a[j] + (b?[j] ?? 0)
                    j += 1
                }
                means?[g] = mean
                rs?[g] = r
            }
        }
    }

    /// Σ x[base + j] over j < n, or Σ (x[base + j] − shift)² with a shift: blocked for Float,
    /// sequential for Double.
    ///
    /// The Float case reads x's buffer in place. It used to cast the array (`x as? [Float]`), which
    /// from generic code copies every element: per group, so a LayerNormalization over 3,136 rows
    /// of 96 channels (ConvNeXt's first stage) took 49 s instead of a millisecond.
    static func groupSum<T: BinaryFloatingPoint>(_ x: [T], _ base: Int, _ n: Int, shift: T?) -> T {
        if T.self == Float.self {
            return x.withUnsafeBufferPointer { b -> T in
                guard let q = b.baseAddress, n > 0 else { return 0 }
                let p = UnsafeRawPointer(q).assumingMemoryBound(to: Float.self)
                guard let c = shift.map({ Float($0) }) else { return T(Reduce.blockedSum(p + base, n) { $0 }) }
                let cv = VectorMath.V(repeating: c)
                return T(Reduce.blockedSum(p + base, n) { let d = $0 - cv; return d * d })
            }
        }
        var sum: T = 0
        for j in 0..<n {
            if let c = shift { let d = x[base + j] - c; sum += d * d } else { sum += x[base + j] }
        }
        return sum
    }

    /// `y = x·r·scale[j]` per group with r = 1/√(mean(x²) + ε) (RMSNormalization).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func rms<T: BinaryFloatingPoint>(_ x: [T], into y: inout [T], groups: Int, size: Int, epsilon: Double, scale: [T]) {
        for g in 0..<groups {
            let base = g * size
            let squares = groupSum(x, base, size, shift: 0)
            let r = 1 / (squares / T(Swift.max(size, 1)) + T(epsilon)).squareRoot()
            for j in 0..<size { y[base + j] = x[base + j] * r * scale[j] }
        }
    }

    /// Batch normalisation with the batch's own statistics (ONNX BatchNormalization in training
    /// mode): for each channel of x `[N, C, inner]`, the mean and the biased variance over N and
    /// the inner positions (sequential sums, batch by batch, the variance from a second pass), and
    /// `y = (x − mean)·factor + shift[c]` with factor = scale[c]/√(variance + ε). The naive twin is
    /// `groupsReference` over x transposed to `[C, N·inner]`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func batchStatistics<T: BinaryFloatingPoint>(
        _ x: [T], batch n: Int, channels c: Int, inner: Int, scale: [T], shift: [T], epsilon: T
    ) -> (mean: [T], variance: [T], y: [T]) {
        var y = [T](repeating: 0, count: x.count)
        var means = [T](repeating: 0, count: c), variances = [T](repeating: 0, count: c)
        let count = T(Swift.max(n * inner, 1))
        for ch in 0..<c {
            var sum: T = 0
            for b in 0..<n { for i in 0..<inner { sum += x[(b * c + ch) * inner + i] } }
            let mean = sum / count
            var squares: T = 0
            for b in 0..<n { for i in 0..<inner { let d = x[(b * c + ch) * inner + i] - mean; squares += d * d } }
            let variance = squares / count
            let factor = scale[ch] / (variance + epsilon).squareRoot()
            for b in 0..<n { for i in 0..<inner { let k = (b * c + ch) * inner + i; y[k] = (x[k] - mean) * factor + shift[ch] } }
            means[ch] = mean
            variances[ch] = variance
        }
        return (means, variances, y)
    }

    /// The naive twin of `meanVariance` and `rms`, in Double whatever the input: the statistics
    /// from their definitions (mean = Σx/n, variance = Σ(x − mean)²/n, or mean(x²) for `rms`),
    /// each sum compensated (Kahan), and the normalised values before any scale.
    public static func groupsReference(_ x: [Double], groups: Int, size: Int, epsilon: Double, rms: Bool = false) -> (y: [Double], stats: GroupStatistics<Double>) {
        func sum(_ values: some Sequence<Double>) -> Double {
            var s = 0.0, c = 0.0
            for v in values { let t = s + (v - c); c = (t - s) - (v - c); s = t }
            return s
        }
        var y = [Double](repeating: 0, count: x.count)
        var stats = GroupStatistics(mean: [Double](repeating: 0, count: groups), invStdDev: [Double](repeating: 0, count: groups))
        let n = Double(Swift.max(size, 1))
        for g in 0..<groups {
            let values = x[(g * size)..<((g + 1) * size)]
            let mean = rms ? 0 : sum(values) / n
            let variance = sum(values.map { ($0 - mean) * ($0 - mean) }) / n
            let r = 1 / (variance + epsilon).squareRoot()
            for (j, v) in values.enumerated() { y[g * size + j] = (v - mean) * r }
            stats.mean[g] = mean
            stats.invStdDev[g] = r
        }
        return (y, stats)
    }
}
