/// The FP64 kernels: every value and every sum in Double, products through `cblas_dgemm`.
///
/// These serve the `fp64` execution policy, the ground truth that FP32, FP16 and INT8 runs are
/// measured against, so they favour plain loops over speed: only the products go through BLAS.
public enum Float64Kernels {
    /// 2-D (or 1-D, with `inHeight == kernelHeight == 1`) convolution: per image and group, the
    /// input patches as columns (im2col), then `Y_g = W_g · columns` with dgemm.
    /// - input `[N, C, H, W]`, weight `[M, C/groups, KH, KW]`, bias `[M]` or nil, output
    ///   `[N, M, OH, OW]`, all float64.
    public static func conv2D(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry, activation: Activation?) {
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        let depth = cg * g.kernelHeight * g.kernelWidth
        let plane = g.outHeight * g.outWidth
        guard plane > 0, g.outChannels > 0 else { return }
        let columns = UnsafeMutablePointer<Double>.allocate(capacity: max(depth * plane, 1))
        defer { columns.deallocate() }
        let x = UnsafePointer(input.storage.base.assumingMemoryBound(to: Double.self))
        let w = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Double.self))
        let y = output.storage.base.assumingMemoryBound(to: Double.self)
        let b = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Double.self)) }
        for n in 0..<g.batch {
            for grp in 0..<g.groups {
                PatchColumns.fill(from: x + (n * g.inChannels + grp * cg) * g.inHeight * g.inWidth, channels: cg, geometry: g, into: columns, rowStride: plane)
                let out = y + (n * g.outChannels + grp * mg) * plane
                if depth == 0 {
                    for i in 0..<mg * plane { out[i] = 0 }
                } else {
                    GEMM.gemm(
                        transA: false, transB: false, m: mg, n: plane, k: depth, alpha: 1, a: w + grp * mg * depth, lda: depth,
                        b: columns, ldb: plane, beta: 0, c: out, ldc: plane)
                }
                for m in 0..<mg {
                    let bias = b?[grp * mg + m] ?? 0
                    let o = out + m * plane
                    for i in 0..<plane {
                        let v = o[i] + bias
                        o[i] = activation?.apply(v) ?? v
                    }
                }
            }
        }
    }

    /// `y = alpha·op(a)·op(b) + beta·y` for rank-2 float64 tensors.
    public static func matmul(_ a: Tensor, _ b: Tensor, into y: Tensor, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Double, beta: Double) {
        GEMM.gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
            a: UnsafePointer(a.storage.base.assumingMemoryBound(to: Double.self)), lda: transA ? m : k,
            b: UnsafePointer(b.storage.base.assumingMemoryBound(to: Double.self)), ldb: transB ? k : n,
            beta: beta, c: y.storage.base.assumingMemoryBound(to: Double.self), ldc: n)
    }

    /// Batched, broadcasting matrix product: a `[…A, M, K]`, b `[…B, K, N]`, y `[batch, M, N]`.
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, into y: Tensor, batch: [Int], m: Int, n: Int, k: Int) {
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Double.self))
        let pb = UnsafePointer(b.storage.base.assumingMemoryBound(to: Double.self))
        let py = y.storage.base.assumingMemoryBound(to: Double.self)
        for (i, (ia, ib)) in Broadcast.batchPairs(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), batch: batch).enumerated() {
            GEMM.gemm(
                transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: pa + ia * m * k, lda: k, b: pb + ib * k * n, ldb: n,
                beta: 0, c: py + i * m * n, ldc: n)
        }
    }

    /// Global average or max over each of `planes` planes of `planeSize` values.
    public static func globalPool(input: Tensor, output: Tensor, planes: Int, planeSize: Int, max: Bool) {
        let s = UnsafePointer(input.storage.base.assumingMemoryBound(to: Double.self))
        let d = output.storage.base.assumingMemoryBound(to: Double.self)
        for p in 0..<planes {
            var acc = max ? -Double.infinity : 0
            for i in 0..<planeSize {
                let v = s[p * planeSize + i]
                if max { if v > acc || v.isNaN { acc = v } } else { acc += v }
            }
            d[p] = max ? acc : acc / Double(Swift.max(planeSize, 1))
        }
    }

    /// `y[n, c, s] = x[n, c, s]·scale[c] + shift[c]`, then the activation; x, y `[N, C, S]`.
    public static func channelAffine(_ x: Tensor, scale: [Double], shift: [Double], into y: Tensor, activation: Activation?) {
        let c = x.shape.count > 1 ? x.shape[1] : 1
        let s = x.shape.count > 2 ? x.shape[2...].reduce(1, *) : 1
        let src = UnsafePointer(x.storage.base.assumingMemoryBound(to: Double.self))
        let dst = y.storage.base.assumingMemoryBound(to: Double.self)
        for p in 0..<(x.shape.first ?? 1) * c {
            let a = scale[p % c], b = shift[p % c]
            for i in 0..<s {
                let v = src[p * s + i] * a + b
                dst[p * s + i] = activation?.apply(v) ?? v
            }
        }
    }

    /// Applies an activation to every value of a float64 tensor in place.
    public static func activate(_ y: Tensor, _ activation: Activation) {
        let p = y.storage.base.assumingMemoryBound(to: Double.self)
        for i in 0..<y.count { p[i] = activation.apply(p[i]) }
    }
}
