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

    public var description: String {
        switch self {
        case .relu: return "Relu"
        case .leakyRelu: return "LeakyRelu"
        case .clip: return "Clip"
        case .sigmoid: return "Sigmoid"
        case .hardSigmoid: return "HardSigmoid"
        case .hardSwish: return "HardSwish"
        case .tanh: return "Tanh"
        }
    }

    /// Applies the activation to one value (the reference path).
    @inlinable public func apply(_ x: Float) -> Float {
        switch self {
        case .relu: return x < 0 ? 0 : x
        case .leakyRelu(let a): return x < 0 ? a * x : x
        case .clip(let lo, let hi): return Swift.min(Swift.max(x, lo), hi).nanPreserving(x)
        case .sigmoid: return Activation.sigmoid(x)
        case .hardSigmoid(let a, let b): return Swift.max(0, Swift.min(1, a * x + b))
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
        case .tanh: return Foundation.tanh(x)
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
        }
    }

    /// Numerically stable logistic function.
    @inlinable static func sigmoid(_ x: Float) -> Float {
        if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
        let e = Foundation.exp(x)
        return e / (1 + e)
    }

    /// Applies the activation in place over `count` floats at `p`.
    public func apply(_ p: UnsafeMutablePointer<Float>, count: Int) {
        typealias V = SIMD8<Float>
        let vn = count / 8 * 8
        switch self {
        case .relu:
            let zero = V(repeating: 0)
            var i = 0
            while i < vn {
                let v = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(p + i).storeBytes(of: v.replacing(with: zero, where: v .< zero), as: V.self)
                i += 8
            }
            for j in vn..<count where p[j] < 0 { p[j] = 0 }
        case .clip(let lo, let hi):
            let l = V(repeating: lo), h = V(repeating: hi)
            var i = 0
            while i < vn {
                var v = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
                v = v.replacing(with: l, where: v .< l)
                v = v.replacing(with: h, where: v .> h)
                UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
                i += 8
            }
            for j in vn..<count { p[j] = apply(p[j]) }
        case .leakyRelu(let a):
            let zero = V(repeating: 0), av = V(repeating: a)
            var i = 0
            while i < vn {
                let v = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(p + i).storeBytes(of: v.replacing(with: v * av, where: v .< zero), as: V.self)
                i += 8
            }
            for j in vn..<count { p[j] = apply(p[j]) }
        case .hardSwish, .hardSigmoid:
            for j in 0..<count { p[j] = apply(p[j]) }
        case .sigmoid, .tanh:
            for j in 0..<count { p[j] = apply(p[j]) }
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
