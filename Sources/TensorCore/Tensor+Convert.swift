/// Element-type conversion (ONNX `Cast` semantics).
///
/// Float to integer rounds toward zero and saturates (NaN becomes 0); integer to integer wraps
/// like a C cast; anything to bool is `value != 0`; float to float16 rounds to nearest even.
extension Tensor {
    /// A new tensor with the same shape and the elements converted to `target`.
    public func converted(to target: DType) -> Tensor {
        let out = Tensor(zeros: shape, dtype: target)
        convert(into: out)
        return out
    }

    /// Converts this tensor's elements into `out` (same count, any dtype).
    public func convert(into out: Tensor) {
        precondition(out.count == count)
        if out.dtype == dtype { copy(into: out); return }
        switch dtype {
        case .float32: convertFrom(Float.self, into: out)
        case .float64: convertFrom(Double.self, into: out)
        case .float16: convertFrom(Float16.self, into: out)
        case .bfloat16: convertFrom(BFloat16.self, into: out)
        case .int8: convertFrom(Int8.self, into: out)
        case .uint8: convertFrom(UInt8.self, into: out)
        case .int16: convertFrom(Int16.self, into: out)
        case .uint16: convertFrom(UInt16.self, into: out)
        case .uint32: convertFrom(UInt32.self, into: out)
        case .uint64: convertFrom(UInt64.self, into: out)
        case .int32: convertFrom(Int32.self, into: out)
        case .int64: convertFrom(Int64.self, into: out)
        case .bool: convertFrom(Bool.self, into: out)
        case .float8e4m3fn: convertFrom(Float8E4M3FN.self, into: out)
        case .float8e4m3fnuz: convertFrom(Float8E4M3FNUZ.self, into: out)
        case .float8e5m2: convertFrom(Float8E5M2.self, into: out)
        case .float8e5m2fnuz: convertFrom(Float8E5M2FNUZ.self, into: out)
        case .float4e2m1: convertFrom(Float4E2M1.self, into: out)
        case .float8e8m0: convertFrom(Float8E8M0.self, into: out)
        case .int4: convertFrom(Int4.self, into: out)
        case .uint4: convertFrom(UInt4.self, into: out)
        case .int2: convertFrom(Int2.self, into: out)
        case .uint2: convertFrom(UInt2.self, into: out)
        case .string: return  // strings have no raw elements; layers never convert them
        }
    }

    private func convertFrom<S: TensorScalar>(_: S.Type, into out: Tensor) {
        switch out.dtype {
        case .float32: convertPair(S.self, Float.self, into: out)
        case .float64: convertPair(S.self, Double.self, into: out)
        case .float16: convertPair(S.self, Float16.self, into: out)
        case .bfloat16: convertPair(S.self, BFloat16.self, into: out)
        case .int8: convertPair(S.self, Int8.self, into: out)
        case .uint8: convertPair(S.self, UInt8.self, into: out)
        case .int16: convertPair(S.self, Int16.self, into: out)
        case .uint16: convertPair(S.self, UInt16.self, into: out)
        case .uint32: convertPair(S.self, UInt32.self, into: out)
        case .uint64: convertPair(S.self, UInt64.self, into: out)
        case .int32: convertPair(S.self, Int32.self, into: out)
        case .int64: convertPair(S.self, Int64.self, into: out)
        case .bool: convertPair(S.self, Bool.self, into: out)
        case .float8e4m3fn: convertPair(S.self, Float8E4M3FN.self, into: out)
        case .float8e4m3fnuz: convertPair(S.self, Float8E4M3FNUZ.self, into: out)
        case .float8e5m2: convertPair(S.self, Float8E5M2.self, into: out)
        case .float8e5m2fnuz: convertPair(S.self, Float8E5M2FNUZ.self, into: out)
        case .float4e2m1: convertPair(S.self, Float4E2M1.self, into: out)
        case .float8e8m0: convertPair(S.self, Float8E8M0.self, into: out)
        case .int4: convertPair(S.self, Int4.self, into: out)
        case .uint4: convertPair(S.self, UInt4.self, into: out)
        case .int2: convertPair(S.self, Int2.self, into: out)
        case .uint2: convertPair(S.self, UInt2.self, into: out)
        case .string: return
        }
    }

    private func convertPair<S: TensorScalar, D: TensorScalar>(_: S.Type, _: D.Type, into out: Tensor) {
        let viaInteger = !dtype.isFloatingPoint && !out.dtype.isFloatingPoint && dtype.miniFloatFormat == nil && out.dtype.miniFloatFormat == nil
        let toBool = out.dtype == .bool
        withUnsafeBufferPointer(as: S.self) { src in
            out.withUnsafeMutableBufferPointer(as: D.self) { dst in
                if S.self == Float.self, D.self == Float16.self {
                    // The hot path of simulated FP16: direct rounding, no detour through Double
                    // (Float → Double → Float16 could double-round).
                    let s = UnsafeRawBufferPointer(src).bindMemory(to: Float.self)
                    let d = UnsafeMutableRawBufferPointer(dst).bindMemory(to: Float16.self)
                    for i in 0..<s.count { d[i] = Float16(s[i]) }
                } else if toBool {
                    for i in 0..<src.count { dst[i] = D(fromDouble: src[i].doubleValue == 0 ? 0 : 1) }
                } else if viaInteger {
                    for i in 0..<src.count { dst[i] = D(fromInt64: src[i].int64Value) }
                } else {
                    for i in 0..<src.count { dst[i] = D(fromDouble: src[i].doubleValue) }
                }
            }
        }
    }
}

extension Tensor {
    /// ONNX `Cast` into `out`: `convert(into:)`, except that a conversion into FP8 without
    /// saturation rounds each value once from Double with `MiniFloat` (out-of-range values become
    /// inf or NaN), and a conversion into float8e8m0 rounds the float32 value as `e8m0Rounding`
    /// says (ONNX's bit rule).
    public func cast(into out: Tensor, saturate: Bool, e8m0Rounding: MiniFloat.E8M0Rounding = .up) {
        if out.dtype == .float8e8m0 && dtype != out.dtype {
            let codes = converted(to: .float32).scalars(as: Float.self).map { MiniFloat.e8m0Code($0, roundMode: e8m0Rounding, saturate: saturate) }
            codes.withUnsafeBytes { Tensor(shape: out.shape, dtype: out.dtype, bytes: $0) }.copy(into: out)
            return
        }
        guard !saturate, let format = out.dtype.miniFloatFormat, dtype != out.dtype else { convert(into: out); return }
        let bits = doubles().map { format.encode($0, saturate: false) }
        bits.withUnsafeBytes { Tensor(shape: out.shape, dtype: out.dtype, bytes: $0) }.copy(into: out)
    }
}
