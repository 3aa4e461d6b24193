/// Sampling an image at normalised grid coordinates: the kernel of ONNX `GridSample`, beside a
/// naive twin in Double.
///
/// X `[N, C, *dims]`, grid `[N, *out, r]` with coordinates in [−1, 1], the last axis first; Y
/// `[N, C, *out]`. Coordinates map to pixels with `alignCorners` (−1 and 1 at the corner pixels'
/// centres) or without (their outer edges); nearest (round half to even), linear, or cubic (Keys,
/// a = −0.75) taps per axis, applied separably; padding zeros, border (clamp) or reflection.
public enum GridSampling {
    public enum Mode: String, Sendable { case nearest, linear, cubic }
    public enum Padding: String, Sendable { case zeros, border, reflection }

    public struct Geometry: Sendable {
        public var batch: Int, channels: Int, dims: [Int], points: Int
        public init(batch: Int, channels: Int, dims: [Int], points: Int) {
            self.batch = batch
            self.channels = channels
            self.dims = dims
            self.points = points
        }
    }

    /// Reflects `v` into [lo, hi] as ONNX's reference does (by whole spans, then the remainder).
    public static func reflect<T: BinaryFloatingPoint>(_ v: T, _ lo: T, _ hi: T) -> T {
        let span = hi - lo
        guard span > 0, v.isFinite else { return lo }
        if v < lo {
            let d = lo - v, n = (d / span).rounded(.towardZero), r = d - n * span
            return n.truncatingRemainder(dividingBy: 2) == 0 ? lo + r : hi - r
        }
        if v > hi {
            let d = v - hi, n = (d / span).rounded(.towardZero), r = d - n * span
            return n.truncatingRemainder(dividingBy: 2) == 0 ? hi - r : lo + r
        }
        return v
    }

    /// Keys's cubic weights (a = −0.75) of the four taps around a point `t` ∈ [0, 1) past the second.
    public static func cubic<T: BinaryFloatingPoint>(_ t: T) -> [T] {
        let a: T = -0.75, x = t.magnitude
        return [
            ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a,
            ((a + 2) * x - (a + 3)) * x * x + 1,
            ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1,
            ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a,
        ]
    }

    /// Y, computed in `T` (coordinates, weights and sums).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func sample<T: BinaryFloatingPoint>(
        _ xs: [T], grid gs: [T], geometry g: Geometry, mode: Mode, padding: Padding, alignCorners: Bool
    ) -> [T] {
        let dims = g.dims, r = dims.count, c = g.channels, points = g.points, plane = dims.product
        let strides = contiguousStrides(dims)
        let lo: [T] = dims.map { _ in alignCorners ? 0 : -0.5 }, hi: [T] = dims.map { T($0) - (alignCorners ? 1 : 0.5) }
        var y = [T](repeating: 0, count: g.batch * c * points)
        // Where a tap index lands, or nil for a zero.
        func pixel(_ i: Int, _ axis: Int) -> Int? {
            let d = dims[axis]
            switch padding {
            case .zeros: return i >= 0 && i < d ? i : nil
            case .border: return Swift.min(Swift.max(i, 0), d - 1)
            case .reflection: return Swift.min(Swift.max(Int(reflect(T(i), lo[axis], hi[axis])), 0), d - 1)
            }
        }
        for b in 0..<g.batch {
            for p in 0..<points {
                // Per axis (outermost first): the taps and their weights.
                var taps: [[(Int?, T)]] = []
                for axis in 0..<r {
                    let v = coordinate(gs[(b * points + p) * r + (r - 1 - axis)], size: dims[axis], mode: mode, padding: padding,
                                       alignCorners: alignCorners, lo: lo[axis], hi: hi[axis])
                    switch mode {
                    case .nearest:
                        taps.append([(pixel(Int(v.rounded(.towardZero)), axis), 1)])
                    case .linear:
                        let f = v.rounded(.down), t = v - f
                        taps.append([(pixel(Int(f), axis), 1 - t), (pixel(Int(f) + 1, axis), t)])
                    case .cubic:
                        let f = v.rounded(.down), w = cubic(v - f)
                        taps.append((0..<4).map { (pixel(Int(f) - 1 + $0, axis), w[$0]) })
                    }
                }
                // The separable sum over every combination of taps.
                var combos: [(Int?, T)] = [(0, 1)]
                for axis in 0..<r {
                    combos = combos.flatMap { base, weight in
                        taps[axis].map { idx, w in (base.flatMap { b0 in idx.map { b0 + $0 * strides[axis] } }, weight * w) }
                    }
                }
                for ch in 0..<c {
                    let src = (b * c + ch) * plane
                    var sum: T = 0
                    for (offset, weight) in combos { if let offset { sum += weight * xs[src + offset] } }
                    y[(b * c + ch) * points + p] = sum
                }
            }
        }
        return y
    }

    /// The pixel coordinate of a normalised one along an axis of `size` pixels, rounded for
    /// nearest and brought inside by border or reflection padding. A grid holding NaN, ±inf or
    /// huge values (data, not checked at load) samples far outside the image instead of trapping
    /// in a conversion to Int.
    static func coordinate<T: BinaryFloatingPoint>(_ normalised: T, size: Int, mode: Mode, padding: Padding, alignCorners: Bool, lo: T, hi: T) -> T {
        let d = T(size)
        var v = alignCorners ? (normalised + 1) / 2 * (d - 1) : ((normalised + 1) * d - 1) / 2
        if !(v.magnitude <= 0x1p40) { v = v.isNaN ? -0x1p40 : (v > 0 ? 0x1p40 : -0x1p40) }
        if mode == .nearest { v = v.rounded(.toNearestOrEven) }
        if v < lo || v > hi {
            if padding == .border { v = Swift.min(Swift.max(v, 0), d - 1) }
            if padding == .reflection { v = reflect(v, lo, hi) }
        }
        return v
    }

    /// The naive twin for zeros padding, in Double: each output is the sum over every input pixel
    /// of the pixel's value times the product over axes of the interpolation kernel at the
    /// distance between the sampling coordinate and the pixel (nearest: 1 at the rounded
    /// coordinate; linear: max(0, 1 − |d|); cubic: Keys's kernel, a = −0.75, 0 beyond 2).
    public static func referenceZeros(_ xs: [Double], grid gs: [Double], geometry g: Geometry, mode: Mode, alignCorners: Bool) -> [Double] {
        let dims = g.dims, r = dims.count, plane = dims.product
        func kernel(_ d: Double) -> Double {
            let x = d.magnitude, a = -0.75
            switch mode {
            case .nearest: return d == 0 ? 1 : 0
            case .linear: return Swift.max(0, 1 - x)
            case .cubic:
                if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
                return 0
            }
        }
        var y = [Double](repeating: 0, count: g.batch * g.channels * g.points)
        for b in 0..<g.batch { for p in 0..<g.points {
            let coords = (0..<r).map { axis -> Double in
                let n = gs[(b * g.points + p) * r + (r - 1 - axis)], d = Double(dims[axis])
                let v = alignCorners ? (n + 1) / 2 * (d - 1) : ((n + 1) * d - 1) / 2
                return mode == .nearest ? v.rounded(.toNearestOrEven) : v
            }
            for ch in 0..<g.channels {
                var sum = 0.0
                for e in 0..<plane {
                    var rest = e, weight = 1.0
                    for axis in (0..<r).reversed() {
                        let i = rest % dims[axis]
                        rest /= dims[axis]
                        weight *= kernel(coords[axis] - Double(i))
                    }
                    sum += weight * xs[(b * g.channels + ch) * plane + e]
                }
                y[(b * g.channels + ch) * g.points + p] = sum
            }
        } }
        return y
    }
}

/// ONNX `RoiAlign` over `[N, C, H, W]` features: each region's `outHeight × outWidth` bins
/// averaged (or, as onnxruntime and ONNX's reference do, maxed over each sample's four weighted
/// corners) from a grid of bilinear samples per bin.
public enum RegionAlign {
    public struct Region: Sendable {
        /// Start and size in feature-map pixels (scaled and shifted), and the sampling grid per bin.
        public let top: Double, left: Double, binHeight: Double, binWidth: Double
        public let gridHeight: Int, gridWidth: Int, batch: Int
        public init(top: Double, left: Double, binHeight: Double, binWidth: Double, gridHeight: Int, gridWidth: Int, batch: Int) {
            self.top = top
            self.left = left
            self.binHeight = binHeight
            self.binWidth = binWidth
            self.gridHeight = gridHeight
            self.gridWidth = gridWidth
            self.batch = batch
        }
    }

    /// A sample's four corners (flat offsets in one channel) and their bilinear weights; a
    /// sample more than a pixel outside the map has all weights zero.
    struct Sample {
        var offsets: (Int, Int, Int, Int), weights: (Double, Double, Double, Double)
    }

    static func sample(y yy: Double, x xx: Double, height: Int, width: Int) -> Sample {
        guard yy >= -1, yy <= Double(height), xx >= -1, xx <= Double(width) else {
            return Sample(offsets: (0, 0, 0, 0), weights: (0, 0, 0, 0))
        }
        var y = Swift.max(yy, 0), x = Swift.max(xx, 0)
        var y0 = Int(y), x0 = Int(x), y1 = y0 + 1, x1 = x0 + 1
        if y0 >= height - 1 { y0 = height - 1; y1 = y0; y = Double(y0) }
        if x0 >= width - 1 { x0 = width - 1; x1 = x0; x = Double(x0) }
        let ly = y - Double(y0), lx = x - Double(x0), hy = 1 - ly, hx = 1 - lx
        return Sample(offsets: (y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1),
                      weights: (hy * hx, hy * lx, ly * hx, ly * lx))
    }

    /// Pools every region into `[regions, C, outHeight, outWidth]`, in T.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func pool<T: BinaryFloatingPoint>(
        _ x: [T], channels c: Int, height: Int, width: Int, regions: [Region], outHeight: Int, outWidth: Int, max useMax: Bool
    ) -> [T] {
        var out = [T](repeating: 0, count: regions.count * c * outHeight * outWidth)
        let plane = height * width
        for (r, region) in regions.enumerated() {
            // Samples shared by every channel, bin by bin.
            var samples: [Sample] = []
            samples.reserveCapacity(outHeight * outWidth * region.gridHeight * region.gridWidth)
            for ph in 0..<outHeight {
                for pw in 0..<outWidth {
                    for iy in 0..<region.gridHeight {
                        let y = region.top + Double(ph) * region.binHeight + (Double(iy) + 0.5) * region.binHeight / Double(region.gridHeight)
                        for ix in 0..<region.gridWidth {
                            let x = region.left + Double(pw) * region.binWidth + (Double(ix) + 0.5) * region.binWidth / Double(region.gridWidth)
                            samples.append(sample(y: y, x: x, height: height, width: width))
                        }
                    }
                }
            }
            let perBin = region.gridHeight * region.gridWidth, count = T(Swift.max(perBin, 1))
            for ch in 0..<c {
                let base = (region.batch * c + ch) * plane
                for bin in 0..<(outHeight * outWidth) {
                    var acc: T = 0
                    for k in 0..<perBin {
                        let s = samples[bin * perBin + k]
                        let a = T(s.weights.0) * x[base + s.offsets.0], b = T(s.weights.1) * x[base + s.offsets.1]
                        let cc = T(s.weights.2) * x[base + s.offsets.2], d = T(s.weights.3) * x[base + s.offsets.3]
                        if useMax {
                            let v = Swift.max(Swift.max(a, b), Swift.max(cc, d))
                            acc = k == 0 ? v : Swift.max(acc, v)
                        } else {
                            acc += a + b + cc + d
                        }
                    }
                    out[(r * c + ch) * outHeight * outWidth + bin] = useMax ? acc : acc / count
                }
            }
        }
        return out
    }
}

/// ONNX `DeformConv` in two dimensions: each kernel tap reads X at its place plus a learned
/// offset, bilinearly (corners outside the image read zero), times the tap's mask; then the
/// grouped product with W. Sums in T, over input channel, then tap, per output.
public enum DeformableConvolution {
    public struct Geometry: Sendable {
        public let batch: Int, channels: Int, height: Int, width: Int
        public let outChannels: Int, kernelHeight: Int, kernelWidth: Int, outHeight: Int, outWidth: Int
        public let strides: (Int, Int), dilations: (Int, Int), padTop: Int, padLeft: Int, groups: Int, offsetGroups: Int
        public init(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, kernelHeight: Int, kernelWidth: Int,
                    outHeight: Int, outWidth: Int, strides: (Int, Int), dilations: (Int, Int), padTop: Int, padLeft: Int,
                    groups: Int, offsetGroups: Int) {
            self.batch = batch
            self.channels = channels
            self.height = height
            self.width = width
            self.outChannels = outChannels
            self.kernelHeight = kernelHeight
            self.kernelWidth = kernelWidth
            self.outHeight = outHeight
            self.outWidth = outWidth
            self.strides = strides
            self.dilations = dilations
            self.padTop = padTop
            self.padLeft = padLeft
            self.groups = groups
            self.offsetGroups = offsetGroups
        }
    }

    /// Bilinear sample of one channel plane at (y, x), zero outside.
    static func bilinear<T: BinaryFloatingPoint>(_ x: [T], base: Int, height: Int, width: Int, y: T, x px: T) -> T {
        guard y > -1, y < T(height), px > -1, px < T(width) else { return 0 }
        let y0 = Int(y.rounded(.down)), x0 = Int(px.rounded(.down))
        let ly = y - T(y0), lx = px - T(x0)
        func at(_ r: Int, _ c: Int) -> T { r >= 0 && r < height && c >= 0 && c < width ? x[base + r * width + c] : 0 }
        return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1)
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func run<T: BinaryFloatingPoint>(
        _ x: [T], weights w: [T], offsets: [T], mask: [T]?, bias: [T]?, geometry g: Geometry
    ) -> [T] {
        let taps = g.kernelHeight * g.kernelWidth, positions = g.outHeight * g.outWidth
        let perGroup = g.channels / g.groups, outPerGroup = g.outChannels / g.groups, perOffsetGroup = g.channels / g.offsetGroups
        var out = [T](repeating: 0, count: g.batch * g.outChannels * positions)
        var columns = [T](repeating: 0, count: g.channels * taps * positions)
        for n in 0..<g.batch {
            // The sampled and masked taps, [channel, tap, position].
            for c in 0..<g.channels {
                let og = c / perOffsetGroup, plane = (n * g.channels + c) * g.height * g.width
                for k in 0..<taps {
                    let kh = k / g.kernelWidth, kw = k % g.kernelWidth
                    let offsetBase = ((n * g.offsetGroups + og) * taps + k) * 2 * positions
                    let maskBase = ((n * g.offsetGroups + og) * taps + k) * positions
                    for p in 0..<positions {
                        let oh = p / g.outWidth, ow = p % g.outWidth
                        let y = T(oh * g.strides.0 - g.padTop + kh * g.dilations.0) + offsets[offsetBase + p]
                        let xx = T(ow * g.strides.1 - g.padLeft + kw * g.dilations.1) + offsets[offsetBase + positions + p]
                        var v = bilinear(x, base: plane, height: g.height, width: g.width, y: y, x: xx)
                        if let mask { v *= mask[maskBase + p] }
                        columns[(c * taps + k) * positions + p] = v
                    }
                }
            }
            for oc in 0..<g.outChannels {
                let group = oc / outPerGroup
                for p in 0..<positions {
                    var acc: T = bias?[oc] ?? 0
                    for ci in 0..<perGroup {
                        let c = group * perGroup + ci
                        for k in 0..<taps { acc += w[(oc * perGroup + ci) * taps + k] * columns[(c * taps + k) * positions + p] }
                    }
                    out[(n * g.outChannels + oc) * positions + p] = acc
                }
            }
        }
        return out
    }
}
