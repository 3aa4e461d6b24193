/// The loss ops (ONNX NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss after its log-softmax).
public enum Loss {
    /// How per-sample losses are combined.
    public enum Reduction: String, Sendable {
        /// One loss per sample.
        case none
        /// Their sum.
        case sum
        /// Their sum over the sum of the applied weights (the count of samples not ignored, when
        /// no weights are given).
        case mean
    }

    /// A sample's class outside `0..<classes` that is not the ignored index.
    public struct ClassOutOfRange: Error, Equatable {
        public let value: Int64
        public let classes: Int
    }

    /// Negative log likelihood: for log-probabilities `[N, C, inner]` and classes `[N, inner]`,
    /// each sample's loss is `−logProb[n, c, i] · weight[c]` (weight 1 when nil), 0 where the class
    /// is `ignoreIndex`; then reduced. Sums run sequentially in `T`, in sample order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func negativeLogLikelihood<T: BinaryFloatingPoint>(
        _ logProb: [T], classes target: [Int64], weight: [T]?, samples n: Int, classes c: Int, inner: Int,
        ignoreIndex: Int64?, reduction: Reduction
    ) throws(ClassOutOfRange) -> [T] {
        var losses = [T](repeating: 0, count: n * inner)
        var lossSum: T = 0, weightSum: T = 0
        for s in 0..<(n * inner) {
            let label = target[s]
            if label == ignoreIndex { continue }
            guard label >= 0 && label < Int64(c) else { throw ClassOutOfRange(value: label, classes: c) }
            let k = Int(label), w = weight?[k] ?? 1
            let loss = -logProb[((s / inner) * c + k) * inner + s % inner] * w
            losses[s] = loss
            lossSum += loss
            weightSum += w
        }
        switch reduction {
        case .none: return losses
        case .sum: return [lossSum]
        case .mean: return [lossSum / weightSum]
        }
    }
}
