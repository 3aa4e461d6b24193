/// Products whose running sums are held in IEEE half precision: the `fp16` policy's accumulation
/// in FP16, on request.
///
/// Both operands are rounded to float16 first. Each output is the sum over the reduction index in
/// increasing order (for a convolution: input channel, then kernel row, then kernel column), every
/// step `acc ← fl16(acc + a·b)` rounded once, as a fused half-precision multiply-add does (CUDA's
/// `__hfma`). GPU kernels may add in other orders or in trees; the sequential order is the one
/// the textbook error bound of recursive summation, growing with the reduction length, describes.
/// A bias, or Gemm's `beta·C`, is added after the sum with one more rounding.
///
/// The arithmetic runs in float32 lanes: the product of two float16 values is exact there, the sum
/// is rounded to odd (an inexact result with an even last bit moves one unit toward the exact sum,
/// found with TwoSum), and 24 ≥ 11 + 2 bits make the final rounding to float16 the correctly
/// rounded exact sum.
public enum HalfAccumulation {
    typealias Lanes = SIMD16<Float>

    /// `fl16(acc + a·b)` for float16 values held in Floats, rounded once.
    public static func fma(_ a: Float, _ b: Float, _ acc: Float) -> Float {
        fma(Lanes(repeating: a), Lanes(repeating: b), Lanes(repeating: acc))[0]
    }

    typealias Bits = SIMD16<UInt32>

    // The lane code below avoids comparisons and `replacing(with:where:)`: their masks compile to
    // lane-by-lane loops. Conditions are 0/1 lanes made with shifts of the sign bit instead.

    @inline(__always)
    static func fma(_ a: Lanes, _ b: Lanes, _ acc: Lanes) -> Lanes {
        let p = a * b
        let s = acc + p
        // TwoSum: e = (acc + p) − s exactly.
        let bv = s - acc
        let e = (acc - (s - bv)) + (p - bv)
        let sb = unsafeBitCast(s, to: Bits.self), eb = unsafeBitCast(e, to: Bits.self)
        let em = eb & 0x7FFF_FFFF
        let inexact = (em | (0 &- em)) &>> 31
        let even = ~sb & 1
        let finite = ~((sb & 0x7F80_0000) &+ 0x0080_0000) &>> 31
        let adjust = inexact & even & finite
        // Round to odd: one unit up in magnitude when e has the sign of s, one down otherwise.
        let opposite = (sb ^ eb) &>> 31
        let odd = sb &+ adjust &- ((adjust & opposite) &<< 1)
        return half(unsafeBitCast(odd, to: Lanes.self))
    }

    /// `a` where `bit` is 1, `b` where it is 0.
    @inline(__always)
    static func select(_ bit: Bits, _ a: Bits, _ b: Bits) -> Bits {
        let m = Bits(repeating: 0) &- bit
        return (a & m) | (b & ~m)
    }

    /// Rounds float32 lanes to the nearest float16 values (ties to even), kept as float32: the
    /// conversion through `SIMD16<Float16>` runs lane by lane.
    @inline(__always)
    static func half(_ x: Lanes) -> Lanes {
        let bits = unsafeBitCast(x, to: Bits.self)
        let sign = bits & 0x8000_0000
        let mag = bits & 0x7FFF_FFFF
        // Normal float16 range: drop 13 significand bits, rounding to nearest even.
        var r = (mag &+ 0x0FFF &+ ((mag &>> 13) & 1)) & 0xFFFF_E000
        // Beyond 65504 after rounding: infinity.
        r = select((0x477F_E000 &- r) &>> 31, Bits(repeating: 0x7F80_0000), r)
        // Below 2⁻¹⁴ the step is 2⁻²⁴, the step of float32 values just above 0.5: adding and
        // removing 0.5 rounds to it.
        let small = unsafeBitCast(unsafeBitCast(mag, to: Lanes.self) + 0.5 - 0.5, to: Bits.self)
        r = select((mag &- 0x3880_0000) &>> 31, small, r)
        // Infinities and NaNs pass through.
        r = select((mag &+ 0x0080_0000) &>> 31, mag, r)
        return unsafeBitCast(r | sign, to: Lanes.self)
    }

    /// Lanes of B per column block.
    static let width = 16
    /// Rows of A per register block.
    static let rows = 4

    /// `A` rounded to float16 and laid out in blocks of four rows, `[⌈m/4⌉][k][4]` (missing rows zero);
    /// element (i, p) of the source is at `a[i·rowStride + p·columnStride]`.
    struct PackedA {
        let data: UnsafeMutablePointer<Float>
        let blocks: Int, k: Int
        init(_ a: UnsafePointer<Float>, m: Int, k: Int, rowStride: Int, columnStride: Int) {
            blocks = (m + HalfAccumulation.rows - 1) / HalfAccumulation.rows
            self.k = k
            let r = HalfAccumulation.rows
            data = .allocate(capacity: max(1, blocks * k * r))
            data.initialize(repeating: 0, count: max(1, blocks * k * r))
            for i in 0..<m {
                let dst = data + (i / r) * k * r + i % r
                for p in 0..<k { dst[p * r] = Simulate.half(a[i * rowStride + p * columnStride]) }
            }
        }
        func deallocate() { data.deallocate() }
    }

    /// `B` rounded to float16, `[k][ldb]` with `ldb` a multiple of 16 and the extra columns zero;
    /// element (p, j) of the source is at `b[p·rowStride + j·columnStride]`.
    struct PackedB {
        let data: UnsafeMutablePointer<Float>
        let ldb: Int
        init(k: Int, n: Int) {
            ldb = (n + HalfAccumulation.width - 1) / HalfAccumulation.width * HalfAccumulation.width
            data = .allocate(capacity: max(1, k * ldb))
            data.initialize(repeating: 0, count: max(1, k * ldb))
        }
        init(_ b: UnsafePointer<Float>, k: Int, n: Int, rowStride: Int, columnStride: Int) {
            self.init(k: k, n: n)
            for p in 0..<k {
                for j in 0..<n { data[p * ldb + j] = Simulate.half(b[p * rowStride + j * columnStride]) }
            }
        }
        func deallocate() { data.deallocate() }
    }

    /// `c[i·ldc + j] = Σ_p a(i, p)·b(p, j)` (i < m, j < n), accumulated in float16; c is overwritten.
    static func product(_ a: PackedA, _ b: PackedB, m: Int, n: Int, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        let columnBlocks = b.ldb / width
        let k = a.k
        let box = UncheckedBox(c)
        Parallel.forEachChunk(columnBlocks, threads: m * n * k > 1 << 16 ? threads : 1) { range in
            let c = box.value
            for jb in range {
                let j = jb * width
                let valid = min(width, n - j)
                for ib in 0..<a.blocks {
                    var acc0 = Lanes(), acc1 = Lanes(), acc2 = Lanes(), acc3 = Lanes()
                    var pa = UnsafePointer(a.data + ib * k * rows)
                    var pb = UnsafePointer(b.data + j)
                    for _ in 0..<k {
                        let bv = UnsafeRawPointer(pb).loadUnaligned(as: Lanes.self)
                        acc0 = fma(Lanes(repeating: pa[0]), bv, acc0)
                        acc1 = fma(Lanes(repeating: pa[1]), bv, acc1)
                        acc2 = fma(Lanes(repeating: pa[2]), bv, acc2)
                        acc3 = fma(Lanes(repeating: pa[3]), bv, acc3)
                        pa += rows
                        pb += b.ldb
                    }
                    for (r, acc) in [acc0, acc1, acc2, acc3].enumerated() {
                        let i = ib * rows + r
                        if i >= m { break }
                        for l in 0..<valid { c[i * ldc + j + l] = acc[l] }
                    }
                }
            }
        }
    }

    /// `y ← fl16(y + fl16(v))` over `count` values: a bias or `beta·C` added after the sum.
    static func addRounded(_ y: UnsafeMutablePointer<Float>, count: Int, _ value: (Int) -> Float) {
        for i in 0..<count { y[i] = Simulate.half(y[i] + Simulate.half(value(i))) }
    }

    /// 2-D (or 1-D) convolution accumulated in float16: per image and group, the input patches as
    /// columns (im2col) and `Y_g = W_g · columns`, then the bias and the activation.
    /// - input `[N, C, H, W]`, weight `[M, C/groups, KH, KW]`, bias `[M]` or nil, output
    ///   `[N, M, OH, OW]`, all float32 holding any values (they are rounded on the way in).
    public static func conv2D(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry, activation: Activation?, threads: Int) {
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        let depth = cg * g.kernelHeight * g.kernelWidth
        let plane = g.outHeight * g.outWidth
        guard plane > 0, g.outChannels > 0 else { return }
        let x = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let w = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self))
        let y = output.storage.base.assumingMemoryBound(to: Float.self)
        let b = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        let weights = (0..<g.groups).map { PackedA(w + $0 * mg * depth, m: mg, k: depth, rowStride: depth, columnStride: 1) }
        defer { weights.forEach { $0.deallocate() } }
        let columns = PackedB(k: depth, n: plane)
        defer { columns.deallocate() }
        for n in 0..<g.batch {
            for grp in 0..<g.groups {
                PatchColumns.fill(from: x + (n * g.inChannels + grp * cg) * g.inHeight * g.inWidth, channels: cg, geometry: g, into: columns.data, rowStride: columns.ldb)
                for i in 0..<depth * columns.ldb { columns.data[i] = Simulate.half(columns.data[i]) }
                let out = y + (n * g.outChannels + grp * mg) * plane
                product(weights[grp], columns, m: mg, n: plane, c: out, ldc: plane, threads: threads)
                if let b {
                    for m in 0..<mg { addRounded(out + m * plane, count: plane) { _ in b[grp * mg + m] } }
                }
                if let activation { activation.apply(out, count: mg * plane) }
            }
        }
    }

    /// `y = alpha·op(a)·op(b) + beta·y` for rank-2 tensors, the product accumulated in float16,
    /// then scaled by alpha and `beta·y` added, each with one rounding.
    public static func matmul(_ a: Tensor, _ b: Tensor, into y: Tensor, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, threads: Int) {
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))
        let pb = UnsafePointer(b.storage.base.assumingMemoryBound(to: Float.self))
        let py = y.storage.base.assumingMemoryBound(to: Float.self)
        let packedA = PackedA(pa, m: m, k: k, rowStride: transA ? 1 : k, columnStride: transA ? m : 1)
        let packedB = PackedB(pb, k: k, n: n, rowStride: transB ? 1 : n, columnStride: transB ? k : 1)
        defer { packedA.deallocate(); packedB.deallocate() }
        let c = beta != 0 ? Array(UnsafeBufferPointer(start: py, count: m * n)) : []
        product(packedA, packedB, m: m, n: n, c: py, ldc: n, threads: threads)
        if alpha != 1 { for i in 0..<m * n { py[i] = Simulate.half(alpha * py[i]) } }
        if beta != 0 { addRounded(py, count: m * n) { beta * c[$0] } }
    }

    /// Batched, broadcasting matrix product accumulated in float16: a `[…A, M, K]`, b `[…B, K, N]`,
    /// y `[batch, M, N]`.
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, into y: Tensor, batch: [Int], m: Int, n: Int, k: Int, threads: Int) {
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))
        let pb = UnsafePointer(b.storage.base.assumingMemoryBound(to: Float.self))
        let py = y.storage.base.assumingMemoryBound(to: Float.self)
        for (i, (ia, ib)) in Broadcast.batchPairs(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), batch: batch).enumerated() {
            let packedA = PackedA(pa + ia * m * k, m: m, k: k, rowStride: k, columnStride: 1)
            let packedB = PackedB(pb + ib * k * n, k: k, n: n, rowStride: n, columnStride: 1)
            product(packedA, packedB, m: m, n: n, c: py + i * m * n, ldc: n, threads: threads)
            packedA.deallocate()
            packedB.deallocate()
        }
    }
}
