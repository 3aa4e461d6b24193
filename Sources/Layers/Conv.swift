import Foundation
import TensorCore

/// ONNX `Conv` for 1-D and 2-D inputs.
///
/// - X `[N, C, W]` or `[N, C, H, W]` float; W `[M, C/group, KW]` or `[M, C/group, KH, KW]`;
///   B `[M]` optional; Y `[N, M, OW]` or `[N, M, OH, OW]` with
///   `OH = ⌊(H + padTop + padBottom − dilation·(KH − 1) − 1) / stride⌋ + 1`.
/// The weight stays in its OIHW layout, which is already the GEMM's row-major `[M, C/group·KH·KW]`.
public struct Conv: Layer {
    public var opType: String { "Conv" }
    public let window: WindowAttributes
    public let group: Int
    public let activation: Activation?
    /// The weight packed for the product kernel when it is a float32 constant; otherwise the kernel
    /// packs input W on each run. Packed on first use (the first plan that runs this convolution in
    /// float32), not when the model is loaded, then shared by every plan and session: loading and
    /// `inspect` hold the weight once, and graphs run in other formats never pack it.
    public let packed: MadeOnce<PackedConvWeights>?
    /// Whether a fourth input, R (the output's shape), is added before the activation: the
    /// runtime's fusion of a residual connection's `Add` into the convolution that feeds it.
    public let residual: Bool

    /// - weight: W's value when it is a constant: float32 weights of a non-depthwise convolution are
    ///   then packed here, once.
    public init(window: WindowAttributes, group: Int, activation: Activation? = nil, weight: Tensor? = nil) throws {
        guard group >= 1 else { throw LayerError("group \(group) must be at least 1") }
        self.window = window
        self.group = group
        self.activation = activation
        residual = false
        if let w = weight, w.dtype == .float32, w.rank == window.kernelShape.count + 2, Array(w.shape[2...]) == window.kernelShape,
           w.shape[0] % group == 0, !(group > 1 && w.shape[1] == 1), w.count > 0 {
            packed = MadeOnce { PackedConvWeights(w, groups: group) }
        } else if let w = weight, w.dtype == .float32, w.rank == window.kernelShape.count + 2, Array(w.shape[2...]) == window.kernelShape,
                  group > 1, w.shape[0] == group, w.shape[1] == 1 {
            // Depthwise: the weights laid out for the channel-blocked kernel.
            packed = MadeOnce { PackedConvWeights(depthwise: w) }
        } else {
            packed = nil
        }
    }

    private init(_ other: Conv, activation: Activation?, residual: Bool) {
        window = other.window
        group = other.group
        packed = other.packed
        self.activation = activation
        self.residual = residual
    }

    public var fusedActivation: Activation? { activation }

    public func replacingConstants(_ constants: [Tensor?]) throws -> any Layer {
        let fresh = try Conv(window: window, group: group, activation: activation, weight: constants.count > 1 ? constants[1] : nil)
        return residual ? Conv(fresh, activation: activation, residual: true) : fresh
    }

    public func fusing(_ activation: Activation) -> (any Layer)? {
        self.activation == nil ? Conv(self, activation: activation, residual: residual) : nil
    }

    /// This convolution with R added to its output and then `activation` applied (the residual
    /// `Add`, and the activation fused into that Add, folded in); nil when it already has either.
    public func fusingResidual(activation: Activation?) -> Conv? {
        self.activation == nil && !residual ? Conv(self, activation: activation, residual: true) : nil
    }

    func geometry(_ x: [Int], _ w: [Int]) throws -> Conv2DGeometry {
        let spatialRank = window.kernelShape.count
        guard x.count == spatialRank + 2 else { throw LayerError("X has shape \(x), expected rank \(spatialRank + 2)") }
        guard w.count == spatialRank + 2, Array(w[2...]) == window.kernelShape else {
            throw LayerError("W has shape \(w), expected [M, C/group] + kernel_shape \(window.kernelShape)")
        }
        guard x[1] % group == 0, w[0] % group == 0, w[1] == x[1] / group else {
            throw LayerError("X has \(x[1]) channels and W shape \(w) with group \(group): expected W[1] = C/group = \(x[1] / max(group, 1)) and M divisible by group")
        }
        let r = try window.resolve(spatial: Array(x[2...]))
        return Conv2DGeometry(
            batch: x[0], inChannels: x[1], inHeight: r.inH, inWidth: r.inW, outChannels: w[0], outHeight: r.outH, outWidth: r.outW,
            kernelHeight: r.kh, kernelWidth: r.kw, strideH: r.sh, strideW: r.sw, dilationH: r.dh, dilationW: r.dw,
            padTop: r.padTop, padLeft: r.padLeft, groups: group)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        try requireFloat(x, "X")
        let g = try geometry(x.shape, w.shape)
        if inputs.count > 2, let b = inputs[2], b.shape != [w.shape[0]] {
            throw LayerError("B has shape \(b.shape), expected [\(w.shape[0])]")
        }
        let spatial = window.kernelShape.count == 1 ? [g.outWidth] : [g.outHeight, g.outWidth]
        let y = TensorType(x.dtype, [g.batch, g.outChannels] + spatial)
        if residual {
            guard inputs.count > 3, let r = inputs[3], r == y, y.dtype == .float32 else {
                throw LayerError("the fused residual must be float32 of the output's shape \(y.shape)")
            }
        }
        return [y]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        let b = inputs.count > 2 ? inputs[2] : nil
        let g = try geometry(x.shape, w.shape)
        let dtypes = [x.dtype, w.dtype, b?.dtype].compactMap { $0 }
        if residual {
            // The fusion happens only where every node runs in FP32 (`Plan.fuseResidualAdds`).
            guard dtypes.allSatisfy({ $0 == .float32 }) else { throw LayerError("the fused residual needs float32 operands, got \(dtypes)") }
        }
        let kernel = ProductKernel(dtypes, format)
        if case .float32 = kernel, let cut = try cutToLiveTaps(g, constants) {
            return ConvOp(
                geometry: cut.geometry, kernel: kernel, residual: residual, activation: activation, packed: cut.weights,
                roundsBeforeBias: residual ? nil : format.roundsBeforeBias)
        }
        let weights: PackedConvWeights?
        if case .float32 = kernel { weights = packed?.value } else { weights = nil }
        return ConvOp(
            geometry: g, kernel: kernel, residual: residual, activation: activation, packed: weights,
            roundsBeforeBias: residual ? nil : format.roundsBeforeBias)
    }

    public func productAxes(activationRank: Int, weightRank: Int) -> ProductAxes? {
        ProductAxes(weightChannel: 0, weightReduction: 1, weightReductionSpansRest: true, activationReduction: 1)
    }

    /// A dilated float32 convolution (not depthwise) with a constant, finite weight, some of whose
    /// kernel rows or columns read only padding for every output (`Conv2DGeometry.liveTaps`): the
    /// geometry cut to the taps that read the image and those taps' weights, packed. The taps
    /// left out contribute exact zeros (0·w, w finite), so the sums are the same numbers; they
    /// are summed in MLAS's blocks over the taps kept, so the last bits may differ from summing
    /// all taps (onnxruntime's own NCHWc kernel skips such taps too). nil when nothing is cut.
    func cutToLiveTaps(_ g: Conv2DGeometry, _ constants: [Tensor?]) throws -> (geometry: Conv2DGeometry, weights: PackedConvWeights)? {
        guard g.dilationH > 1 || g.dilationW > 1, !g.isDepthwise, window.kernelShape.count == 2,
              constants.count > 1, let w = constants[1], w.dtype == .float32, let live = g.liveTaps,
              live.ky.count < g.kernelHeight || live.kx.count < g.kernelWidth, let cut = g.cutting(ky: live.ky, kx: live.kx)
        else { return nil }
        let v = w.scalars(as: Float.self)
        guard v.allSatisfy(\.isFinite) else { return nil }
        let (m, c, kh, kw) = (w.shape[0], w.shape[1], g.kernelHeight, g.kernelWidth)
        var kept = [Float]()
        kept.reserveCapacity(m * c * live.ky.count * live.kx.count)
        for o in 0..<m { for i in 0..<c { for ky in live.ky { for kx in live.kx { kept.append(v[((o * c + i) * kh + ky) * kw + kx]) } } } }
        let sliced = Tensor(shape: [m, c, live.ky.count, live.kx.count], scalars: kept)
        return (cut, PackedConvWeights(sliced, groups: group))
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int {
        guard let x = inputs.first ?? nil, inputs.count > 1, let w = inputs[1], let g = try? geometry(x.shape, w.shape) else { return 0 }
        return g.multiplyAdds
    }
}

/// A convolution ready to run: geometry resolved, kernel chosen.
struct ConvOp: PreparedOp {
    let geometry: Conv2DGeometry
    let kernel: ProductKernel
    /// Float32 with R (input 3) added before the activation.
    let residual: Bool
    let activation: Activation?
    let packed: PackedConvWeights?

    /// Set: the sum is rounded to this format before the bias is added (`ComputeFormat`).
    let roundsBeforeBias: ReducedFormat?

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        let b = inputs.count > 2 ? inputs[2] : nil
        let y = outputs[0]
        if residual {
            guard inputs.count > 3, let r = inputs[3], r.dtype == .float32, r.shape == y.shape, y.dtype == .float32 else {
                throw LayerError("the fused residual needs R of the output's shape \(y.shape) \(y.dtype), got \(inputs.map { $0.map { "\($0.shape) \($0.dtype)" } ?? "nil" })")
            }
            Conv2D.forward(
                input: x, weight: w, bias: b, output: y, geometry: geometry, activation: activation,
                scratch: context.scratch, threads: context.threads, packed: packed, residual: r)
            return
        }
        if let format = roundsBeforeBias, let b, y.dtype == .float32 {
            try convolve(x, w, nil, y, activation: nil, context)
            addBias(after: format, b, to: y, activation: activation, threads: context.threads)
            return
        }
        try convolve(x, w, b, y, activation: activation, context)
    }

    func convolve(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ y: Tensor, activation: Activation?, _ context: ExecutionContext) throws {
        switch kernel {
        case .float64:
            Float64Kernels.conv2D(input: x, weight: w, bias: b, output: y, geometry: geometry, activation: activation)
        case .halfAccumulation:
            HalfAccumulation.conv2D(input: x, weight: w, bias: b, output: y, geometry: geometry, activation: activation, threads: context.threads)
        case .fp8(let p):
            FP8Accumulation.conv2D(input: x, weight: w, bias: b, output: y, geometry: geometry, activation: activation, products: p, threads: context.threads)
        case .float32:
            try withFloat32([x, w, b], y) { f, y in
                Conv2D.forward(
                    input: f[0]!, weight: f[1]!, bias: f[2], output: y, geometry: geometry, activation: activation,
                    scratch: context.scratch, threads: context.threads, packed: packed)
            }
        }
    }
}

/// Rounds a convolution's float32 sum `y` `[N, M, …]` to `format`, then adds the bias `[M]` (and
/// applies the activation) in place: the bias added after the sum was rounded, as a backend that
/// adds it in a separate kernel does. The node's output rounding follows.
func addBias(after format: ReducedFormat, _ bias: Tensor, to y: Tensor, activation: Activation?, threads: Int) {
    Simulate.round(y, to: format)
    let shift = bias.scalars(as: Float.self)
    Normalize.channelAffine(y, scale: [Float](repeating: 1, count: shift.count), shift: shift, into: y, activation: activation, threads: threads)
}

/// Whether every present input and the output are float64 (the FP64 kernels' case).
func isFloat64(_ inputs: [Tensor?], _ output: Tensor) -> Bool {
    output.dtype == .float64 && inputs.allSatisfy { $0 == nil || $0?.dtype == .float64 }
}

/// Runs an FP32 kernel for inputs of any float dtype: float32 passes through, float16 and
/// float64 are converted in and the result converted out.
func withFloat32(_ inputs: [Tensor?], _ output: Tensor, _ body: ([Tensor?], Tensor) throws -> Void) throws {
    if inputs.allSatisfy({ $0 == nil || $0!.dtype == .float32 }) && output.dtype == .float32 {
        try body(inputs, output)
        return
    }
    let converted = inputs.map { $0.map { $0.dtype == .float32 ? $0 : $0.converted(to: .float32) } }
    let y = Tensor(zeros: output.shape, dtype: .float32)
    try body(converted, y)
    y.convert(into: output)
}

/// ONNX `DeformConv` (opsets 19, 22) in two dimensions: X `[N, C, H, W]`, W `[oC, C/group, kH,
/// kW]`, offset `[N, offset_group·2·kH·kW, oH, oW]` (per tap: dy, dx), B `[oC]` and mask
/// `[N, offset_group·kH·kW, oH, oW]` optional (`DeformableConvolution.run`, in Float; Double
/// for float64).
public struct DeformConv: Layer {
    public var opType: String { "DeformConv" }
    public let kernelShape: [Int]?, strides: [Int]?, dilations: [Int]?, pads: [Int]?, groups: Int, offsetGroups: Int
    public init(kernelShape: [Int]?, strides: [Int]?, dilations: [Int]?, pads: [Int]?, groups: Int, offsetGroups: Int) {
        self.kernelShape = kernelShape
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.groups = groups
        self.offsetGroups = offsetGroups
    }

    func geometry(_ inputs: [TensorType?]) throws -> DeformableConvolution.Geometry {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W"), offset = try required(inputs, 2, "offset")
        guard x.shape.count == 4, w.shape.count == 4, offset.shape.count == 4 else {
            throw LayerError("X \(x.shape), W \(w.shape), offset \(offset.shape): only two spatial axes are supported")
        }
        let kernel = kernelShape ?? Array(w.shape[2...]), strides = self.strides ?? [1, 1], dilations = self.dilations ?? [1, 1]
        let pads = self.pads ?? [0, 0, 0, 0]
        let limit = 1 << 20
        guard kernel == Array(w.shape[2...]), strides.count == 2, dilations.count == 2, pads.count == 4,
              (strides + dilations).allSatisfy({ $0 > 0 && $0 <= limit }), pads.allSatisfy({ $0 >= 0 && $0 <= limit }),
              groups > 0, offsetGroups > 0, x.shape[1] == w.shape[1] * groups, w.shape[0] % groups == 0, x.shape[1] % offsetGroups == 0 else {
            throw LayerError("X \(x.shape), W \(w.shape) with kernel \(kernel), group \(groups), offset_group \(offsetGroups), strides \(strides), dilations \(dilations), pads \(pads) do not fit")
        }
        let outHeight = (x.shape[2] + pads[0] + pads[2] - (dilations[0] * (kernel[0] - 1) + 1)) / strides[0] + 1
        let outWidth = (x.shape[3] + pads[1] + pads[3] - (dilations[1] * (kernel[1] - 1) + 1)) / strides[1] + 1
        let taps = kernel[0] * kernel[1]
        guard outHeight > 0, outWidth > 0, offset.shape == [x.shape[0], offsetGroups * 2 * taps, outHeight, outWidth] else {
            throw LayerError("offset is \(offset.shape), expected [\(x.shape[0]), \(offsetGroups * 2 * taps), \(outHeight), \(outWidth)]")
        }
        if let b = inputs.count > 3 ? inputs[3] : nil, b.shape != [w.shape[0]] { throw LayerError("B is \(b.shape), expected [\(w.shape[0])]") }
        if let m = inputs.count > 4 ? inputs[4] : nil, m.shape != [x.shape[0], offsetGroups * taps, outHeight, outWidth] {
            throw LayerError("mask is \(m.shape), expected [\(x.shape[0]), \(offsetGroups * taps), \(outHeight), \(outWidth)]")
        }
        _ = try checkedProduct([x.shape[1], taps, outHeight, outWidth], "the sampled taps")
        return DeformableConvolution.Geometry(
            batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3], outChannels: w.shape[0],
            kernelHeight: kernel[0], kernelWidth: kernel[1], outHeight: outHeight, outWidth: outWidth, strides: (strides[0], strides[1]),
            dilations: (dilations[0], dilations[1]), padTop: pads[0], padLeft: pads[1], groups: groups, offsetGroups: offsetGroups)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        let g = try geometry(inputs)
        return [TensorType(x.dtype, [g.batch, g.outChannels, g.outHeight, g.outWidth])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let g = try geometry(types(of: inputs))
        func run<T: BinaryFloatingPoint & TensorScalar>(_: T.Type) throws {
            func values(_ i: Int) -> [T]? { (i < inputs.count ? inputs[i] : nil)?.scalars(as: T.self) }
            let y = DeformableConvolution.run(
                try required(inputs, 0, "X").scalars(as: T.self), weights: try required(inputs, 1, "W").scalars(as: T.self),
                offsets: try required(inputs, 2, "offset").scalars(as: T.self), mask: values(4), bias: values(3), geometry: g)
            Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
        }
        if inputs.first??.dtype == .float64 { try run(Double.self) } else { try run(Float.self) }
    }
}

/// A value made once, on first use, by whichever thread asks first; every later caller gets the same.
public final class MadeOnce<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private let make: () -> Value
    private var made: Value?

    init(_ make: @escaping () -> Value) { self.make = make }

    public var value: Value {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let fresh = make()
        made = fresh
        return fresh
    }

    /// Whether the value has been made.
    public var isMade: Bool {
        lock.lock()
        defer { lock.unlock() }
        return made != nil
    }
}
