import Foundation

/// A reduction over some axes.
public enum ReduceOp: String, Sendable {
    case sum, mean, max, min, prod, l1, l2, logSum, logSumExp, sumSquare
}

/// Reductions and softmax.
public enum Reduce {
    /// Reduces `x` over `axes` (normalised, sorted, unique) into `out`, whose element count is
    /// the product of the kept dimensions (keepdims or not, the order is the same).
    /// Accumulates in Double for float inputs, Int64 for integers.
    public static func reduce(_ op: ReduceOp, _ x: Tensor, axes: [Int], into out: Tensor) {
        let shape = x.shape
        let reduced = Set(axes)
        // Output strides per input axis: 0 for reduced axes.
        var outStrides = [Int](repeating: 0, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where !reduced.contains(i) {
            outStrides[i] = s
            s *= shape[i]
        }
        let outCount = s
        let groupSize = axes.reduce(1) { $0 * shape[$1] }
        let values = x.dtype.isFloatingPoint ? x.doubles() : x.int64s().map(Double.init)
        var acc = [Double](repeating: initial(op), count: outCount)
        var maxes = [Double](repeating: -.infinity, count: op == .logSumExp ? outCount : 0)
        if op == .logSumExp {
            forEachIndex(shape, outStrides) { i, o in maxes[o] = Swift.max(maxes[o], values[i]) }
        }
        forEachIndex(shape, outStrides) { i, o in
            let v = values[i]
            switch op {
            case .sum, .mean: acc[o] += v
            case .max: acc[o] = v.isNaN || acc[o].isNaN ? .nan : Swift.max(acc[o], v)
            case .min: acc[o] = v.isNaN || acc[o].isNaN ? .nan : Swift.min(acc[o], v)
            case .prod: acc[o] *= v
            case .l1: acc[o] += Swift.abs(v)
            case .l2, .sumSquare: acc[o] += v * v
            case .logSum: acc[o] += v
            case .logSumExp: acc[o] += Foundation.exp(v - maxes[o])
            }
        }
        for o in 0..<outCount {
            switch op {
            case .mean: acc[o] /= Double(groupSize)
            case .l2: acc[o] = acc[o].squareRoot()
            case .logSum: acc[o] = Foundation.log(acc[o])
            case .logSumExp: acc[o] = maxes[o].isInfinite ? maxes[o] : Foundation.log(acc[o]) + maxes[o]
            default: break
            }
        }
        if x.dtype.isFloatingPoint {
            Tensor(shape: [outCount], scalars: acc).convert(into: out)
        } else {
            // Saturated to the type: an empty Max/Min gives the type's lowest/highest value (false/true for bool).
            let (lo, hi) = out.dtype.integerRange
            Tensor(shape: [outCount], scalars: acc.map { Swift.min(Swift.max(saturatingInt64($0), lo), hi) }).convert(into: out)
        }
    }

    private static func initial(_ op: ReduceOp) -> Double {
        switch op {
        case .max: return -.infinity
        case .min: return .infinity
        case .prod: return 1
        default: return 0
        }
    }

    /// Calls `body(inputIndex, outputIndex)` for every element in row-major order.
    private static func forEachIndex(_ shape: [Int], _ outStrides: [Int], _ body: (Int, Int) -> Void) {
        let n = shape.reduce(1, *)
        if n == 0 { return }
        var index = [Int](repeating: 0, count: shape.count)
        var o = 0
        for i in 0..<n {
            body(i, o)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                o += outStrides[d]
                if index[d] < shape[d] { break }
                o -= outStrides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    /// Softmax (or log-softmax) over the middle axis of `[outer, axis, inner]`, FP32 or FP64.
    public static func softmax(_ x: Tensor, into out: Tensor, outer: Int, axis: Int, inner: Int, log: Bool = false) {
        if x.dtype == .float32 {
            softmaxTyped(x, out, outer, axis, inner, log, Float.self)
        } else if x.dtype == .float64 {
            softmaxTyped(x, out, outer, axis, inner, log, Double.self)
        } else {
            let x32 = x.converted(to: .float32)
            softmaxTyped(x32, x32, outer, axis, inner, log, Float.self)
            x32.convert(into: out)
        }
    }

    private static func softmaxTyped<T: BinaryFloatingPoint & TensorScalar>(
        _ x: Tensor, _ out: Tensor, _ outer: Int, _ axis: Int, _ inner: Int, _ log: Bool, _: T.Type
    ) {
        x.withUnsafeBufferPointer(as: T.self) { src in
            out.withUnsafeMutableBufferPointer(as: T.self) { dst in
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * axis * inner + i
                        var m = -Double.infinity
                        for a in 0..<axis { m = Swift.max(m, src[base + a * inner].doubleValue) }
                        var sum = 0.0
                        for a in 0..<axis { sum += Foundation.exp(src[base + a * inner].doubleValue - m) }
                        for a in 0..<axis {
                            let v = src[base + a * inner].doubleValue - m
                            dst[base + a * inner] = T(fromDouble: log ? v - Foundation.log(sum) : Foundation.exp(v) / sum)
                        }
                    }
                }
            }
        }
    }
}
