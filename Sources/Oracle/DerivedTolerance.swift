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
    /// FP8 E4M3 or E5M2 products with per-tensor scales from calibrated ranges (Model Optimizer's
    /// and TensorRT's semantics), summed as Hopper's tensor cores do; results in float32.
    case fp8
    case fp8E5M2 = "fp8-e5m2"
    /// NVFP4 products (needs calibrated ranges for the tensor scales); results in float32.
    case nvfp4
    /// OCP MX products (blocks of 32 with an E8M0 scale, no calibration); results in float32.
    case mxfp8, mxfp4
    /// INT4 weight-only (blocks of 128, symmetric), everything else float16.
    case int4w

    /// Whether the simulation needs calibrated activation ranges (`--calibration`).
    public var needsCalibration: Bool { [.int8, .fp8, .fp8E5M2, .nvfp4].contains(self) }

    /// One unit in the last place of this format at `x` (float32's for FP32, TF32, INT8 and the
    /// scaled formats, whose results are float32; float16's for INT4 weight-only).
    public func ulp(_ x: Double) -> Double {
        guard x.isFinite else { return 0 }
        switch self {
        case .fp32, .tf32, .int8, .fp8, .fp8E5M2, .nvfp4, .mxfp8, .mxfp4: return Double(Float(x).magnitude.ulp)
        case .fp16, .int4w:
            let h = Float16(Float(x))
            return h.isFinite ? Double(Float(h.magnitude.ulp)) : 0
        case .bf16:
            let m = Float(x).magnitude
            guard m >= Float.leastNormalMagnitude else { return Double(Float.leastNormalMagnitude) * 0x1p-7 }
            return Double(Float(sign: .plus, exponent: m.exponent - 7, significand: 1))
        }
    }

    /// The execution policy that simulates it.
    public var numericFormat: NumericFormat {
        switch self {
        case .fp32: return .fp32
        case .tf32: return .tf32
        case .fp16: return .fp16
        case .bf16: return .bf16
        case .int8: return .int8
        case .fp8: return .fp8
        case .fp8E5M2: return .fp8E5M2
        case .nvfp4: return .nvfp4
        case .mxfp8: return .mxfp8
        case .mxfp4: return .mxfp4
        case .int4w: return .int4w
        }
    }
}

/// A tolerance derived for one tensor from what a correct backend of the candidate's precision
/// makes on these inputs, and how it was obtained.
///
/// With `truth` the FP64 run, `reference` Touchstone's FP32 run (what the candidate is compared
/// with) and `simulated` Touchstone's simulated run in the candidate's precision:
/// `d = |simulated − truth| + |reference − truth| + ulp` bounds, element by element, how far a
/// backend whose own error is that of the simulation can be from the reference (triangle
/// inequality), with one unit in the last place of the candidate's format at the reference's
/// value for the rounding of the result itself: two correct implementations of the same function
/// (a HardSwish, an exp) give results a unit apart where both are within half a unit of the truth.
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
        let sim = precision == .fp32 ? "" : "\(s) |\(precision.rawValue) simulated − fp64| \(g(simulatedError)) + "
        return sim + "\(s) |touchstone fp32 − fp64| \(g(referenceError))\(precision == .fp32 ? " (twice)" : "") + 1 ulp of \(precision.rawValue), × \(g(factor)) → atol \(g(tolerance.atol))"
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
            d[i] = dSim[i] + dRef[i] + precision.ulp(r[i])
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
