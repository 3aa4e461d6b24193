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
