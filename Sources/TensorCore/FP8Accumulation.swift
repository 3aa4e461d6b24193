/// How FP8 products are summed.
///
/// `tensorCore` is the model of a GPU's FP8 tensor cores fitted to an H200's `torch._scaled_mm`
/// (`Benchmarks/fp8/`, `ModelZoo/scripts/fit_fp8_accumulation.py`): products are added
/// `groupSize` at a time (one instruction's depth) into the running sum, every addend, the running
/// sum included, first cut toward zero to `fractionBits` bits below the largest addend's leading
/// bit (the exponent sum of its two operands); after `promotionInterval` products the partial sum
/// is added into a float32 total and restarts from zero (none: one partial sum over the whole
/// depth, cuBLAS's "fast accumulation"). `hopper` reproduces the H200's SQNR within 0.3 dB at
/// every depth from 256 to 65,536 (about 78 dB, where float32 sums give 127–158 dB) and
/// `hopperFastAccumulation` within 0.1 dB up to a depth of 4,096, bit for bit on 87–94% of the
/// outputs. `float32`: the products summed in float32, in order, each addition rounded to nearest.
public enum FP8Accumulator: Sendable, Hashable, CustomStringConvertible {
    case float32
    case tensorCore(groupSize: Int, fractionBits: Int, promotionInterval: Int?)

    public static let hopper = FP8Accumulator.tensorCore(groupSize: 32, fractionBits: 13, promotionInterval: 128)
    public static let hopperFastAccumulation = FP8Accumulator.tensorCore(groupSize: 32, fractionBits: 13, promotionInterval: nil)

    public var description: String {
        switch self {
        case .float32: return "fp32"
        case .hopper: return "hopper"
        case .hopperFastAccumulation: return "hopper-fast"
        case let .tensorCore(g, f, p): return "tensor-core(group \(g), \(f) bits, promotion \(p.map(String.init) ?? "none"))"
        }
    }

    /// By name: fp32, hopper, hopper-fast.
    public init?(name: String) {
        switch name {
        case "fp32": self = .float32
        case "hopper": self = .hopper
        case "hopper-fast": self = .hopperFastAccumulation
        default: return nil
        }
    }
}

/// The FP8 products of one node: what the operands are rounded to, their scales and how the
/// products are summed. Operand values are `scale · v` with `v` in the format (the FP8 policies
/// quantize them so); the sum runs over the `v`s and is multiplied by the two scales after, as
/// `torch._scaled_mm` and TensorRT's FP8 kernels do.
public struct FP8Products: Sendable, Hashable {
    /// Input 0's format and its one scale.
    public var activationFormat: MiniFloat
    public var activationScale: Float
    /// Input 1's format and scales: one (per tensor, also when input 1 is a second activation) or
    /// one per output channel.
    public var weightFormat: MiniFloat
    public var weightScales: [Float]
    public var accumulator: FP8Accumulator

    public init(activationFormat: MiniFloat, activationScale: Float, weightFormat: MiniFloat, weightScales: [Float], accumulator: FP8Accumulator) {
        self.activationFormat = activationFormat
        self.activationScale = activationScale
        self.weightFormat = weightFormat
        self.weightScales = weightScales
        self.accumulator = accumulator
    }
}

/// Matrix products of FP8 operands summed as `FP8Accumulator` says: the reference model of a GPU's
/// FP8 tensor cores. Each output is computed alone (in the order of the reduction index, groups of
/// `groupSize`), so results do not depend on the thread count.
public enum FP8Accumulation {
    /// Operand rows of FP8 values (as Floats, `count = rows · depth`, row-major) with each
    /// element's exponent (the floor of log2 of its magnitude; zeros get a sentinel).
    struct Rows {
        var values: [Float]
        var exponents: [Int32]
        let depth: Int

        /// Rows of `v = round(x / scale)` in `format` (saturating), where element (r, p) of the
        /// source is `x[r·rowStride + p·depthStride]` and row r's scale is `scales[r]` (or
        /// `scales[0]` for all).
        init(_ x: UnsafePointer<Float>, rows: Int, depth: Int, rowStride: Int, depthStride: Int, scales: [Float], format: MiniFloat) {
            self.depth = depth
            values = [Float](repeating: 0, count: rows * depth)
            exponents = [Int32](repeating: FP8Accumulation.zeroExponent, count: rows * depth)
            for r in 0..<rows {
                let s = scales.count == 1 ? scales[0] : scales[r]
                for p in 0..<depth {
                    let v = format.round(x[r * rowStride + p * depthStride] / s, saturate: true)
                    values[r * depth + p] = v
                    if v != 0 && v.isFinite { exponents[r * depth + p] = Int32(v.exponent) }
                }
            }
        }
    }

    static let zeroExponent: Int32 = -1 << 20

    /// One output: the sum of `a[p]·b[p]` over `depth` as the accumulator does it.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ ea: UnsafePointer<Int32>, _ b: UnsafePointer<Float>, _ eb: UnsafePointer<Int32>, depth: Int, _ model: FP8Accumulator) -> Float {
        guard case let .tensorCore(groupSize, fractionBits, promotion) = model else {
            var s: Float = 0
            for p in 0..<depth { s += a[p] * b[p] }  // each product of two FP8 values is exact in Float
            return s
        }
        var total: Float = 0
        var acc: Double = 0
        var sincePromotion = 0
        var g0 = 0
        while g0 < depth {
            let end = min(depth, g0 + groupSize)
            var emax = acc == 0 ? zeroExponent : Int32(acc.exponent)
            for p in g0..<end { emax = max(emax, ea[p] &+ eb[p]) }
            if emax > zeroExponent / 2 {
                // Addends cut toward zero to multiples of q = 2^(emax − fractionBits); the sum of the
                // cut addends is exact in Double (each is an integer count of q below 2^15).
                let quantum = Double(sign: .plus, exponent: Int(emax) - fractionBits, significand: 1)
                let inverse = 1 / quantum
                var units = (acc * inverse).rounded(.towardZero)
                for p in g0..<end { units += (Double(a[p]) * Double(b[p]) * inverse).rounded(.towardZero) }
                acc = Double(Float(units * quantum))
            }
            sincePromotion += end - g0
            if let promotion, sincePromotion >= promotion {
                total += Float(acc)
                acc = 0
                sincePromotion = 0
            }
            g0 = end
        }
        return total + Float(acc)
    }

    /// `c[i·ldc + j] = aScale_i · bScale_j · Σ_p a(i, p)·b(j, p)`, where `a` and `b` are rows over
    /// the reduction index and the scales are the rows' own (`Rows` was made with them).
    static func product(_ a: Rows, aScales: [Float], _ b: Rows, bScales: [Float], m: Int, n: Int, c: UnsafeMutablePointer<Float>, ldc: Int, model: FP8Accumulator, threads: Int) {
        let depth = a.depth
        let box = UncheckedBox(c)
        a.values.withUnsafeBufferPointer { av in
            a.exponents.withUnsafeBufferPointer { ae in
                b.values.withUnsafeBufferPointer { bv in
                    b.exponents.withUnsafeBufferPointer { be in
                        let pointers = UncheckedBox((av.baseAddress, ae.baseAddress, bv.baseAddress, be.baseAddress))
                        Parallel.forEachChunk(m, threads: m * n * depth > 1 << 14 ? threads : 1) { rows in
                            let c = box.value
                            guard case let (av?, ae?, bv?, be?) = pointers.value else { return }
                            for i in rows {
                                let sa = aScales.count == 1 ? aScales[0] : aScales[i]
                                for j in 0..<n {
                                    let sb = bScales.count == 1 ? bScales[0] : bScales[j]
                                    let s = dot(av + i * depth, ae + i * depth, bv + j * depth, be + j * depth, depth: depth, model)
                                    c[i * ldc + j] = (sa * sb) * s
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `Y = alpha·op(A)·op(B) + beta·Y` with A the activation (`products.activationScale`) and B the
    /// weight (`products.weightScales`, per column of op(B) or one); rank-2 float32 tensors.
    public static func matmul(_ a: Tensor, _ b: Tensor, into y: Tensor, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, products p: FP8Products, threads: Int) {
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))
        let pb = UnsafePointer(b.storage.base.assumingMemoryBound(to: Float.self))
        let py = y.storage.base.assumingMemoryBound(to: Float.self)
        let aScales = [p.activationScale], bScales = p.weightScales.count == n ? p.weightScales : [p.weightScales.first ?? 1]
        let rowsA = Rows(pa, rows: m, depth: k, rowStride: transA ? 1 : k, depthStride: transA ? m : 1, scales: aScales, format: p.activationFormat)
        let rowsB = Rows(pb, rows: n, depth: k, rowStride: transB ? k : 1, depthStride: transB ? 1 : n, scales: bScales, format: p.weightFormat)
        let c = beta != 0 ? Array(UnsafeBufferPointer(start: py, count: m * n)) : []
        product(rowsA, aScales: aScales, rowsB, bScales: bScales, m: m, n: n, c: py, ldc: n, model: p.accumulator, threads: threads)
        if alpha != 1 { for i in 0..<m * n { py[i] *= alpha } }
        if beta != 0 { for i in 0..<m * n { py[i] += beta * c[i] } }
    }

    /// Batched, broadcasting product: a `[…A, M, K]` (activation), b `[…B, K, N]` (weight or a
    /// second activation), y `[batch, M, N]`.
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, into y: Tensor, batch: [Int], m: Int, n: Int, k: Int, products p: FP8Products, threads: Int) {
        let pa = UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))
        let pb = UnsafePointer(b.storage.base.assumingMemoryBound(to: Float.self))
        let py = y.storage.base.assumingMemoryBound(to: Float.self)
        let aScales = [p.activationScale], bScales = p.weightScales.count == n ? p.weightScales : [p.weightScales.first ?? 1]
        for (i, (ia, ib)) in Broadcast.batchPairs(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), batch: batch).enumerated() {
            let rowsA = Rows(pa + ia * m * k, rows: m, depth: k, rowStride: k, depthStride: 1, scales: aScales, format: p.activationFormat)
            let rowsB = Rows(pb + ib * k * n, rows: n, depth: k, rowStride: 1, depthStride: n, scales: bScales, format: p.weightFormat)
            product(rowsA, aScales: aScales, rowsB, bScales: bScales, m: m, n: n, c: py + i * m * n, ldc: n, model: p.accumulator, threads: threads)
        }
    }

    /// 2-D (or 1-D) convolution with FP8 products: per image and group, `Y_g = W_g · columns`
    /// (the weight rows with their per-output-channel scales, the input patches with the
    /// activation's scale), then the bias and the activation in float32.
    public static func conv2D(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry, activation: Activation?, products p: FP8Products, threads: Int) {
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        let depth = cg * g.kernelHeight * g.kernelWidth
        let plane = g.outHeight * g.outWidth
        guard plane > 0, g.outChannels > 0 else { return }
        let x = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let w = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self))
        let y = output.storage.base.assumingMemoryBound(to: Float.self)
        let b = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        let perChannel = p.weightScales.count == g.outChannels
        let weights = (0..<g.groups).map { grp in
            let scales = perChannel ? Array(p.weightScales[grp * mg..<(grp + 1) * mg]) : [p.weightScales.first ?? 1]
            return (Rows(w + grp * mg * depth, rows: mg, depth: depth, rowStride: depth, depthStride: 1, scales: scales, format: p.weightFormat), scales)
        }
        var columns = [Float](repeating: 0, count: depth * plane)
        for n in 0..<g.batch {
            for grp in 0..<g.groups {
                columns.withUnsafeMutableBufferPointer { cols in
                    guard let base = cols.baseAddress else { return }
                    PatchColumns.fill(from: x + (n * g.inChannels + grp * cg) * g.inHeight * g.inWidth, channels: cg, geometry: g, into: base, rowStride: plane)
                    let patches = Rows(UnsafePointer(base), rows: plane, depth: depth, rowStride: 1, depthStride: plane, scales: [p.activationScale], format: p.activationFormat)
                    let out = y + (n * g.outChannels + grp * mg) * plane
                    product(weights[grp].0, aScales: weights[grp].1, patches, bScales: [p.activationScale], m: mg, n: plane, c: out, ldc: plane, model: p.accumulator, threads: threads)
                    if let b {
                        for m in 0..<mg { for i in 0..<plane { out[m * plane + i] += b[grp * mg + m] } }
                    }
                    if let activation { activation.apply(out, count: mg * plane) }
                }
            }
        }
    }
}
