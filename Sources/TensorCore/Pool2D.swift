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
    public static func max(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int) {
        run(input: input, output: output, geometry: g, threads: threads) { src, y, x in
            var best = -Float.infinity
            var sawNaN = false
            for ky in 0..<g.kernelHeight {
                let iy = y * g.strideH - g.padTop + ky * g.dilationH
                if iy < 0 || iy >= g.inHeight { continue }
                for kx in 0..<g.kernelWidth {
                    let ix = x * g.strideW - g.padLeft + kx * g.dilationW
                    if ix < 0 || ix >= g.inWidth { continue }
                    let v = src[iy * g.inWidth + ix]
                    if v > best { best = v } else if v.isNaN { sawNaN = true }
                }
            }
            return sawNaN ? .nan : best
        }
    }

    /// Average pooling. With `countIncludePad` the divisor counts padded taps inside the padded
    /// extent (ONNX's rule); otherwise only taps inside the image.
    public static func average(input: Tensor, output: Tensor, geometry g: Pool2DGeometry, countIncludePad: Bool, threads: Int) {
        run(input: input, output: output, geometry: g, threads: threads) { src, y, x in
            var sum: Float = 0
            var n = 0
            var padded = 0
            for ky in 0..<g.kernelHeight {
                let iy = y * g.strideH - g.padTop + ky * g.dilationH
                let yInPad = iy >= -g.padTop && iy < g.inHeight + g.padBottom
                for kx in 0..<g.kernelWidth {
                    let ix = x * g.strideW - g.padLeft + kx * g.dilationW
                    if yInPad && ix >= -g.padLeft && ix < g.inWidth + g.padRight { padded += 1 }
                    if iy < 0 || iy >= g.inHeight || ix < 0 || ix >= g.inWidth { continue }
                    sum += src[iy * g.inWidth + ix]
                    n += 1
                }
            }
            let d = countIncludePad ? padded : n
            return d == 0 ? 0 : sum / Float(d)
        }
    }

    private static func run(
        input: Tensor, output: Tensor, geometry g: Pool2DGeometry, threads: Int,
        _ cell: (UnsafePointer<Float>, Int, Int) -> Float
    ) {
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let inPlane = g.inHeight * g.inWidth, outPlane = g.outHeight * g.outWidth
        Parallel.forEachChunk(g.planes, threads: g.planes * outPlane > 1 << 14 ? threads : 1) { range in
            for p in range {
                let src = inBase + p * inPlane
                let dst = outBase + p * outPlane
                for y in 0..<g.outHeight {
                    for x in 0..<g.outWidth { dst[y * g.outWidth + x] = cell(src, y, x) }
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
