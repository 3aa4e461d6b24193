/// Sliding-window kernels over small planes with sixteen planes in the lanes of each vector: the
/// layout shared by `Conv2D.depthwiseChannelBlocked` and `Pool2D.maxChannelBlocked`.
///
/// On a 7×7 or 14×14 plane a kernel that runs along image rows fills half its lanes or less and
/// pays its per-plane set-up for a few dozen outputs. Here each block of sixteen planes is
/// transposed into a padded `[H, W, 16]` scratch image (sixteen-by-sixteen register transposes),
/// every output pixel combines its taps as whole vectors, and the results, `[OH, OW, 16]`, are
/// transposed back into the sixteen `[OH, OW]` planes.
struct ChannelBlocks {
    typealias V = SIMD16<Float>
    static let lanes = 16

    /// Whether a plane suits the layout: outputs at most 64 wide and 128 high from inputs at most
    /// 128 by 128 (the scratch image stays within about 1 MB whatever the padding). Measured against the row kernels with one
    /// thread: depthwise 3×3 on 56-wide inputs 0.65–0.70 ms blocked against 0.77 by rows (96
    /// channels), and stride 2 from 112 to 56 1.06–1.09 against 1.26–1.28 (96 channels), but stride 1 on 112
    /// 0.86–0.99 against 0.63–0.82 (32 channels); max pooling 3×3 stride 2 from 111 or 112 wide
    /// 0.53–0.57 against 0.56–0.93 (64 planes).
    static func suits(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) -> Bool {
        outWidth <= 64 && outHeight <= 128 && inWidth <= 128 && inHeight <= 128
    }

    let inPlane: Int, outPlane: Int, tapCount: Int
    /// Floats of the scratch image, `[PH, PW, 16]`: the padded extent that the windows read.
    let imageFloats: Int
    /// Offsets in floats: each output pixel's window start, each tap from that start.
    let windowOf: UnsafeMutablePointer<Int>, tapOffsets: UnsafeMutablePointer<Int>
    /// The input plane, the padded extent, and where the input's first pixel lies in it.
    let inHeight: Int, inWidth: Int, extentHeight: Int, extentWidth: Int, padTop: Int, padLeft: Int
    /// The rows of the windows: their vertical stride, their span in input rows, the output width.
    let strideH: Int, spanH: Int, outWidth: Int

    /// The window `(y, x)` starts at image cell `(y·strideH − padTop, x·strideW − padLeft)` and
    /// takes `kernelH × kernelW` taps, dilation apart. The caller calls `deallocate()`.
    init(
        inHeight ih: Int, inWidth iw: Int, outHeight oh: Int, outWidth ow: Int, kernelH kh: Int, kernelW kw: Int,
        strideH sh: Int, strideW sw: Int, dilationH dh: Int, dilationW dw: Int, padTop: Int, padLeft: Int
    ) {
        let lanes = Self.lanes
        inPlane = ih * iw
        outPlane = oh * ow
        tapCount = kh * kw
        let ph = (oh - 1) * sh + (kh - 1) * dh + 1, pw = (ow - 1) * sw + (kw - 1) * dw + 1
        imageFloats = ph * pw * lanes
        (inHeight, inWidth, extentHeight, extentWidth, self.padTop, self.padLeft) = (ih, iw, ph, pw, padTop, padLeft)
        (strideH, spanH, outWidth) = (sh, (kh - 1) * dh + 1, ow)
        let tables = UnsafeMutablePointer<Int>.allocate(capacity: outPlane + tapCount)
        windowOf = tables
        tapOffsets = tables + outPlane
        for y in 0..<oh {
            for x in 0..<ow { windowOf[y * ow + x] = (y * sh * pw + x * sw) * lanes }
        }
        for ky in 0..<kh {
            for kx in 0..<kw { tapOffsets[ky * kw + kx] = (ky * dh * pw + kx * dw) * lanes }
        }
    }

    /// The layout of a convolution's windows.
    init(_ g: Conv2DGeometry) {
        self.init(
            inHeight: g.inHeight, inWidth: g.inWidth, outHeight: g.outHeight, outWidth: g.outWidth,
            kernelH: g.kernelHeight, kernelW: g.kernelWidth, strideH: g.strideH, strideW: g.strideW,
            dilationH: g.dilationH, dilationW: g.dilationW, padTop: g.padTop, padLeft: g.padLeft)
    }

    /// The layout of a pooling's windows.
    init(_ g: Pool2DGeometry) {
        self.init(
            inHeight: g.inHeight, inWidth: g.inWidth, outHeight: g.outHeight, outWidth: g.outWidth,
            kernelH: g.kernelHeight, kernelW: g.kernelWidth, strideH: g.strideH, strideW: g.strideW,
            dilationH: g.dilationH, dilationW: g.dilationW, padTop: g.padTop, padLeft: g.padLeft)
    }

    func deallocate() { windowOf.deallocate() }

    /// A scratch image for this layout (`imageFloats`, then `extra` floats), its padding cells (the
    /// extent's cells that no input pixel lands in) set to `padding`; the cells that `load` writes
    /// and the extra floats are left unset. The caller deallocates.
    func image(extra: Int, padding: Float) -> UnsafeMutablePointer<Float> {
        let lanes = Self.lanes
        let image = UnsafeMutableRawPointer.allocate(byteCount: (imageFloats + extra) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: imageFloats + extra)
        #if DEBUG
        // Cells left unset hold NaN in tests, so that a read of one shows in the results.
        image.initialize(repeating: .nan, count: imageFloats + extra)
        #endif
        let rowFloats = extentWidth * lanes
        // Image rows occupy extent rows padTop ..< padTop + inHeight, columns padLeft ..< padLeft + inWidth.
        let top = min(extentHeight, padTop), bottom = min(extentHeight, padTop + inHeight)
        let left = min(extentWidth, padLeft), right = min(extentWidth, padLeft + inWidth)
        image.initialize(repeating: padding, count: top * rowFloats)
        (image + bottom * rowFloats).initialize(repeating: padding, count: (extentHeight - bottom) * rowFloats)
        for y in top..<bottom {
            let row = image + y * rowFloats
            row.initialize(repeating: padding, count: left * lanes)
            (row + right * lanes).initialize(repeating: padding, count: (extentWidth - right) * lanes)
        }
        return image
    }

    /// The input rows that the windows of output pixels `pixels` read (clipped to the image).
    func inputRows(for pixels: Range<Int>) -> Range<Int> {
        guard !pixels.isEmpty, outWidth > 0 else { return 0..<0 }
        let first = pixels.lowerBound / outWidth, last = (pixels.upperBound - 1) / outWidth
        let lo = max(0, first * strideH - padTop), hi = min(inHeight, last * strideH - padTop + spanH)
        return lo..<max(lo, hi)
    }

    /// Writes rows `rows` (all by default) of planes `src[c·inPlane ..< (c + 1)·inPlane]`,
    /// `c < count`, into their image cells, lane c; lanes from `count` on get zeros. Pixels outside
    /// the extent (never read) and the padding cells are left as they are. Sixteen pixels per
    /// transpose; the last group overlaps the one before it (rewriting the same cells).
    @inline(__always)
    func load(_ src: UnsafePointer<Float>, count: Int, rows: Range<Int>? = nil, into image: UnsafeMutablePointer<Float>) {
        let lanes = Self.lanes
        let rows = rows ?? 0..<inHeight
        let start = rows.lowerBound * inWidth, end = rows.upperBound * inWidth
        let pw = extentWidth, ph = extentHeight, iw = inWidth
        /// The cell of input pixel (y, x), or -1 outside the extent.
        @inline(__always) func cell(_ y: Int, _ x: Int) -> Int {
            let py = y + padTop, px = x + padLeft
            return py < ph && px < pw ? (py * pw + px) * lanes : -1
        }
        if end - start >= lanes {
            var p = start
            while p < end {
                p = min(p, end - lanes)
                var v = Square { c in c < count ? UnsafeRawPointer(src + c * inPlane + p).loadUnaligned(as: V.self) : V() }
                v.transpose()
                var y = p / iw, x = p - y * iw
                v.forEach { _, row in
                    let at = cell(y, x)
                    if at >= 0 { UnsafeMutableRawPointer(image + at).storeBytes(of: row, as: V.self) }
                    x += 1
                    if x == iw { x = 0; y += 1 }
                }
                p += lanes
            }
        } else {
            for p in start..<end {
                let at = cell(p / iw, p % iw)
                guard at >= 0 else { continue }
                for c in 0..<lanes { image[at + c] = c < count ? src[c * inPlane + p] : 0 }
            }
        }
    }

    /// Writes lanes `c < count` of `results` (`[outPlane][16]`) to the planes
    /// `dst[c·outPlane ..< (c + 1)·outPlane]`, for the output pixels `pixels` (all by default);
    /// nothing outside them is written.
    @inline(__always)
    func store(_ results: UnsafePointer<Float>, pixels: Range<Int>? = nil, count: Int, to dst: UnsafeMutablePointer<Float>) {
        let lanes = Self.lanes
        let pixels = pixels ?? 0..<outPlane
        if pixels.count >= lanes {
            var q = pixels.lowerBound
            while q < pixels.upperBound {
                q = min(q, pixels.upperBound - lanes)
                var v = Square { j in UnsafeRawPointer(results + (q + j) * lanes).load(as: V.self) }
                v.transpose()
                v.forEach { c, row in
                    if c < count { UnsafeMutableRawPointer(dst + c * outPlane + q).storeBytes(of: row, as: V.self) }
                }
                q += lanes
            }
        } else {
            for q in pixels {
                for c in 0..<count { dst[c * outPlane + q] = results[q * lanes + c] }
            }
        }
    }

    /// Sixteen vectors of sixteen floats, held as separate values so that they stay in registers
    /// (an `InlineArray` of them went through the stack, with a memcpy per transpose).
    struct Square {
        var v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15: V

        @inline(__always)
        init(_ row: (Int) -> V) {
            (v0, v1, v2, v3, v4, v5, v6, v7) = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
            (v8, v9, v10, v11, v12, v13, v14, v15) = (row(8), row(9), row(10), row(11), row(12), row(13), row(14), row(15))
        }

        @inline(__always)
        func forEach(_ body: (Int, V) -> Void) {
            body(0, v0); body(1, v1); body(2, v2); body(3, v3); body(4, v4); body(5, v5); body(6, v6); body(7, v7)
            body(8, v8); body(9, v9); body(10, v10); body(11, v11); body(12, v12); body(13, v13); body(14, v14); body(15, v15)
        }

        /// Transposes in registers: row i, lane j becomes row j, lane i.
        ///
        /// Four rounds of unzipping pairs: row k of a round takes the even lanes of the pair
        /// `(v[2k], v[2k+1])` and row 8 + k their odd lanes. Read as one 256-element sequence with
        /// index `16·row + lane`, a round rotates that 8-bit index right by one bit; four rounds
        /// rotate it by four, which swaps row and lane.
        @inline(__always)
        mutating func transpose() {
            @inline(__always) func unzip(_ a: V, _ b: V) -> (V, V) { (VectorMath.evens(a, b), VectorMath.odds(a, b)) }
            for _ in 0..<4 {
                let (e0, o0) = unzip(v0, v1), (e1, o1) = unzip(v2, v3), (e2, o2) = unzip(v4, v5), (e3, o3) = unzip(v6, v7)
                let (e4, o4) = unzip(v8, v9), (e5, o5) = unzip(v10, v11), (e6, o6) = unzip(v12, v13), (e7, o7) = unzip(v14, v15)
                (v0, v1, v2, v3, v4, v5, v6, v7) = (e0, e1, e2, e3, e4, e5, e6, e7)
                (v8, v9, v10, v11, v12, v13, v14, v15) = (o0, o1, o2, o3, o4, o5, o6, o7)
            }
        }
    }
}
