import TensorCore

/// A Conv, Gemm or MatMul whose sums are held in float16 (see `HalfAccumulation`): the `fp16`
/// policy's accumulation in FP16. It reads and writes float32 tensors holding float16 values; other
/// dtypes run the wrapped layer as it is.
public struct HalfAccumulating: Layer {
    public let base: any Layer

    /// Nil unless `base` is a Conv, Gemm or MatMul.
    public init?(_ base: any Layer) {
        guard base is Conv || base is Gemm || base is MatMul else { return nil }
        self.base = base
    }

    public var opType: String { base.opType }
    public var fusedActivation: Activation? { base.fusedActivation }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        try base.outputTypes(inputs, constants: constants)
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { base.multiplyAdds(inputs) }

    public func fusing(_ activation: Activation) -> (any Layer)? { base.fusing(activation).flatMap { HalfAccumulating($0) } }

    public func replacingConstants(_ constants: [Tensor?]) throws -> any Layer {
        let replaced = try base.replacingConstants(constants)
        return HalfAccumulating(replaced) ?? replaced
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        guard inputs.allSatisfy({ $0 == nil || $0?.dtype == .float32 }), outputs[0].dtype == .float32 else {
            try base.forward(inputs, outputs: outputs, context: context)
            return
        }
        let a = try required(inputs, 0, "input 0"), b = try required(inputs, 1, "input 1")
        let c = inputs.count > 2 ? inputs[2] : nil
        let y = outputs[0]
        switch base {
        case let conv as Conv:
            let g = try conv.geometry(a.shape, b.shape)
            HalfAccumulation.conv2D(input: a, weight: b, bias: c, output: y, geometry: g, activation: conv.activation, threads: context.threads)
        case let gemm as Gemm:
            let (m, n, k) = try gemm.dims(a.shape, b.shape)
            var beta: Float = 0
            if let c, gemm.beta != 0 {
                Movement.broadcast(c, into: y)
                beta = gemm.beta
            }
            HalfAccumulation.matmul(a, b, into: y, m: m, n: n, k: k, transA: gemm.transA, transB: gemm.transB, alpha: gemm.alpha, beta: beta, threads: context.threads)
            if let act = gemm.activation { Linear.activate(y, act) }
        case let matmul as MatMul:
            let p = try matmul.plan(a.shape, b.shape)
            HalfAccumulation.batchedMatmul(a.reshaped(p.a), b.reshaped(p.b), into: y, batch: p.batch, m: p.m, n: p.n, k: p.k, threads: context.threads)
            if let act = matmul.activation { Linear.activate(y, act) }
        default:
            try base.forward(inputs, outputs: outputs, context: context)
        }
    }
}
