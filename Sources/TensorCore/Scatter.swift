/// How Scatter* combine an update with the value already there.
public enum ScatterReduction: String, Sendable {
    case none, add, mul, max, min

    @inlinable
    public func combine<T: BinaryFloatingPoint>(_ old: T, _ new: T) -> T {
        switch self {
        case .none: return new
        case .add: return old + new
        case .mul: return old * new
        case .max: return Swift.max(old, new)
        case .min: return Swift.min(old, new)
        }
    }
}

extension Movement {
    /// A copy of `data` with `updates[k]` written at flat position `target[k]`, combined per
    /// `reduction` in the updates' order (the kernel of ScatterElements and ScatterND): in Float
    /// for float32 (and float16/bfloat16) data, as FP32 backends do, in Double for float64 and
    /// integers (exact below 2^53); `none` copies bytes.
    public static func scatter(data: Tensor, updates: Tensor, into out: Tensor, reduction: ScatterReduction, target: [Int]) {
        data.copy(into: out)
        if reduction == .none {
            placeElements(updates, into: out, at: target)
            return
        }
        if out.dtype.isFloatingPoint && out.dtype != .float64 {
            combine(Float.self, updates: updates, into: out, reduction: reduction, target: target)
        } else {
            combine(Double.self, updates: updates, into: out, reduction: reduction, target: target)
        }
    }

    static func combine<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, updates: Tensor, into out: Tensor, reduction: ScatterReduction, target: [Int]) {
        var values = out.scalars(as: T.self)
        let news = updates.scalars(as: T.self)
        for (k, p) in target.enumerated() { values[p] = reduction.combine(values[p], news[k]) }
        Tensor(shape: out.shape, scalars: values).convert(into: out)
    }

    /// The naive twin, in Double: each output element gathers, in the updates' order, every update
    /// aimed at it and combines them with the data's value.
    public static func scatterReference(data: [Double], updates: [Double], reduction: ScatterReduction, target: [Int]) -> [Double] {
        data.indices.map { p in
            target.indices.filter { target[$0] == p }.reduce(data[p]) { reduction.combine($0, updates[$1]) }
        }
    }
}

extension Reduce {
    /// Running sums along the middle axis of `[outer, length, inner]`, optionally exclusive (each
    /// element the sum of those before it) and reversed (from the last to the first), sequential
    /// in `T` (the kernel of ONNX CumSum).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func cumulativeSum<T: BinaryFloatingPoint>(_ v: [T], outer: Int, length: Int, inner: Int, exclusive: Bool, reverse: Bool) -> [T] {
        cumulative(v, outer: outer, length: length, inner: inner, exclusive: exclusive, reverse: reverse, product: false)
    }

    /// Running sums, or with `product` running products (ONNX CumProd; exclusive: 1 for the
    /// first), as `cumulativeSum` describes.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func cumulative<T: BinaryFloatingPoint>(_ v: [T], outer: Int, length: Int, inner: Int, exclusive: Bool, reverse: Bool, product: Bool) -> [T] {
        var y = [T](repeating: 0, count: v.count)
        for o in 0..<outer {
            for i in 0..<inner {
                var sum: T = product ? 1 : 0
                for step in 0..<length {
                    let t = reverse ? length - 1 - step : step
                    let p = (o * length + t) * inner + i
                    if exclusive { y[p] = sum; sum = product ? sum * v[p] : sum + v[p] } else { sum = product ? sum * v[p] : sum + v[p]; y[p] = sum }
                }
            }
        }
        return y
    }

    /// The naive twin of `cumulativeSum`, in Double: each element the compensated (Kahan) sum of
    /// the elements its definition names, computed afresh.
    public static func cumulativeSumReference(_ v: [Double], outer: Int, length: Int, inner: Int, exclusive: Bool, reverse: Bool) -> [Double] {
        var y = [Double](repeating: 0, count: v.count)
        for o in 0..<outer { for i in 0..<inner { for t in 0..<length {
            let included = (0..<length).filter { s in reverse ? (exclusive ? s > t : s >= t) : (exclusive ? s < t : s <= t) }
            var sum = 0.0, c = 0.0
            for s in included { let x = v[(o * length + s) * inner + i] - c, u = sum + x; c = (u - sum) - x; sum = u }
            y[(o * length + t) * inner + i] = sum
        } } }
        return y
    }
}
