extension Conv2D {
    /// Whether `depthwiseHalving` takes a depthwise convolution: one output channel per input
    /// channel, stride 2 both ways, undilated, at least four output rows and 14 columns
    /// (MobileNet's and EfficientNet's downsampling 3×3 and 5×5 layers; on 7-wide outputs the
    /// channel-blocked kernel was faster).
    static func halvesRows(_ g: Conv2DGeometry) -> Bool {
        g.isDepthwise && g.outChannels == g.groups && g.strideH == 2 && g.strideW == 2 && g.dilationH == 1 && g.dilationW == 1
            && g.outHeight >= 4 && g.outWidth >= 14
    }

    /// Depthwise convolution of stride 2 (`halvesRows`) on the rows of NCHW, sixteen outputs a
    /// vector: each input plane is copied, a few rows ahead of the tiles, into a zero-padded
    /// scratch plane, and the taps of column kx for sixteen outputs are the even lanes of the 32
    /// floats from that column on (kx even) or the odd lanes of those from kx − 1 (two-source
    /// permutes of two loads). A tile is four output rows by 32 (or 16) outputs, eight (or four)
    /// accumulators; each weight is broadcast once for all of them.
    ///
    /// Each output starts from its bias and adds the taps in row-major order by fused multiply-adds,
    /// the padding's zeros included, as `depthwiseRows` and `depthwiseChannelBlocked` do, so all
    /// three give the same bits.
    static func depthwiseHalving(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, threads: Int
    ) {
        typealias V = SIMD16<Float>
        let ih = g.inHeight, iw = g.inWidth, oh = g.outHeight, ow = g.outWidth
        let kh = g.kernelHeight, kw = g.kernelWidth, pt = g.padTop, pl = g.padLeft
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let wBase = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let biasPtr = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        let vectors = (ow + 15) / 16
        // Output x reads scratch columns 2x ..< 2x + kw; the tile at vector v reads 32 floats a
        // vector from column 32v + kx (kx even), up to column 32·vectors + kw − 2. Rows a whole
        // number of vectors, so that they stay aligned.
        let lineLength = (max(pl + iw, 32 * vectors + kw + 15) + 15) / 16 * 16
        let ph = (oh - 1) * 2 + kh
        let planes = g.batch * g.outChannels, inPlane = ih * iw, outPlane = oh * ow
        let aheadRows = max(4, 1024 / iw), inEnd = inBase + planes * inPlane
        let box = UncheckedBox(outBase)
        Parallel.forEachChunk(planes, threads: planes * outPlane * kh * kw > 1 << 15 ? threads : 1) { range in
            let outBase = box.value
            // Zeroed once: every plane overwrites the same image cells and leaves the padding alone.
            let raw = UnsafeMutableRawPointer.allocate(byteCount: ph * lineLength * 4, alignment: 64)
            defer { raw.deallocate() }
            let scratch = raw.bindMemory(to: Float.self, capacity: ph * lineLength)
            scratch.initialize(repeating: 0, count: ph * lineLength)
            let lineBytes = lineLength * 4
            for p in range {
                let src = inBase + p * inPlane, dst = outBase + p * outPlane
                let m = p % g.outChannels
                let wk = wBase + m * kh * kw
                let b = V(repeating: biasPtr?[m] ?? 0)
                var filled = 0
                // Copies the scratch rows up to `end` just before the tiles read them (as
                // `depthwiseRows` does, so that they are read while in L1).
                @inline(__always) func fill(through end: Int) {
                    let end = min(end, ph)
                    while filled < end {
                        let iy = filled - pt
                        if iy >= 0 && iy < ih { PackedGEMM.copy(scratch + filled * lineLength + pl, src + iy * iw, iw) }
                        // A row about 4 KB further on, in this plane or the next, asked for now (as
                        // `Pool2D.maxHalving` does): MobileNetV2 at batch 8, one thread, in the
                        // model, 96×112×112 → 56 3.9–4.15 → 3.6–3.8 ms, 144×56×56 → 28 1.11–1.15 →
                        // 0.99–1.05.
                        let ahead = src + (iy + aheadRows) * iw
                        if ahead + iw <= inEnd { PackedGEMM.prefetch(ahead, floats: iw) }
                        filled += 1
                    }
                }
                var y = 0
                while y < oh {
                    y = min(y, oh - 4)
                    fill(through: 2 * y + 6 + kh)
                    let top = UnsafeRawPointer(scratch + 2 * y * lineLength)
                    let out = dst + y * ow
                    // The tile holding the last vector first: its partial vectors are stored
                    // whole where the plane goes on past them, and the tiles to its left then
                    // rewrite the next rows' first outputs.
                    // (`two` as a literal at each call, so that each inlined copy is compiled for
                    // its width: a first version passed `v + 1 < vectors`, and its compiled loop
                    // tested it around the loads of every tap.)
                    @inline(__always) func tile(_ v: Int) {
                        if v + 1 < vectors {
                            Self.halvingTile(top + v * 128, lineBytes: lineBytes, kh: kh, kw: kw, weights: wk, bias: b, two: true,
                                             output: out + v * 16, outputStride: ow, width: ow - v * 16, end: dst + outPlane)
                        } else {
                            Self.halvingTile(top + v * 128, lineBytes: lineBytes, kh: kh, kw: kw, weights: wk, bias: b, two: false,
                                             output: out + v * 16, outputStride: ow, width: ow - v * 16, end: dst + outPlane)
                        }
                    }
                    let last = (vectors - 1) & ~1
                    tile(last)
                    var v = 0
                    while v < last {
                        tile(v)
                        v += 2
                    }
                    y += 4
                }
                activation?.apply(dst, count: outPlane)
            }
        }
    }

    /// Four output rows by sixteen outputs (32 when `two`; `width` of them written) of a stride-2
    /// depthwise plane: `top` is the scratch at the first output's window (row 2y, column 2x).
    /// Kernel row ky of output row r is scratch row 2r + ky.
    @inline(__always)
    private static func halvingTile(
        _ top: UnsafeRawPointer, lineBytes: Int, kh: Int, kw: Int, weights: UnsafePointer<Float>, bias: SIMD16<Float>, two: Bool,
        output: UnsafeMutablePointer<Float>, outputStride o: Int, width: Int, end: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias, c0 = bias, c1 = bias, c2 = bias, c3 = bias
        let s = 2 * lineBytes
        for ky in 0..<kh {
            let row = top + ky &* lineBytes
            var kx = 0
            while kx < kw {
                let p = row + kx &* 4
                // Rows r = 0...3 of the tile: scratch row 2r + ky, 32 floats from column kx (64 when `two`).
                let e0 = p.loadUnaligned(as: V.self), f0 = p.loadUnaligned(fromByteOffset: 64, as: V.self)
                let e1 = p.loadUnaligned(fromByteOffset: s, as: V.self), f1 = p.loadUnaligned(fromByteOffset: s + 64, as: V.self)
                let e2 = p.loadUnaligned(fromByteOffset: 2 * s, as: V.self), f2 = p.loadUnaligned(fromByteOffset: 2 * s + 64, as: V.self)
                let e3 = p.loadUnaligned(fromByteOffset: 3 * s, as: V.self), f3 = p.loadUnaligned(fromByteOffset: 3 * s + 64, as: V.self)
                var w = V(repeating: weights[ky &* kw &+ kx])
                a0 = VectorMath.fma(w, VectorMath.evens(e0, f0), a0)
                a1 = VectorMath.fma(w, VectorMath.evens(e1, f1), a1)
                a2 = VectorMath.fma(w, VectorMath.evens(e2, f2), a2)
                a3 = VectorMath.fma(w, VectorMath.evens(e3, f3), a3)
                // The second vector's 32 floats (placeholders when one vector: never used then).
                var g0 = e0, h0 = f0, g1 = e1, h1 = f1, g2 = e2, h2 = f2, g3 = e3, h3 = f3
                if two {
                    g0 = p.loadUnaligned(fromByteOffset: 128, as: V.self); h0 = p.loadUnaligned(fromByteOffset: 192, as: V.self)
                    g1 = p.loadUnaligned(fromByteOffset: s + 128, as: V.self); h1 = p.loadUnaligned(fromByteOffset: s + 192, as: V.self)
                    g2 = p.loadUnaligned(fromByteOffset: 2 * s + 128, as: V.self); h2 = p.loadUnaligned(fromByteOffset: 2 * s + 192, as: V.self)
                    g3 = p.loadUnaligned(fromByteOffset: 3 * s + 128, as: V.self); h3 = p.loadUnaligned(fromByteOffset: 3 * s + 192, as: V.self)
                    c0 = VectorMath.fma(w, VectorMath.evens(g0, h0), c0)
                    c1 = VectorMath.fma(w, VectorMath.evens(g1, h1), c1)
                    c2 = VectorMath.fma(w, VectorMath.evens(g2, h2), c2)
                    c3 = VectorMath.fma(w, VectorMath.evens(g3, h3), c3)
                }
                if kx + 1 < kw {
                    w = V(repeating: weights[ky &* kw &+ kx &+ 1])
                    a0 = VectorMath.fma(w, VectorMath.odds(e0, f0), a0)
                    a1 = VectorMath.fma(w, VectorMath.odds(e1, f1), a1)
                    a2 = VectorMath.fma(w, VectorMath.odds(e2, f2), a2)
                    a3 = VectorMath.fma(w, VectorMath.odds(e3, f3), a3)
                    if two {
                        c0 = VectorMath.fma(w, VectorMath.odds(g0, h0), c0)
                        c1 = VectorMath.fma(w, VectorMath.odds(g1, h1), c1)
                        c2 = VectorMath.fma(w, VectorMath.odds(g2, h2), c2)
                        c3 = VectorMath.fma(w, VectorMath.odds(g3, h3), c3)
                    }
                }
                kx += 2
            }
        }
        // Row by row, each row's vectors left to right: a partial vector is stored whole (its
        // lanes past `width` on the next row's first outputs, rewritten after) unless it would
        // pass the plane's `end`.
        @inline(__always) func put(_ v: V, _ at: UnsafeMutablePointer<Float>, _ n: Int) {
            if n >= 16 || at + 16 <= end {
                UnsafeMutableRawPointer(at).storeBytes(of: v, as: V.self)
            } else {
                for i in 0..<n { at[i] = v[i] }
            }
        }
        put(a0, output, width)
        if two { put(c0, output + 16, width - 16) }
        put(a1, output + o, width)
        if two { put(c1, output + o + 16, width - 16) }
        put(a2, output + 2 * o, width)
        if two { put(c2, output + 2 * o + 16, width - 16) }
        put(a3, output + 3 * o, width)
        if two { put(c3, output + 3 * o + 16, width - 16) }
    }
}
