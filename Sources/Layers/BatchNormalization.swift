import Foundation
import TensorCore

/// ONNX `BatchNormalization` in inference mode: `Y = (X − mean)/√(var + ε)·scale + B`.
///
/// - X, Y `[N, C, …]`; scale, B, mean, var `[C]` (constants). The per-channel factor and shift
///   are computed once, in Double, when the layer is made.
public struct BatchNormalization: Layer {
    public var opType: String { "BatchNormalization" }
    public let factor: [Float]
    public let shift: [Float]
    public let activation: Activation?

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
    }

    private init(factor: [Float], shift: [Float], activation: Activation?) {
        self.factor = factor
        self.shift = shift
        self.activation = activation
    }

    public var fusedActivation: Activation? { activation }

    public func fusing(_ activation: Activation) -> (any Layer)? {
        self.activation == nil ? BatchNormalization(factor: factor, shift: shift, activation: activation) : nil
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        let c = x.shape.count > 1 ? x.shape[1] : 1
        guard c == factor.count else { throw LayerError("X has \(c) channels (shape \(x.shape)), the parameters have \(factor.count)") }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        try withFloat32([x], outputs[0]) { f, y in
            Normalize.channelAffine(f[0]!, scale: factor, shift: shift, into: y, activation: activation, threads: context.threads)
        }
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { (inputs.first ?? nil)?.count ?? 0 }
}
