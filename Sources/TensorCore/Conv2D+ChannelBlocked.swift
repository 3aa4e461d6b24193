extension Conv2D {
    /// Depthwise convolution (one output channel per input channel) with sixteen channels in the
    /// lanes of each vector, for small planes (`ChannelBlocks`): every output pixel accumulates its
    /// taps as whole vectors, eight pixels at a time, and the activation runs over a block's results
    /// before they are transposed back.
    ///
    /// Each output starts from its bias and adds the taps in row-major order by fused multiply-adds,
    /// as `depthwise`'s row kernel does, so the two kernels give the same bits.
    static func depthwiseChannelBlocked(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, threads: Int, blocks packedBlocks: [Float]? = nil
    ) {
        typealias V = SIMD16<Float>
        let lanes = ChannelBlocks.lanes
        let channels = g.outChannels
        let layout = ChannelBlocks(g)
        defer { layout.deallocate() }
        let inPlane = layout.inPlane, outPlane = layout.outPlane, tapCount = layout.tapCount
        let blocks = (channels + lanes - 1) / lanes
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let weights = packedBlocks ?? channelBlocks(weight.scalars(as: Float.self), channels: channels, taps: tapCount)
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let biasPtr = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        let box = UncheckedBox((layout, weights))
        let parallel = g.batch * channels * outPlane * tapCount > 1 << 15
        // Pieces are (image, channel block) items; with fewer items than threads (16 or 32
        // channels at batch 1) each item's output pixels are split too, every split loading the
        // item's image. Each output's sum is the same whoever computes it.
        let items = g.batch * blocks
        let splits = parallel && items < threads ? min(threads / items, max(1, outPlane / 8)) : 1
        Parallel.forEachChunk(items * splits, threads: parallel ? threads : 1) { range in
            let (layout, weights) = box.value
            // Padding zeroed once: every block rewrites the image cells its outputs read and
            // leaves the padding alone.
            let image = layout.image(extra: (outPlane + 1) * lanes, padding: 0)
            defer { image.deallocate() }
            let results = image + layout.imageFloats, biasLanes = results + outPlane * lanes
            weights.withUnsafeBufferPointer { weights in
                for piece in range {
                    let item = piece / splits, split = piece % splits
                    let pixels = (outPlane * split / splits)..<(outPlane * (split + 1) / splits)
                    let n = item / blocks, c0 = (item % blocks) * lanes, cn = min(lanes, channels - c0)
                    let taps = UnsafePointer(weights.baseAddress.unsafelyUnwrapped + (item % blocks) * tapCount * lanes)
                    for c in 0..<lanes { biasLanes[c] = c < cn ? biasPtr?[c0 + c] ?? 0 : 0 }
                    // A split loads only the rows its outputs read.
                    layout.load(inBase + (n * channels + c0) * inPlane, count: cn, rows: splits > 1 ? layout.inputRows(for: pixels) : nil, into: image)
                    if splits == 1 && piece + 1 < range.upperBound {
                        // The next block's planes asked for now, read after this block's taps:
                        // sixteen planes of a 14×14 image are 16 streams of 12 lines each, too
                        // short for the hardware's prefetchers. A 5×5 layer at 14×14 (672
                        // channels, batch 8, one thread) spent 26–31% of its time loading blocks,
                        // 17–21% with this; 20 alternating rounds: median 1.175 → 1.080 ms.
                        // (Asking for the next block's output lines too gained nothing: 1.130.)
                        let next = piece + 1, nn = next / blocks, nc0 = (next % blocks) * lanes
                        PackedGEMM.prefetch(inBase + (nn * channels + nc0) * inPlane, floats: min(lanes, channels - nc0) * inPlane)
                    }
                    // Eight output pixels per step: a tap is one weight vector and eight input
                    // vectors. The last group overlaps the one before it.
                    let b = UnsafeRawPointer(biasLanes).load(as: V.self)
                    if pixels.count >= 8 {
                        var q = pixels.lowerBound
                        while q < pixels.upperBound {
                            q = min(q, pixels.upperBound - 8)
                            blockedTile8(image, windows: layout.windowOf + q, taps: taps, tapOffsets: layout.tapOffsets, tapCount: tapCount, bias: b, results: results + q * lanes)
                            q += 8
                        }
                    } else {
                        for q in pixels {
                            var a = b
                            let base = image + layout.windowOf[q]
                            for t in 0..<tapCount {
                                let w = UnsafeRawPointer(taps + t * lanes).load(as: V.self)
                                a = VectorMath.fma(w, UnsafeRawPointer(base + layout.tapOffsets[t]).load(as: V.self), a)
                            }
                            UnsafeMutableRawPointer(results + q * lanes).storeBytes(of: a, as: V.self)
                        }
                    }
                    // Lanes past the last channel hold zeros, which are never stored.
                    activation?.apply(results + pixels.lowerBound * lanes, count: pixels.count * lanes)
                    layout.store(results, pixels: pixels, count: cn, to: outBase + (n * channels + c0) * outPlane)
                }
            }
        }
    }

    /// `weight` (`[C][taps]`) as `[C/16][taps][16]`, zero past the last channel.
    static func channelBlocks(_ weight: [Float], channels: Int, taps: Int) -> [Float] {
        let lanes = ChannelBlocks.lanes, blocks = (channels + lanes - 1) / lanes
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
            a0 = VectorMath.fma(w, p0.load(fromByteOffset: o, as: V.self), a0)
            a1 = VectorMath.fma(w, p1.load(fromByteOffset: o, as: V.self), a1)
            a2 = VectorMath.fma(w, p2.load(fromByteOffset: o, as: V.self), a2)
            a3 = VectorMath.fma(w, p3.load(fromByteOffset: o, as: V.self), a3)
            a4 = VectorMath.fma(w, p4.load(fromByteOffset: o, as: V.self), a4)
            a5 = VectorMath.fma(w, p5.load(fromByteOffset: o, as: V.self), a5)
            a6 = VectorMath.fma(w, p6.load(fromByteOffset: o, as: V.self), a6)
            a7 = VectorMath.fma(w, p7.load(fromByteOffset: o, as: V.self), a7)
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
}
