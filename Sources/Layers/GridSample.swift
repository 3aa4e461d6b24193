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

/// ONNX `RoiAlign` (opsets 10, 16, 22): X `[N, C, H, W]`, rois `[R, 4]` as (x1, y1, x2, y2) in
/// input coordinates, batch_indices `[R]`; Y `[R, C, output_height, output_width]`
/// (`RegionAlign.pool`). Coordinates are scaled by spatial_scale and shifted by half a pixel
/// (`half_pixel`, opset 16's default) or not (`output_half_pixel`, where regions are at least
/// 1×1); sampling_ratio 0 takes ⌈size/bins⌉ samples per bin and axis (capped at
/// `RoiAlign.gridLimit`).
public struct RoiAlign: Layer {
    public var opType: String { "RoiAlign" }
    public let halfPixel: Bool, useMax: Bool
    public let outputHeight: Int, outputWidth: Int, samplingRatio: Int, spatialScale: Double
    /// The largest sampling grid per bin and axis a region may ask for.
    public static let gridLimit = 1 << 12

    public init(halfPixel: Bool, useMax: Bool, outputHeight: Int, outputWidth: Int, samplingRatio: Int, spatialScale: Double) {
        self.halfPixel = halfPixel
        self.useMax = useMax
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
        self.samplingRatio = samplingRatio
        self.spatialScale = spatialScale
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), rois = try required(inputs, 1, "rois"), b = try required(inputs, 2, "batch_indices")
        try requireFloat(x, "X")
        guard x.shape.count == 4, rois.shape.count == 2, rois.shape[1] == 4, b.shape == [rois.shape[0]], rois.dtype.isFloatingPoint,
              b.dtype == .int64 || b.dtype == .int32 else {
            throw LayerError("X \(x), rois \(rois), batch_indices \(b): expected [N, C, H, W], [R, 4] and int64[R]")
        }
        let shape = [rois.shape[0], x.shape[1], outputHeight, outputWidth]
        _ = try checkedProduct(shape, "Y")
        return [TensorType(x.dtype, shape)]
    }

    func regions(_ rois: [Double], _ batches: [Int64], batch: Int) throws -> [RegionAlign.Region] {
        try batches.indices.map { r in
            guard batches[r] >= 0 && batches[r] < Int64(batch) else { throw LayerError("batch index \(batches[r]) is outside 0..<\(batch)") }
            let shift = halfPixel ? 0.5 : 0
            let c = (0..<4).map { rois[r * 4 + $0] * spatialScale - shift }
            guard c.allSatisfy({ $0.isFinite }) else { throw LayerError("region \(r) has a coordinate that is not finite") }
            var width = c[2] - c[0], height = c[3] - c[1]
            if !halfPixel {
                width = max(width, 1)
                height = max(height, 1)
            }
            let binHeight = height / Double(outputHeight), binWidth = width / Double(outputWidth)
            func grid(_ bin: Double) throws -> Int {
                if samplingRatio > 0 { return samplingRatio }
                // A region of negative size samples nothing (its bins are zeros).
                let g = max(bin.rounded(.up), 0)
                guard g <= Double(Self.gridLimit) else { throw LayerError("region \(r) needs \(g) samples per bin, more than \(Self.gridLimit)") }
                return Int(g)
            }
            return RegionAlign.Region(top: c[1], left: c[0], binHeight: binHeight, binWidth: binWidth,
                                      gridHeight: try grid(binHeight), gridWidth: try grid(binWidth), batch: Int(batches[r]))
        }
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let regions = try self.regions(try required(inputs, 1, "rois").doubles(), try required(inputs, 2, "batch_indices").int64s(), batch: x.shape[0])
        func run<T: BinaryFloatingPoint & TensorScalar>(_: T.Type) {
            let y = RegionAlign.pool(x.scalars(as: T.self), channels: x.shape[1], height: x.shape[2], width: x.shape[3], regions: regions,
                                     outHeight: outputHeight, outWidth: outputWidth, max: useMax)
            Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
        }
        if x.dtype == .float64 { run(Double.self) } else { run(Float.self) }
    }
}
