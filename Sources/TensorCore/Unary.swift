import Foundation

/// A unary elementwise operation on floating-point tensors.
public enum UnaryOp: Sendable, Equatable {
    case activation(Activation)
    case abs, neg, sqrt, exp, log, reciprocal, floor, ceil, round, sign
    case erf, sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh
    /// `x < 0 ? alpha·(exp(x) − 1) : x`
    case elu(alpha: Double)
    /// `gamma · (x ≤ 0 ? alpha·(exp(x) − 1) : x)`
    case selu(alpha: Double, gamma: Double)
    case softplus, softsign
    /// `x · tanh(softplus(x))`
    case mish
    /// Gelu, exact (erf) or with the tanh approximation.
    case gelu(tanhApproximation: Bool)
    /// `max(0, x) + min(0, alpha·(exp(x/alpha) − 1))`
    case celu(alpha: Double)
    /// `x > alpha ? x : 0`
    case thresholdedRelu(alpha: Double)
    /// `x · sigmoid(alpha·x)` (ONNX Swish; alpha 1 is the fused activation `.swish`)
    case swish(alpha: Double)
    /// `x < −lambd ? x + bias : x > lambd ? x − bias : 0`
    case shrink(lambd: Double, bias: Double)
    /// Keras's ReLU layer: `max_value` at and above it, `x` from `threshold`, and
    /// `negative_slope · (x − threshold)` below the threshold.
    case kerasRelu(maxValue: Double?, negativeSlope: Double, threshold: Double)

    /// The operation on one Double (every float dtype is computed through this or the Float twin).
    @inlinable public func apply(_ x: Double) -> Double {
        switch self {
        case .activation(let a): return a.apply(x)
        case .abs: return Swift.abs(x)
        case .neg: return -x
        case .sqrt: return x.squareRoot()
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .reciprocal: return 1 / x
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .round: return x.rounded(.toNearestOrEven)
        case .sign: return x > 0 ? 1 : (x < 0 ? -1 : x)
        case .erf: return Foundation.erf(x)
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .tan: return Foundation.tan(x)
        case .asin: return Foundation.asin(x)
        case .acos: return Foundation.acos(x)
        case .atan: return Foundation.atan(x)
        case .sinh: return Foundation.sinh(x)
        case .cosh: return Foundation.cosh(x)
        case .asinh: return Foundation.asinh(x)
        case .acosh: return Foundation.acosh(x)
        case .atanh: return Foundation.atanh(x)
        case .elu(let a): return x < 0 ? a * (Foundation.exp(x) - 1) : x
        case .selu(let a, let g): return g * (x <= 0 ? a * (Foundation.exp(x) - 1) : x)
        case .softplus: return x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
        case .softsign: return x / (1 + Swift.abs(x))
        case .mish:
            let sp = x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
            return x * Foundation.tanh(sp)
        case .gelu(let approx):
            if approx { return 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
            return 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
        case .celu(let a): return Swift.max(0, x) + Swift.min(0, a * (Foundation.exp(x / a) - 1))
        case .thresholdedRelu(let a): return x > a ? x : 0
        case .swish(let a): return x * Activation.sigmoid.apply(a * x)
        case .shrink(let l, let b): return x < -l ? x + b : x > l ? x - b : 0
        case .kerasRelu(let m, let slope, let t):
            if let m, x >= m { return m }
            return x >= t ? x : slope * (x - t)
        }
    }

    /// The operation on one Float. Transcendentals use the Float functions of the C library.
    @inlinable public func apply(_ x: Float) -> Float {
        switch self {
        case .activation(let a): return a.apply(x)
        case .abs: return Swift.abs(x)
        case .neg: return -x
        case .sqrt: return x.squareRoot()
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .reciprocal: return 1 / x
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .round: return x.rounded(.toNearestOrEven)
        case .erf: return Foundation.erf(x)
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .tan: return Foundation.tan(x)
        default: return Float(apply(Double(x)))
        }
    }
}

extension Elementwise {
    /// `out = op(x)` elementwise. float16 is computed in float32 and rounded once; integer
    /// inputs support abs, neg, sign and the identity-like ops.
    /// - threads: the vectorised float32 functions (activations, erf) split the elements over
    ///   threads in pieces of whole vectors (each element is computed alone: the same bits).
    public static func unary(_ op: UnaryOp, _ x: Tensor, into out: Tensor, threads: Int = 1) {
        if case .activation(.clip(let lo, let hi)) = op, !x.dtype.isFloatingPoint {
            // Clip of integers (and FP8 storage types) through Double: exact below 2^53, and the
            // bounds are the input's type.
            let clipped = x.doubles().map { Swift.min(Swift.max($0, Double(lo)), Double(hi)) }
            Tensor(shape: x.shape, scalars: clipped).convert(into: out)
            return
        }
        switch x.dtype {
        case .float32:
            x.withUnsafeBufferPointer(as: Float.self) { src in
                out.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                    let vectorised: Bool
                    if case .activation = op { vectorised = true } else { vectorised = op == .erf }
                    if vectorised, let s = src.baseAddress, let d = dst.baseAddress {
                        let count = dst.count, piece = 4096
                        let box = UncheckedBox((s, d))
                        Parallel.forEachChunk((count + piece - 1) / piece, threads: count >= 1 << 16 ? threads : 1) { range in
                            let (s, d) = box.value
                            let lo = range.lowerBound * piece, n = min(count, range.upperBound * piece) - lo
                            if case .activation(let a) = op {
                                a.apply(s + lo, into: d + lo, count: n)
                            } else {
                                VectorMath.map(s + lo, into: d + lo, count: n, Lanes.Erf())
                            }
                        }
                    } else {
                        for i in 0..<src.count { dst[i] = op.apply(src[i]) }
                    }
                }
            }
        case .float64:
            x.withUnsafeBufferPointer(as: Double.self) { src in
                out.withUnsafeMutableBufferPointer(as: Double.self) { dst in
                    for i in 0..<src.count { dst[i] = op.apply(src[i]) }
                }
            }
        case .float16, .bfloat16:
            let o = x.converted(to: .float32)
            unary(op, o, into: o)
            o.convert(into: out)
        default:
            // Integers: exact where the op is exact on integers.
            let v = x.int64s()
            let r: [Int64] = v.map { i in
                switch op {
                case .abs: return i == .min ? i : Swift.abs(i)
                case .neg: return 0 &- i
                case .sign: return i > 0 ? 1 : (i < 0 ? -1 : 0)
                case .activation(.relu): return Swift.max(0, i)
                default: return saturatingInt64(op.apply(Double(i)))
                }
            }
            Tensor(shape: x.shape, scalars: r).convert(into: out)
        }
    }
}
