extension Conv2D {
    /// Depthwise convolution (one output channel per input channel) with sixteen channels in the
    /// lanes of each vector, for small planes.
    ///
    /// On a 7×7 or 14×14 plane a kernel that runs along image rows fills half its lanes or less and
    /// pays its per-plane set-up for a few dozen outputs. Here each block of sixteen channels is
    /// transposed into a zero-padded `[H, W, 16]` scratch image (sixteen 16 × 16 register
    /// transposes per 256 pixels), every output pixel accumulates its taps as whole vectors, eight
    /// pixels at a time, the activation runs over them, and they are transposed back into the
    /// `[C, H, W]` planes.
    ///
    /// Each output starts from its bias and adds the taps in row-major order by fused multiply-adds,
    /// as `depthwise`'s row kernel does, so the two kernels give the same bits.
    static func depthwiseChannelBlocked(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, threads: Int, blocks packedBlocks: [Float]? = nil
    ) {
        typealias V = SIMD16<Float>
        let lanes = V.scalarCount
        let channels = g.outChannels
        let ih = g.inHeight, iw = g.inWidth, oh = g.outHeight, ow = g.outWidth
        let kh = g.kernelHeight, kw = g.kernelWidth, sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let inPlane = ih * iw, outPlane = oh * ow, tapCount = kh * kw
        // The padded extent that the windows read; image cells outside it are never read.
        let ph = (oh - 1) * sh + (kh - 1) * dh + 1, pw = (ow - 1) * sw + (kw - 1) * dw + 1
        let blocks = (channels + lanes - 1) / lanes
        // Offsets in floats, shared by every block: each input pixel's cell in the scratch image
        // (−1: outside the extent), each output pixel's window start, each tap from that start.
        let tables = UnsafeMutablePointer<Int>.allocate(capacity: inPlane + outPlane + tapCount)
        defer { tables.deallocate() }
        let cellOf = tables, windowOf = tables + inPlane, tapOffsets = tables + inPlane + outPlane
        for y in 0..<ih {
            for x in 0..<iw {
                let py = y + g.padTop, px = x + g.padLeft
                cellOf[y * iw + x] = py < ph && px < pw ? (py * pw + px) * lanes : -1
            }
        }
        for y in 0..<oh {
            for x in 0..<ow { windowOf[y * ow + x] = (y * sh * pw + x * sw) * lanes }
        }
        for ky in 0..<kh {
            for kx in 0..<kw { tapOffsets[ky * kw + kx] = (ky * dh * pw + kx * dw) * lanes }
        }
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let weights = packedBlocks ?? channelBlocks(weight.scalars(as: Float.self), channels: channels, taps: tapCount)
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let biasPtr = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        let box = UncheckedBox((UnsafePointer(cellOf), UnsafePointer(windowOf), UnsafePointer(tapOffsets), weights))
        let items = g.batch * blocks
        let parallel = g.batch * channels * outPlane * tapCount > 1 << 15
        Parallel.forEachChunk(items, threads: parallel ? threads : 1) { range in
            let (cellOf, windowOf, tapOffsets, weights) = box.value
            let imageFloats = ph * pw * lanes
            let floats = imageFloats + (outPlane + 1) * lanes
            let raw = UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64)
            defer { raw.deallocate() }
            let image = raw.bindMemory(to: Float.self, capacity: floats)
            // Zeroed once: every block rewrites the same image cells and leaves the padding alone.
            image.initialize(repeating: 0, count: floats)
            let results = image + imageFloats, biasLanes = results + outPlane * lanes
            weights.withUnsafeBufferPointer { weights in
            for item in range {
                let n = item / blocks, c0 = (item % blocks) * lanes, cn = min(lanes, channels - c0)
                let taps = weights.baseAddress.unsafelyUnwrapped + (item % blocks) * tapCount * lanes
                for c in 0..<lanes { biasLanes[c] = c < cn ? biasPtr?[c0 + c] ?? 0 : 0 }
                let src = inBase + (n * channels + c0) * inPlane
                let dst = outBase + (n * channels + c0) * outPlane

                // [16, H, W] → [H, W, 16], sixteen pixels per transpose; the last group overlaps
                // the one before it (rewriting the same cells).
                if inPlane >= lanes {
                    var p = 0
                    while p < inPlane {
                        p = min(p, inPlane - lanes)
                        var v = InlineArray<16, V>(repeating: V())
                        for c in 0..<lanes where c < cn { v[c] = UnsafeRawPointer(src + c * inPlane + p).loadUnaligned(as: V.self) }
                        transpose(&v)
                        for j in 0..<lanes {
                            let cell = cellOf[p + j]
                            if cell >= 0 { UnsafeMutableRawPointer(image + cell).storeBytes(of: v[j], as: V.self) }
                        }
                        p += lanes
                    }
                } else {
                    for p in 0..<inPlane where cellOf[p] >= 0 {
                        for c in 0..<lanes { image[cellOf[p] + c] = c < cn ? src[c * inPlane + p] : 0 }
                    }
                }

                // Eight output pixels per step, each broadcast-free: a tap is one weight vector
                // and eight input vectors. The last group overlaps the one before it.
                let b = UnsafeRawPointer(biasLanes).load(as: V.self)
                if outPlane >= 8 {
                    var q = 0
                    while q < outPlane {
                        q = min(q, outPlane - 8)
                        blockedTile8(image, windows: windowOf + q, taps: UnsafePointer(taps), tapOffsets: tapOffsets, tapCount: tapCount, bias: b, results: results + q * lanes)
                        q += 8
                    }
                } else {
                    for q in 0..<outPlane {
                        var a = b
                        let base = image + windowOf[q]
                        for t in 0..<tapCount {
                            let w = UnsafeRawPointer(taps + t * lanes).load(as: V.self)
                            a = fma16(w, UnsafeRawPointer(base + tapOffsets[t]).load(as: V.self), a)
                        }
                        UnsafeMutableRawPointer(results + q * lanes).storeBytes(of: a, as: V.self)
                    }
                }

                // The activation once over the block's results (lanes past the last channel hold
                // zeros or values that are never stored).
                activation?.apply(results, count: outPlane * lanes)

                // [H, W, 16] → [16, H, W].
                if outPlane >= lanes {
                    var q = 0
                    while q < outPlane {
                        q = min(q, outPlane - lanes)
                        var v = InlineArray<16, V>(repeating: V())
                        for j in 0..<lanes { v[j] = UnsafeRawPointer(results + (q + j) * lanes).load(as: V.self) }
                        transpose(&v)
                        for c in 0..<lanes where c < cn {
                            UnsafeMutableRawPointer(dst + c * outPlane + q).storeBytes(of: v[c], as: V.self)
                        }
                        q += lanes
                    }
                } else {
                    for q in 0..<outPlane {
                        for c in 0..<cn { dst[c * outPlane + q] = results[q * lanes + c] }
                    }
                }
            }
            }
        }
    }

    /// `weight` (`[C][taps]`) as `[C/16][taps][16]`, zero past the last channel.
    static func channelBlocks(_ weight: [Float], channels: Int, taps: Int) -> [Float] {
        let lanes = 16, blocks = (channels + lanes - 1) / lanes
        var out = [Float](repeating: 0, count: blocks * taps * lanes)
        for c in 0..<channels {
            for t in 0..<taps { out[((c / lanes) * taps + t) * lanes + c % lanes] = weight[c * taps + t] }
        }
        return out
    }

    /// Eight output pixels of one channel block: `windows[i]` is pixel i's window start in the
    /// scratch image; sums land in `results` as eight vectors of sixteen channels.
    @inline(__always)
    private static func blockedTile8(
        _ image: UnsafePointer<Float>, windows: UnsafePointer<Int>, taps: UnsafePointer<Float>, tapOffsets: UnsafePointer<Int>,
        tapCount: Int, bias: SIMD16<Float>, results: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        let p0 = UnsafeRawPointer(image + windows[0]), p1 = UnsafeRawPointer(image + windows[1])
        let p2 = UnsafeRawPointer(image + windows[2]), p3 = UnsafeRawPointer(image + windows[3])
        let p4 = UnsafeRawPointer(image + windows[4]), p5 = UnsafeRawPointer(image + windows[5])
        let p6 = UnsafeRawPointer(image + windows[6]), p7 = UnsafeRawPointer(image + windows[7])
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
        for t in 0..<tapCount {
            let w = UnsafeRawPointer(taps + t * 16).load(as: V.self)
            let o = tapOffsets[t] &* 4
            a0 = fma16(w, p0.load(fromByteOffset: o, as: V.self), a0)
            a1 = fma16(w, p1.load(fromByteOffset: o, as: V.self), a1)
            a2 = fma16(w, p2.load(fromByteOffset: o, as: V.self), a2)
            a3 = fma16(w, p3.load(fromByteOffset: o, as: V.self), a3)
            a4 = fma16(w, p4.load(fromByteOffset: o, as: V.self), a4)
            a5 = fma16(w, p5.load(fromByteOffset: o, as: V.self), a5)
            a6 = fma16(w, p6.load(fromByteOffset: o, as: V.self), a6)
            a7 = fma16(w, p7.load(fromByteOffset: o, as: V.self), a7)
        }
        let r = UnsafeMutableRawPointer(results)
        r.storeBytes(of: a0, as: V.self)
        r.storeBytes(of: a1, toByteOffset: 64, as: V.self)
        r.storeBytes(of: a2, toByteOffset: 128, as: V.self)
        r.storeBytes(of: a3, toByteOffset: 192, as: V.self)
        r.storeBytes(of: a4, toByteOffset: 256, as: V.self)
        r.storeBytes(of: a5, toByteOffset: 320, as: V.self)
        r.storeBytes(of: a6, toByteOffset: 384, as: V.self)
        r.storeBytes(of: a7, toByteOffset: 448, as: V.self)
    }

    /// `a·b + c` as `VectorMath.fma` computes it, sixteen lanes wide.
    @inline(__always)
    private static func fma16(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
        VectorMath.fusedMultiplyAdd ? c.addingProduct(a, b) : a * b + c
    }

    /// Transposes sixteen vectors of sixteen floats in registers: `v[i][j]` becomes `v[j][i]`.
    ///
    /// Four rounds of unzipping pairs: vector k of a round takes the even lanes of the pair
    /// `(v[2k], v[2k+1])` and vector 8 + k their odd lanes. Read as one 256-element sequence with
    /// index `16·row + column`, a round rotates that 8-bit index right by one bit; four rounds
    /// rotate it by four, which swaps row and column.
    @inline(__always)
    static func transpose(_ v: inout InlineArray<16, SIMD16<Float>>) {
        for _ in 0..<4 {
            let a = v
            for k in 0..<8 {
                let pair = SIMD32<Float>(lowHalf: a[2 * k], highHalf: a[2 * k + 1])
                v[k] = pair.evenHalf
                v[8 + k] = pair.oddHalf
            }
        }
    }
}
