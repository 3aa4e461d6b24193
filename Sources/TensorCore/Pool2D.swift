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
    /// Planes that `ChannelBlocks` suits go to `maxChannelBlocked`, others to the row kernel.
    public static func max(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int) {
        if ChannelBlocks.suits(inHeight: g.inHeight, inWidth: g.inWidth, outHeight: g.outHeight, outWidth: g.outWidth) {
            maxChannelBlocked(input: input, output: output, geometry: g, threads: threads)
        } else {
            run(input: input, output: output, geometry: g, threads: threads, isMax: true, countIncludePad: false)
        }
    }

    /// Max pooling with sixteen planes in the lanes of each vector (`ChannelBlocks`), for small
    /// planes: the scratch image's padding holds −∞, and each output pixel takes the maximum of its
    /// taps as whole vectors, eight pixels at a time.
    static func maxChannelBlocked(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int) {
        typealias V = SIMD16<Float>
        let lanes = ChannelBlocks.lanes
        let layout = ChannelBlocks(g)
        defer { layout.deallocate() }
        let inPlane = layout.inPlane, outPlane = layout.outPlane, tapCount = layout.tapCount
        let blocks = (g.planes + lanes - 1) / lanes
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let box = UncheckedBox(layout)
        Parallel.forEachChunk(blocks, threads: g.planes * outPlane * tapCount > 1 << 15 ? threads : 1) { range in
            let layout = box.value
            let image = ChannelBlocks.buffer(layout.imageFloats + outPlane * lanes, filledWith: -.infinity)
            defer { image.deallocate() }
            let results = image + layout.imageFloats
            let taps = layout.tapOffsets
            for block in range {
                let c0 = block * lanes, cn = Swift.min(lanes, g.planes - c0)
                layout.load(inBase + c0 * inPlane, count: cn, into: image)
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

    /// The larger of `a` and `b` lane by lane; a NaN on either side wins.
    @inline(__always)
    static func nanMax<W: SIMD>(_ a: W, _ b: W) -> W where W.Scalar == Float {
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

    /// The row kernel: each plane copied into a padded plane, combined a window row at a time.
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
        let dh = g.dilationH, dw = g.dilationW, iw = g.inWidth, ow = g.outWidth, sh = g.strideH, sw = g.strideW
        let kh = g.kernelHeight, kw = g.kernelWidth
        let fill: Float = isMax ? -.infinity : 0
        // Each plane is copied into a padded plane whose padding holds the fill value (−∞ for max,
        // 0 for sums). An output row is then two passes of whole vectors, with no bounds tests and
        // no ragged ends: the window's rows are combined column by column, then every position
        // combines its kernel-width taps (shifted loads); the outputs are every `strideW`-th one.
        func up8(_ n: Int) -> Int { (n + 7) / 8 * 8 }
        let span = (ow - 1) * sw + 1  // positions where an output window starts
        let tapsLength = up8(span)
        let rowsLength = up8(tapsLength + (kw - 1) * dw)
        let paddedWidth = Swift.max(rowsLength, up8(g.padLeft + iw))
        let paddedHeight = Swift.max(g.padTop + g.inHeight, (g.outHeight - 1) * sh + (kh - 1) * dh + 1)
        Parallel.forEachChunk(g.planes, threads: g.planes * outPlane > 1 << 14 ? threads : 1) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: paddedHeight * paddedWidth + rowsLength + tapsLength)
            defer { buffer.deallocate() }
            let plane = buffer, combined = buffer + paddedHeight * paddedWidth, taps = combined + rowsLength
            plane.update(repeating: fill, count: paddedHeight * paddedWidth)
            for p in range {
                let src = inBase + p * inPlane
                let dst = outBase + p * outPlane
                for iy in 0..<g.inHeight {
                    (plane + (g.padTop + iy) * paddedWidth + g.padLeft).update(from: src + iy * iw, count: iw)
                }
                for y in 0..<g.outHeight {
                    let top = plane + y * sh * paddedWidth
                    var source = UnsafePointer(top)
                    if kh > 1 {
                        combine(into: combined, top, top + dh * paddedWidth, count: rowsLength, isMax: isMax)
                        for ky in 2..<kh { combine(into: combined, combined, top + ky * dh * paddedWidth, count: rowsLength, isMax: isMax) }
                        source = UnsafePointer(combined)
                    }
                    if kw > 1 {
                        combine(into: taps, source, source + dw, count: tapsLength, isMax: isMax)
                        for kx in 2..<kw { combine(into: taps, taps, source + kx * dw, count: tapsLength, isMax: isMax) }
                        source = UnsafePointer(taps)
                    }
                    let out = dst + y * ow
                    if isMax {
                        PackedGEMM.copy(out, source, ow, stride: sw)
                    } else {
                        for x in 0..<ow {
                            let count = rowCounts[y] * columnCounts[x]
                            out[x] = count == 0 ? 0 : source[x &* sw] / count
                        }
                    }
                }
            }
        }
    }

    /// `dst[i] = max(a[i], b[i])` (a NaN on either side wins) or `a[i] + b[i]`, for `count` floats
    /// (a multiple of 8); `dst` may be `a`.
    @inline(__always)
    static func combine(into dst: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, isMax: Bool) {
        var x = 0
        while x < count {
            let u = UnsafeRawPointer(a + x).loadUnaligned(as: SIMD8<Float>.self)
            let v = UnsafeRawPointer(b + x).loadUnaligned(as: SIMD8<Float>.self)
            let c = isMax ? nanMax(u, v) : u + v
            UnsafeMutableRawPointer(dst + x).storeBytes(of: c, as: SIMD8<Float>.self)
            x += 8
        }
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

    /// Global average or max over each plane. `[N·C, S] => [N·C]`.
    public static func global(input: Tensor, output: Tensor, planes: Int, planeSize: Int, max: Bool) {
        let src = input.storage.base.assumingMemoryBound(to: Float.self)
        let dst = output.storage.base.assumingMemoryBound(to: Float.self)
        for p in 0..<planes {
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
