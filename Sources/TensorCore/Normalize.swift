import Foundation

/// Per-channel affine transforms and cross-channel normalisation.
public enum Normalize {
    /// `y[n, c, s] = x[n, c, s]·scale[c] + shift[c]`, then the activation.
    /// - x, y `[N, C, S]` float32 (S the flattened spatial size); scale, shift `[C]`.
    public static func channelAffine(_ x: Tensor, scale: [Float], shift: [Float], into y: Tensor, activation: Activation?, threads: Int) {
        let shape = x.shape
        let n = shape.first ?? 1
        let c = shape.count > 1 ? shape[1] : 1
        let s = shape.count > 2 ? shape[2...].reduce(1, *) : 1
        let src = UnsafePointer(x.storage.base.assumingMemoryBound(to: Float.self))
        let dst = y.storage.base.assumingMemoryBound(to: Float.self)
        Parallel.forEachChunk(n * c, threads: n * c * s > 1 << 15 ? threads : 1) { range in
            for p in range {
                let ch = p % c
                let a = scale[ch], b = shift[ch]
                let xs = src + p * s, ys = dst + p * s
                for i in 0..<s { ys[i] = xs[i] * a + b }
                activation?.apply(ys, count: s)
            }
        }
    }

    /// Local response normalisation across channels (ONNX LRN):
    /// `y = x / (bias + alpha/size · Σ x²)^beta` over channels `c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉`.
    /// - x, y `[N, C, S]` float32 (computed in Float) or float64 (in Double).
    public static func lrn(_ x: Tensor, into y: Tensor, size: Int, alpha: Float, beta: Float, bias: Float) {
        if x.dtype == .float64 {
            lrn(x, into: y, size: size, alpha: Double(alpha), beta: Double(beta), bias: Double(bias), pow: { Foundation.pow($0, $1) })
        } else {
            lrn(x, into: y, size: size, alpha: alpha, beta: beta, bias: bias, pow: { Foundation.pow($0, $1) })
        }
    }

    static func lrn<T: BinaryFloatingPoint & TensorScalar>(_ x: Tensor, into y: Tensor, size: Int, alpha: T, beta: T, bias: T, pow: (T, T) -> T) {
        let shape = x.shape
        let n = shape[0], c = shape[1], s = shape[2...].reduce(1, *)
        let src = x.scalars(as: T.self)
        let lo = (size - 1) / 2, hi = size - 1 - lo
        y.withUnsafeMutableBufferPointer(as: T.self) { dst in
            for b in 0..<n {
                for ch in 0..<c {
                    for i in 0..<s {
                        var sq: T = 0
                        for k in Swift.max(0, ch - lo)...Swift.min(c - 1, ch + hi) {
                            let v = src[(b * c + k) * s + i]
                            sq += v * v
                        }
                        let idx = (b * c + ch) * s + i
                        dst[idx] = src[idx] / pow(bias + alpha / T(size) * sq, beta)
                    }
                }
            }
        }
    }
}

extension Normalize {
    /// ONNX `LpNormalization` (p 1 or 2) along the middle axis of `[outer, length, inner]`:
    /// `x / ‖x‖_p`, 0 where the norm is 0; each norm summed sequentially in `T`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func lpNormalize<T: BinaryFloatingPoint>(_ x: [T], outer: Int, length: Int, inner: Int, p: Int) -> [T] {
        var v = x
        for o in 0..<outer {
            for i in 0..<inner {
                var norm: T = 0
                for t in 0..<length { let e = v[(o * length + t) * inner + i]; norm += p == 1 ? e.magnitude : e * e }
                if p == 2 { norm = norm.squareRoot() }
                for t in 0..<length { let k = (o * length + t) * inner + i; v[k] = norm == 0 ? 0 : v[k] / norm }
            }
        }
        return v
    }

    /// For each element of a tensor of `shape`, the index of its statistics group when the
    /// `reduced` axes are reduced: its position with those axes dropped (row-major).
    public static func groupIndex(shape: [Int], reduced: Set<Int>) -> (group: [Int], groups: Int) {
        let strides = contiguousStrides(shape)
        let kept = shape.indices.filter { !reduced.contains($0) }
        let keptStrides = contiguousStrides(kept.map { shape[$0] })
        let group = (0..<shape.reduce(1, *)).map { e in
            kept.enumerated().reduce(0) { $0 + ((e / strides[$1.element]) % shape[$1.element]) * keptStrides[$1.offset] }
        }
        return (group, kept.map { shape[$0] }.reduce(1, *))
    }

    /// ONNX `MeanVarianceNormalization`: `(x − E[x]) / (√(E[x²] − E[x]²) + 1e-9)` per statistics
    /// group (`groupIndex`), as ONNX's function body defines it; sums sequential in `T`, in
    /// element order.
    public static func meanVariance<T: BinaryFloatingPoint>(_ v: [T], group: [Int], groups: Int) -> [T] {
        var sum = [T](repeating: 0, count: groups), squares = sum, count = sum
        for (e, g) in group.enumerated() { sum[g] += v[e]; squares[g] += v[e] * v[e]; count[g] += 1 }
        return group.enumerated().map { e, g -> T in
            let mean = sum[g] / count[g]
            return (v[e] - mean) / ((squares[g] / count[g] - mean * mean).squareRoot() + 1e-9)
        }
    }
}
