/// Matrix products over tensors, on top of the GEMM seam.
public enum Linear {
    /// `y = alpha·op(a)·op(b) + beta·y` for rank-2 float32 tensors.
    public static func matmul(_ a: Tensor, _ b: Tensor, into y: Tensor, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, threads: Int = 1) {
        a.withUnsafeBufferPointer(as: Float.self) { pa in
            b.withUnsafeBufferPointer(as: Float.self) { pb in
                y.withUnsafeMutableBufferPointer(as: Float.self) { py in
                    GEMM.gemm(
                        transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                        a: pa.baseAddress!, lda: transA ? m : k, b: pb.baseAddress!, ldb: transB ? k : n,
                        beta: beta, c: py.baseAddress!, ldc: n, threads: threads)
                }
            }
        }
    }

    /// Batched, broadcasting matrix product of float32 tensors.
    /// - a `[…A, M, K]`, b `[…B, K, N]`, y `[batch, M, N]` where batch = broadcast(…A, …B).
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, into y: Tensor, batch: [Int], m: Int, n: Int, k: Int, threads: Int = 1) {
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))
        let pb = UnsafePointer(b.storage.base.assumingMemoryBound(to: Float.self))
        let py = y.storage.base.assumingMemoryBound(to: Float.self)
        // A shared 2-D right operand: one GEMM over all rows of A.
        if bBatch.product == 1 && aBatch == batch {
            GEMM.gemm(transA: false, transB: false, m: batch.product * m, n: n, k: k, alpha: 1, a: pa, lda: k, b: pb, ldb: n, beta: 0, c: py, ldc: n, threads: threads)
            return
        }
        for (i, (ia, ib)) in Broadcast.batchPairs(aBatch, bBatch, batch: batch).enumerated() {
            GEMM.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: pa + ia * m * k, lda: k, b: pb + ib * k * n, ldb: n, beta: 0, c: py + i * m * n, ldc: n, threads: threads)
        }
    }

    /// Integer matrix product (Int64 accumulation, wrapped to the output type).
    public static func integerMatmul(_ a: Tensor, _ b: Tensor, into y: Tensor, plan: (batch: [Int], m: Int, n: Int, k: Int)) {
        let av = a.int64s(), bv = b.int64s()
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        var out = [Int64](repeating: 0, count: plan.batch.product * plan.m * plan.n)
        for (i, (ia, ib)) in Broadcast.batchPairs(aBatch, bBatch, batch: plan.batch).enumerated() {
            for r in 0..<plan.m {
                for c in 0..<plan.n {
                    var s: Int64 = 0
                    for p in 0..<plan.k { s &+= av[ia * plan.m * plan.k + r * plan.k + p] &* bv[ib * plan.k * plan.n + p * plan.n + c] }
                    out[(i * plan.m + r) * plan.n + c] = s
                }
            }
        }
        Tensor(shape: [out.count], scalars: out).convert(into: y)
    }

    /// Applies an activation in place over a float32 tensor.
    public static func activate(_ y: Tensor, _ activation: Activation) {
        y.withUnsafeMutableBufferPointer(as: Float.self) { activation.apply($0.baseAddress!, count: $0.count) }
    }
}
