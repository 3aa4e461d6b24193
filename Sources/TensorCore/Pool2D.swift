/// Geometry of 2-D pooling.
///
/// Input `[N, C, H, W]`, output `[N, C, OH, OW]`; the window for output (y, x) starts at
/// `(y·strideH − padTop, x·strideW − padLeft)` and takes `kernel` taps `dilation` apart.
public struct Pool2DGeometry: Sendable, Equatable {
    public var planes: Int
    public var inHeight: Int, inWidth: Int
    public var outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int

    public init(
        planes: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, kernelHeight: Int, kernelWidth: Int,
        strideH: Int, strideW: Int, dilationH: Int = 1, dilationW: Int = 1, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    ) {
        self.planes = planes; self.inHeight = inHeight; self.inWidth = inWidth
        self.outHeight = outHeight; self.outWidth = outWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideH = strideH; self.strideW = strideW; self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
    }
}

/// Max and average pooling in FP32.
public enum Pool2D {
    /// Max pooling; taps outside the image are ignored. `[N·C, H, W] => [N·C, OH, OW]`.
    /// A NaN in a window makes that output NaN.
    ///
    /// Stride-1 windows that keep the plane's size, on planes of at most 4,096 floats, go to
    /// `maxKeepingSize`; stride-2 windows of 2 or 3 with outputs at least 16 wide to `maxHalving`;
    /// other planes at most 64 wide that `ChannelBlocks` suits to `maxChannelBlocked`, the rest to
    /// the row kernel. (On GoogLeNet's pools the blocked kernel took half the row kernel's time on
    /// 7- to 28-wide planes, about 0.9× on 56-wide ones and 1.6× on 112-wide ones, where its
    /// transposes cost more than the rows' vector passes. `maxHalving`, alone, one thread, an
    /// Emerald Rapids Xeon, two alternating rounds of 300 runs, medians: ResNet's 64×112×112 → 56
    /// 0.25–0.28 → 0.17–0.18 ms (row kernel before), SqueezeNet's 64×111×111 → 55 0.26–0.28 → 0.18
    /// and 128×55×55 → 27 0.19–0.20 → 0.13 (blocked before), VGG's 2×2 64×224×224 0.73–0.78 →
    /// 0.59; 27 → 13, 14 → 7 and 28 → 14 were slower than the blocked kernel, 0.095 → 0.107, 0.067
    /// → 0.126 and 0.060 → 0.068: outputs narrower than a vector leave most lanes idle.)
    public static func max(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int) {
        if keepsSize(g) && g.inHeight * g.inWidth <= 4096 {
            maxKeepingSize(input: input, output: output, geometry: g, threads: threads)
        } else if halvesRows(g) && g.outWidth >= 16 {
            maxHalving(input: input, output: output, geometry: g, threads: threads)
        } else if g.inWidth <= 64 && ChannelBlocks.suits(inHeight: g.inHeight, inWidth: g.inWidth, outHeight: g.outHeight, outWidth: g.outWidth) {
            maxChannelBlocked(input: input, output: output, geometry: g, threads: threads)
        } else {
            run(input: input, output: output, geometry: g, threads: threads, isMax: true, countIncludePad: false)
        }
    }

    /// Max pooling with sixteen planes in the lanes of each vector (`ChannelBlocks`), for small
    /// planes: the scratch image's padding holds −∞, and each output pixel takes the maximum of its
    /// taps as whole vectors, eight pixels at a time.
    ///
    /// A window at least two taps wide and high is taken in two passes: each row of the padded
    /// extent's maxima over the kernel's columns, then each output's over the kernel's rows, 4
    /// comparisons an output for 3×3 at stride 1 instead of 8. The same bits as the taps in
    /// row-major order: either way a window gives its last NaN, else the first of its largest
    /// values (a later equal value, −0 after +0, does not replace it).
    /// - twoPasses: whether to take the two passes (tests compare both ways); by default where the
    ///   window is at least two taps wide and high.
    static func maxChannelBlocked(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int, twoPasses: Bool? = nil) {
        typealias V = SIMD16<Float>
        let lanes = ChannelBlocks.lanes
        let layout = ChannelBlocks(g)
        defer { layout.deallocate() }
        let inPlane = layout.inPlane, outPlane = layout.outPlane, tapCount = layout.tapCount
        let blocks = (g.planes + lanes - 1) / lanes
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let separable = twoPasses ?? (g.kernelHeight > 1 && g.kernelWidth > 1)
        let rowMaxima = separable ? layout.extentHeight * g.outWidth * lanes : 0
        let box = UncheckedBox(layout)
        Parallel.forEachChunk(blocks, threads: g.planes * outPlane * tapCount > 1 << 15 ? threads : 1) { range in
            let layout = box.value
            // Padding set once: every block rewrites the same image cells and leaves it alone.
            let image = layout.image(extra: outPlane * lanes + rowMaxima, padding: -.infinity)
            defer { image.deallocate() }
            let results = image + layout.imageFloats
            let taps = layout.tapOffsets
            for block in range {
                let c0 = block * lanes, cn = Swift.min(lanes, g.planes - c0)
                layout.load(inBase + c0 * inPlane, count: cn, into: image)
                if separable {
                    separableMax(image, layout: layout, geometry: g, rows: results + outPlane * lanes, into: results)
                    layout.store(results, count: cn, to: outBase + c0 * outPlane)
                    continue
                }
                var q = 0
                while q < outPlane {
                    let step = Swift.min(8, outPlane - q)
                    if step == 8 {
                        let w = layout.windowOf + q
                        let p0 = UnsafeRawPointer(image + w[0]), p1 = UnsafeRawPointer(image + w[1])
                        let p2 = UnsafeRawPointer(image + w[2]), p3 = UnsafeRawPointer(image + w[3])
                        let p4 = UnsafeRawPointer(image + w[4]), p5 = UnsafeRawPointer(image + w[5])
                        let p6 = UnsafeRawPointer(image + w[6]), p7 = UnsafeRawPointer(image + w[7])
                        let o0 = taps[0] &* 4
                        var m0 = p0.load(fromByteOffset: o0, as: V.self), m1 = p1.load(fromByteOffset: o0, as: V.self)
                        var m2 = p2.load(fromByteOffset: o0, as: V.self), m3 = p3.load(fromByteOffset: o0, as: V.self)
                        var m4 = p4.load(fromByteOffset: o0, as: V.self), m5 = p5.load(fromByteOffset: o0, as: V.self)
                        var m6 = p6.load(fromByteOffset: o0, as: V.self), m7 = p7.load(fromByteOffset: o0, as: V.self)
                        for t in 1..<tapCount {
                            let o = taps[t] &* 4
                            m0 = nanMax(m0, p0.load(fromByteOffset: o, as: V.self)); m1 = nanMax(m1, p1.load(fromByteOffset: o, as: V.self))
                            m2 = nanMax(m2, p2.load(fromByteOffset: o, as: V.self)); m3 = nanMax(m3, p3.load(fromByteOffset: o, as: V.self))
                            m4 = nanMax(m4, p4.load(fromByteOffset: o, as: V.self)); m5 = nanMax(m5, p5.load(fromByteOffset: o, as: V.self))
                            m6 = nanMax(m6, p6.load(fromByteOffset: o, as: V.self)); m7 = nanMax(m7, p7.load(fromByteOffset: o, as: V.self))
                        }
                        let r = UnsafeMutableRawPointer(results + q * lanes)
                        r.storeBytes(of: m0, as: V.self); r.storeBytes(of: m1, toByteOffset: 64, as: V.self)
                        r.storeBytes(of: m2, toByteOffset: 128, as: V.self); r.storeBytes(of: m3, toByteOffset: 192, as: V.self)
                        r.storeBytes(of: m4, toByteOffset: 256, as: V.self); r.storeBytes(of: m5, toByteOffset: 320, as: V.self)
                        r.storeBytes(of: m6, toByteOffset: 384, as: V.self); r.storeBytes(of: m7, toByteOffset: 448, as: V.self)
                    } else {
                        for i in q..<(q + step) {
                            let p = UnsafeRawPointer(image + layout.windowOf[i])
                            var m = p.load(fromByteOffset: taps[0] &* 4, as: V.self)
                            for t in 1..<tapCount { m = nanMax(m, p.load(fromByteOffset: taps[t] &* 4, as: V.self)) }
                            UnsafeMutableRawPointer(results + i * lanes).storeBytes(of: m, as: V.self)
                        }
                    }
                    q += step
                }
                layout.store(results, count: cn, to: outBase + c0 * outPlane)
            }
        }
    }

    /// Whether `maxHalving` takes a pool: stride 2 both ways, undilated, windows 2 or 3 taps wide
    /// and high (the max pools of ResNet, SqueezeNet, GoogLeNet, DenseNet, ShuffleNet and VGG).
    static func halvesRows(_ g: Pool2DGeometry) -> Bool {
        g.strideH == 2 && g.strideW == 2 && g.dilationH == 1 && g.dilationW == 1
            && (2...3).contains(g.kernelHeight) && (2...3).contains(g.kernelWidth)
    }

    /// Max pooling of stride 2 (`halvesRows`) on the rows of NCHW, sixteen outputs a vector: for
    /// each output row, the maxima of its input rows (those inside the image, top to bottom) into a
    /// line whose padding holds −∞, then from two aligned vectors of that line the kernel's columns
    /// as their even and odd lanes, and the third column as the even lanes moved down one lane with
    /// the next vector's first (two-source permutes; `run` takes 6 for 16 outputs, this 3). The
    /// comparisons are the row kernel's (`run`), in its order, so the same bits.
    static func maxHalving(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int) {
        typealias V = SIMD16<Float>
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let ih = g.inHeight, iw = g.inWidth, oh = g.outHeight, ow = g.outWidth
        let kh = g.kernelHeight, pt = g.padTop, pl = g.padLeft, three = g.kernelWidth == 3
        let inPlane = ih * iw, outPlane = oh * ow
        // The line: output x's window starts at line[2x]; the vector steps read up to 2·ow rounded
        // up to 32, and 16 more. Cells outside the image hold −∞ throughout.
        let lineLength = Swift.max(pl + iw, (ow + 15) / 16 * 32 + 16)
        let aheadRows = Swift.max(4, 1024 / iw), inEnd = inBase + g.planes * inPlane
        let box = UncheckedBox(outBase)
        Parallel.forEachChunk(g.planes, threads: g.planes * outPlane > 1 << 14 ? threads : 1) { range in
            let outBase = box.value
            let raw = UnsafeMutableRawPointer.allocate(byteCount: (lineLength + 16) * 4, alignment: 64)
            defer { raw.deallocate() }
            let line = raw.bindMemory(to: Float.self, capacity: lineLength + 16)
            line.update(repeating: -.infinity, count: lineLength + 16)
            let row = line + pl, q = UnsafeRawPointer(line)
            for p in range {
                let src = inBase + p * inPlane, dst = outBase + p * outPlane
                for y in 0..<oh {
                    let start = y * 2 - pt
                    let lo = Swift.max(0, start), rows = Swift.min(ih, start + kh) - lo
                    let out = dst + y * ow
                    guard rows > 0 else {
                        out.update(repeating: -.infinity, count: ow)
                        continue
                    }
                    // The two rows that an output row about 4 KB further on will add, in this plane
                    // or the next, asked for now: the hardware's prefetchers alone left the input
                    // streaming in too slowly when it came from beyond L2 (GoogLeNet at batch 8, one
                    // thread, in the model: 192×56×56 → 28 2.7 → 1.7–2.0 ms, 64×112×112 → 56
                    // 2.6–2.75 → 2.0–2.2).
                    let ahead = src + (start + kh + aheadRows) * iw
                    if ahead + 2 * iw <= inEnd { PackedGEMM.prefetch(ahead, floats: 2 * iw) }
                    // A window of fewer rows takes its last row again: the same maximum, bit for bit.
                    let r0 = src + lo * iw, r1 = rows > 1 ? r0 + iw : r0, r2 = rows > 2 ? r0 + 2 * iw : r1
                    if iw >= 16 {
                        // Whole vectors, the last one ending at the row's end.
                        var c = 0
                        while true {
                            let at = Swift.min(c, iw - 16)
                            let v = nanMax(nanMax(UnsafeRawPointer(r0 + at).loadUnaligned(as: V.self), UnsafeRawPointer(r1 + at).loadUnaligned(as: V.self)),
                                           UnsafeRawPointer(r2 + at).loadUnaligned(as: V.self))
                            UnsafeMutableRawPointer(row + at).storeBytes(of: v, as: V.self)
                            if at == iw - 16 { break }
                            c += 16
                        }
                    } else {
                        for c in 0..<iw {
                            var m = r0[c]
                            if r1[c] > m || r1[c].isNaN { m = r1[c] }
                            if r2[c] > m || r2[c].isNaN { m = r2[c] }
                            row[c] = m
                        }
                    }
                    var x = 0
                    while x < ow {
                        let at = x &* 8
                        let a = q.load(fromByteOffset: at, as: V.self), b = q.load(fromByteOffset: at &+ 64, as: V.self)
                        let evens = VectorMath.evens(a, b)
                        var m = nanMax(evens, VectorMath.odds(a, b))
                        if three { m = nanMax(m, VectorMath.shiftedDown(evens, q.load(fromByteOffset: at &+ 128, as: V.self))) }
                        if x + 16 <= ow {
                            UnsafeMutableRawPointer(out + x).storeBytes(of: m, as: V.self)
                        } else {
                            for i in 0..<(ow - x) { out[x + i] = m[i] }
                        }
                        x += 16
                    }
                }
            }
        }
    }

    /// Whether a pooling window of stride 1 keeps the plane's size (GoogLeNet's 3×3 branch pools
    /// with padding 1), undilated and 2 to 16 taps wide and high: `maxKeepingSize`'s case (its
    /// mask table holds a vector per tap column and plane vector, and its guards 16 floats).
    static func keepsSize(_ g: Pool2DGeometry) -> Bool {
        g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1 && g.outHeight == g.inHeight && g.outWidth == g.inWidth
            && (2...16).contains(g.kernelHeight) && (2...16).contains(g.kernelWidth) && g.padTop < g.kernelHeight && g.padLeft < g.kernelWidth
    }

    /// Max pooling of stride 1 that keeps the plane's size (`keepsSize`), on the plane as one flat
    /// run of floats, sixteen outputs a vector whatever its width: each float's maximum over the
    /// kernel's columns (a tap whose column lies outside its row masked to −∞, from a table made
    /// once per call), then each output's over the kernel's rows of those (the rows above and below
    /// the plane are −∞). The blocked kernel's two passes in the same order, so the same bits, with
    /// no transposes: GoogLeNet's branch pools at batch 8 took 0.68 ms blocked at 14×14 × 480
    /// planes, against onnxruntime's 0.27.
    static func maxKeepingSize(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int) {
        typealias V = SIMD16<Float>
        let w = g.inWidth, plane = g.inHeight * w, vectors = (plane + 15) / 16
        let kw = g.kernelWidth, kh = g.kernelHeight
        // masks[kx · (vectors + 1) + v]: 1 in the lanes of vector v whose tap kx lies in their row,
        // else 0; the last entry for the vector that ends at the plane's end. (Floats: a mask of
        // integers compared to zero was compiled lane by lane, five times slower.)
        let masks = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: kw * (vectors + 1))
        defer { masks.deallocate() }
        let last = Swift.max(0, plane - 16)
        for kx in 0..<kw {
            for v in 0...vectors {
                var m = SIMD16<Float>()
                for lane in 0..<16 {
                    let column = ((v < vectors ? v * 16 : last) + lane) % w + kx - g.padLeft
                    m[lane] = column >= 0 && column < w ? 1 : 0
                }
                masks[kx * (vectors + 1) + v] = m
            }
        }
        // The input plane copied between guards that the masked taps may read; the rows' maxima
        // between guards of −∞ as high as the kernel reaches above and below.
        let guardIn = 16, guardRows = (kh - 1) * w + 16
        let inFloats = guardIn + vectors * 16 + kw + 16, rowFloats = 2 * guardRows + vectors * 16
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let box = UncheckedBox(UnsafePointer(masks))
        Parallel.forEachChunk(g.planes, threads: g.planes * plane > 1 << 15 ? threads : 1) { range in
            let masks = box.value
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: inFloats + rowFloats)
            defer { buffer.deallocate() }
            buffer.update(repeating: 0, count: inFloats)
            let image = buffer + guardIn, rows = buffer + inFloats + guardRows
            (buffer + inFloats).update(repeating: -.infinity, count: rowFloats)
            let negative = V(repeating: -.infinity), half = V(repeating: 0.5)
            let maskStride = vectors &+ 1, pl = g.padLeft, rowStep = w, above = g.padTop &* w
            // Tap kx of the floats from `at`, −∞ where it lies outside their row (`mask` is the
            // table's entry for kx = 0). The first tap alone equals the maximum of −∞ and it.
            @inline(__always) func tap(_ at: Int, _ mask: UnsafePointer<V>, _ kx: Int) -> V {
                let t = UnsafeRawPointer(image + (at &+ kx &- pl)).loadUnaligned(as: V.self)
                return t.replacing(with: negative, where: mask[kx &* maskStride] .< half)
            }
            @inline(__always) func rowMax(_ at: Int, _ mask: UnsafePointer<V>) -> V {
                var m = tap(at, mask, 0)
                if kw == 3 { return nanMax(nanMax(m, tap(at, mask, 1)), tap(at, mask, 2)) }
                for kx in 1..<kw { m = nanMax(m, tap(at, mask, kx)) }
                return m
            }
            @inline(__always) func columnMax(_ at: Int) -> V {
                let p = UnsafeRawPointer(rows + (at &- above))
                var m = p.loadUnaligned(as: V.self)
                if kh == 3 {
                    return nanMax(nanMax(m, p.loadUnaligned(fromByteOffset: rowStep &* 4, as: V.self)), p.loadUnaligned(fromByteOffset: rowStep &* 8, as: V.self))
                }
                for ky in 1..<kh { m = nanMax(m, p.loadUnaligned(fromByteOffset: ky &* rowStep &* 4, as: V.self)) }
                return m
            }
            for p in range {
                image.update(from: inBase + p * plane, count: plane)
                // Row maxima, then column maxima: whole vectors, then a last one that ends at the
                // plane's end (overlapping the one before), so nothing past the plane is written.
                var at = 0
                while at &+ 16 <= plane {
                    UnsafeMutableRawPointer(rows + at).storeBytes(of: rowMax(at, masks + at / 16), as: V.self)
                    at &+= 16
                }
                if plane < 16 {
                    let m = rowMax(0, masks)
                    for lane in 0..<plane { rows[lane] = m[lane] }
                } else if at < plane {
                    UnsafeMutableRawPointer(rows + last).storeBytes(of: rowMax(last, masks + vectors), as: V.self)
                }
                let out = outBase + p * plane
                at = 0
                while at &+ 16 <= plane {
                    UnsafeMutableRawPointer(out + at).storeBytes(of: columnMax(at), as: V.self)
                    at &+= 16
                }
                if plane < 16 {
                    let m = columnMax(0)
                    for lane in 0..<plane { out[lane] = m[lane] }
                } else if at < plane {
                    UnsafeMutableRawPointer(out + last).storeBytes(of: columnMax(last), as: V.self)
                }
            }
        }
    }

    /// `maxChannelBlocked`'s two passes over a loaded block: `rows` (`[extent height][OW][16]`)
    /// gets each extent row's maxima over the kernel's columns, `results` (`[OH·OW][16]`) each
    /// output's maximum of those over the kernel's rows.
    @inline(__always)
    private static func separableMax(
        _ image: UnsafePointer<Float>, layout: ChannelBlocks, geometry g: Pool2DGeometry, rows: UnsafeMutablePointer<Float>,
        into results: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        let lanes = ChannelBlocks.lanes, ow = g.outWidth, pw = layout.extentWidth
        let columnStep = g.strideW * lanes, tapStep = g.dilationW * lanes * 4
        for y in 0..<layout.extentHeight {
            let line = image + y * pw * lanes, out = UnsafeMutableRawPointer(rows + y * ow * lanes)
            for x in 0..<ow {
                let p = UnsafeRawPointer(line + x * columnStep)
                var m = p.load(as: V.self)
                for kx in 1..<g.kernelWidth { m = nanMax(m, p.load(fromByteOffset: kx * tapStep, as: V.self)) }
                out.storeBytes(of: m, toByteOffset: x * lanes * 4, as: V.self)
            }
        }
        let rowStep = g.dilationH * ow * lanes * 4
        for y in 0..<g.outHeight {
            let line = UnsafeRawPointer(rows + y * g.strideH * ow * lanes), out = UnsafeMutableRawPointer(results + y * ow * lanes)
            for x in 0..<ow {
                let p = line + x * lanes * 4
                var m = p.load(as: V.self)
                for ky in 1..<g.kernelHeight { m = nanMax(m, p.load(fromByteOffset: ky * rowStep, as: V.self)) }
                out.storeBytes(of: m, toByteOffset: x * lanes * 4, as: V.self)
            }
        }
    }

    /// The larger of `a` and `b` lane by lane; a NaN on either side wins. Concrete widths, not one
    /// generic function: a generic body binds to the SIMD protocol's lane-by-lane comparisons, which
    /// made max pooling several times slower.
    @inline(__always)
    static func nanMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        a.replacing(with: b, where: (b .> a) .| (b .!= b))
    }

    /// `nanMax` eight lanes wide.
    @inline(__always)
    static func nanMax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: (b .> a) .| (b .!= b))
    }

    /// Average pooling. With `countIncludePad` the divisor counts padded taps inside the padded
    /// extent (ONNX's rule); otherwise only taps inside the image.
    public static func average(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, countIncludePad: Bool, threads: Int) {
        run(input: input, output: output, geometry: g, threads: threads, isMax: false, countIncludePad: countIncludePad)
    }

    /// Valid tap range `[lo, hi)` of a window starting at `start` with `k` taps `d` apart in `0..<size`.
    @inline(__always) static func tapRange(start: Int, k: Int, d: Int, size: Int) -> (Int, Int) {
        let lo = start >= 0 ? 0 : Swift.min(k, ceilDiv(-start, d))
        let hi = Swift.max(lo, Swift.min(k, ceilDiv(size - start, d)))
        return (lo, hi)
    }

    /// The row kernel, for any geometry. An output row first combines, column by column, the input
    /// rows its windows cover (rows in the padding are skipped) into a line whose padding columns
    /// hold the fill value (−∞ for max, 0 for sums); each output then combines its kernel-width taps
    /// of that line. Strides 1 and 2 read those taps as whole vectors (stride 2 through the even
    /// lanes of sixteen-float loads); other strides combine the taps at every position and keep
    /// each `strideW`-th.
    static func run(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int, isMax: Bool, countIncludePad: Bool) {
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let inPlane = g.inHeight * g.inWidth, outPlane = g.outHeight * g.outWidth
        // Average pooling's divisor is the product of a row factor and a column factor: the taps
        // of that row (column) inside the image, or inside the padded extent with count_include_pad.
        func tapCounts(_ outputs: Int, stride: Int, pad: Int, padEnd: Int, k: Int, d: Int, size: Int) -> [Float] {
            (0..<outputs).map { o in
                let start = o * stride - pad
                let (lo, hi) = countIncludePad ? tapRange(start: start + pad, k: k, d: d, size: size + pad + padEnd) : tapRange(start: start, k: k, d: d, size: size)
                return Float(hi - lo)
            }
        }
        let rowCounts = isMax ? [] : tapCounts(g.outHeight, stride: g.strideH, pad: g.padTop, padEnd: g.padBottom, k: g.kernelHeight, d: g.dilationH, size: g.inHeight)
        let columnCounts = isMax ? [] : tapCounts(g.outWidth, stride: g.strideW, pad: g.padLeft, padEnd: g.padRight, k: g.kernelWidth, d: g.dilationW, size: g.inWidth)
        let ih = g.inHeight, iw = g.inWidth, ow = g.outWidth, sh = g.strideH, sw = g.strideW
        let kh = g.kernelHeight, kw = g.kernelWidth, dh = g.dilationH, dw = g.dilationW
        let fill: Float = isMax ? -.infinity : 0
        func up8(_ n: Int) -> Int { (n + 7) / 8 * 8 }
        let outLength = up8(ow)
        let positions = up8((ow - 1) * sw + 1)  // where an output window may start (other strides)
        // The furthest a vector pass reads into the line: stride 1 reads up to outLength + (kw − 1)·dw,
        // stride 2 up to 2·outLength + (kw − 1)·dw, other strides up to positions + (kw − 1)·dw.
        let lineLength = up8(Swift.max(g.padLeft + iw, Swift.max(2 * outLength, positions) + (kw - 1) * dw))
        Parallel.forEachChunk(g.planes, threads: g.planes * outPlane > 1 << 14 ? threads : 1) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: lineLength + positions + outLength)
            defer { buffer.deallocate() }
            let line = buffer, wide = buffer + lineLength, taps = wide + positions
            line.update(repeating: fill, count: lineLength)
            let row = line + g.padLeft
            for p in range {
                let src = inBase + p * inPlane
                let dst = outBase + p * outPlane
                for y in 0..<g.outHeight {
                    let start = y * sh - g.padTop
                    let (lo, hi) = tapRange(start: start, k: kh, d: dh, size: ih)
                    let first = src + (start + lo * dh) * iw
                    switch hi - lo {
                    case 0: row.update(repeating: fill, count: iw)
                    case 1: PackedGEMM.copy(row, first, iw)
                    default:
                        combine(into: row, first, first + dh * iw, count: iw, isMax: isMax)
                        for ky in (lo + 2)..<hi { combine(into: row, row, src + (start + ky * dh) * iw, count: iw, isMax: isMax) }
                    }
                    if sw == 1 || sw == 2 {
                        taps8(into: taps, line, count: outLength, stride: sw, kernel: kw, dilation: dw, isMax: isMax)
                    } else {
                        // Every position's window, then every sw-th.
                        let source = kw > 1 ? UnsafePointer(wide) : UnsafePointer(line)
                        if kw > 1 {
                            combine(into: wide, line, line + dw, count: positions, isMax: isMax)
                            for kx in 2..<kw { combine(into: wide, wide, line + kx * dw, count: positions, isMax: isMax) }
                        }
                        PackedGEMM.copy(taps, source, ow, stride: sw)
                    }
                    let out = dst + y * ow
                    if isMax {
                        PackedGEMM.copy(out, taps, ow)
                    } else {
                        for x in 0..<ow {
                            let count = rowCounts[y] * columnCounts[x]
                            out[x] = count == 0 ? 0 : taps[x] / count
                        }
                    }
                }
            }
        }
    }

    /// `taps[x]`, `x < count` (a multiple of 8), = the maximum or the sum of `line[x·stride + k·dilation]`
    /// over `k < kernel`, for stride 1 or 2, eight outputs a vector.
    @inline(__always)
    static func taps8(into taps: UnsafeMutablePointer<Float>, _ line: UnsafePointer<Float>, count: Int, stride: Int, kernel: Int, dilation: Int, isMax: Bool) {
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
            stride == 1 ? UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) : VectorMath.evens(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self))
        }
        var x = 0
        while x < count {
            let p = line + x &* stride
            var acc = load(p)
            for k in 1..<Swift.max(kernel, 1) {
                let v = load(p + k &* dilation)
                acc = isMax ? nanMax(acc, v) : acc + v
            }
            UnsafeMutableRawPointer(taps + x).storeBytes(of: acc, as: SIMD8<Float>.self)
            x += 8
        }
    }

    /// `dst[i] = max(a[i], b[i])` (a NaN on either side wins) or `a[i] + b[i]`, for `count` floats;
    /// `dst` may be `a`. A ragged end is one more vector ending at `count`, computed before the
    /// others overwrite `a` (so a sum in place is still taken once), rather than single floats,
    /// whose data-dependent branches cost more than the vectors.
    @inline(__always)
    static func combine(into dst: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, isMax: Bool) {
        @inline(__always) func op(_ u: SIMD8<Float>, _ v: SIMD8<Float>) -> SIMD8<Float> { isMax ? nanMax(u, v) : u + v }
        @inline(__always) func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> { UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) }
        guard count >= 8 else {
            for x in 0..<count {
                let u = a[x], v = b[x]
                dst[x] = isMax ? (v > u || v.isNaN ? v : u) : u + v
            }
            return
        }
        let end = count - 8
        let last = op(load(a, end), load(b, end))
        var x = 0
        while x + 16 <= count {
            let u = UnsafeRawPointer(a + x).loadUnaligned(as: SIMD16<Float>.self)
            let v = UnsafeRawPointer(b + x).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(dst + x).storeBytes(of: isMax ? nanMax(u, v) : u + v, as: SIMD16<Float>.self)
            x += 16
        }
        if x + 8 <= count {
            UnsafeMutableRawPointer(dst + x).storeBytes(of: op(load(a, x), load(b, x)), as: SIMD8<Float>.self)
        }
        UnsafeMutableRawPointer(dst + end).storeBytes(of: last, as: SIMD8<Float>.self)
    }

    /// The naive reference twin of `max` and `average`: every tap tested against the bounds.
    /// Also the FP64 policy's pooling, with `T` = Double (input and output of that type).
    public static func reference<T: BinaryFloatingPoint & TensorScalar>(
        input: Tensor, output: Tensor, geometry g: Pool2DGeometry, isMax: Bool, countIncludePad: Bool, as type: T.Type = Float.self
    ) {
        let x = input.scalars(as: T.self)
        output.withUnsafeMutableBufferPointer(as: T.self) { out in
            for p in 0..<g.planes {
                for y in 0..<g.outHeight {
                    for xo in 0..<g.outWidth {
                        var best = -T.infinity, sum = 0.0, n = 0, padded = 0
                        var nan = false
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let iy = y * g.strideH - g.padTop + ky * g.dilationH
                                let ix = xo * g.strideW - g.padLeft + kx * g.dilationW
                                if iy >= -g.padTop && iy < g.inHeight + g.padBottom && ix >= -g.padLeft && ix < g.inWidth + g.padRight { padded += 1 }
                                guard iy >= 0, iy < g.inHeight, ix >= 0, ix < g.inWidth else { continue }
                                let v = x[(p * g.inHeight + iy) * g.inWidth + ix]
                                if v.isNaN { nan = true }
                                best = Swift.max(best, v)
                                sum += Double(v)
                                n += 1
                            }
                        }
                        let d = countIncludePad ? padded : n
                        out[(p * g.outHeight + y) * g.outWidth + xo] = isMax ? (nan ? .nan : best) : (d == 0 ? 0 : T(sum / Double(d)))
                    }
                }
            }
        }
    }

    /// Global average or max over each plane. `[N·C, S] => [N·C]`. Planes are split over threads
    /// when there are 32K values or more (each plane is summed the same way whoever sums it): on two
    /// threads, one thread reading a whole map that both had just written took longer than on one
    /// (EfficientNet-B0's squeeze-excitation pools, 0.35 ms a run on one thread, 0.46 on two).
    public static func global(input: Tensor, output: Tensor, planes: Int, planeSize: Int, max: Bool, threads: Int = 1) {
        let box = UncheckedBox((input.storage.base.assumingMemoryBound(to: Float.self), output.storage.base.assumingMemoryBound(to: Float.self)))
        Parallel.forEachChunk(planes, threads: planes * planeSize >= 1 << 15 ? threads : 1) { range in
            let (src, dst) = box.value
            globalPlanes(src, dst, planes: range, planeSize: planeSize, max: max)
        }
    }

    private static func globalPlanes(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, planes: Range<Int>, planeSize: Int, max: Bool) {
        for p in planes {
            let s = src + p * planeSize
            if max {
                var m = -Float.infinity
                for i in 0..<planeSize { if s[i] > m || s[i].isNaN { m = s[i] } }
                dst[p] = m
            } else {
                var acc = SIMD8<Float>(repeating: 0)
                var i = 0
                while i + 8 <= planeSize {
                    acc += UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
                    i += 8
                }
                var sum = acc.sum()
                while i < planeSize { sum += s[i]; i += 1 }
                dst[p] = sum / Float(planeSize)
            }
        }
    }
}
