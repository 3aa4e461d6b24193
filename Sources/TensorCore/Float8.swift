/// The FP8 element types of ONNX (float8e4m3fn, float8e4m3fnuz, float8e5m2, float8e5m2fnuz): one
/// byte each, values and rounding by `MiniFloat`. Conversions into them saturate, as ONNX `Cast`
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

extension DType {
    /// The FP8 format of an FP8 dtype.
    public var float8Format: MiniFloat? {
        switch self {
        case .float8e4m3fn: .e4m3fn
        case .float8e4m3fnuz: .e4m3fnuz
        case .float8e5m2: .e5m2
        case .float8e5m2fnuz: .e5m2fnuz
        default: nil
        }
    }
}
