import Foundation

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

/// The window functions of ONNX's signal ops.
public enum Window {
    public enum Kind: Sendable { case hann, hamming, blackman }

    /// `size` values of the window, periodic (the period is `size`, as for a DFT) or symmetric (the
    /// period is `size − 1`), computed in Double: Hann `0.5 − 0.5·cos(2πn/N)`, Hamming
    /// `25/46 − 21/46·cos(2πn/N)`, Blackman `0.42 − 0.5·cos(2πn/N) + 0.08·cos(4πn/N)`.
    public static func values(_ kind: Kind, size: Int, periodic: Bool) -> [Double] {
        let period = Double(periodic ? size : size - 1)
        return (0..<size).map { n in
            let x = 2 * Double.pi * Double(n) / period
            switch kind {
            case .hann: return 0.5 - 0.5 * Foundation.cos(x)
            case .hamming: return 25.0 / 46 - 21.0 / 46 * Foundation.cos(x)
            case .blackman: return 0.42 - 0.5 * Foundation.cos(x) + 0.08 * Foundation.cos(2 * x)
            }
        }
    }
}

/// Small dense linear algebra (ONNX Det).
public enum LinearAlgebra {
    /// The determinant of each `n × n` matrix of `x` (`[count, n, n]`), by LU decomposition with
    /// partial pivoting in `T`: the product of the pivots, negated for each row swap.
    public static func determinants<T: BinaryFloatingPoint>(_ x: [T], count: Int, n: Int) -> [T] {
        (0..<count).map { m in
            var a = Array(x[(m * n * n)..<((m + 1) * n * n)])
            var det: T = 1
            for k in 0..<n {
                var pivot = k
                for r in (k + 1)..<max(n, k + 1) where a[r * n + k].magnitude > a[pivot * n + k].magnitude { pivot = r }
                if a[pivot * n + k] == 0 { return 0 }
                if pivot != k {
                    for c in 0..<n { a.swapAt(k * n + c, pivot * n + c) }
                    det = -det
                }
                let p = a[k * n + k]
                det *= p
                for r in (k + 1)..<max(n, k + 1) {
                    let f = a[r * n + k] / p
                    for c in k..<n { a[r * n + c] -= f * a[k * n + c] }
                }
            }
            return det
        }
    }
}
