import Foundation

/// A binary elementwise operation with numpy broadcasting.
public enum BinaryOp: String, Sendable, CaseIterable {
    case add, sub, mul, div, pow, max, min, mod, fmod
    case equal, less, greater, lessOrEqual, greaterOrEqual
    case and, or, xor
    case bitShiftLeft, bitShiftRight

    /// Whether the result is bool whatever the operand type.
    public var isComparison: Bool {
        switch self {
        case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual: return true
        default: return false
        }
    }
}

/// Elementwise kernels with broadcasting, for every dtype.
public enum Elementwise {
    /// `out = a ⊙ b` with numpy broadcasting; `out` has the broadcast shape. Arithmetic needs
    /// both operands of one dtype; comparisons write bool.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, into out: Tensor, activation: Activation? = nil) {
        binary(op, a, b, into: out, activation: activation, walk: BroadcastWalk(output: out.shape, operands: [a.shape, b.shape]))
    }

    /// `binary` with the walk of `a` and `b` over `out` prepared ahead (`BroadcastWalk(output:
    /// out.shape, operands: [a.shape, b.shape])`). `out` may be `a` when `a` has `out`'s shape.
    /// - threads: float32 add, sub, mul and div split their rows over threads (each element is
    ///   computed alone, so the bits do not depend on the split).
    public static func binary(
        _ op: BinaryOp, _ a: Tensor, _ b: Tensor, into out: Tensor, activation: Activation? = nil, walk: BroadcastWalk, threads: Int = 1
    ) {
        switch a.dtype {
        case .float32: run(op, a, b, out, Float.self, activation, walk, threads: threads)
        case .float64: run(op, a, b, out, Double.self, activation, walk)
        case .float16, .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float4e2m1, .float8e8m0:
            // Computed in float32 and rounded once, as the node tests expect.
            let o32 = Tensor(zeros: out.shape, dtype: op.isComparison ? .bool : .float32)
            run(op, a.converted(to: .float32), b.converted(to: .float32), o32, Float.self, op.isComparison ? nil : activation, walk)
            o32.convert(into: out)
        case .int32: run(op, a, b, out, Int32.self, nil, walk)
        case .int64: run(op, a, b, out, Int64.self, nil, walk)
        case .int8: run(op, a, b, out, Int8.self, nil, walk)
        case .uint8: run(op, a, b, out, UInt8.self, nil, walk)
        case .int16: run(op, a, b, out, Int16.self, nil, walk)
        case .uint16: run(op, a, b, out, UInt16.self, nil, walk)
        case .uint32: run(op, a, b, out, UInt32.self, nil, walk)
        case .uint64: run(op, a, b, out, UInt64.self, nil, walk)
        case .bool: run(op, a, b, out, Bool.self, nil, walk)
        case .int4, .uint4, .int2, .uint2:
            // Computed in int64 and converted back (wrapping, as a C cast).
            let o64 = Tensor(zeros: out.shape, dtype: op.isComparison ? .bool : .int64)
            run(op, a.converted(to: .int64), b.converted(to: .int64), o64, Int64.self, nil, walk)
            o64.convert(into: out)
        case .string: return  // the runtime refuses strings before any kernel sees them
        }
    }

    private static func run<T: TensorScalar>(
        _ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, _: T.Type, _ activation: Activation?, _ walk: BroadcastWalk, threads: Int = 1
    ) {
        if op.isComparison {
            broadcastLoop(a, b, out, walk, ClosureKernel(f: comparison(op, T.self)))
        } else {
            if T.self == Float.self, [.add, .sub, .mul, .div].contains(op) {
                // Stateless kernel types let the compiler inline and vectorize the inner loop;
                // a closure would cost an indirect call per element.
                switch op {
                case .add: broadcastLoop(a, b, out, walk, FloatAdd(), threads: threads)
                case .sub: broadcastLoop(a, b, out, walk, FloatSub(), threads: threads)
                case .mul: broadcastLoop(a, b, out, walk, FloatMul(), threads: threads)
                default: broadcastLoop(a, b, out, walk, FloatDiv(), threads: threads)
                }
            } else {
                broadcastLoop(a, b, out, walk, ClosureKernel(f: arithmetic(op, T.self)))
            }
            if let act = activation, T.self == Float.self {
                out.withUnsafeMutableBufferPointer(as: Float.self) { act.apply($0.baseAddress!, count: $0.count) }
            } else if let act = activation, T.self == Double.self {
                Float64Kernels.activate(out, act)
            }
        }
    }

    /// ONNX `PRelu`: `max(x, 0) + slope·min(x, 0)` with `slope` broadcast to `x` (`walk` is the
    /// walk of x and slope over `out`), each step the op `binary` computes, in one pass.
    /// float16 and bfloat16 compute in float32 and round once, which gives the bits of rounding
    /// after each step: one of the two terms is always zero. Integers wrap as `binary`'s do.
    public static func prelu(_ x: Tensor, _ slope: Tensor, into out: Tensor, walk: BroadcastWalk) {
        switch x.dtype {
        case .float32: prelu(x, slope, out, walk, Float.self)
        case .float64: prelu(x, slope, out, walk, Double.self)
        case .int32: prelu(x, slope, out, walk, Int32.self)
        case .int64: prelu(x, slope, out, walk, Int64.self)
        case .int8: prelu(x, slope, out, walk, Int8.self)
        case .uint8: prelu(x, slope, out, walk, UInt8.self)
        case .int16: prelu(x, slope, out, walk, Int16.self)
        case .uint16: prelu(x, slope, out, walk, UInt16.self)
        case .uint32: prelu(x, slope, out, walk, UInt32.self)
        case .uint64: prelu(x, slope, out, walk, UInt64.self)
        case .int4, .uint4, .int2, .uint2, .bool:
            let o64 = Tensor(zeros: out.shape, dtype: .int64)
            prelu(x.converted(to: .int64), slope.converted(to: .int64), o64, walk, Int64.self)
            o64.convert(into: out)
        case .string: return
        case .float16, .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float4e2m1, .float8e8m0:
            let o32 = Tensor(zeros: out.shape, dtype: .float32)
            prelu(x.converted(to: .float32), slope.converted(to: .float32), o32, walk, Float.self)
            o32.convert(into: out)
        }
    }

    private static func prelu<T: TensorScalar>(_ x: Tensor, _ slope: Tensor, _ out: Tensor, _ walk: BroadcastWalk, _: T.Type) {
        let max = arithmetic(.max, T.self), min = arithmetic(.min, T.self), mul = arithmetic(.mul, T.self), add = arithmetic(.add, T.self)
        let zero = T(fromInt64: 0)
        broadcastLoop(x, slope, out, walk, ClosureKernel(f: { v, s in add(max(v, zero), mul(min(v, zero), s)) }))
    }

    private static func comparison<T: TensorScalar>(_ op: BinaryOp, _: T.Type) -> (T, T) -> Bool {
        if T.dtype == .uint64 {
            // Ordered as unsigned 64-bit values (their Int64 views are bit patterns).
            let u = { (x: T) in UInt64(bitPattern: x.int64Value) }
            switch op {
            case .equal: return { u($0) == u($1) }
            case .less: return { u($0) < u($1) }
            case .greater: return { u($0) > u($1) }
            case .lessOrEqual: return { u($0) <= u($1) }
            default: return { u($0) >= u($1) }
            }
        }
        switch op {
        case .equal: return { $0.doubleValue == $1.doubleValue && $0.int64Value == $1.int64Value }
        case .less: return T.dtype == .int64 ? { $0.int64Value < $1.int64Value } : { $0.doubleValue < $1.doubleValue }
        case .greater: return T.dtype == .int64 ? { $0.int64Value > $1.int64Value } : { $0.doubleValue > $1.doubleValue }
        case .lessOrEqual: return T.dtype == .int64 ? { $0.int64Value <= $1.int64Value } : { $0.doubleValue <= $1.doubleValue }
        default: return T.dtype == .int64 ? { $0.int64Value >= $1.int64Value } : { $0.doubleValue >= $1.doubleValue }
        }
    }

    private static func arithmetic<T: TensorScalar>(_ op: BinaryOp, _: T.Type) -> (T, T) -> T {
        if T.self == Float.self { return unsafeBitCast(floatingOp(op, Float.self), to: ((T, T) -> T).self) }
        if T.self == Double.self { return unsafeBitCast(floatingOp(op, Double.self), to: ((T, T) -> T).self) }
        if T.self == Bool.self {
            switch op {
            case .and, .mul, .min: return { T(fromInt64: ($0.int64Value & $1.int64Value)) }
            case .xor: return { T(fromInt64: ($0.int64Value ^ $1.int64Value)) }
            default: return { T(fromInt64: ($0.int64Value | $1.int64Value)) }
            }
        }
        // Integers: computed in Int64 and wrapped back, as C would for the narrow types.
        let isUnsigned = T.dtype.isUnsigned
        if T.dtype == .uint64 {
            // Division, remainder and order on the unsigned values behind the Int64 bit patterns.
            let u = { (x: T) in UInt64(bitPattern: x.int64Value) }
            let t = { (x: UInt64) in T(fromInt64: Int64(bitPattern: x)) }
            switch op {
            case .div: return { u($1) == 0 ? t(0) : t(u($0) / u($1)) }
            case .mod, .fmod: return { u($1) == 0 ? t(0) : t(u($0) % u($1)) }
            case .max: return { u($0) >= u($1) ? $0 : $1 }
            case .min: return { u($0) <= u($1) ? $0 : $1 }
            case .pow: return { t(UInt64(fromDouble: Foundation.pow($0.doubleValue, $1.doubleValue))) }
            default: break
            }
        }
        switch op {
        case .add: return { T(fromInt64: $0.int64Value &+ $1.int64Value) }
        case .sub: return { T(fromInt64: $0.int64Value &- $1.int64Value) }
        case .mul: return { T(fromInt64: $0.int64Value &* $1.int64Value) }
        // Int64.min / −1 overflows: the quotient wraps (to Int64.min, as numpy's) and the
        // remainder is 0, instead of trapping.
        case .div: return { let d = $1.int64Value; return T(fromInt64: d == 0 ? 0 : $0.int64Value.dividedReportingOverflow(by: d).partialValue) }
        case .pow: return { T(fromInt64: saturatingInt64(Foundation.pow($0.doubleValue, $1.doubleValue))) }
        case .max: return { $0.int64Value >= $1.int64Value ? $0 : $1 }
        case .min: return { $0.int64Value <= $1.int64Value ? $0 : $1 }
        case .mod:
            // Integer Mod (fmod = 0) takes the sign of the divisor, like Python.
            return { let d = $1.int64Value; if d == 0 { return T(fromInt64: 0) }
                var r = $0.int64Value.remainderReportingOverflow(dividingBy: d).partialValue
                if r != 0 && ((r < 0) != (d < 0)) { r += d }
                return T(fromInt64: r) }
        case .fmod: return { let d = $1.int64Value; return T(fromInt64: d == 0 ? 0 : $0.int64Value.remainderReportingOverflow(dividingBy: d).partialValue) }
        case .and: return { T(fromInt64: $0.int64Value & $1.int64Value) }
        case .or: return { T(fromInt64: $0.int64Value | $1.int64Value) }
        case .xor: return { T(fromInt64: $0.int64Value ^ $1.int64Value) }
        case .bitShiftLeft: return { let s = $1.int64Value; return T(fromInt64: s >= 64 || s < 0 ? 0 : $0.int64Value << s) }
        case .bitShiftRight:
            // A shift outside 0..<64 moves every bit out: 0, or the sign for signed types.
            return { let x = $0.int64Value, s = $1.int64Value
                if s >= 64 || s < 0 { return T(fromInt64: isUnsigned || x >= 0 ? 0 : -1) }
                return T(fromInt64: isUnsigned ? Int64(bitPattern: UInt64(bitPattern: x) >> UInt64(s)) : x >> s) }
        default: return { a, _ in a }
        }
    }

    /// Arithmetic on Float or Double. Pow is computed in Double and rounded once (for Float that
    /// is at least as accurate as powf); fmod is the IEEE remainder truncated toward zero.
    private static func floatingOp<T: BinaryFloatingPoint & TensorScalar>(_ op: BinaryOp, _: T.Type) -> (T, T) -> T {
        switch op {
        case .add: return { $0 + $1 }
        case .sub: return { $0 - $1 }
        case .mul: return { $0 * $1 }
        case .div: return { $0 / $1 }
        case .pow: return { T(fromDouble: Foundation.pow($0.doubleValue, $1.doubleValue)) }
        case .max: return { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .min: return { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        case .fmod: return { $0.truncatingRemainder(dividingBy: $1) }
        case .mod: return { let r = $0.truncatingRemainder(dividingBy: $1); return r != 0 && ((r < 0) != ($1 < 0)) ? r + $1 : r }
        default: return { a, _ in a }
        }
    }

    /// Walks the broadcast index space with the innermost dimension as a tight loop.
    @inline(__always)
    private static func broadcastLoop<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ out: Tensor, _ walk: BroadcastWalk, _ f: K, threads: Int = 1) {
        let inner = walk.rowLength, rows = walk.rowCount
        // Rows over threads when there are enough elements (one row: its elements, as rows of a walk
        // of the same strides cut in pieces of whole vectors).
        if threads > 1 && rows * inner >= 1 << 16 {
            let box = UncheckedBox((a, b, out))
            if rows >= threads {
                Parallel.forEachChunk(rows, threads: threads) { range in
                    let (a, b, out) = box.value
                    broadcastRows(a, b, out, walk, f, rows: range)
                }
                return
            }
            if rows == 1 {
                let pieces = (inner + 1023) / 1024
                Parallel.forEachChunk(pieces, threads: threads) { range in
                    let (a, b, out) = box.value
                    row(a, b, out, walk, f, elements: (range.lowerBound * 1024)..<min(inner, range.upperBound * 1024))
                }
                return
            }
        }
        broadcastRows(a, b, out, walk, f, rows: 0..<rows)
    }

    /// Elements `elements` of a walk's only row.
    private static func row<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ out: Tensor, _ walk: BroadcastWalk, _ f: K, elements: Range<Int>) {
        let sa = walk.strides[0][walk.dims.count - 1], sb = walk.strides[1][walk.dims.count - 1]
        span(a.storage.base.assumingMemoryBound(to: K.In.self) + elements.lowerBound * sa,
             b.storage.base.assumingMemoryBound(to: K.In.self) + elements.lowerBound * sb,
             out.storage.base.assumingMemoryBound(to: K.Out.self) + elements.lowerBound, count: elements.count, sa, sb, f)
    }

    private static func broadcastRows<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ out: Tensor, _ walk: BroadcastWalk, _ f: K, rows: Range<Int>) {
        let pa = a.storage.base.assumingMemoryBound(to: K.In.self)
        let pb = b.storage.base.assumingMemoryBound(to: K.In.self)
        let po = out.storage.base.assumingMemoryBound(to: K.Out.self)
        let inner = walk.rowLength
        let sa = walk.strides[0][walk.dims.count - 1], sb = walk.strides[1][walk.dims.count - 1]
        walk.forEachRow(in: rows) { o, offsets in span(pa + offsets[0], pb + offsets[1], po + o * inner, count: inner, sa, sb, f) }
    }

    /// `dst[i] = f(x[i·sa], y[i·sb])` for `i < count`, with the contiguous and broadcast cases as
    /// tight loops the compiler vectorises.
    @inline(__always)
    private static func span<K: BinaryKernel>(
        _ x: UnsafeMutablePointer<K.In>, _ y: UnsafeMutablePointer<K.In>, _ dst: UnsafeMutablePointer<K.Out>, count n: Int, _ sa: Int, _ sb: Int, _ f: K
    ) {
        if sa == 1 && sb == 1 {
            for i in 0..<n { dst[i] = f(x[i], y[i]) }
        } else if sa == 1 {
            let yv = y[0]
            for i in 0..<n { dst[i] = f(x[i], yv) }
        } else if sb == 1 {
            let xv = x[0]
            for i in 0..<n { dst[i] = f(xv, y[i]) }
        } else {
            for i in 0..<n { dst[i] = f(x[i * sa], y[i * sb]) }
        }
    }
}

private protocol BinaryKernel {
    associatedtype In: TensorScalar
    associatedtype Out: TensorScalar
    func callAsFunction(_ a: In, _ b: In) -> Out
}

private struct ClosureKernel<In: TensorScalar, Out: TensorScalar>: BinaryKernel {
    let f: (In, In) -> Out
    @inline(__always) func callAsFunction(_ a: In, _ b: In) -> Out { f(a, b) }
}

private struct FloatAdd: BinaryKernel {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
}
private struct FloatSub: BinaryKernel {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b }
}
private struct FloatMul: BinaryKernel {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
}
private struct FloatDiv: BinaryKernel {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b }
}
