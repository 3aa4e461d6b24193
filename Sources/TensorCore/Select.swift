/// Selection and bool-valued elementwise kernels (Where, Not, IsNaN, IsInf).
extension Elementwise {
    /// `out[i] = condition[i] ? x[i] : y[i]` with numpy broadcasting of all three; `condition` is
    /// bool, `x` and `y` share `out`'s dtype (any dtype: elements are copied as bytes).
    public static func select(_ condition: Tensor, _ x: Tensor, _ y: Tensor, into out: Tensor) {
        let c = Tensor(zeros: out.shape, dtype: .bool)
        Movement.broadcast(condition, into: c)
        Movement.broadcast(x, into: out)
        let other = Tensor(zeros: out.shape, dtype: out.dtype)
        Movement.broadcast(y, into: other)
        let size = out.dtype.byteSize
        let flags = c.storage.base.assumingMemoryBound(to: Bool.self)
        for i in 0..<out.count where !flags[i] {
            (out.storage.base + i * size).copyMemory(from: other.storage.base + i * size, byteCount: size)
        }
    }

    /// `out[i] = !x[i]` for bool tensors.
    public static func not(_ x: Tensor, into out: Tensor) {
        let src = x.storage.base.assumingMemoryBound(to: Bool.self)
        let dst = out.storage.base.assumingMemoryBound(to: Bool.self)
        for i in 0..<x.count { dst[i] = !src[i] }
    }

    /// A float classification written as bool: NaN, or infinity of the chosen signs.
    public enum FloatClass: Sendable, Equatable {
        case nan
        case infinity(positive: Bool, negative: Bool)
    }

    /// `out[i] = x[i] is of the class`, for any floating-point dtype (integers are never NaN or
    /// infinite).
    public static func classify(_ x: Tensor, _ kind: FloatClass, into out: Tensor) {
        let dst = out.storage.base.assumingMemoryBound(to: Bool.self)
        guard x.dtype.isFloatingPoint else {
            dst.update(repeating: false, count: out.count)
            return
        }
        let values = x.doubles()
        for (i, v) in values.enumerated() {
            switch kind {
            case .nan: dst[i] = v.isNaN
            case .infinity(let positive, let negative): dst[i] = v.isInfinite && (v > 0 ? positive : negative)
            }
        }
    }
}
