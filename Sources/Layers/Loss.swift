import Foundation
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

/// The optimizers of ONNX's training domain (`ai.onnx.preview.training`): one update step of
/// Adagrad, Adam or Momentum (standard or Nesterov) for each of n tensors. Inputs: learning rate
/// R, update count T, then the n tensors X, their gradients G and their accumulators (Adagrad: H;
/// Adam: V, H; Momentum: V); outputs the new X, then the new accumulators. In Double, rounded once.
public struct OptimizerStep: Layer {
    public enum Kind: Sendable, Equatable {
        case adagrad(decay: Double)
        case adam(alpha: Double, beta: Double, normCoefficientPost: Double)
        case momentum(alpha: Double, beta: Double, nesterov: Bool)

        /// Accumulators per tensor.
        var states: Int {
            switch self {
            case .adagrad, .momentum: return 1
            case .adam: return 2
            }
        }
    }

    public var opType: String {
        switch kind {
        case .adagrad: return "Adagrad"
        case .adam: return "Adam"
        case .momentum: return "Momentum"
        }
    }

    public let kind: Kind, epsilon: Double, normCoefficient: Double
    public init(_ kind: Kind, epsilon: Double, normCoefficient: Double) {
        self.kind = kind
        self.epsilon = epsilon
        self.normCoefficient = normCoefficient
    }

    func count(_ inputs: Int) throws -> Int {
        let per = 2 + kind.states
        guard inputs > 2, (inputs - 2) % per == 0 else { throw LayerError("\(inputs) inputs: expected R, T and \(per) tensors for each one optimized") }
        return (inputs - 2) / per
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let n = try count(inputs.count)
        let r = try required(inputs, 0, "R"), t = try required(inputs, 1, "T")
        guard r.count == 1, r.dtype.isFloatingPoint, t.count == 1, t.dtype == .int64 else { throw LayerError("R is \(r) and T \(t): expected a float and an int64 scalar") }
        var outs: [TensorType] = []
        for i in 0..<n {
            let x = try required(inputs, 2 + i, "X\(i + 1)")
            try requireFloat(x, "X\(i + 1)")
            for k in 1...(1 + kind.states) where try required(inputs, 2 + k * n + i, "input \(2 + k * n + i)") != x {
                throw LayerError("input \(2 + k * n + i) does not match X\(i + 1) (\(x))")
            }
            outs.append(x)
        }
        for _ in 0..<kind.states { outs += outs.prefix(n) }
        return outs
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let n = try count(inputs.count)
        let r = try required(inputs, 0, "R").doubles()[0], t = Double(try required(inputs, 1, "T").int64s()[0])
        for i in 0..<n {
            let x = try required(inputs, 2 + i, "X").doubles(), g = try required(inputs, 2 + n + i, "G").doubles()
            let first = try required(inputs, 2 + 2 * n + i, "accumulator").doubles()
            var newX = x, newFirst = first, newSecond: [Double] = []
            switch kind {
            case .adagrad(let decay):
                let rate = r / (1 + t * decay)
                for j in x.indices {
                    let gr = normCoefficient * x[j] + g[j]
                    newFirst[j] = first[j] + gr * gr
                    newX[j] = x[j] - rate * gr / (newFirst[j].squareRoot() + epsilon)
                }
            case .adam(let alpha, let beta, let post):
                let h = try required(inputs, 2 + 3 * n + i, "H").doubles()
                newSecond = h
                let rate = t > 0 ? r * (1 - Foundation.pow(beta, t)).squareRoot() / (1 - Foundation.pow(alpha, t)) : r
                for j in x.indices {
                    let gr = normCoefficient * x[j] + g[j]
                    newFirst[j] = alpha * first[j] + (1 - alpha) * gr
                    newSecond[j] = beta * h[j] + (1 - beta) * gr * gr
                    newX[j] = (1 - post) * (x[j] - rate * newFirst[j] / (newSecond[j].squareRoot() + epsilon))
                }
            case .momentum(let alpha, let beta, let nesterov):
                let b = t > 0 ? beta : 1
                for j in x.indices {
                    let gr = normCoefficient * x[j] + g[j]
                    newFirst[j] = alpha * first[j] + b * gr
                    newX[j] = x[j] - r * (nesterov ? gr + alpha * newFirst[j] : newFirst[j])
                }
            }
            let results = [newX, newFirst, newSecond]
            for k in 0...kind.states where k * n + i < outputs.count {
                let o = outputs[k * n + i]
                Tensor(shape: o.shape, scalars: results[k]).convert(into: o)
            }
        }
    }
}
