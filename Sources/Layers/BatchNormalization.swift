import Foundation
import TensorCore

/// ONNX `BatchNormalization` in inference mode: `Y = (X − mean)/√(var + ε)·scale + B`.
///
/// - X, Y `[N, C, …]`; scale, B, mean, var `[C]`. When they are constants the per-channel factor
///   and shift are computed once, in Double, when the layer is made; otherwise on each run from
///   inputs 1–4.
public struct BatchNormalization: Layer {
    public var opType: String { "BatchNormalization" }
    public let factor: [Float]
    public let shift: [Float]
    /// The factor and shift in Double, for float64 inputs (the FP64 policy's ground truth).
    public let factor64: [Double]
    public let shift64: [Double]
    public let activation: Activation?
    /// ε, kept for parameters that arrive as runtime inputs; nil when factor/shift are prepacked.
    public let epsilon: Double?
    /// The ε the prepacked factor and shift were made with, to make them again from other constants.
    private let packedEpsilon: Double?

    /// A layer that reads its parameters from inputs 1–4 on each run.
    public init(epsilon: Double, activation: Activation? = nil) {
        factor = []
        shift = []
        factor64 = []
        shift64 = []
        self.activation = activation
        self.epsilon = epsilon
        packedEpsilon = nil
    }

    /// Makes the layer from its parameters (each `[C]`).
    public init(scale: [Double], bias: [Double], mean: [Double], variance: [Double], epsilon: Double, activation: Activation? = nil) throws {
        let c = scale.count
        guard bias.count == c, mean.count == c, variance.count == c else {
            throw LayerError("scale, B, mean and var have \(scale.count), \(bias.count), \(mean.count), \(variance.count) elements; they must all have C")
        }
        var f = [Double](repeating: 0, count: c), s = [Double](repeating: 0, count: c)
        for i in 0..<c {
            f[i] = scale[i] / (variance[i] + epsilon).squareRoot()
            s[i] = bias[i] - mean[i] * f[i]
        }
        factor64 = f
        shift64 = s
        factor = f.map { Float($0) }
        shift = s.map { Float($0) }
        self.activation = activation
        self.epsilon = nil
        packedEpsilon = epsilon
    }

    private init(_ other: BatchNormalization, activation: Activation?) {
        factor = other.factor
        shift = other.shift
        factor64 = other.factor64
        shift64 = other.shift64
        epsilon = other.epsilon
        packedEpsilon = other.packedEpsilon
        self.activation = activation
    }

    /// The layer made again from the node's constants as a precision policy transformed them (an
    /// FP16 run rounds scale, B, mean and var to float16, as a GPU holding the layer in FP16 does):
    /// the prepacked factor and shift came from the file's values.
    public func replacingConstants(_ constants: [Tensor?]) throws -> any Layer {
        guard let eps = packedEpsilon, constants.count >= 5 else { return self }
        let p = constants[1...4].compactMap { $0 }
        guard p.count == 4 else { return self }
        return try BatchNormalization(
            scale: p[0].doubles(), bias: p[1].doubles(), mean: p[2].doubles(), variance: p[3].doubles(), epsilon: eps, activation: activation)
    }

    public var fusedActivation: Activation? { activation }

    public func fusing(_ activation: Activation) -> (any Layer)? {
        self.activation == nil ? BatchNormalization(self, activation: activation) : nil
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        let c = x.shape.count > 1 ? x.shape[1] : 1
        if epsilon != nil {
            for (i, name) in ["scale", "B", "mean", "var"].enumerated() {
                let t = try required(inputs, i + 1, name)
                guard t.shape == [c] else { throw LayerError("\(name) has shape \(t.shape), expected [\(c)]") }
            }
        } else if c != factor.count {
            throw LayerError("X has \(c) channels (shape \(x.shape)), the parameters have \(factor.count)")
        }
        return [x]
    }

    /// The per-channel factor and shift, prepacked or made once per plan from parameters that are
    /// constants by then (`BatchNormalizationOp`); parameters computed at run time are read on each run.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        guard let eps = epsilon else { return BatchNormalizationOp(layer: self, packed: self) }
        let p = constants.count >= 5 ? constants[1...4].compactMap { $0 } : []
        guard p.count == 4 else { return BatchNormalizationOp(layer: self, packed: nil) }
        let made = try BatchNormalization(
            scale: p[0].doubles(), bias: p[1].doubles(), mean: p[2].doubles(), variance: p[3].doubles(), epsilon: eps, activation: activation)
        return BatchNormalizationOp(layer: self, packed: made)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { (inputs.first ?? nil)?.count ?? 0 }
}

/// A batch normalisation ready to run: `packed` holds the factor and shift (nil: made from inputs
/// 1–4 on each run, in Double and rounded to Float, as the layer's constructor makes them).
struct BatchNormalizationOp: PreparedOp {
    let layer: BatchNormalization
    let packed: BatchNormalization?

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let bn: BatchNormalization
        if let packed {
            bn = packed
        } else {
            let p = try (1...4).map { try required(inputs, $0, "parameter \($0)").doubles() }
            bn = try BatchNormalization(scale: p[0], bias: p[1], mean: p[2], variance: p[3], epsilon: layer.epsilon ?? 0)
        }
        if isFloat64([x], outputs[0]) {
            Float64Kernels.channelAffine(x, scale: bn.factor64, shift: bn.shift64, into: outputs[0], activation: layer.activation)
            return
        }
        try withFloat32([x], outputs[0]) { f, y in
            Normalize.channelAffine(f[0]!, scale: bn.factor, shift: bn.shift, into: y, activation: layer.activation, threads: context.threads)
        }
    }
}

/// ONNX `BatchNormalization` with `training_mode` 1 (opset 14+): normalizes with the batch's own
/// per-channel mean and (population) variance, and also returns the updated running statistics
/// `running = input · momentum + batch · (1 − momentum)`.
///
/// - X `[N, C, …]`; scale, B, input_mean, input_var `[C]`; Y like X; running_mean, running_var `[C]`.
public struct BatchNormalizationTraining: Layer {
    public var opType: String { "BatchNormalization" }
    public let epsilon: Double, momentum: Double

    public init(epsilon: Double, momentum: Double) {
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count >= 2 else { throw LayerError("X has shape \(x.shape), expected [N, C, …]") }
        for (i, name) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
            let t = try required(inputs, i, name)
            guard t.shape == [x.shape[1]] else { throw LayerError("\(name) has shape \(t.shape), expected [\(x.shape[1])]") }
        }
        return [x, TensorType(x.dtype, [x.shape[1]]), TensorType(x.dtype, [x.shape[1]])]
    }

    /// Resolves the `[N, C, inner]` view once per plan (`BatchStatisticsOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        return BatchStatisticsOp(batch: x.shape[0], channels: x.shape[1], inner: x.shape[2...].product, epsilon: epsilon, momentum: momentum)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A training-mode `BatchNormalization` ready to run; the kernel is `Normalize.batchStatistics`,
/// in Float for float32 and float16 X (the batch's mean, variance and the normalised values;
/// Double for float64), as FP32 backends train.
struct BatchStatisticsOp: PreparedOp {
    let batch: Int, channels: Int, inner: Int
    let epsilon: Double, momentum: Double

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if x.dtype == .float64 { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "X")
        let p = try (1...4).map { try required(inputs, $0, "parameter \($0)").scalars(as: T.self) }
        let c = channels
        let (mean, variance, y) = Normalize.batchStatistics(
            x.scalars(as: T.self), batch: batch, channels: c, inner: inner, scale: p[0], shift: p[1], epsilon: T(epsilon))
        let m = T(momentum)
        let runMean = (0..<c).map { p[2][$0] * m + mean[$0] * (1 - m) }
        let runVar = (0..<c).map { p[3][$0] * m + variance[$0] * (1 - m) }
        Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
        if outputs.count > 1 { Tensor(shape: [c], scalars: runMean).convert(into: outputs[1]) }
        if outputs.count > 2 { Tensor(shape: [c], scalars: runVar).convert(into: outputs[2]) }
    }
}
