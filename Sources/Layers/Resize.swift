import Foundation
import TensorCore

/// ONNX `Resize` (opsets 10–19) and `Upsample` (7–9).
///
/// X `[d0, …]` float; output sizes from `sizes` (input 3) or `⌊d·scale⌋` from `scales` (input 2,
/// or the attribute for Upsample-7), optionally only over `axes`; `keep_aspect_ratio_policy`
/// adjusts sizes. Each axis is resampled separably by `ResizeTaps`.
public struct Resize: Layer {
    public var opType: String { isUpsample ? "Upsample" : "Resize" }
    public let isUpsample: Bool
    public let mode: ResizeTaps.Mode
    public let transform: ResizeTaps.CoordinateTransform
    public let nearest: ResizeTaps.NearestRounding
    public let cubicA: Double
    public let excludeOutside: Bool
    public let antialias: Bool
    public let extrapolation: Double
    public let axes: [Int]?
    public let keepAspectRatio: String
    /// Upsample-7's scales attribute; nil means read inputs.
    public let attributeScales: [Double]?
    /// Input positions of roi, scales and sizes (opset 10 and Upsample-9 have only scales at 1).
    public let roiInput: Int?, scalesInput: Int?, sizesInput: Int?

    public init(
        isUpsample: Bool = false, mode: ResizeTaps.Mode, transform: ResizeTaps.CoordinateTransform, nearest: ResizeTaps.NearestRounding,
        cubicA: Double = -0.75, excludeOutside: Bool = false, antialias: Bool = false, extrapolation: Double = 0,
        axes: [Int]? = nil, keepAspectRatio: String = "stretch", attributeScales: [Double]? = nil,
        roiInput: Int?, scalesInput: Int?, sizesInput: Int?
    ) {
        self.isUpsample = isUpsample
        self.mode = mode; self.transform = transform; self.nearest = nearest; self.cubicA = cubicA
        self.excludeOutside = excludeOutside; self.antialias = antialias; self.extrapolation = extrapolation
        self.axes = axes; self.keepAspectRatio = keepAspectRatio; self.attributeScales = attributeScales
        self.roiInput = roiInput; self.scalesInput = scalesInput; self.sizesInput = sizesInput
    }

    struct Plan { var shape: [Int]; var taps: [ResizeTaps?] }

    /// The output shape and, with `taps`, each resized axis's index and weight table. Planning asks
    /// for the shape alone: the tables are made when running, sized from an output the runtime has
    /// already checked against the memory budget.
    func plan(_ shape: [Int], _ values: [Tensor?], taps makeTaps: Bool = true) throws -> Plan {
        let rank = shape.count
        let ax = try (axes ?? Array(0..<rank)).map { try normalizedAxis($0, rank: rank) }
        guard Set(ax).count == ax.count else { throw LayerError("axes \(axes ?? []) repeat an axis") }
        func value(_ i: Int?) -> Tensor? {
            guard let i, i < values.count, let t = values[i], t.count > 0 else { return nil }
            return t
        }
        func present(_ i: Int?) -> Bool { i.map { $0 < values.count } ?? false }
        var scales = [Double](repeating: 1, count: rank)
        var out = shape
        if let s = attributeScales ?? value(scalesInput)?.doubles() {
            guard s.count == ax.count else { throw LayerError("scales has \(s.count) values for \(ax.count) axes") }
            for (k, a) in ax.enumerated() {
                let size = (Double(shape[a]) * s[k]).rounded(.down)
                guard s[k] > 0, size.isFinite, size <= 4_294_967_296 else { throw LayerError("scales \(s) must be positive and give sizes up to 2^32") }
                scales[a] = s[k]
                out[a] = Int(size)
            }
        } else if let sz = value(sizesInput)?.int64s() {
            guard sz.count == ax.count else { throw LayerError("sizes has \(sz.count) values for \(ax.count) axes") }
            guard sz.allSatisfy({ $0 >= 0 && $0 <= 1 << 32 }) else { throw LayerError("sizes \(sz) must be in 0…2^32") }
            if keepAspectRatio == "stretch" {
                for (k, a) in ax.enumerated() { out[a] = Int(sz[k]); scales[a] = Double(sz[k]) / Double(max(shape[a], 1)) }
            } else {
                let ratios = ax.enumerated().map { Double(sz[$0.offset]) / Double(max(shape[$0.element], 1)) }
                let s = keepAspectRatio == "not_larger" ? ratios.min() ?? 1 : ratios.max() ?? 1
                for a in ax {
                    let size = (s * Double(shape[a])).rounded(.toNearestOrAwayFromZero)
                    guard size.isFinite, size <= 4_294_967_296 else { throw LayerError("sizes \(sz) give an output beyond 2^32") }
                    scales[a] = s
                    out[a] = Int(size)
                }
            }
        } else if present(scalesInput) || present(sizesInput) {
            throw LayerError.needs([scalesInput, sizesInput, roiInput].compactMap { $0 }, "scales or sizes must be constants or computable from shapes; they depend on data")
        } else {
            throw LayerError("needs scales or sizes")
        }
        var roi = [(Double, Double)](repeating: (0, 1), count: rank)
        if transform == .tfCropAndResize, let r = value(roiInput)?.doubles() {
            guard r.count == 2 * ax.count else { throw LayerError("roi has \(r.count) values, expected \(2 * ax.count)") }
            guard r.allSatisfy(\.isFinite) else { throw LayerError("roi \(r) must be finite") }
            for (k, a) in ax.enumerated() { roi[a] = (r[k], r[k + ax.count]) }
        }
        var taps = [ResizeTaps?](repeating: nil, count: rank)
        for a in 0..<rank where out[a] != shape[a] || scales[a] != 1 || transform == .tfCropAndResize {
            guard shape[a] > 0 else { throw LayerError("cannot resize an empty axis \(a)") }
            // Antialiased downscaling reads about 1/scale inputs per output (2/scale for cubic):
            // the table of (index, weight) pairs must fit the memory budget.
            if antialias && mode != .nearest && scales[a] < 1 {
                let perOutput = 2 * ((mode == .cubic ? 2 : 1) / scales[a]).rounded(.up) + 2
                let bytes = perOutput * Double(out[a]) * 16
                guard bytes <= Double(MemoryBudget.bytes) else {
                    throw LayerError("antialiasing axis \(a) from \(shape[a]) to \(out[a]) (scale \(scales[a])) needs \(perOutput) taps per output, over the memory budget")
                }
            }
            guard makeTaps else { continue }
            taps[a] = ResizeTaps.make(
                input: shape[a], output: out[a], scale: scales[a], mode: mode, transform: transform, nearest: nearest,
                cubicA: cubicA, excludeOutside: excludeOutside, antialias: antialias, roi: roi[a])
        }
        return Plan(shape: out, taps: taps)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        let unknown = [scalesInput, sizesInput, roiInput].compactMap { $0 }.filter { $0 < inputs.count && inputs[$0] != nil && constants[$0] == nil }
        if let i = unknown.first {
            throw LayerError.needs(unknown, "input \(i) (roi/scales/sizes) must be a constant or computable from shapes; it depends on data")
        }
        return [TensorType(x.dtype, try plan(x.shape, constants, taps: false).shape)]
    }

    /// Resolves the output shape and each resized axis's taps once per plan (`ResizeOp`): roi,
    /// scales and sizes are constants by then (`outputTypes` refuses them otherwise).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "X")
        let shape = try plan(x.shape, constants, taps: false).shape
        // An empty output has nothing to compute (and an axis of it may still be 2^32 long).
        guard shape.product > 0 else { return ResizeOp(shape: x.shape, passes: [], extrapolation: extrapolation, empty: true) }
        let p = try plan(x.shape, constants)
        return ResizeOp(shape: x.shape, passes: Resample.passes(p.taps), extrapolation: extrapolation, empty: false)
    }

    /// Computed in Float for float32, float16 and bfloat16 X (weights and sums), in Double for
    /// float64 and integer X.
    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Resize` ready to run: the input shape it was prepared for and one `Resample.Pass` per resized axis.
struct ResizeOp: PreparedOp {
    let shape: [Int]
    let passes: [Resample.Pass]
    let extrapolation: Double
    let empty: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        guard !empty else { return }
        let x = try required(inputs, 0, "X")
        if x.dtype == .float64 || !x.dtype.isFloatingPoint {
            let y = Resample.apply(x.doubles(), shape: shape, passes: passes, extrapolation: extrapolation, threads: context.threads)
            Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
        } else {
            let f = x.dtype == .float32 ? x : x.converted(to: .float32)
            let y = outputs[0].dtype == .float32 ? outputs[0] : Tensor(zeros: outputs[0].shape)
            y.withUnsafeMutableBufferPointer(as: Float.self) { out in
                Resample.apply(f.scalars(as: Float.self), shape: shape, passes: passes, extrapolation: extrapolation, threads: context.threads, into: out)
            }
            if outputs[0].dtype != .float32 { y.convert(into: outputs[0]) }
        }
    }
}
