import Foundation

/// A pointwise activation that a producing kernel can apply in its output pass.
public enum Activation: Sendable, Equatable, CustomStringConvertible {
    case relu
    /// `x < 0 ? alpha·x : x`
    case leakyRelu(alpha: Float)
    /// `min(max(x, low), high)`
    case clip(low: Float, high: Float)
    case sigmoid
    /// `max(0, min(1, alpha·x + beta))`
    case hardSigmoid(alpha: Float, beta: Float)
    /// `x · max(0, min(1, x/6 + 1/2))`
    case hardSwish
    case tanh
    /// `x · sigmoid(x)` (SiLU): exporters write it as Sigmoid then Mul; the runtime fuses the pair.
    case swish

    public var description: String {
        switch self {
        case .relu: return "Relu"
        case .leakyRelu: return "LeakyRelu"
        case .clip: return "Clip"
        case .sigmoid: return "Sigmoid"
        case .hardSigmoid: return "HardSigmoid"
        case .hardSwish: return "HardSwish"
        case .tanh: return "Tanh"
        case .swish: return "Swish"
        }
    }

    /// Applies the activation to one value (the reference path).
    @inlinable public func apply(_ x: Float) -> Float {
        switch self {
        case .relu: return x < 0 ? 0 : x
        case .leakyRelu(let a): return x < 0 ? a * x : x
        case .clip(let lo, let hi): return Swift.min(Swift.max(x, lo), hi).nanPreserving(x)
        // The same vector code as the buffer path, so that a value is bitwise the same either way.
        case .sigmoid: return VectorMath.sigmoid(VectorMath.V(repeating: x))[0]
        case .hardSigmoid(let a, let b): return Swift.max(0, Swift.min(1, a * x + b)).nanPreserving(x)
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x * (1.0 / 6) + 0.5))
        case .tanh: return VectorMath.tanh(VectorMath.V(repeating: x))[0]
        case .swish: return x * VectorMath.sigmoid(VectorMath.V(repeating: x))[0]
        }
    }

    /// Applies the activation to one Double value (the FP64 path).
    @inlinable public func apply(_ x: Double) -> Double {
        switch self {
        case .relu: return x < 0 ? 0 : x
        case .leakyRelu(let a): return x < 0 ? Double(a) * x : x
        case .clip(let lo, let hi): return x.isNaN ? x : Swift.min(Swift.max(x, Double(lo)), Double(hi))
        case .sigmoid: return x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
        case .hardSigmoid(let a, let b): return Swift.max(0, Swift.min(1, Double(a) * x + Double(b)))
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
        case .tanh: return Foundation.tanh(x)
        case .swish: return x * (x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)))
        }
    }

    /// Applies the activation in place over `count` floats at `p`.
    public func apply(_ p: UnsafeMutablePointer<Float>, count: Int) {
        apply(UnsafePointer(p), into: p, count: count)
    }

    /// `dst[i] = activation(src[i])` for `count` floats; `src` may equal `dst`.
    public func apply(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu: VectorMath.map(src, into: dst, count: count, Lanes.Clamp(low: 0, high: .infinity))
        case .clip(let lo, let hi): VectorMath.map(src, into: dst, count: count, Lanes.Clamp(low: lo, high: hi))
        case .leakyRelu(let a): VectorMath.map(src, into: dst, count: count, Lanes.LeakyRelu(alpha: a))
        case .hardSigmoid(let a, let b): VectorMath.map(src, into: dst, count: count, Lanes.HardSigmoid(alpha: a, beta: b))
        case .hardSwish: VectorMath.map(src, into: dst, count: count, Lanes.HardSwish())
        case .sigmoid: VectorMath.map(src, into: dst, count: count, Lanes.Sigmoid())
        case .tanh: VectorMath.map(src, into: dst, count: count, Lanes.Tanh())
        case .swish: VectorMath.map(src, into: dst, count: count, Lanes.Swish())
        }
    }

    /// Applies the activation in place over `count` doubles at `p`.
    public func apply(_ p: UnsafeMutablePointer<Double>, count: Int) {
        for j in 0..<count { p[j] = apply(p[j]) }
    }
}

extension Float {
    /// `self`, unless `x` is NaN, in which case NaN (min/max would otherwise drop it).
    @inlinable func nanPreserving(_ x: Float) -> Float { x.isNaN ? x : self }
}

/// The activations as `VectorFunction`s (NaN passes through every one of them).
enum Lanes {
    typealias V = VectorMath.V

    /// e^(x − shift) (softmax's exponentials).
    struct ShiftedExp: VectorFunction {
        let shift: V
        @inline(__always) func callAsFunction(_ v: V) -> V { VectorMath.exp(v - shift) }
    }

    struct Erf: VectorFunction {
        @inline(__always) func callAsFunction(_ v: V) -> V { VectorMath.erf(v) }
    }

    struct Clamp: VectorFunction {
        let low: V, high: V
        init(low: Float, high: Float) { (self.low, self.high) = (V(repeating: low), V(repeating: high)) }
        @inline(__always) func callAsFunction(_ v: V) -> V { v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high) }
    }

    struct LeakyRelu: VectorFunction {
        let alpha: V
        init(alpha: Float) { self.alpha = V(repeating: alpha) }
        @inline(__always) func callAsFunction(_ v: V) -> V { v.replacing(with: v * alpha, where: v .< 0) }
    }

    struct HardSigmoid: VectorFunction {
        let alpha: V, beta: V
        init(alpha: Float, beta: Float) { (self.alpha, self.beta) = (V(repeating: alpha), V(repeating: beta)) }
        @inline(__always) func callAsFunction(_ x: V) -> V {
            let y = alpha * x + beta
            return y.replacing(with: 0, where: y .< 0).replacing(with: 1, where: y .> 1).replacing(with: x, where: x .!= x)
        }
    }

    struct HardSwish: VectorFunction {
        @inline(__always) func callAsFunction(_ x: V) -> V {
            let g = x * V(repeating: 1.0 / 6) + V(repeating: 0.5)
            return x * g.replacing(with: 0, where: g .< 0).replacing(with: 1, where: g .> 1)
        }
    }

    struct Sigmoid: VectorFunction {
        @inline(__always) func callAsFunction(_ x: V) -> V { VectorMath.sigmoid(x) }
    }

    struct Tanh: VectorFunction {
        @inline(__always) func callAsFunction(_ x: V) -> V { VectorMath.tanh(x) }
    }

    struct Swish: VectorFunction {
        @inline(__always) func callAsFunction(_ x: V) -> V { x * VectorMath.sigmoid(x) }
    }
}
