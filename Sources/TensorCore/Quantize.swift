/// How the elements of a tensor map to the entries of its quantization scale and zero point:
/// one per tensor, one per index along an axis, or one per block of `block` indices along an
/// axis (ONNX's blocked quantization). The tensor is seen as `[outer, axisLength, inner]`; the
/// element `(o, a, i)` uses entry `o·outerStride + (a / block)·axisStride + i·innerStride`.
public struct QuantizationMap: Sendable, Equatable {
    public var outer: Int, axisLength: Int, inner: Int
    public var block: Int
    public var outerStride: Int, axisStride: Int, innerStride: Int

    /// One scale for the whole tensor.
    public static func perTensor(count: Int) -> QuantizationMap {
        QuantizationMap(outer: 1, axisLength: 1, inner: count, block: 1, outerStride: 0, axisStride: 0, innerStride: 0)
    }

    /// One scale per index along `axis` (already made non-negative).
    public static func perAxis(shape: [Int], axis: Int) -> QuantizationMap {
        QuantizationMap(
            outer: shape[..<axis].product, axisLength: shape[axis], inner: shape[(axis + 1)...].product, block: 1,
            outerStride: 0, axisStride: 1, innerStride: 0)
    }

    /// One scale per `block` indices along `axis`; the scale tensor has the input's shape with
    /// `⌈shape[axis] / block⌉` at `axis`.
    public static func blocked(shape: [Int], axis: Int, block: Int) -> QuantizationMap {
        let inner = shape[(axis + 1)...].product, blocks = (shape[axis] + block - 1) / block
        return QuantizationMap(
            outer: shape[..<axis].product, axisLength: shape[axis], inner: inner, block: block,
            outerStride: blocks * inner, axisStride: inner, innerStride: 1)
    }

    /// Calls `body(scaleIndex, elementStart, count, innerStride)` for each run of `inner` elements.
    @inlinable func forEachRun(_ body: (Int, Int, Int, Int) -> Void) {
        var start = 0
        for o in 0..<outer {
            for a in 0..<axisLength {
                body(o * outerStride + (a / block) * axisStride, start, inner, innerStride)
                start += inner
            }
        }
    }
}

/// ONNX QuantizeLinear and DequantizeLinear on integer types (int8, uint8, int16, uint16, and
/// int32 for dequantization).
public enum Quantization {
    /// The arithmetic the division `x / scale` is carried out in.
    public enum Precision: Sendable { case float16, float32, float64 }

    /// `y = clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax)`, the division rounded to
    /// `precision` as ONNX's reference does it (float16 inputs divide in float16 unless told
    /// otherwise). NaN quotients give `qmin`, as in that reference.
    public static func quantize(
        _ x: Tensor, scale: Tensor, zeroPoint: Tensor?, into y: Tensor, map: QuantizationMap, precision: Precision, saturate: Bool = true
    ) {
        let (qmin, qmax) = y.dtype.integerRange
        let fp8 = y.dtype.miniFloatFormat  // FP8 or FP4
        var bits = [UInt8](repeating: 0, count: fp8 == nil ? 0 : x.count)
        let xs = x.doubles(), ss = scale.doubles()
        let zs = zeroPoint?.doubles()
        var q = [Int64](repeating: 0, count: x.count)
        map.forEachRun { s0, start, count, sStride in
            for j in 0..<count {
                let s = ss[s0 + j * sStride], v = xs[start + j]
                let quotient: Double
                switch precision {
                case .float16: quotient = Double(Float16(Float(v) / Float(s)))
                case .float32: quotient = Double(Float(v) / Float(s))
                case .float64: quotient = v / s
                }
                if let fp8 {
                    // FP8: the quotient plus the zero point, rounded once to the format.
                    bits[start + j] = fp8.encode(quotient + (zs?[s0 + j * sStride] ?? 0), saturate: saturate)
                    continue
                }
                let shifted = quotient.rounded(.toNearestOrEven) + (zs?[s0 + j * sStride] ?? 0)
                q[start + j] = shifted.isNaN ? qmin : Int64(Swift.min(Swift.max(shifted, Double(qmin)), Double(qmax)))
            }
        }
        if fp8 != nil {
            bits.withUnsafeBytes { Tensor(shape: y.shape, dtype: y.dtype, bytes: $0) }.copy(into: y)
            return
        }
        Tensor(shape: y.shape, scalars: q).convert(into: y)
    }

    /// `y = (x − zeroPoint) · scale`, computed in float32 (the difference exactly, then one
    /// rounding of the product) and converted to y's float type.
    public static func dequantize(_ x: Tensor, scale: Tensor, zeroPoint: Tensor?, into y: Tensor, map: QuantizationMap) {
        let xs = x.doubles(), ss = scale.scalars(as: Float.self)
        let zs = zeroPoint?.doubles()
        var out = [Float](repeating: 0, count: x.count)
        map.forEachRun { s0, start, count, sStride in
            for j in 0..<count {
                let k = s0 + j * sStride
                out[start + j] = Float(xs[start + j] - (zs?[k] ?? 0)) * ss[k]
            }
        }
        Tensor(shape: y.shape, scalars: out).convert(into: y)
    }
}

extension DType {
    /// The smallest and largest values of an integer type (bool counts as 0...1).
    public var integerRange: (Int64, Int64) {
        switch self {
        case .int8: return (Int64(Int8.min), Int64(Int8.max))
        case .uint8: return (0, Int64(UInt8.max))
        case .int16: return (Int64(Int16.min), Int64(Int16.max))
        case .uint16: return (0, Int64(UInt16.max))
        case .int32: return (Int64(Int32.min), Int64(Int32.max))
        case .int64, .uint64: return (Int64.min, Int64.max)
        case .uint32: return (0, Int64(UInt32.max))
        case .bool: return (0, 1)
        case .int4: return (-8, 7)
        case .uint4: return (0, 15)
        case .int2: return (-2, 1)
        case .uint2: return (0, 3)
        case .float16, .bfloat16, .float32, .float64, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float4e2m1, .float8e8m0, .string:
            return (Int64.min, Int64.max)
        }
    }
}
