import Foundation

/// A reduction over some axes.
public enum ReduceOp: String, Sendable {
    case sum, mean, max, min, prod, l1, l2, logSum, logSumExp, sumSquare
}

/// Reductions and softmax.
public enum Reduce {
    /// Reduces `x` over `axes` (normalised, sorted, unique) into `out`, whose element count is
    /// the product of the kept dimensions (keepdims or not, the order is the same).
    /// Float32, float16 and bfloat16 inputs are reduced in Float (`reduceFloat`), as FP32 backends
    /// do; float64 inputs in Double and integers through Double (exact below 2^53), as
    /// `reference` does.
    public static func reduce(_ op: ReduceOp, _ x: Tensor, axes: [Int], into out: Tensor) {
        if x.dtype.isFloatingPoint && x.dtype != .float64 {
            let f = x.dtype == .float32 ? x : x.converted(to: .float32)
            let y = f.withUnsafeBufferPointer(as: Float.self) { reduceFloat(op, $0, shape: x.shape, axes: axes) }
            Tensor(shape: [y.count], scalars: y).convert(into: out)
            return
        }
        reference(op, x, axes: axes, into: out)
    }

    /// The Double reduction: the float64 path and the naive twin of `reduceFloat` (every sum in
    /// Double, in row-major order).
    public static func reference(_ op: ReduceOp, _ x: Tensor, axes: [Int], into out: Tensor) {
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

    private static func initial<T: FloatingPoint>(_ op: ReduceOp, as _: T.Type = T.self) -> T {
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

    /// Softmax (or log-softmax) over the middle axis of `[outer, axis, inner]`: float32 (float16
    /// and bfloat16 through float32) in Float (`softmaxFloat`), float64 in Double (`softmaxReference`).
    public static func softmax(_ x: Tensor, into out: Tensor, outer: Int, axis: Int, inner: Int, log: Bool = false, threads: Int = 1) {
        if x.dtype == .float64 {
            softmaxReference(x, out, outer, axis, inner, log, Double.self)
        } else {
            let x32 = x.dtype == .float32 ? x : x.converted(to: .float32)
            let direct = out.dtype == .float32
            let y = direct ? out : Tensor(zeros: x.shape, dtype: .float32)
            x32.withUnsafeBufferPointer(as: Float.self) { src in
                y.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                    softmaxFloat(src, dst, outer: outer, axis: axis, inner: inner, log: log, threads: threads)
                }
            }
            if !direct { y.convert(into: out) }
        }
    }

    /// The naive twin of `softmaxFloat` (and the float64 path): the maximum, the sum of
    /// exponentials and each output in Double.
    public static func softmaxReference<T: BinaryFloatingPoint & TensorScalar>(
        _ x: Tensor, _ out: Tensor, _ outer: Int, _ axis: Int, _ inner: Int, _ log: Bool, _: T.Type = T.self
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

// MARK: - Float kernels

extension Reduce {
    typealias V = VectorMath.V

    /// Σ f(p[k]) over k < n in Float, blocked as vector code sums: element k goes to lane k mod 16,
    /// the lanes are added pairwise (halves, then quarters, …) and the ragged tail, mapped as one
    /// padded vector with its padding zeroed, joins the lanes before that. The order depends only
    /// on n, never on threads.
    @inline(__always)
    static func blockedSum(_ p: UnsafePointer<Float>, _ n: Int, _ f: (V) -> V) -> Float {
        let w = V.scalarCount
        var acc = V(repeating: 0)
        var k = 0
        while k + w <= n {
            acc += f(UnsafeRawPointer(p + k).loadUnaligned(as: V.self))
            k += w
        }
        if k < n {
            var v = V(repeating: 0)
            var keep = SIMDMask<V.MaskStorage>(repeating: false)
            for j in 0..<(n - k) { v[j] = p[k + j]; keep[j] = true }
            acc += f(v).replacing(with: 0, where: .!keep)
        }
        let a8 = acc.lowHalf + acc.highHalf
        let a4 = a8.lowHalf + a8.highHalf
        let a2 = a4.lowHalf + a4.highHalf
        return a2[0] + a2[1]
    }

    /// `reduce` for Float values of `shape`: when the reduced axes are the last ones (each output
    /// reads one contiguous row, the common case: ReduceMean over H and W, over a hidden size),
    /// sums are `blockedSum`s; otherwise each output accumulates its inputs in row-major order.
    /// Max and Min are exact either way (NaN propagates); Prod multiplies in order.
    public static func reduceFloat(_ op: ReduceOp, _ x: [Float], shape: [Int], axes: [Int]) -> [Float] {
        x.withUnsafeBufferPointer { reduceFloat(op, $0, shape: shape, axes: axes) }
    }

    /// `reduceFloat` over the tensor's own storage (no copy of the input).
    static func reduceFloat(_ op: ReduceOp, _ x: UnsafeBufferPointer<Float>, shape: [Int], axes: [Int]) -> [Float] {
        let rank = shape.count
        let reduced = Set(axes)
        let outCount = shape.indices.filter { !reduced.contains($0) }.reduce(1) { $0 * shape[$1] }
        let groupSize = axes.reduce(1) { $0 * shape[$1] }
        // Axes of length 1 do not change the layout: the reduction is over rows when every
        // reduced axis of length > 1 comes after every kept axis of length > 1.
        let lastKept = shape.indices.last { !reduced.contains($0) && shape[$0] > 1 } ?? -1
        let firstReduced = shape.indices.first { reduced.contains($0) && shape[$0] > 1 } ?? rank
        var y = [Float](repeating: 0, count: outCount)
        if lastKept < firstReduced, let base = x.baseAddress, x.count > 0 {
            for o in 0..<outCount { y[o] = row(op, base + o * groupSize, groupSize) }
            return y
        }
        // General layout, or empty groups: row-major accumulation per output, as in `reference`.
        var outStrides = [Int](repeating: 0, count: rank)
        var s = 1
        for i in stride(from: rank - 1, through: 0, by: -1) where !reduced.contains(i) {
            outStrides[i] = s
            s *= shape[i]
        }
        var acc = [Float](repeating: initial(op, as: Float.self), count: outCount)
        var maxes = [Float](repeating: -.infinity, count: op == .logSumExp ? outCount : 0)
        if op == .logSumExp { forEachIndex(shape, outStrides) { i, o in maxes[o] = Swift.max(maxes[o], x[i]) } }
        forEachIndex(shape, outStrides) { i, o in
            let v = x[i]
            switch op {
            case .sum, .mean, .logSum: acc[o] += v
            case .max: acc[o] = v.isNaN || acc[o].isNaN ? .nan : Swift.max(acc[o], v)
            case .min: acc[o] = v.isNaN || acc[o].isNaN ? .nan : Swift.min(acc[o], v)
            case .prod: acc[o] *= v
            case .l1: acc[o] += Swift.abs(v)
            case .l2, .sumSquare: acc[o] += v * v
            case .logSumExp: acc[o] += Foundation.exp(v - maxes[o])
            }
        }
        for o in 0..<outCount { y[o] = finish(op, acc[o], count: groupSize, max: op == .logSumExp ? maxes[o] : 0) }
        return y
    }

    private static func finish(_ op: ReduceOp, _ a: Float, count: Int, max m: Float) -> Float {
        switch op {
        case .mean: return a / Float(count)
        case .l2: return a.squareRoot()
        case .logSum: return Foundation.log(a)
        case .logSumExp: return m.isInfinite ? m : Foundation.log(a) + m
        default: return a
        }
    }

    /// One output from a contiguous row of n values. Each blocked sum is a function of its own:
    /// in this one, its lane functions were left as calls, one per sixteen values.
    private static func row(_ op: ReduceOp, _ p: UnsafePointer<Float>, _ n: Int) -> Float {
        switch op {
        case .sum, .mean, .logSum: return finish(op, rowSum(p, n), count: n, max: 0)
        case .l1: return rowSumOfMagnitudes(p, n)
        case .l2, .sumSquare: return finish(op, rowSumOfSquares(p, n), count: n, max: 0)
        case .logSumExp:
            var m: Float = -.infinity
            for k in 0..<n { m = Swift.max(m, p[k]) }
            if m.isInfinite { return m }
            return finish(op, rowSumOfExponentials(p, n, shift: m), count: n, max: m)
        case .prod:
            var a: Float = 1
            for k in 0..<n { a *= p[k] }
            return a
        case .max, .min:
            var a = initial(op, as: Float.self)
            for k in 0..<n {
                let v = p[k]
                a = v.isNaN || a.isNaN ? .nan : (op == .max ? Swift.max(a, v) : Swift.min(a, v))
            }
            return a
        }
    }

    @inline(never) static func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float { blockedSum(p, n) { $0 } }
    @inline(never) static func rowSumOfMagnitudes(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        blockedSum(p, n) { $0.replacing(with: -$0, where: $0 .< 0) }
    }
    @inline(never) static func rowSumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Float { blockedSum(p, n) { $0 * $0 } }
    @inline(never) static func rowSumOfExponentials(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
        let mv = V(repeating: shift)
        return blockedSum(p, n) { VectorMath.exp($0 - mv) }
    }

    /// Softmax in Float: per slice along the axis, the maximum m, the exponentials e = exp(x − m)
    /// (`VectorMath.exp`, within 2 ulp), their `blockedSum`-ordered sum S (contiguous slices; in
    /// order for strided ones), then e / S, or (x − m) − log S for log-softmax. Slices are spread
    /// over threads; each is computed by one thread in one order, so every thread count gives the
    /// same bits.
    static func softmaxFloat(
        _ src: UnsafeBufferPointer<Float>, _ dst: UnsafeMutableBufferPointer<Float>, outer: Int, axis: Int, inner: Int, log: Bool, threads: Int
    ) {
        guard let sp = src.baseAddress, let dp = dst.baseAddress, axis > 0 else { return }
        Parallel.forEachChunk(outer * inner, threads: threads, grain: max(1, 8192 / axis)) { range in
            for slice in range {
                let o = slice / inner, i = slice % inner
                let s = sp + o * axis * inner + i, d = dp + o * axis * inner + i
                if inner == 1 {
                    softmaxRow(s, d, axis, log: log)
                    continue
                }
                var m: Float = -.infinity
                for a in 0..<axis { m = Swift.max(m, s[a * inner]) }
                var sum: Float = 0
                for a in 0..<axis {
                    let e = Foundation.exp(s[a * inner] - m)
                    d[a * inner] = e
                    sum += e
                }
                if log {
                    let l = Foundation.log(sum)
                    for a in 0..<axis { d[a * inner] = (s[a * inner] - m) - l }
                } else {
                    for a in 0..<axis { d[a * inner] /= sum }
                }
            }
        }
    }

    /// One contiguous slice of `softmaxFloat`, in functions of their own: inside the threaded
    /// closure, and inside one function with the inlined exponentials, the vector loads, stores
    /// and divisions were left as calls and four-lane pieces (softmax over 8×12×128×128 took 2.8 ms
    /// on one thread).
    @inline(never)
    static func softmaxRow(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ axis: Int, log: Bool) {
        let m = rowMaximum(s, axis)
        VectorMath.map(s, into: d, count: axis, Lanes.ShiftedExp(shift: V(repeating: m)))
        let sum = blockedSum(UnsafePointer(d), axis) { $0 }
        if log {
            let l = Foundation.log(sum)
            for a in 0..<axis { d[a] = (s[a] - m) - l }
        } else {
            divide(d, axis, by: sum)
        }
    }

    /// The largest of `n` floats, exact in any order (a NaN makes every softmax output NaN
    /// whatever this returns).
    @inline(never)
    static func rowMaximum(_ s: UnsafePointer<Float>, _ n: Int) -> Float {
        var mv = V(repeating: -.infinity)
        var a = 0
        while a + V.scalarCount <= n {
            let v = UnsafeRawPointer(s + a).loadUnaligned(as: V.self)
            mv = mv.replacing(with: v, where: v .> mv)
            a += V.scalarCount
        }
        var m = mv.max()
        while a < n { m = Swift.max(m, s[a]); a += 1 }
        return m
    }

    /// `d[a] /= divisor` for `a < n`, sixteen at a time: the same correctly rounded quotients as
    /// one at a time.
    @inline(never)
    static func divide(_ d: UnsafeMutablePointer<Float>, _ n: Int, by divisor: Float) {
        let sv = V(repeating: divisor)
        var a = 0
        while a + V.scalarCount <= n {
            let v = UnsafeRawPointer(d + a).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(d + a).storeBytes(of: v / sv, as: V.self)
            a += V.scalarCount
        }
        while a < n { d[a] /= divisor; a += 1 }
    }
}
