import TensorCore

/// Checks a loss op's operands: scores or log-probabilities `[N, C, d…]`, classes `[N, d…]`
/// (int32 or int64), weights `[C]` of the scores' dtype; returns (N, C, ∏d).
func lossLayout(_ inputs: [TensorType?], _ names: (String, String, String)) throws -> (n: Int, c: Int, inner: Int) {
    let x = try required(inputs, 0, names.0), t = try required(inputs, 1, names.1)
    guard x.dtype.isFloatingPoint else { throw LayerError("\(names.0) has dtype \(x.dtype), expected float") }
    guard x.shape.count >= 2 else { throw LayerError("\(names.0) has shape \(x.shape), expected [N, C, …]") }
    guard t.dtype == .int64 || t.dtype == .int32 else { throw LayerError("\(names.1) has dtype \(t.dtype), expected int32 or int64") }
    guard t.shape == [x.shape[0]] + x.shape[2...] else { throw LayerError("\(names.1) has shape \(t.shape), expected \([x.shape[0]] + x.shape[2...])") }
    if inputs.count > 2, let w = inputs[2] {
        guard w.shape == [x.shape[1]], w.dtype == x.dtype else { throw LayerError("\(names.2) is \(w), expected \(x.dtype)[\(x.shape[1])]") }
    }
    return (x.shape[0], x.shape[1], x.shape[2...].product)
}

/// The loss `Loss.negativeLogLikelihood` computes from log-probabilities, in Float (Double for
/// float64), written in the output's dtype.
func negativeLogLikelihood(
    _ logProb: Tensor, _ inputs: [Tensor?], layout: (n: Int, c: Int, inner: Int), ignoreIndex: Int64?, reduction: Loss.Reduction, into out: Tensor
) throws {
    let target = try required(inputs, 1, "target").int64s()
    let weight = inputs.count > 2 ? inputs[2] : nil
    do {
        if logProb.dtype == .float64 {
            let y = try Loss.negativeLogLikelihood(
                logProb.doubles(), classes: target, weight: weight?.doubles(), samples: layout.n, classes: layout.c, inner: layout.inner,
                ignoreIndex: ignoreIndex, reduction: reduction)
            Tensor(shape: out.shape, scalars: y).convert(into: out)
        } else {
            let y = try Loss.negativeLogLikelihood(
                logProb.scalars(as: Float.self), classes: target, weight: weight?.scalars(as: Float.self), samples: layout.n, classes: layout.c,
                inner: layout.inner, ignoreIndex: ignoreIndex, reduction: reduction)
            Tensor(shape: out.shape, scalars: y).convert(into: out)
        }
    } catch {
        throw LayerError("class \(error.value) is outside 0..<\(error.classes) and is not ignore_index")
    }
}

/// ONNX `NegativeLogLikelihoodLoss` (input `[N, C, d…]` log-probabilities, target `[N, d…]`,
/// weight `[C]` optional) and `SoftmaxCrossEntropyLoss` (`fromScores`: the log-softmax of scores
/// over C first, output 1 when asked); loss `[N, d…]` (reduction none) or a scalar (sum, mean).
public struct LikelihoodLoss: Layer {
    public let fromScores: Bool
    public let reduction: Loss.Reduction
    public let ignoreIndex: Int64?
    public init(fromScores: Bool, reduction: Loss.Reduction, ignoreIndex: Int64?) {
        self.fromScores = fromScores
        self.reduction = reduction
        self.ignoreIndex = ignoreIndex
    }

    public var opType: String { fromScores ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss" }
    var names: (String, String, String) { fromScores ? ("scores", "labels", "weights") : ("input", "target", "weight") }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        _ = try lossLayout(inputs, names)
        let x = try required(inputs, 0, names.0), t = try required(inputs, 1, names.1)
        return [TensorType(x.dtype, reduction == .none ? t.shape : [])] + (fromScores ? [x] : [])
    }

    /// Resolves the `[N, C, inner]` view once per plan.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        LossOp(layout: try lossLayout(inputs, names), ignoreIndex: ignoreIndex, reduction: reduction, softmax: fromScores)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A loss ready to run; the kernels are `Reduce.softmax` (log, over C) and
/// `Loss.negativeLogLikelihood`.
struct LossOp: PreparedOp {
    let layout: (n: Int, c: Int, inner: Int)
    let ignoreIndex: Int64?
    let reduction: Loss.Reduction
    let softmax: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        var logProb = try required(inputs, 0, "input")
        if softmax {
            let y = outputs.count > 1 ? outputs[1] : Tensor(zeros: logProb.shape, dtype: logProb.dtype)
            Reduce.softmax(logProb, into: y, outer: layout.n, axis: layout.c, inner: layout.inner, log: true, threads: context.threads)
            logProb = y
        }
        try negativeLogLikelihood(logProb, inputs, layout: layout, ignoreIndex: ignoreIndex, reduction: reduction, into: outputs[0])
    }
}
