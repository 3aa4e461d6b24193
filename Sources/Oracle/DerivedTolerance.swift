import Foundation
import Runtime
import TensorCore

/// The arithmetic a candidate backend computed in, for derived tolerances.
public enum CandidatePrecision: String, CaseIterable, Sendable {
    /// IEEE float32 throughout (TF32 off).
    case fp32
    /// float32 tensors with TF32 products (GPU convolutions and matrix products with TF32 allowed).
    case tf32
    /// float16 weights and activations, products summed in float32.
    case fp16
    /// bfloat16 weights and activations, products summed in float32.
    case bf16
    /// TensorRT-style INT8 (needs calibrated ranges).
    case int8

    /// The execution policy that simulates it.
    public var numericFormat: NumericFormat {
        switch self {
        case .fp32: return .fp32
        case .tf32: return .tf32
        case .fp16: return .fp16
        case .bf16: return .bf16
        case .int8: return .int8
        }
    }
}

/// A tolerance derived for one tensor from what a correct backend of the candidate's precision
/// makes on these inputs, and how it was obtained.
///
/// With `truth` the FP64 run, `reference` Touchstone's FP32 run (what the candidate is compared
/// with) and `simulated` Touchstone's simulated run in the candidate's precision:
/// `d = |simulated − truth| + |reference − truth|` bounds, element by element, how far a backend
/// whose own error is that of the simulation can be from the reference (triangle inequality).
/// The tolerance is `atol = factor · S(d)`, `S` the checked statistic (the maximum for the
/// element-wise check), and `rtol = 0`, so that only the absolute bound decides; `factor`
/// covers a real backend's rounding differing from the simulation's (other summation orders,
/// other algorithms), measured on a GPU (Benchmarks/RESULTS.md).
public struct DerivedTolerance: Sendable {
    public let tolerance: Tolerance
    /// S(|simulated − truth|): the error of the simulated precision.
    public let simulatedError: Double
    /// S(|reference − truth|): Touchstone FP32's own error.
    public let referenceError: Double
    public let factor: Double
    public let precision: CandidatePrecision

    /// One line: the figures and the rule.
    public var explanation: String {
        func g(_ x: Double) -> String { String(format: "%.3g", x) }
        let s = tolerance.errorStatistic == .elemwise ? "max" : tolerance.errorStatistic.rawValue
        return "\(s) |\(precision.rawValue) simulated − fp64| \(g(simulatedError)) + \(s) |touchstone fp32 − fp64| \(g(referenceError)), × \(g(factor)) → atol \(g(tolerance.atol))"
    }
}

extension Oracle {
    /// Touchstone's default safety factor for derived tolerances (see `DerivedTolerance`).
    public static let defaultDerivedFactor = 4.0

    /// Derives the tolerance for one tensor; nil when the three runs do not all hold it or their
    /// shapes differ.
    public static func deriveTolerance(
        reference: Tensor, truth: Tensor, simulated: Tensor, precision: CandidatePrecision, statistic: ErrorStatistic,
        quantile: Double = 0.99, factor: Double = defaultDerivedFactor, infinitiesCompareEqual: Bool = false
    ) -> DerivedTolerance? {
        guard reference.count == truth.count, simulated.count == truth.count else { return nil }
        let r = reference.doubles(), t = truth.doubles(), s = simulated.doubles()
        var dSim = [Double](repeating: 0, count: t.count), dRef = dSim, d = dSim
        for i in 0..<t.count {
            // Equal infinities (or equal NaNs) in the runs are no error of the precision.
            func err(_ a: Double, _ b: Double) -> Double {
                if a == b || (a.isNaN && b.isNaN) { return 0 }
                let e = (a - b).magnitude
                return e.isNaN ? .infinity : e
            }
            dSim[i] = err(s[i], t[i])
            dRef[i] = err(r[i], t[i])
            d[i] = dSim[i] + dRef[i]
        }
        func stat(_ v: [Double]) -> Double {
            if v.isEmpty { return 0 }
            switch statistic {
            case .elemwise, .max: return v.max() ?? 0
            case .mean: return v.reduce(0, +) / Double(v.count)
            case .median: return NumpyFloat32.quantile(sorted: v.sorted(), 0.5, float32: false)
            case .quantile: return NumpyFloat32.quantile(sorted: v.sorted(), quantile, float32: false)
            }
        }
        let atol = factor * stat(d)
        return DerivedTolerance(
            tolerance: Tolerance(atol: atol.isFinite ? atol : .greatestFiniteMagnitude, rtol: 0, errorStatistic: statistic, quantile: quantile, infinitiesCompareEqual: infinitiesCompareEqual),
            simulatedError: stat(dSim), referenceError: stat(dRef), factor: factor, precision: precision)
    }
}
