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
        typealias V = VectorMath.V
        let zero = V(repeating: 0), one = V(repeating: 1)
        switch self {
        case .relu:
            VectorMath.map(src, into: dst, count: count) { v in v.replacing(with: zero, where: v .< zero) }
        case .clip(let lo, let hi):
            let l = V(repeating: lo), h = V(repeating: hi)
            VectorMath.map(src, into: dst, count: count) { v in v.replacing(with: l, where: v .< l).replacing(with: h, where: v .> h) }
        case .leakyRelu(let a):
            let av = V(repeating: a)
            VectorMath.map(src, into: dst, count: count) { v in v.replacing(with: v * av, where: v .< zero) }
        case .hardSigmoid(let a, let b):
            let av = V(repeating: a), bv = V(repeating: b)
            VectorMath.map(src, into: dst, count: count) { x in
                let y = av * x + bv
                return y.replacing(with: zero, where: y .< zero).replacing(with: one, where: y .> one).replacing(with: x, where: x .!= x)
            }
        case .hardSwish:
            let sixth = V(repeating: 1.0 / 6), half = V(repeating: 0.5)
            VectorMath.map(src, into: dst, count: count) { x in
                let g = x * sixth + half
                return x * g.replacing(with: zero, where: g .< zero).replacing(with: one, where: g .> one)
            }
        case .sigmoid:
            VectorMath.map(src, into: dst, count: count) { VectorMath.sigmoid($0) }
        case .tanh:
            VectorMath.map(src, into: dst, count: count) { VectorMath.tanh($0) }
        case .swish:
            VectorMath.map(src, into: dst, count: count) { $0 * VectorMath.sigmoid($0) }
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
