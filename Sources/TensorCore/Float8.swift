/// The FP8 element types of ONNX (float8e4m3fn, float8e4m3fnuz, float8e5m2, float8e5m2fnuz), FP4
/// (float4e2m1) and the MX scale type float8e8m0: one byte each in memory, values and rounding by
/// `MiniFloat`. Conversions into them saturate, as ONNX `Cast`
/// does by default (its `saturate = 0` is handled by the Cast layer); they are storage types:
/// kernels compute in float32 after converting.
public protocol Float8Scalar: TensorScalar {
    static var format: MiniFloat { get }
    var bitPattern: UInt8 { get }
    init(bitPattern: UInt8)
}

extension Float8Scalar {
    @inlinable public init(fromDouble value: Double) { self.init(bitPattern: Self.format.encode(value, saturate: true)) }
    @inlinable public var doubleValue: Double { Double(Self.format.decode(bitPattern)) }
    @inlinable public init(fromInt64 value: Int64) { self.init(fromDouble: Double(value)) }
    @inlinable public var int64Value: Int64 { saturatingInt64(doubleValue) }
}

public struct Float8E4M3FN: Float8Scalar, Hashable {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var dtype: DType { .float8e4m3fn }
    public static var format: MiniFloat { .e4m3fn }
}

public struct Float8E4M3FNUZ: Float8Scalar, Hashable {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var dtype: DType { .float8e4m3fnuz }
    public static var format: MiniFloat { .e4m3fnuz }
}

public struct Float8E5M2: Float8Scalar, Hashable {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var dtype: DType { .float8e5m2 }
    public static var format: MiniFloat { .e5m2 }
}

public struct Float8E5M2FNUZ: Float8Scalar, Hashable {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var dtype: DType { .float8e5m2fnuz }
    public static var format: MiniFloat { .e5m2fnuz }
}

public struct Float4E2M1: Float8Scalar, Hashable {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern & 0x0F }
    public static var dtype: DType { .float4e2m1 }
    public static var format: MiniFloat { .e2m1fn }
}

/// float8e8m0: converted from other types rounding up to the next power of two (ONNX `Cast`'s
/// default `round_mode`), saturating at 2^127; `Cast` handles the other modes.
public struct Float8E8M0: Float8Scalar, Hashable {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var dtype: DType { .float8e8m0 }
    public static var format: MiniFloat { .e8m0fnu }
    @inlinable public init(fromDouble value: Double) { self.init(bitPattern: MiniFloat.e8m0Code(Float(value), roundMode: .up, saturate: true)) }
}

extension DType {
    /// The `MiniFloat` format of the FP8, FP4 and E8M0 dtypes.
    public var miniFloatFormat: MiniFloat? {
        switch self {
        case .float8e4m3fn: .e4m3fn
        case .float8e4m3fnuz: .e4m3fnuz
        case .float8e5m2: .e5m2
        case .float8e5m2fnuz: .e5m2fnuz
        case .float4e2m1: .e2m1fn
        case .float8e8m0: .e8m0fnu
        default: nil
        }
    }
}

/// A 4- or 2-bit integer held in one byte (int4, uint4, int2, uint2). From a float: truncated
/// toward zero, and 0 when that is outside the type's range or NaN (what ONNX's reference, through
/// ml_dtypes, gives); from an integer: the low bits, sign-extended for the signed types (a C cast).
public protocol SubByteInteger: TensorScalar {
    static var bits: Int { get }
    static var signed: Bool { get }
    var storage: Int8 { get }
    init(storage: Int8)
}

extension SubByteInteger {
    public static var minimum: Int64 { signed ? -(1 << (Int64(bits) - 1)) : 0 }
    public static var maximum: Int64 { signed ? (1 << (Int64(bits) - 1)) - 1 : (1 << Int64(bits)) - 1 }
    @inlinable public init(fromDouble value: Double) {
        let t = value.rounded(.towardZero)
        guard t.isFinite, t >= Double(Self.minimum), t <= Double(Self.maximum) else { self.init(storage: 0); return }
        self.init(storage: Int8(truncatingIfNeeded: Int64(t)))
    }
    @inlinable public var doubleValue: Double { Double(int64Value) }
    @inlinable public init(fromInt64 value: Int64) {
        let mask = Int64(1) << Int64(Self.bits) - 1
        var v = value & mask
        if Self.signed && v > Self.maximum { v -= mask + 1 }
        self.init(storage: Int8(truncatingIfNeeded: v))
    }
    @inlinable public var int64Value: Int64 { Self.signed ? Int64(storage) : Int64(UInt8(bitPattern: storage)) }
}

public struct Int4: SubByteInteger, Hashable {
    public var storage: Int8
    public init(storage: Int8) { self.storage = storage }
    public static var dtype: DType { .int4 }
    public static var bits: Int { 4 }
    public static var signed: Bool { true }
}

public struct UInt4: SubByteInteger, Hashable {
    public var storage: Int8
    public init(storage: Int8) { self.storage = storage }
    public static var dtype: DType { .uint4 }
    public static var bits: Int { 4 }
    public static var signed: Bool { false }
}

public struct Int2: SubByteInteger, Hashable {
    public var storage: Int8
    public init(storage: Int8) { self.storage = storage }
    public static var dtype: DType { .int2 }
    public static var bits: Int { 2 }
    public static var signed: Bool { true }
}

public struct UInt2: SubByteInteger, Hashable {
    public var storage: Int8
    public init(storage: Int8) { self.storage = storage }
    public static var dtype: DType { .uint2 }
    public static var bits: Int { 2 }
    public static var signed: Bool { false }
}

extension Tensor {
    /// A tensor of a 4- or 2-bit type from ONNX's packed bytes (two or four elements a byte, the
    /// first in the low bits); nil when `bytes` is too short.
    public static func unpacking(_ bytes: [UInt8], shape: [Int], dtype: DType) -> Tensor? {
        let count = shape.product, bits = dtype.bitWidth
        guard bits < 8, bytes.count >= dtype.packedByteCount(count) else { return nil }
        let perByte = 8 / bits, mask = UInt8((1 << bits) - 1)
        var out = [UInt8](repeating: 0, count: count)
        let signed = dtype == .int4 || dtype == .int2
        for i in 0..<count {
            var v = (bytes[i / perByte] >> UInt8((i % perByte) * bits)) & mask
            // Sign-extend the signed types into their byte.
            if signed && v & (1 << UInt8(bits - 1)) != 0 { v |= ~mask }
            out[i] = v
        }
        return out.withUnsafeBytes { Tensor(shape: shape, dtype: dtype, bytes: $0) }
    }

    /// The elements of a 4- or 2-bit tensor packed as ONNX stores them.
    public func packedBytes() -> [UInt8] {
        let bits = dtype.bitWidth, perByte = 8 / bits, mask = UInt8((1 << bits) - 1)
        var out = [UInt8](repeating: 0, count: dtype.packedByteCount(count))
        withUnsafeBytes { raw in
            for i in 0..<count { out[i / perByte] |= (raw[i] & mask) << UInt8((i % perByte) * bits) }
        }
        return out
    }
}
