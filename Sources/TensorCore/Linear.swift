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

    /// `c[rows, n] = a[rows, k] · b[k, n]` (row strides `k`, `ldb`, `ldc`), then `activation`, on
    /// Touchstone's register tiles: A packed into the scratch, B read where it lies. Each output
    /// sums in MLAS's order (`PackedGEMM`: a fused chain from zero per depth block, the blocks
    /// added in turn), so the bits do not depend on the thread count.
    /// - streamB: B is a weight that comes from memory (`PackedGEMM.multiply`): true but for the
    ///   per-batch products of activations (attention's heads), whose B is usually in cache.
    public static func tiledMatmul(
        _ a: UnsafePointer<Float>, rows: Int, k: Int, _ b: UnsafePointer<Float>, n: Int, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
        activation: Activation?, threads: Int, scratch: Scratch?, streamB: Bool = true
    ) {
        tiledMatmul(a, rows: rows, k: k, PanelSource.matrix(b, columns: n, rowStride: ldb), c: c, ldc: ldc, activation: activation, threads: threads,
                    scratch: scratch, streamB: streamB)
    }

    static func tiledMatmul(
        _ a: UnsafePointer<Float>, rows: Int, k: Int, _ b: PanelSource, c: UnsafeMutablePointer<Float>, ldc: Int,
        activation: Activation?, threads: Int, scratch: Scratch?, streamB: Bool
    ) {
        let n = b.columns
        if rows == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<rows { (c + i * ldc).update(repeating: 0, count: n) }
            if let activation { for i in 0..<rows { PackedGEMM.finish(c + i * ldc, nil, count: n, activation) } }
            return
        }
        let packed = PackedMatrix(a, rows: rows, depth: k, rowStride: k, kernel: PackedGEMM.selected, scratch: scratch, threads: threads)
        PackedGEMM.multiply(packed, b, c: c, ldc: ldc, bias: nil, activation: activation, threads: threads, scratch: scratch, streamB: streamB)
    }

    /// `y[m, n] = a[m, k] · b[k, n] + c` on the tiles (`tiledMatmul`), float32 tensors; c (optional)
    /// holds `n` values (one per column), one value, or `m·n`, and is added after the product; the
    /// activation is applied by the tiles (pass nil when c is given, and apply it after).
    public static func tiledProduct(
        _ a: Tensor, _ b: Tensor, adding c: Tensor?, into y: Tensor, m: Int, n: Int, k: Int, activation: Activation?,
        threads: Int, scratch: Scratch?
    ) {
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))
        let pb = UnsafePointer(b.storage.base.assumingMemoryBound(to: Float.self))
        let py = y.storage.base.assumingMemoryBound(to: Float.self)
        tiledMatmul(pa, rows: m, k: k, pb, n: n, ldb: n, c: py, ldc: n, activation: activation, threads: threads, scratch: scratch)
        guard let c else { return }
        let pc = UnsafePointer(c.storage.base.assumingMemoryBound(to: Float.self))
        for i in 0..<m {
            let row = py + i * n
            switch c.count {
            case m * n: for j in 0..<n { row[j] += pc[i * n + j] }
            case 1: for j in 0..<n { row[j] += pc[0] }
            default: for j in 0..<n { row[j] += pc[j] }
            }
        }
    }

    /// `y[m, n] = x·Wᵀ + bias[n]`, then `activation`, for a weight packed once as the product's A
    /// operand (`weights`, `[n, k]`: a fully connected layer's weight in the `[out, in]` layout,
    /// packed when the layer was first planned), on the register tiles: computed as
    /// `yᵀ = W·xᵀ`, with x turned into `[k, m]` and yᵀ turned back in `scratch` (slots 1 and 2;
    /// nothing is turned when m is 1). The weight is read once per run in its packed form, where
    /// OpenBLAS's `sgemm` with a transposed B packs it again on every call. Each output sums in
    /// MLAS's order (`PackedGEMM`), so the bits do not depend on the thread count.
    /// - x: `[m, k]`.
    /// - y: `[m, n]`, fully overwritten.
    /// - bias: n float32 values, or nil.
    public static func packedWeightProduct(
        _ x: Tensor, m: Int, weights: PackedMatrix, bias: Tensor?, activation: Activation?, into y: Tensor,
        threads: Int, scratch: Scratch
    ) {
        let n = weights.rows, k = weights.depth
        if m == 0 || n == 0 { return }
        let y = y.storage.base.assumingMemoryBound(to: Float.self)
        let x = UnsafePointer(x.storage.base.assumingMemoryBound(to: Float.self))
        let bias = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        var source = x
        if m > 1 {
            let turned = scratch.floats(k * m, slot: 1)
            Movement.transposeMatrix(x, rows: m, columns: k, into: turned)
            source = UnsafePointer(turned)
        }
        let out = m == 1 ? y : scratch.floats(n * m, slot: 2)
        PackedGEMM.multiply(weights, PanelSource.matrix(source, columns: m, rowStride: m), c: out, ldc: m, bias: bias,
                            activation: activation, threads: threads, scratch: scratch)
        if m > 1 { Movement.transposeMatrix(UnsafePointer(out), rows: n, columns: m, into: y) }
    }

    /// Whether float32 products of `rows` rows go to the register tiles (`tiledMatmul`): when the
    /// build has them and at least one row panel is full (fewer rows — a classifier or one decoded
    /// token — stay with OpenBLAS's matrix-vector kernels).
    public static func usesTiles(rows: Int) -> Bool { PackedGEMM.selected.isTiles && rows >= PackedGEMM.rowTile }

    /// Batched, broadcasting matrix product of float32 tensors.
    /// - a `[…A, M, K]`, b `[…B, K, N]`, y `[batch, M, N]` where batch = broadcast(…A, …B).
    /// - activation: applied to the output by the tiles as they store it (on the OpenBLAS path, nil
    ///   is passed and the caller applies it).
    /// - transposedB: b is `[…B, N, K]`, and Bᵀ is multiplied (a Transpose folded into the product).
    public static func batchedMatmul(
        _ a: Tensor, _ b: Tensor, into y: Tensor, batch: [Int], m: Int, n: Int, k: Int, threads: Int = 1,
        activation: Activation? = nil, scratch: Scratch? = nil, transposedB: Bool = false
    ) {
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))
        let py = y.storage.base.assumingMemoryBound(to: Float.self)
        let given = UnsafePointer(b.storage.base.assumingMemoryBound(to: Float.self))
        // A transposed B (`[…, n, k]`) is turned into `[k, n]` one batch at a time, in the scratch's
        // slot 1, and then multiplied exactly as B given so: the same values into the same calls,
        // so the same bits as a separate Transpose before the product.
        let owned = transposedB && scratch == nil ? UnsafeMutablePointer<Float>.allocate(capacity: k * n) : nil
        defer { owned?.deallocate() }
        var turned = BatchOperand(given: given, k: k, n: n, slice: transposedB ? (owned ?? scratch.unsafelyUnwrapped.floats(k * n, slot: 1)) : nil)
        // A shared 2-D right operand: one product over all rows of A.
        let shared = bBatch.product == 1 && aBatch == batch
        if usesTiles(rows: shared ? batch.product * m : m) {
            if shared {
                tiledMatmul(pa, rows: batch.product * m, k: k, turned.matrix(0), n: n, ldb: n, c: py, ldc: n, activation: activation, threads: threads, scratch: scratch)
                return
            }
            let pairs = Broadcast.batchPairs(aBatch, bBatch, batch: batch)
            // Many small products (attention's per-head, per-window products: Swin's 192 of
            // 49×49 by 49×32 at batch 1) are too small to split inside (`PackedGEMM.multiply`
            // splits from 128K multiply-adds), so they go to the threads whole, each thread with a
            // scratch of its own. Each product gives the same bits on any thread count.
            let parts = min(threads, pairs.count)
            if parts > 1 && (m * n * k < 1 << 17 || pairs.count >= 4 * threads) {
                let workers = scratch?.workers(parts) ?? (0..<parts).map { _ in Scratch() }
                let box = UncheckedBox((pa, given, py, workers))
                Parallel.forEachChunk(parts, threads: parts) { range in
                    let (pa, given, py, workers) = box.value
                    for part in range {
                        let scratch = workers[part]
                        // This part's own turned B (slot 1 of its scratch).
                        var turned = BatchOperand(given: given, k: k, n: n, slice: transposedB ? scratch.floats(k * n, slot: 1) : nil)
                        for i in (pairs.count * part / parts)..<(pairs.count * (part + 1) / parts) {
                            let (ia, ib) = pairs[i]
                            tiledMatmul(pa + ia * m * k, rows: m, k: k, turned.matrix(ib), n: n, ldb: n, c: py + i * m * n, ldc: n,
                                        activation: activation, threads: 1, scratch: scratch, streamB: false)
                        }
                    }
                }
                return
            }
            for (i, (ia, ib)) in pairs.enumerated() {
                tiledMatmul(pa + ia * m * k, rows: m, k: k, turned.matrix(ib), n: n, ldb: n, c: py + i * m * n, ldc: n,
                            activation: activation, threads: threads, scratch: scratch, streamB: false)
            }
            return
        }
        if shared {
            GEMM.gemm(transA: false, transB: false, m: batch.product * m, n: n, k: k, alpha: 1, a: pa, lda: k, b: turned.matrix(0), ldb: n, beta: 0, c: py, ldc: n, threads: threads)
        } else {
            for (i, (ia, ib)) in Broadcast.batchPairs(aBatch, bBatch, batch: batch).enumerated() {
                GEMM.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: pa + ia * m * k, lda: k, b: turned.matrix(ib), ldb: n, beta: 0, c: py + i * m * n, ldc: n, threads: threads)
            }
        }
        if let activation { Linear.activate(y, activation) }
    }

    /// Batch `ib`'s `[k, n]` matrix of a product's B: where it lies, or, for a B given transposed
    /// (`[…, n, k]`), turned into `slice` (kept while consecutive batches read the same one).
    struct BatchOperand {
        let given: UnsafePointer<Float>, k: Int, n: Int
        let slice: UnsafeMutablePointer<Float>?
        var holds = -1

        init(given: UnsafePointer<Float>, k: Int, n: Int, slice: UnsafeMutablePointer<Float>?) {
            (self.given, self.k, self.n, self.slice) = (given, k, n, slice)
        }

        mutating func matrix(_ ib: Int) -> UnsafePointer<Float> {
            guard let slice else { return given + ib * k * n }
            if holds != ib {
                Movement.transposeMatrix(given + ib * k * n, rows: n, columns: k, into: slice)
                holds = ib
            }
            return UnsafePointer(slice)
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
