import CBLAS

/// The GEMM seam: the only place that calls BLAS.
///
/// `C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C`, all row-major, where `op(X)` is `X`
/// or its transpose and `lda`, `ldb`, `ldc` are the row strides (in elements) of A, B and C as
/// stored.
public enum GEMM {
    /// Single precision, through `cblas_sgemm`, split over `threads` threads.
    ///
    /// OpenBLAS itself always runs single-threaded (see `setThreads`); a product worth splitting
    /// is cut into column (or row) blocks, one `cblas_sgemm` call per block, the blocks spread over
    /// the threads. One thread pool then serves every kernel, and OpenBLAS's own workers, which
    /// spin for a while after each call, never compete with Touchstone's loops for the cores.
    ///
    /// The blocks depend on the product's shape alone, never on `threads`: OpenBLAS's result for
    /// an element can depend on the width of the call it is in (its small-matrix and edge kernels
    /// sum differently), so a split chosen by the thread count gave other bits on two threads than
    /// on one (densenet121's 3×3 convolutions at 7×7, 49 columns cut into 16 + 33). With the
    /// split fixed, every thread count computes the same bits.
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        let byColumns = n >= m
        let length = byColumns ? n : m
        let parts = blocks(m: m, n: n, k: k)
        if parts <= 1 {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let box = UncheckedBox((a, b, c))
        Parallel.forEachChunk(parts, threads: threads) { range in
            let (a, b, c) = box.value
            for part in range {
                // Block boundaries rounded to 16 so that each block keeps whole vector tiles.
                let lo = (length * part / parts) / 16 * 16
                let hi = part == parts - 1 ? length : (length * (part + 1) / parts) / 16 * 16
                if hi <= lo { continue }
                if byColumns {
                    gemm(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                         b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
                } else {
                    gemm(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha, a: transA ? a + lo : a + lo * lda, lda: lda,
                         b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
                }
            }
        }
    }

    /// How many blocks `gemm(…threads:)` cuts an m×n×k product into: from the shape alone. Small
    /// products stay whole; larger ones get up to four blocks of at least 32 columns (or rows).
    static func blocks(m: Int, n: Int, k: Int) -> Int {
        let (work, overflow) = m.multipliedReportingOverflow(by: n)
        let (total, overflow2) = work.multipliedReportingOverflow(by: k)
        if !overflow && !overflow2 && (total < 1 << 18) || (m < 32 && n < 32) { return 1 }
        return min(4, max(1, max(m, n) / 32))
    }

    /// Single precision, through one `cblas_sgemm` call.
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            scaleRows(beta: beta, c: c, m: m, n: n, ldc: ldc)
            return
        }
        prepare()
        if m == 1 {
            // One row (a classifier at batch 1): a matrix-vector product. OpenBLAS's sgemm packs B
            // for it all the same, which measured 2-3x slower than sgemv on 1024→1000 layers.
            cblas_sgemv(
                CblasRowMajor, transB ? CblasNoTrans : CblasTrans, blasInt(transB ? n : k), blasInt(transB ? k : n),
                alpha, b, blasInt(ldb), a, blasInt(transA ? lda : 1), beta, c, 1)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// Double precision, through `cblas_dgemm`.
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        prepare()
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// The naive reference twin: three loops, Double accumulation. For tests only.
    public static func referenceGEMM<T: BinaryFloatingPoint & TensorScalar>(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
        a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
        beta: T, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    acc += Double(av) * Double(bv)
                }
                let prior = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = T(Double(alpha) * acc + prior)
            }
        }
    }

    /// Keeps OpenBLAS single-threaded (process-wide): Touchstone splits products itself
    /// (`gemm(…threads:)`), so the session's `threads` governs all parallelism. OpenBLAS is set
    /// to one thread and its workers ended once (`prepare`); calling `openblas_set_num_threads`
    /// again after that starts a new worker that polls with `sched_yield`.
    public static func setThreads(_ n: Int) {
        prepare()
    }

    /// The number of threads OpenBLAS uses now.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    @usableFromInline static func scaleRows(beta: Float, c: UnsafeMutablePointer<Float>, m: Int, n: Int, ldc: Int) {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
    }

    @usableFromInline static func blasInt(_ v: Int) -> Int32 { Int32(truncatingIfNeeded: v) }
}
