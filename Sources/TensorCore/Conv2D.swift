/// Geometry of a 2-D convolution (or a 1-D one with `inHeight == kernelHeight == 1`).
///
/// Input `[N, C, H, W]`, weight `[M, C/groups, KH, KW]`, output `[N, M, OH, OW]` with
/// `OH = (H + padTop + padBottom − dilationH·(KH − 1) − 1) / strideH + 1` (likewise OW).
public struct Conv2DGeometry: Sendable, Equatable {
    public var batch: Int
    public var inChannels: Int, inHeight: Int, inWidth: Int
    public var outChannels: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int
    public var padTop: Int, padLeft: Int
    public var groups: Int

    public init(
        batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int, outHeight: Int, outWidth: Int,
        kernelHeight: Int, kernelWidth: Int, strideH: Int, strideW: Int, dilationH: Int, dilationW: Int,
        padTop: Int, padLeft: Int, groups: Int
    ) {
        self.batch = batch
        self.inChannels = inChannels; self.inHeight = inHeight; self.inWidth = inWidth
        self.outChannels = outChannels; self.outHeight = outHeight; self.outWidth = outWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft
        self.groups = groups
    }

    /// Whether each group has one input channel (depthwise, possibly with a channel multiplier).
    public var isDepthwise: Bool { groups == inChannels && groups > 1 }
    /// Whether the convolution is a plain matrix product over the input (1×1, stride 1, no padding).
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0
            && outHeight == inHeight && outWidth == inWidth
    }
    /// Multiply-adds of the whole convolution.
    public var multiplyAdds: Int {
        batch * outChannels * outHeight * outWidth * (inChannels / groups) * kernelHeight * kernelWidth
    }
}

/// 2-D convolution in FP32: im2col + GEMM in general, GEMM directly for 1×1, a direct kernel for
/// depthwise. Bias and activation are applied in one pass over each output plane.
public enum Conv2D {
    /// Runs the convolution.
    /// - input `[N, C, H, W]` float32; weight `[M, C/groups, KH, KW]`; bias `[M]` or nil;
    ///   output `[N, M, OH, OW]`, fully overwritten.
    public static func forward(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, scratch: Scratch, threads: Int
    ) {
        if g.isDepthwise {
            depthwise(input: input, weight: weight, bias: bias, output: output, geometry: g, activation: activation, threads: threads)
            return
        }
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        let kdim = cg * g.kernelHeight * g.kernelWidth
        let plane = g.outHeight * g.outWidth
        let inPlane = g.inHeight * g.inWidth
        // OpenBLAS is markedly faster on the transposed product when the weight matrix has few
        // rows or the image few pixels (measured on one core: 64×3136×576 at 43 against 55 GFLOP/s,
        // 512×49×4608 at 44 against 59); the extra transpose costs far less than that.
        let transposedProduct = mg <= 64 || plane < 100
        input.withUnsafeBufferPointer(as: Float.self) { inp in
            weight.withUnsafeBufferPointer(as: Float.self) { w in
                output.withUnsafeMutableBufferPointer(as: Float.self) { out in
                    let col: UnsafeMutablePointer<Float> = g.isPointwise ? UnsafeMutablePointer(mutating: inp.baseAddress!) : scratch.floats(kdim * plane)
                    for n in 0..<g.batch {
                        for grp in 0..<g.groups {
                            let src = inp.baseAddress! + (n * g.inChannels + grp * cg) * inPlane
                            let b: UnsafePointer<Float>
                            if g.isPointwise {
                                b = src
                            } else {
                                im2col(src, channels: cg, geometry: g, into: col, threads: threads)
                                b = UnsafePointer(col)
                            }
                            let c = out.baseAddress! + (n * g.outChannels + grp * mg) * plane
                            let wg = w.baseAddress! + grp * mg * kdim
                            if transposedProduct {
                                // outᵀ[plane, mg] = colᵀ · Wᵀ, then transposed into place.
                                let t = scratch.floats(plane * mg, slot: 1)
                                GEMM.gemm(
                                    transA: true, transB: true, m: plane, n: mg, k: kdim, alpha: 1,
                                    a: b, lda: plane, b: wg, ldb: kdim, beta: 0, c: t, ldc: mg, threads: threads)
                                transpose(t, rows: plane, columns: mg, into: c)
                            } else {
                                GEMM.gemm(
                                    transA: false, transB: false, m: mg, n: plane, k: kdim, alpha: 1,
                                    a: wg, lda: kdim, b: b, ldb: plane, beta: 0, c: c, ldc: plane, threads: threads)
                            }
                        }
                        let o = out.baseAddress! + n * g.outChannels * plane
                        biasActivation(o, channels: g.outChannels, plane: plane, bias: bias, activation: activation, threads: threads)
                    }
                }
            }
        }
    }

    /// `dst[c][r] = src[r][c]` for a `[rows, columns]` matrix, in 16-row blocks so that the
    /// strided reads stay in cache.
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>) {
        var r0 = 0
        while r0 < rows {
            let r1 = Swift.min(rows, r0 + 16)
            for c in 0..<columns {
                let d = dst + c * rows
                var s = src + r0 * columns + c
                for r in r0..<r1 {
                    d[r] = s.pointee
                    s += columns
                }
            }
            r0 = r1
        }
    }

    /// Adds `bias[c]` to each channel plane and applies the activation, in one pass.
    /// - data `[channels, plane]` float32, in place.
    public static func biasActivation(
        _ data: UnsafeMutablePointer<Float>, channels: Int, plane: Int, bias: Tensor?, activation: Activation?, threads: Int
    ) {
        if bias == nil && activation == nil { return }
        let biasPtr = bias.map { $0.storage.base.assumingMemoryBound(to: Float.self) }
        let work = { (range: Range<Int>) in
            for ch in range {
                let p = data + ch * plane
                if let bp = biasPtr {
                    addScalar(bp[ch], p, count: plane)
                }
                activation?.apply(p, count: plane)
            }
        }
        Parallel.forEachChunk(channels, threads: plane * channels > 1 << 15 ? threads : 1, grain: 1, work)
    }

    @inline(__always) static func addScalar(_ s: Float, _ p: UnsafeMutablePointer<Float>, count: Int) {
        let sv = SIMD8<Float>(repeating: s)
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: v + sv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { p[i] += s; i += 1 }
    }

    /// Unfolds one image's channels into GEMM columns.
    /// - `[C, H, W] => [C·KH·KW, OH·OW]`; out-of-image taps are 0.
    public static func im2col(
        _ src: UnsafePointer<Float>, channels: Int, geometry g: Conv2DGeometry, into col: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let kh = g.kernelHeight, kw = g.kernelWidth, oh = g.outHeight, ow = g.outWidth
        let ih = g.inHeight, iw = g.inWidth
        let plane = oh * ow
        let rows = channels * kh * kw
        Parallel.forEachChunk(rows, threads: rows * plane > 1 << 16 ? threads : 1, grain: 4) { range in
            for r in range {
                let c = r / (kh * kw)
                let ky = (r / kw) % kh
                let kx = r % kw
                let dst = col + r * plane
                let plane0 = src + c * ih * iw
                let xOffset = kx * g.dilationW - g.padLeft
                // Output columns whose input column is inside the image: [lo, hi).
                let lo = min(ow, max(0, ceilDiv(-xOffset, g.strideW)))
                let hi = max(lo, min(ow, ceilDiv(iw - xOffset, g.strideW)))
                for y in 0..<oh {
                    let row = dst + y * ow
                    let iy = y * g.strideH - g.padTop + ky * g.dilationH
                    if iy < 0 || iy >= ih {
                        row.update(repeating: 0, count: ow)
                        continue
                    }
                    if lo > 0 { row.update(repeating: 0, count: lo) }
                    let line = plane0 + iy * iw + xOffset
                    if g.strideW == 1 {
                        (row + lo).update(from: line + lo, count: hi - lo)
                    } else {
                        let s = g.strideW
                        for x in lo..<hi { row[x] = line[x * s] }
                    }
                    if hi < ow { (row + hi).update(repeating: 0, count: ow - hi) }
                }
            }
        }
    }

    /// Direct depthwise convolution: each group reads one input channel and writes
    /// `outChannels / groups` output channels.
    /// - input `[N, C, H, W]`, weight `[M, 1, KH, KW]`, output `[N, M, OH, OW]`.
    ///
    /// Each input plane is first copied into a zero-padded scratch plane split into `strideW`
    /// column phases (`phase[p][y][j] = padded[y][j·strideW + p]`), so that every tap of every
    /// stride reads contiguous memory and the kernel needs no bounds checks. Then eight outputs at a
    /// time accumulate all KH·KW taps in a register and are written once, activation included.
    public static func depthwise(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, threads: Int
    ) {
        let mult = g.outChannels / g.groups
        let ih = g.inHeight, iw = g.inWidth, oh = g.outHeight, ow = g.outWidth
        let kh = g.kernelHeight, kw = g.kernelWidth, sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let wBase = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let biasPtr = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        // Padded extent: every tap of every output (rounded up to whole vectors) lies inside it.
        let owPadded = (ow + 7) / 8 * 8
        let ph = (oh - 1) * sh + (kh - 1) * dh + 1
        let phaseWidth = owPadded + ((kw - 1) * dw) / sw + 1
        let phaseSize = ph * phaseWidth
        let planes = g.batch * g.outChannels
        // Column offsets of each kernel column: which phase, and where in it.
        let taps = (0..<kw).map { kx in (phase: (kx * dw) % sw, offset: (kx * dw) / sw) }
        // Columns j of phase p that hold image columns: padded column j·sw + p is image column
        // j·sw + p − padLeft, which must lie in 0..<iw.
        let phaseColumns = (0..<sw).map { p -> (Int, Int) in
            let lo = min(phaseWidth, max(0, ceilDiv(g.padLeft - p, sw)))
            return (lo, max(lo, min(phaseWidth, ceilDiv(iw + g.padLeft - p, sw))))
        }
        // Offset of every tap (ky, kx) from the window's first element, in the phased scratch.
        let tapCount = kh * kw
        let tapOffsets = UnsafeMutablePointer<Int>.allocate(capacity: tapCount)
        defer { tapOffsets.deallocate() }
        for ky in 0..<kh {
            for kx in 0..<kw { tapOffsets[ky * kw + kx] = taps[kx].phase * phaseSize + ky * dh * phaseWidth + taps[kx].offset }
        }
        Parallel.forEachChunk(planes, threads: planes * oh * ow * kh * kw > 1 << 15 ? threads : 1) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: phaseSize * sw + 8)
            defer { scratch.deallocate() }
            var loadedPlane = -1
            for pIndex in range {
                let n = pIndex / g.outChannels, m = pIndex % g.outChannels
                let c = n * g.inChannels + m / mult
                if c != loadedPlane {
                    // [H, W] => sw phases of [ph, phaseWidth], zero outside the image.
                    scratch.update(repeating: 0, count: phaseSize * sw + 8)
                    let src = inBase + c * ih * iw
                    for y in 0..<ph {
                        let iy = y - g.padTop
                        if iy < 0 || iy >= ih { continue }
                        let line = src + iy * iw
                        for p in 0..<sw {
                            let dst = scratch + p * phaseSize + y * phaseWidth
                            let (lo, hi) = phaseColumns[p]
                            if sw == 1 {
                                (dst + lo).update(from: line + (lo - g.padLeft), count: hi - lo)
                            } else {
                                // Pointer steps, not j·sw indexing: the checked multiply dominated this loop.
                                var from = line + (lo &* sw &+ p &- g.padLeft)
                                var to = dst + lo
                                for _ in lo..<hi {
                                    to.pointee = from.pointee
                                    to += 1
                                    from += sw
                                }
                            }
                        }
                    }
                    loadedPlane = c
                }
                let wk = wBase + m * kh * kw
                let b = SIMD8<Float>(repeating: biasPtr?[m] ?? 0)
                let dst = outBase + pIndex * oh * ow
                for y in 0..<oh {
                    let row = dst + y * ow
                    let rowBase = scratch + y * sh * phaseWidth
                    // Four independent accumulators (32 outputs) hide the add latency; then single blocks.
                    var x = 0
                    while x + 32 <= ow {
                        var a0 = b, a1 = b, a2 = b, a3 = b
                        let r = rowBase + x
                        for k in 0..<tapCount {
                            let q = UnsafeRawPointer(r + tapOffsets[k])
                            let wv = SIMD8<Float>(repeating: wk[k])
                            a0 += wv * q.loadUnaligned(as: SIMD8<Float>.self)
                            a1 += wv * q.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                            a2 += wv * q.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                            a3 += wv * q.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                        }
                        let o = UnsafeMutableRawPointer(row + x)
                        o.storeBytes(of: a0, as: SIMD8<Float>.self)
                        o.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
                        o.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
                        o.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
                        x += 32
                    }
                    while x < ow {
                        var acc = b
                        let r = rowBase + x
                        for k in 0..<tapCount {
                            acc += SIMD8<Float>(repeating: wk[k]) * UnsafeRawPointer(r + tapOffsets[k]).loadUnaligned(as: SIMD8<Float>.self)
                        }
                        if x + 8 <= ow {
                            UnsafeMutableRawPointer(row + x).storeBytes(of: acc, as: SIMD8<Float>.self)
                        } else {
                            for j in 0..<(ow - x) { row[x + j] = acc[j] }
                        }
                        x += 8
                    }
                    activation?.apply(row, count: ow)
                }
            }
        }
    }

    /// The naive reference twin: direct loops, Double accumulation.
    public static func reference(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry, activation: Activation?) {
        let x = input.scalars(as: Float.self), w = weight.scalars(as: Float.self)
        let b = bias?.scalars(as: Float.self)
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        output.withUnsafeMutableBufferPointer(as: Float.self) { out in
            for n in 0..<g.batch {
                for m in 0..<g.outChannels {
                    let grp = m / mg
                    for y in 0..<g.outHeight {
                        for xo in 0..<g.outWidth {
                            var acc = Double(b?[m] ?? 0)
                            for ci in 0..<cg {
                                let c = grp * cg + ci
                                for ky in 0..<g.kernelHeight {
                                    let iy = y * g.strideH - g.padTop + ky * g.dilationH
                                    if iy < 0 || iy >= g.inHeight { continue }
                                    for kx in 0..<g.kernelWidth {
                                        let ix = xo * g.strideW - g.padLeft + kx * g.dilationW
                                        if ix < 0 || ix >= g.inWidth { continue }
                                        let xv = x[((n * g.inChannels + c) * g.inHeight + iy) * g.inWidth + ix]
                                        let wv = w[((m * cg + ci) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                        acc += Double(xv) * Double(wv)
                                    }
                                }
                            }
                            let v = Float(acc)
                            out[((n * g.outChannels + m) * g.outHeight + y) * g.outWidth + xo] = activation?.apply(v) ?? v
                        }
                    }
                }
            }
        }
    }
}

/// `ceil(a / b)` for positive `b`, correct for negative `a`.
@inlinable public func ceilDiv(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? (a + b - 1) / b : -((-a) / b)
}

/// `floor(a / b)` for positive `b`, correct for negative `a`.
@inlinable public func floorDiv(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? a / b : -((-a + b - 1) / b)
}
