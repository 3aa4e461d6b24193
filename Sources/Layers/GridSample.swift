import Foundation
import TensorCore

/// ONNX `GridSample` (opsets 16 and 20) over any number of spatial axes.
///
/// - X `[N, C, *in]`, grid `[N, *out, r]` with normalised coordinates in [−1, 1], the last axis
///   first (x, then y, …); Y `[N, C, *out]`.
/// - Coordinates map to pixels with `align_corners` (−1 and 1 at the corner pixels' centres) or
///   without (at their outer edges); mode nearest (round half to even), linear or cubic (Keys,
///   a = −0.75), applied separably; padding zeros, border (clamp) or reflection about the edges.
public struct GridSample: Layer {
    public enum Mode: String, Sendable { case nearest, linear, cubic }
    public enum Padding: String, Sendable { case zeros, border, reflection }

    public var opType: String { "GridSample" }
    public let mode: Mode
    public let padding: Padding
    public let alignCorners: Bool

    public init(mode: Mode, padding: Padding, alignCorners: Bool) {
        self.mode = mode
        self.padding = padding
        self.alignCorners = alignCorners
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), g = try required(inputs, 1, "grid")
        try requireFloat(x, "X")
        let r = x.shape.count - 2
        guard r >= 1, g.shape.count == r + 2, g.shape[0] == x.shape[0], g.shape.last == r else {
            throw LayerError("grid \(g.shape) must be [N, *out, \(max(r, 0))] for X \(x.shape)")
        }
        return [TensorType(x.dtype, [x.shape[0], x.shape[1]] + Array(g.shape[1..<(r + 1)]))]
    }

    /// Reflects `v` into [lo, hi] as ONNX's reference does (by whole spans, then the remainder).
    static func reflect<T: BinaryFloatingPoint>(_ v: T, _ lo: T, _ hi: T) -> T {
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

    static func cubic<T: BinaryFloatingPoint>(_ t: T) -> [T] {
        let a: T = -0.75, x = t.magnitude
        return [
            ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a,
            ((a + 2) * x - (a + 3)) * x * x + 1,
            ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1,
            ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a,
        ]
    }

    /// Computed in Float (coordinates, weights and sums; Double for float64 X), as FP32 backends do.
    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        if try required(inputs, 0, "X").dtype == .float64 { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "X"), g = try required(inputs, 1, "grid")
        let dims = Array(x.shape[2...]), r = dims.count
        let n = x.shape[0], c = x.shape[1], plane = dims.product, points = g.shape[1..<(r + 1)].product
        let xs = x.scalars(as: T.self), gs = g.scalars(as: T.self)
        let strides = contiguousStrides(dims)
        let lo: [T] = dims.map { _ in alignCorners ? 0 : -0.5 }, hi: [T] = dims.map { T($0) - (alignCorners ? 1 : 0.5) }
        var y = [T](repeating: 0, count: n * c * points)
        // Where a tap index lands, or nil for a zero.
        func pixel(_ i: Int, _ axis: Int) -> Int? {
            let d = dims[axis]
            switch padding {
            case .zeros: return i >= 0 && i < d ? i : nil
            case .border: return min(max(i, 0), d - 1)
            case .reflection: return min(max(Int(Self.reflect(T(i), lo[axis], hi[axis])), 0), d - 1)
            }
        }
        for b in 0..<n {
            for p in 0..<points {
                // Per axis (outermost first): the taps and their weights.
                var taps: [[(Int?, T)]] = []
                for axis in 0..<r {
                    let normalised = gs[(b * points + p) * r + (r - 1 - axis)]
                    let d = T(dims[axis])
                    var v = alignCorners ? (normalised + 1) / 2 * (d - 1) : ((normalised + 1) * d - 1) / 2
                    // A grid holding NaN, ±inf or huge values (data, not checked at load) samples
                    // far outside the image instead of trapping in a conversion to Int.
                    if !(v.magnitude <= 0x1p40) { v = v.isNaN ? -0x1p40 : (v > 0 ? 0x1p40 : -0x1p40) }
                    if mode == .nearest { v = v.rounded(.toNearestOrEven) }
                    if v < lo[axis] || v > hi[axis] {
                        if padding == .border { v = min(max(v, 0), d - 1) }
                        if padding == .reflection { v = Self.reflect(v, lo[axis], hi[axis]) }
                    }
                    switch mode {
                    case .nearest:
                        taps.append([(pixel(Int(v.rounded(.towardZero)), axis), 1)])
                    case .linear:
                        let f = v.rounded(.down), t = v - f
                        taps.append([(pixel(Int(f), axis), 1 - t), (pixel(Int(f) + 1, axis), t)])
                    case .cubic:
                        let f = v.rounded(.down), w = Self.cubic(v - f)
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
        Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
    }
}
