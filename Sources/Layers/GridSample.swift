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
    public typealias Mode = GridSampling.Mode
    public typealias Padding = GridSampling.Padding

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

    /// Resolves the batch, channels, image and grid sizes once per plan (`GridSampleOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let y = try outputTypes(inputs, constants: constants)[0]
        let x = try required(inputs, 0, "X")
        return GridSampleOp(
            layer: self, geometry: GridSampling.Geometry(batch: x.shape[0], channels: x.shape[1], dims: Array(x.shape[2...]), points: y.shape[2...].product))
    }

    /// Computed in Float (coordinates, weights and sums; Double for float64 X), as FP32 backends do.
    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `GridSample` ready to run: its geometry resolved; the kernel is `GridSampling.sample`.
struct GridSampleOp: PreparedOp {
    let layer: GridSample
    let geometry: GridSampling.Geometry

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        if try required(inputs, 0, "X").dtype == .float64 { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "X"), g = try required(inputs, 1, "grid")
        let y = GridSampling.sample(
            x.scalars(as: T.self), grid: g.scalars(as: T.self), geometry: geometry,
            mode: layer.mode, padding: layer.padding, alignCorners: layer.alignCorners)
        Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
    }
}

/// ONNX `AffineGrid`: for each θ `[N, 2, 3]` (`[N, 3, 4]`) the sampling grid `[N, H, W, 2]`
/// (`[N, D, H, W, 3]`) of `size` (`[N, C, H, W]` or `[N, C, D, H, W]`, known when planning): θ
/// times each pixel's normalised coordinates (x, y[, z], 1), x along the last axis; with
/// `align_corners` −1 and 1 at the corner pixels' centres, else at their outer edges. In Double,
/// rounded once.
public struct AffineGrid: Layer {
    public var opType: String { "AffineGrid" }
    public let alignCorners: Bool
    public init(alignCorners: Bool) { self.alignCorners = alignCorners }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let theta = try required(inputs, 0, "theta")
        try requireFloat(theta, "theta")
        let size = try constantInts(constants, 1, "size")
        guard size.count == 4 || size.count == 5, size.allSatisfy({ $0 > 0 }) else { throw LayerError("size \(size) must be 4 or 5 positive sizes") }
        let r = size.count - 2
        guard theta.shape == [size[0], r, r + 1] else { throw LayerError("theta is \(theta.shape), expected [\(size[0]), \(r), \(r + 1)]") }
        let shape = [size[0]] + Array(size[2...]) + [r]
        _ = try checkedProduct(shape, "grid")
        return [TensorType(theta.dtype, shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let theta = try required(inputs, 0, "theta").doubles()
        let shape = outputs[0].shape, r = shape.count - 2, spatial = Array(shape[1...r]), n = shape[0]
        // Per spatial axis (outermost first), each position's normalised coordinate.
        let coordinates = spatial.map { s -> [Double] in
            let size = Double(s)
            return (0..<s).map { i -> Double in
                let x = Double(i)
                if !alignCorners { return (2 * x + 1) / size - 1 }
                return s == 1 ? -1 : 2 * x / (size - 1) - 1
            }
        }
        let points = spatial.reduce(1, *)
        var out = [Double](repeating: 0, count: n * points * r)
        var index = [Int](repeating: 0, count: r)
        for p in 0..<points {
            var q = p
            for i in stride(from: r - 1, through: 0, by: -1) { index[i] = q % spatial[i]; q /= spatial[i] }
            // Homogeneous coordinates with x (the last axis) first.
            let base = (0..<r).map { coordinates[r - 1 - $0][index[r - 1 - $0]] } + [1]
            for b in 0..<n {
                for row in 0..<r {
                    var s = 0.0
                    for col in 0...r { s += theta[(b * r + row) * (r + 1) + col] * base[col] }
                    out[(b * points + p) * r + row] = s
                }
            }
        }
        Tensor(shape: shape, scalars: out).convert(into: outputs[0])
    }
}
