import Foundation
import TensorCore

/// The result of comparing one candidate tensor with its reference under Polygraphy's rules.
///
/// Element differences are computed as Polygraphy computes them (`polygraphy run`'s `simple`
/// comparison): both tensors are widened as numpy's `cast_up` does (float16 to float32, 8/16-bit
/// integers to int32), `absdiff = |candidate − reference|` in the promoted type, and
/// `reldiff = absdiff / |reference|` with zeros of a floating reference replaced by 2.22e-16.
/// Equal infinities give a NaN difference unless `infinitiesCompareEqual`; a NaN difference fails
/// every tolerance. float32 differences stay float32 as in numpy, tolerances are compared in
/// float64 as Polygraphy's 0-d arrays make numpy compare them, so a verdict at the boundary is
/// the one Polygraphy gives.
public struct TensorComparison: Sendable {
    /// The tensor's name.
    public let name: String
    /// The compared shape (the reference's).
    public let shape: [Int]
    /// The tolerance the tensor was held to.
    public let tolerance: Tolerance
    /// Whether the tensor passed; false also when the shapes differ.
    public let passed: Bool
    /// Set when the tensors could not be compared (shapes differ): why.
    public let shapeMismatch: String?
    /// Elements failing the element-wise rule at this tolerance (whatever statistic is checked).
    public let failingElements: Int
    /// Statistics of |candidate − reference|.
    public let absolute: ErrorSummary
    /// Statistics of |candidate − reference| / |reference|.
    public let relative: ErrorSummary
    /// The smallest atol with which the element-wise check passes at the given rtol (∞ when a NaN
    /// difference fails it whatever the atol).
    public let requiredAtolAtRtol: Double
    /// The smallest rtol with which the element-wise check passes at the given atol.
    public let requiredRtolAtAtol: Double
    /// The element with the largest absolute difference (a NaN difference first).
    public let worst: WorstElement?
    /// Statistics of the reference, the candidate and the two differences (Polygraphy's
    /// per-tensor statistics), and the differences themselves for histograms.
    public let referenceStatistics: ValueStatistics
    public let candidateStatistics: ValueStatistics
    public let absoluteStatistics: ValueStatistics
    public let relativeStatistics: ValueStatistics
    /// The element differences (absolute, relative), row-major, as Double.
    public let absoluteDifferences: [Double]
    public let relativeDifferences: [Double]

    /// The statistic the check used, for the absolute and the relative differences: the minimum
    /// tolerances that pass when only one of the two is set (Polygraphy's "Minimum Required
    /// Tolerance"; `max` for the element-wise check).
    public var requiredAtol: Double { absolute.value(of: tolerance.errorStatistic) }
    public var requiredRtol: Double { relative.value(of: tolerance.errorStatistic) }
}

/// One element: where, and both values.
public struct WorstElement: Sendable, Equatable {
    public let index: [Int]
    public let candidate: Double
    public let reference: Double
    public let absolute: Double
    public let relative: Double
}

/// The statistics Polygraphy checks, of one kind of difference (each NaN when any difference is).
public struct ErrorSummary: Sendable, Equatable {
    public let max: Double
    public let mean: Double
    public let median: Double
    /// At the tolerance's quantile.
    public let quantile: Double

    public func value(of statistic: ErrorStatistic) -> Double {
        switch statistic {
        case .elemwise, .max: return max
        case .mean: return mean
        case .median: return median
        case .quantile: return quantile
        }
    }
}

/// How a pair of element types is compared: numpy's promotion of the two widened types.
enum DifferenceArithmetic {
    /// float32 (float16, bfloat16 widened): differences and their statistics in float32.
    case float32
    /// float64, or a float with an integer: in float64.
    case float64
    /// Integers: the absolute difference exact, the relative one a float64 division, no epsilon.
    case integer

    init(_ a: DType, _ b: DType) {
        func kind(_ d: DType) -> Int {
            switch d {
            case .float64: return 3
            case .float32, .float16, .bfloat16: return 2
            case .bool: return 0
            default: return 1
            }
        }
        let ka = kind(a), kb = kind(b)
        if ka == 3 || kb == 3 { self = .float64 }
        else if ka == 2 && kb == 2 { self = .float32 }
        else if ka == 2 || kb == 2 { self = (ka == 0 || kb == 0) ? .float32 : .float64 }
        else { self = .integer }
    }
}

extension Oracle {
    /// Polygraphy's epsilon for zeros of a floating reference in the relative difference.
    static let zeroEpsilon = 2.220446049250313e-16

    /// Compares `candidate` with `reference` under `tolerance` (Polygraphy's rules; see
    /// `TensorComparison`). Shapes must be equal unless `checkShapes` is false, in which case
    /// equal element counts suffice.
    public static func compare(_ candidate: Tensor, _ reference: Tensor, name: String, tolerance: Tolerance, checkShapes: Bool = true) -> TensorComparison {
        let sameShape = candidate.shape == reference.shape
        if (checkShapes && !sameShape) || candidate.count != reference.count {
            let nan = ErrorSummary(max: .nan, mean: .nan, median: .nan, quantile: .nan)
            let empty = ValueStatistics(values: [], shape: [])
            return TensorComparison(
                name: name, shape: reference.shape, tolerance: tolerance, passed: false,
                shapeMismatch: "the candidate has shape \(candidate.shape), the reference \(reference.shape)", failingElements: candidate.count,
                absolute: nan, relative: nan, requiredAtolAtRtol: .infinity, requiredRtolAtAtol: .infinity, worst: nil,
                referenceStatistics: empty, candidateStatistics: empty, absoluteStatistics: empty, relativeStatistics: empty,
                absoluteDifferences: [], relativeDifferences: [])
        }
        let arithmetic = DifferenceArithmetic(candidate.dtype, reference.dtype)
        let c = candidate.doubles(), r = reference.doubles()
        let n = c.count
        var abs = [Double](repeating: 0, count: n), rel = [Double](repeating: 0, count: n)
        switch arithmetic {
        case .float32:
            let eps = Float(zeroEpsilon)
            for i in 0..<n {
                let a = Float(c[i]), b = Float(r[i])
                var d = (a - b).magnitude
                if tolerance.infinitiesCompareEqual, a.isInfinite, a == b { d = 0 }
                let denominator = b == 0 ? eps : b.magnitude
                abs[i] = Double(d)
                rel[i] = tolerance.infinitiesCompareEqual ? Double(d) / Double(denominator) : Double(d / denominator)
            }
        case .float64:
            for i in 0..<n {
                let a = c[i], b = r[i]
                var d = (a - b).magnitude
                if tolerance.infinitiesCompareEqual, a.isInfinite, a == b { d = 0 }
                abs[i] = d
                rel[i] = d / (b == 0 ? zeroEpsilon : b.magnitude)
            }
        case .integer:
            for i in 0..<n {
                let d = (c[i] - r[i]).magnitude
                abs[i] = d
                rel[i] = d / r[i].magnitude  // 0/0 is NaN and x/0 is ∞, as numpy divides integers
            }
        }
        // Polygraphy passes the tolerances to numpy as 0-d float64 arrays, so every comparison
        // is in float64. With `infinitiesCompareEqual` it also replaces the equal infinities'
        // differences through `np.where` with an int64 zero, which makes the absolute differences
        // (and so the relative ones and their statistics) float64.
        let elementAtol = tolerance.atol, elementRtol = tolerance.rtol
        let differencesAreFloat32 = arithmetic == .float32 && !tolerance.infinitiesCompareEqual
        var failing = 0
        var needAtol = 0.0, needRtol = 0.0
        var worstIndex = -1
        for i in 0..<n {
            let a = abs[i], q = rel[i]
            let failsAbs = a.isNaN || a > elementAtol
            let failsRel = q.isNaN || q > elementRtol
            if failsAbs && failsRel { failing += 1 }
            if failsRel { needAtol = Swift.max(needAtol, a.isNaN ? .infinity : a) }
            if failsAbs { needRtol = Swift.max(needRtol, q.isNaN ? .infinity : q) }
            if worstIndex < 0 || (a.isNaN && !abs[worstIndex].isNaN) || (!abs[worstIndex].isNaN && a > abs[worstIndex]) { worstIndex = i }
        }
        let absolute = summary(abs, float32: differencesAreFloat32, quantile: tolerance.quantile)
        let relative = summary(rel, float32: differencesAreFloat32, quantile: tolerance.quantile)
        let passed: Bool
        switch tolerance.errorStatistic {
        case .elemwise:
            passed = failing == 0
        default:
            let s = tolerance.errorStatistic
            let failsAbs = absolute.value(of: s).isNaN || absolute.value(of: s) > tolerance.atol
            let failsRel = relative.value(of: s).isNaN || relative.value(of: s) > tolerance.rtol
            passed = !(failsAbs && failsRel)
        }
        var worst: WorstElement?
        if worstIndex >= 0 {
            worst = WorstElement(index: multiIndex(worstIndex, shape: reference.shape), candidate: c[worstIndex], reference: r[worstIndex], absolute: abs[worstIndex], relative: rel[worstIndex])
        }
        return TensorComparison(
            name: name, shape: reference.shape, tolerance: tolerance, passed: passed, shapeMismatch: nil, failingElements: failing,
            absolute: absolute, relative: relative, requiredAtolAtRtol: needAtol, requiredRtolAtAtol: needRtol, worst: worst,
            referenceStatistics: ValueStatistics(values: r, shape: reference.shape), candidateStatistics: ValueStatistics(values: c, shape: candidate.shape),
            absoluteStatistics: ValueStatistics(values: abs, shape: reference.shape), relativeStatistics: ValueStatistics(values: rel, shape: reference.shape),
            absoluteDifferences: abs, relativeDifferences: rel)
    }

    /// The row-major multi-index of a flat offset.
    static func multiIndex(_ flat: Int, shape: [Int]) -> [Int] {
        var rest = flat
        var index = [Int](repeating: 0, count: shape.count)
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return index
    }

    /// max, mean, median and quantile as numpy computes them for Polygraphy: in float32 for
    /// float32 differences (the mean as numpy's pairwise float32 sum, then a float32 division),
    /// otherwise in float64 (an integer array's mean also summed in float32, as Polygraphy asks).
    static func summary(_ v: [Double], float32: Bool, quantile q: Double) -> ErrorSummary {
        if v.isEmpty { return ErrorSummary(max: 0, mean: 0, median: 0, quantile: 0) }
        if v.contains(where: \.isNaN) { return ErrorSummary(max: .nan, mean: .nan, median: .nan, quantile: .nan) }
        let sorted = v.sorted()
        let n = sorted.count
        let maxValue = sorted[n - 1]
        // np.mean(x, dtype=float32): pairwise float32 sum, float32 division by the count.
        // A float64 (or integer) array is cast in numpy's buffers of 8192 elements, each summed
        // pairwise and added to the running total.
        let asFloat = v.map { Float($0) }
        let total = float32 ? NumpyFloat32.pairwiseSum(asFloat) : NumpyFloat32.bufferedPairwiseSum(asFloat)
        let mean = Double(total / Float(n))
        let median: Double
        if n % 2 == 1 {
            median = sorted[n / 2]
        } else if float32 {
            median = Double((Float(sorted[n / 2 - 1]) + Float(sorted[n / 2])) / 2)
        } else {
            median = (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        }
        let quantile = NumpyFloat32.quantile(sorted: sorted, q, float32: float32)
        return ErrorSummary(max: maxValue, mean: mean, median: median, quantile: quantile)
    }
}

/// numpy's float32 arithmetic where Polygraphy's verdicts depend on it.
enum NumpyFloat32 {
    /// numpy's pairwise summation (blocks of 128 summed in eight lanes; longer runs halved at
    /// multiples of eight), in float32.
    static func pairwiseSum(_ a: [Float]) -> Float {
        a.withUnsafeBufferPointer { pairwise($0.baseAddress, $0.count) }
    }

    /// The sum numpy computes when the values are cast to float32 on the way in: buffers of
    /// 8192 elements, each summed pairwise and added to the running total.
    static func bufferedPairwiseSum(_ a: [Float]) -> Float {
        a.withUnsafeBufferPointer { p in
            var total: Float = 0
            var start = 0
            while start < p.count {
                let len = Swift.min(8192, p.count - start)
                total = total + pairwise(p.baseAddress.map { $0 + start }, len)
                start += len
            }
            return total
        }
    }

    private static func pairwise(_ a: UnsafePointer<Float>?, _ n: Int) -> Float {
        guard let a else { return 0 }
        if n < 8 {
            var res: Float = 0
            for i in 0..<n { res += a[i] }
            return res
        } else if n <= 128 {
            var r = (0..<8).map { a[$0] }
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[i + j] }
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n { res += a[i]; i += 1 }
            return res
        } else {
            var n2 = n / 2
            n2 -= n2 % 8
            return pairwise(a, n2) + pairwise(a + n2, n - n2)
        }
    }

    /// np.quantile's default ('linear') method on sorted values: the virtual index q·(n−1), the
    /// weight of the upper neighbour in the values' type, and numpy's two-sided interpolation.
    static func quantile(sorted v: [Double], _ q: Double, float32: Bool) -> Double {
        let n = v.count
        let q = q.isFinite ? Swift.min(Swift.max(q, 0), 1) : 0.99
        let virtual = q * Double(n - 1)
        let lowerIndex = Swift.max(0, Swift.min(n - 1, Int(virtual.rounded(.down))))
        let upperIndex = Swift.min(n - 1, lowerIndex + 1)
        let gamma = virtual - Double(lowerIndex)
        if float32 {
            let a = Float(v[lowerIndex]), b = Float(v[upperIndex]), t = Float(gamma)
            let d = b - a
            return Double(t >= 0.5 ? b - d * (1 - t) : a + d * t)
        }
        let a = v[lowerIndex], b = v[upperIndex]
        let d = b - a
        return gamma >= 0.5 ? b - d * (1 - gamma) : a + d * gamma
    }
}
