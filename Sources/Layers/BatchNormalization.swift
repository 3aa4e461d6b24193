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
    public let activation: Activation?
    /// ε, kept for parameters that arrive as runtime inputs; nil when factor/shift are prepacked.
    public let epsilon: Double?

    /// A layer that reads its parameters from inputs 1–4 on each run.
    public init(epsilon: Double, activation: Activation? = nil) {
        factor = []
        shift = []
        self.activation = activation
        self.epsilon = epsilon
    }

    /// Makes the layer from its parameters (each `[C]`).
    public init(scale: [Double], bias: [Double], mean: [Double], variance: [Double], epsilon: Double, activation: Activation? = nil) throws {
        let c = scale.count
        guard bias.count == c, mean.count == c, variance.count == c else {
            throw LayerError("scale, B, mean and var have \(scale.count), \(bias.count), \(mean.count), \(variance.count) elements; they must all have C")
        }
        var f = [Float](repeating: 0, count: c), s = [Float](repeating: 0, count: c)
        for i in 0..<c {
            let k = scale[i] / (variance[i] + epsilon).squareRoot()
            f[i] = Float(k)
            s[i] = Float(bias[i] - mean[i] * k)
        }
        factor = f
        shift = s
        self.activation = activation
        self.epsilon = nil
    }

    private init(factor: [Float], shift: [Float], activation: Activation?, epsilon: Double?) {
        self.factor = factor
        self.shift = shift
        self.activation = activation
        self.epsilon = epsilon
    }

    public var fusedActivation: Activation? { activation }

    public func fusing(_ activation: Activation) -> (any Layer)? {
        self.activation == nil ? BatchNormalization(factor: factor, shift: shift, activation: activation, epsilon: epsilon) : nil
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        var a = factor, b = shift
        if let eps = epsilon {
            let p = try (1...4).map { try required(inputs, $0, "parameter \($0)").doubles() }
            let made = try BatchNormalization(scale: p[0], bias: p[1], mean: p[2], variance: p[3], epsilon: eps)
            a = made.factor
            b = made.shift
        }
        try withFloat32([x], outputs[0]) { f, y in
            Normalize.channelAffine(f[0]!, scale: a, shift: b, into: y, activation: activation, threads: context.threads)
        }
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { (inputs.first ?? nil)?.count ?? 0 }
}
