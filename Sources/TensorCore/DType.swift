/// The element type of a tensor.
///
/// The raw values are ONNX's `TensorProto.DataType` codes, so importers map them directly.
public enum DType: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case bool = 9
    case float16 = 10
    case float64 = 11
    case uint32 = 12
    case uint64 = 13
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case float8e8m0 = 24
    case uint2 = 25
    case int2 = 26
    /// UTF-8 strings, held as Swift strings (`Tensor(strings:shape:)`), never in raw storage.
    /// (Declared last, so that adding it kept the other cases' order.)
    case string = 8

    /// Bytes per element in memory. The 4- and 2-bit types take one byte each in Touchstone's
    /// tensors (their files pack them: `bitWidth`).
    public var byteSize: Int {
        switch self {
        case .bool, .int8, .uint8, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz,
             .uint4, .int4, .float4e2m1, .float8e8m0, .uint2, .int2: return 1
        case .float16, .bfloat16, .int16, .uint16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        case .string: return 0
        }
    }

    /// Whether the type is a floating-point type the kernels compute in (float32, float64, float16,
    /// bfloat16; the FP8 types are storage only, see `miniFloatFormat`).
    public var isFloatingPoint: Bool {
        self == .float32 || self == .float64 || self == .float16 || self == .bfloat16
    }

    /// Whether the type is an unsigned integer type.
    public var isUnsigned: Bool {
        self == .uint8 || self == .uint16 || self == .uint32 || self == .uint64 || self == .uint4 || self == .uint2
    }

    /// Bits per element in ONNX files: 4 (int4, uint4, float4e2m1: two to a byte, the first in
    /// the low bits) and 2 (int2, uint2: four to a byte, from the low bits up); 8 × `byteSize`
    /// for the rest.
    public var bitWidth: Int {
        switch self {
        case .uint4, .int4, .float4e2m1: 4
        case .uint2, .int2: 2
        default: byteSize * 8
        }
    }

    /// Bytes that `count` elements take packed as ONNX stores them.
    public func packedByteCount(_ count: Int) -> Int { (count * bitWidth + 7) / 8 }

    /// The name numpy and ONNX use for the type.
    public var description: String {
        switch self {
        case .float32: return "float32"
        case .float64: return "float64"
        case .float16: return "float16"
        case .bfloat16: return "bfloat16"
        case .int8: return "int8"
        case .uint8: return "uint8"
        case .int16: return "int16"
        case .uint16: return "uint16"
        case .uint32: return "uint32"
        case .uint64: return "uint64"
        case .int32: return "int32"
        case .int64: return "int64"
        case .bool: return "bool"
        case .float8e4m3fn: return "float8e4m3fn"
        case .float8e4m3fnuz: return "float8e4m3fnuz"
        case .float8e5m2: return "float8e5m2"
        case .float8e5m2fnuz: return "float8e5m2fnuz"
        case .uint4: return "uint4"
        case .int4: return "int4"
        case .float4e2m1: return "float4e2m1"
        case .float8e8m0: return "float8e8m0"
        case .uint2: return "uint2"
        case .int2: return "int2"
        case .string: return "string"
        }
    }
}

/// A Swift scalar type that can be a tensor element.
public protocol TensorScalar: Sendable {
    /// The dtype of tensors holding this scalar.
    static var dtype: DType { get }
    /// Converts from Double (rounding toward zero for integers, saturating is not applied).
    init(fromDouble value: Double)
    /// The value as Double.
    var doubleValue: Double { get }
    /// Converts from Int64, wrapping like a C cast for narrower integers.
    init(fromInt64 value: Int64)
    /// The value as Int64 (floats round toward zero, saturating; NaN is 0).
    var int64Value: Int64 { get }
}

extension TensorScalar where Self: BinaryFloatingPoint {
    @inlinable public init(fromInt64 value: Int64) { self.init(fromDouble: Double(value)) }
    @inlinable public var int64Value: Int64 { saturatingInt64(doubleValue) }
}

extension TensorScalar where Self: FixedWidthInteger {
    @inlinable public init(fromInt64 value: Int64) { self.init(truncatingIfNeeded: value) }
    @inlinable public var int64Value: Int64 { Int64(truncatingIfNeeded: self) }
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    @inlinable public init(fromDouble value: Double) { self = Float(value) }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    @inlinable public init(fromDouble value: Double) { self = value }
    @inlinable public var doubleValue: Double { self }
}
extension Float16: TensorScalar {
    public static var dtype: DType { .float16 }
    @inlinable public init(fromDouble value: Double) { self = Float16(Float(value)) }
    @inlinable public var doubleValue: Double { Double(Float(self)) }
}
/// bfloat16: the upper half of an IEEE float32 (8 exponent bits, 7 fraction bits).
public struct BFloat16: Sendable, Hashable {
    public var bitPattern: UInt16
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounds to the nearest bfloat16, ties to even; NaN stays NaN.
    @inlinable public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        } else {
            bitPattern = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
        }
    }

    @inlinable public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }
}

extension BFloat16: TensorScalar {
    public static var dtype: DType { .bfloat16 }
    @inlinable public init(fromDouble value: Double) { self.init(Float(value)) }
    @inlinable public var doubleValue: Double { Double(floatValue) }
    @inlinable public init(fromInt64 value: Int64) { self.init(Float(value)) }
    @inlinable public var int64Value: Int64 { saturatingInt64(doubleValue) }
}

extension Int8: TensorScalar {
    public static var dtype: DType { .int8 }
    @inlinable public init(fromDouble value: Double) { self = Int8(truncatingIfNeeded: saturatingInt64(value)) }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension UInt8: TensorScalar {
    public static var dtype: DType { .uint8 }
    @inlinable public init(fromDouble value: Double) { self = UInt8(truncatingIfNeeded: saturatingInt64(value)) }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension Int16: TensorScalar {
    public static var dtype: DType { .int16 }
    @inlinable public init(fromDouble value: Double) { self = Int16(truncatingIfNeeded: saturatingInt64(value)) }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension UInt16: TensorScalar {
    public static var dtype: DType { .uint16 }
    @inlinable public init(fromDouble value: Double) { self = UInt16(truncatingIfNeeded: saturatingInt64(value)) }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension UInt32: TensorScalar {
    public static var dtype: DType { .uint32 }
    @inlinable public init(fromDouble value: Double) { self = UInt32(truncatingIfNeeded: saturatingInt64(value)) }
    @inlinable public var doubleValue: Double { Double(self) }
}
/// UInt64 values pass through Int64 as their bit patterns (`int64Value`, `init(fromInt64:)`); code
/// that orders or divides them must reinterpret (see `DType.isUnsigned`).
extension UInt64: TensorScalar {
    public static var dtype: DType { .uint64 }
    @inlinable public init(fromDouble value: Double) {
        self = value.isNaN || value <= 0 ? 0 : value >= 18_446_744_073_709_551_616.0 ? .max : UInt64(value)
    }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    @inlinable public init(fromDouble value: Double) { self = Int32(truncatingIfNeeded: saturatingInt64(value)) }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
    @inlinable public init(fromDouble value: Double) {
        // Out-of-range doubles (and NaN) would trap in Int64(_:); clamp instead.
        self = saturatingInt64(value)
    }
    @inlinable public var doubleValue: Double { Double(self) }
}
extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    @inlinable public init(fromDouble value: Double) { self = value != 0 }
    @inlinable public var doubleValue: Double { self ? 1 : 0 }
    @inlinable public init(fromInt64 value: Int64) { self = value != 0 }
    @inlinable public var int64Value: Int64 { self ? 1 : 0 }
}

/// Converts a Double to Int64 rounding toward zero; NaN becomes 0 and out-of-range values saturate
/// (`Int64(_:)` would trap on them, and the values come from files).
@inlinable public func saturatingInt64(_ value: Double) -> Int64 {
    if value.isNaN { return 0 }
    if value >= 9.223372036854775e18 { return .max }
    if value <= -9.223372036854775e18 { return .min }
    return Int64(value)
}
