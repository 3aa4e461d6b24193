import TensorCore

/// Resolves how a scale of shape `scale` applies to a tensor of shape `x` (per tensor, per axis,
/// or blocked along `axis` when `blockSize` > 0), as ONNX QuantizeLinear/DequantizeLinear define it.
func quantizationMap(x: [Int], scale: [Int], axis: Int, blockSize: Int) throws -> QuantizationMap {
    let count = x.product
    if blockSize == 0 && scale.product == 1 && scale.count <= 1 { return .perTensor(count: count) }
    guard !x.isEmpty else { throw LayerError("a scalar input takes a one-value scale, the scale has shape \(scale)") }
    let a = axis < 0 ? axis + x.count : axis
    guard (0..<x.count).contains(a) else { throw LayerError("axis \(axis) is out of range for rank \(x.count)") }
    if blockSize > 0 {
        var expected = x
        expected[a] = (x[a] + blockSize - 1) / blockSize
        guard scale == expected else {
            throw LayerError("blocked quantization with block_size \(blockSize) along axis \(a) needs a scale of shape \(expected), it has \(scale)")
        }
        return .blocked(shape: x, axis: a, block: blockSize)
    }
    guard blockSize == 0 else { throw LayerError("block_size \(blockSize) must not be negative") }
    guard scale == [x[a]] else {
        throw LayerError("per-axis quantization along axis \(a) needs a scale of shape [\(x[a])], it has \(scale)")
    }
    return .perAxis(shape: x, axis: a)
}

private let quantizedTypes: Set<DType> = [
    .int8, .uint8, .int16, .uint16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .int4, .uint4, .int2, .uint2, .float4e2m1,
]

/// A zero point shaped like its scale; a one-element zero point beside a scalar scale also counts.
func zeroPointMatches(_ z: [Int], _ s: [Int]) -> Bool { z == s || (z.product == 1 && s.product == 1) }

/// ONNX `QuantizeLinear` to int8, uint8, int16 or uint16.
///
/// - x `[*]` float (or int32); y_scale scalar, `[x.shape[axis]]`, or blocked (x's shape with
///   `⌈x.shape[axis] / block_size⌉` at `axis`); y_zero_point optional, shaped like y_scale, whose
///   type is the output's (otherwise `output_dtype`, otherwise uint8); y like x.
public struct QuantizeLinear: Layer {
    public var opType: String { "QuantizeLinear" }
    public let axis: Int, blockSize: Int
    public let outputType: DType?
    /// The type the division is done in (opset 23's `precision`); nil: x's type.
    public let precision: DType?
    /// For FP8 outputs: clamp to the largest value (ONNX's default) or overflow to inf/NaN.
    public let saturate: Bool

    public init(axis: Int, blockSize: Int, outputType: DType?, precision: DType?, saturate: Bool = true) {
        self.axis = axis
        self.blockSize = blockSize
        self.outputType = outputType
        self.precision = precision
        self.saturate = saturate
    }

    func resolve(_ inputs: [TensorType?]) throws -> (DType, QuantizationMap) {
        let x = try required(inputs, 0, "x"), s = try required(inputs, 1, "y_scale")
        try requireFloat(s, "y_scale")
        guard x.dtype.isFloatingPoint || x.dtype == .int32 else { throw LayerError("x has dtype \(x.dtype), expected a float type or int32") }
        var out = outputType ?? .uint8
        if inputs.count > 2, let z = inputs[2] {
            if let o = outputType, o != z.dtype { throw LayerError("output_dtype \(o) differs from y_zero_point's dtype \(z.dtype)") }
            guard zeroPointMatches(z.shape, s.shape) else { throw LayerError("y_zero_point has shape \(z.shape), y_scale \(s.shape): they must match") }
            out = z.dtype
        }
        guard quantizedTypes.contains(out) else { throw LayerError("quantizing to \(out) is not supported (int8, uint8, int16, uint16, int4, uint4, int2, uint2, FP8, FP4)") }
        return (out, try quantizationMap(x: x.shape, scale: s.shape, axis: axis, blockSize: blockSize))
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(try resolve(inputs).0, try required(inputs, 0, "x").shape)]
    }

    /// The scale's layout and the arithmetic resolved once per plan (`QuantizeOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let map = try resolve(inputs).1
        let xType = try required(inputs, 0, "x").dtype
        let arithmetic: Quantization.Precision
        switch precision ?? xType {
        case .float16: arithmetic = .float16
        case .float64: arithmetic = .float64
        default: arithmetic = .float32
        }
        return QuantizeOp(map: map, arithmetic: arithmetic, saturate: saturate)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `QuantizeLinear` ready to run; the kernel is `Quantization.quantize`.
struct QuantizeOp: PreparedOp {
    let map: QuantizationMap
    let arithmetic: Quantization.Precision
    let saturate: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "x"), s = try required(inputs, 1, "y_scale")
        Quantization.quantize(x, scale: s, zeroPoint: inputs.count > 2 ? inputs[2] : nil, into: outputs[0], map: map, precision: arithmetic, saturate: saturate)
    }
}

/// ONNX `DequantizeLinear` from int8, uint8, int16, uint16 or int32.
///
/// - x `[*]`; x_scale and x_zero_point as for `QuantizeLinear` (the zero point has x's type);
///   y like x, of the scale's float type unless `output_dtype` says otherwise.
public struct DequantizeLinear: Layer {
    public var opType: String { "DequantizeLinear" }
    public let axis: Int, blockSize: Int
    public let outputType: DType?

    public init(axis: Int, blockSize: Int, outputType: DType?) {
        self.axis = axis
        self.blockSize = blockSize
        self.outputType = outputType
    }

    func resolve(_ inputs: [TensorType?]) throws -> (DType, QuantizationMap) {
        let x = try required(inputs, 0, "x"), s = try required(inputs, 1, "x_scale")
        try requireFloat(s, "x_scale")
        guard quantizedTypes.contains(x.dtype) || x.dtype == .int32 else {
            throw LayerError("dequantizing \(x.dtype) is not supported (int8, uint8, int16, uint16, int32, FP8)")
        }
        if inputs.count > 2, let z = inputs[2] {
            guard z.dtype == x.dtype else { throw LayerError("x_zero_point has dtype \(z.dtype), x \(x.dtype): they must match") }
            guard zeroPointMatches(z.shape, s.shape) else { throw LayerError("x_zero_point has shape \(z.shape), x_scale \(s.shape): they must match") }
        }
        let out = outputType ?? s.dtype
        guard out.isFloatingPoint else { throw LayerError("output_dtype \(out) is not a float type") }
        return (out, try quantizationMap(x: x.shape, scale: s.shape, axis: axis, blockSize: blockSize))
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(try resolve(inputs).0, try required(inputs, 0, "x").shape)]
    }

    /// The scale's layout resolved once per plan (`DequantizeOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        DequantizeOp(map: try resolve(inputs).1)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `DequantizeLinear` ready to run; the kernel is `Quantization.dequantize`.
struct DequantizeOp: PreparedOp {
    let map: QuantizationMap

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "x"), s = try required(inputs, 1, "x_scale")
        Quantization.dequantize(x, scale: s, zeroPoint: inputs.count > 2 ? inputs[2] : nil, into: outputs[0], map: map)
    }
}

/// ONNX `DynamicQuantizeLinear`: x float32 `[*]` to y uint8 `[*]` with the scale and zero point
/// taken from x's own range (widened to include 0): `y_scale = (max − min) / 255` (float32),
/// `y_zero_point = clamp(roundHalfEven(−min / y_scale), 0, 255)`, then as `QuantizeLinear`.
public struct DynamicQuantizeLinear: Layer {
    public var opType: String { "DynamicQuantizeLinear" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "x")
        guard x.dtype == .float32 else { throw LayerError("x has dtype \(x.dtype), expected float32") }
        return [TensorType(.uint8, x.shape), TensorType(.float32, []), TensorType(.uint8, [])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "x")
        let (scale, zero) = Quantization.dynamicUInt8Parameters(x.scalars(as: Float.self))
        let s = Tensor(scalar: scale), z = Tensor(scalar: zero)
        // A zero scale (x all zeros) quantizes everything to the zero point.
        Quantization.quantize(x, scale: scale == 0 ? Tensor(scalar: Float(1)) : s, zeroPoint: z, into: outputs[0],
                              map: .perTensor(count: x.count), precision: .float32)
        s.copy(into: outputs[1])
        z.copy(into: outputs[2])
    }
}

/// An integer matrix product ready to run (MatMulInteger, QLinearMatMul): MatMul's plan with
/// the batch pairs resolved, the zero points' counts checked; the kernel is
/// `Quantization.integerMatMul`. A zero point is a scalar, or per row of A (`[M]`) / per column
/// of B (`[N]`).
struct IntegerProduct: Sendable {
    let m: Int, k: Int, n: Int
    let pairs: [(a: Int, b: Int)]
    let shape: [Int]

    init(_ a: TensorType, _ b: TensorType, aZero: TensorType?, bZero: TensorType?) throws {
        let p = try MatMul().plan(a.shape, b.shape)
        guard aZero.map({ $0.count == 1 || $0.count == p.m }) ?? true else { throw LayerError("a_zero_point has \(aZero?.count ?? 0) values, expected 1 or M = \(p.m)") }
        guard bZero.map({ $0.count == 1 || $0.count == p.n }) ?? true else { throw LayerError("b_zero_point has \(bZero?.count ?? 0) values, expected 1 or N = \(p.n)") }
        (m, k, n, shape) = (p.m, p.k, p.n, p.out)
        pairs = Broadcast.batchPairs(Array(p.a.dropLast(2)), Array(p.b.dropLast(2)), batch: p.batch)
    }

    func callAsFunction(_ a: Tensor, _ b: Tensor, aZero: Tensor?, bZero: Tensor?) -> [Int64] {
        Quantization.integerMatMul(a.int64s(), b.int64s(), pairs: pairs, m: m, k: k, n: n, aZero: aZero?.int64s() ?? [0], bZero: bZero?.int64s() ?? [0])
    }
}

private let eightBit: Set<DType> = [.int8, .uint8]

/// ONNX `MatMulInteger`: A, B int8/uint8 (zero points of the same types) → int32.
public struct MatMulInteger: Layer {
    public var opType: String { "MatMulInteger" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        guard eightBit.contains(a.dtype), eightBit.contains(b.dtype) else { throw LayerError("A is \(a.dtype) and B \(b.dtype), expected int8 or uint8") }
        return [TensorType(.int32, try MatMul().plan(a.shape, b.shape).out)]
    }

    /// Resolves MatMul's plan and checks the zero points once per plan (`MatMulIntegerOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        return MatMulIntegerOp(product: try IntegerProduct(
            try required(inputs, 0, "A"), try required(inputs, 1, "B"), aZero: inputs.count > 2 ? inputs[2] : nil, bZero: inputs.count > 3 ? inputs[3] : nil))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `MatMulInteger` ready to run.
struct MatMulIntegerOp: PreparedOp {
    let product: IntegerProduct
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let values = product(
            try required(inputs, 0, "A"), try required(inputs, 1, "B"), aZero: inputs.count > 2 ? inputs[2] : nil, bZero: inputs.count > 3 ? inputs[3] : nil)
        Tensor(shape: product.shape, scalars: values).convert(into: outputs[0])
    }
}

/// ONNX `QLinearMatMul`: the integer product of the zero-point-shifted operands, rescaled by
/// `a_scale · b_scale / y_scale` (that factor rounded to float32, the product in Double), rounded
/// half to even, shifted by y_zero_point and saturated to its type.
/// Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point (scalars).
public struct QLinearMatMul: Layer {
    public var opType: String { "QLinearMatMul" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a = try required(inputs, 0, "a"), b = try required(inputs, 3, "b"), yz = try required(inputs, 7, "y_zero_point")
        guard eightBit.contains(a.dtype), eightBit.contains(b.dtype), eightBit.contains(yz.dtype) else {
            throw LayerError("a is \(a.dtype), b \(b.dtype), y_zero_point \(yz.dtype): expected int8 or uint8")
        }
        for (i, name) in [(1, "a_scale"), (4, "b_scale"), (6, "y_scale")] {
            let s = try required(inputs, i, name)
            guard s.count == 1 else { throw LayerError("\(name) has shape \(s.shape); only per-tensor scales are supported") }
        }
        return [TensorType(yz.dtype, try MatMul().plan(a.shape, b.shape).out)]
    }

    /// Resolves MatMul's plan and checks the zero points once per plan (`QLinearMatMulOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        return QLinearMatMulOp(product: try IntegerProduct(try required(inputs, 0, "a"), try required(inputs, 3, "b"), aZero: inputs[2], bZero: inputs[5]))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `QLinearMatMul` ready to run; the rescaling is `Quantization.requantize`.
struct QLinearMatMulOp: PreparedOp {
    let product: IntegerProduct

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let values = product(try required(inputs, 0, "a"), try required(inputs, 3, "b"), aZero: inputs[2], bZero: inputs[5])
        let sa = try required(inputs, 1, "a_scale").scalars(as: Float.self)[0], sb = try required(inputs, 4, "b_scale").scalars(as: Float.self)[0]
        let sy = try required(inputs, 6, "y_scale").scalars(as: Float.self)[0]
        let zy = try required(inputs, 7, "y_zero_point").doubles()[0]
        let factor = Double(sa * sb / sy)
        let q = Quantization.requantize(values, factor: { _ in factor }, zeroPoint: zy, range: outputs[0].dtype.integerRange)
        Tensor(shape: product.shape, scalars: q).convert(into: outputs[0])
    }
}

/// ONNX `ConvInteger` and `QLinearConv`: convolution of zero-point-shifted 8-bit tensors with exact
/// Int64 accumulation (direct loops, the reference form), then int32 output (ConvInteger) or a
/// rescale by `x_scale · w_scale[m] / y_scale` (in Double), shift by y_zero_point, saturation and
/// round half to even (QLinearConv). The window attributes and shapes are Conv's.
///
/// - ConvInteger inputs: x, w, x_zero_point, w_zero_point (scalar or per output channel).
/// - QLinearConv inputs: x, x_scale, x_zero_point, w, w_scale (scalar or per output channel),
///   w_zero_point, y_scale, y_zero_point, B (int32, optional).
public struct IntegerConv: Layer {
    public let conv: Conv
    public let requantizes: Bool
    public init(window: WindowAttributes, group: Int, requantizes: Bool) throws {
        conv = try Conv(window: window, group: group)
        self.requantizes = requantizes
    }
    public var opType: String { requantizes ? "QLinearConv" : "ConvInteger" }

    var weightIndex: Int { requantizes ? 3 : 1 }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "x"), w = try required(inputs, weightIndex, "w")
        guard eightBit.contains(x.dtype), eightBit.contains(w.dtype) else { throw LayerError("x is \(x.dtype) and w \(w.dtype), expected int8 or uint8") }
        let g = try conv.geometry(x.shape, w.shape)
        let spatial = conv.window.kernelShape.count == 1 ? [g.outWidth] : [g.outHeight, g.outWidth]
        let dtype = requantizes ? try required(inputs, 7, "y_zero_point").dtype : .int32
        return [TensorType(dtype, [g.batch, g.outChannels] + spatial)]
    }

    /// Resolves the geometry and checks the per-channel parameters' counts once per plan
    /// (`IntegerConvOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let g = try conv.geometry(try required(inputs, 0, "x").shape, try required(inputs, weightIndex, "w").shape)
        for (i, name) in requantizes ? [(5, "w_zero_point"), (4, "w_scale")] : [(3, "w_zero_point")] {
            guard i < inputs.count, let t = inputs[i] else { continue }
            guard t.count == 1 || t.count == g.outChannels else { throw LayerError("\(name) has \(t.count) values, expected 1 or \(g.outChannels)") }
        }
        return IntegerConvOp(geometry: g, requantizes: requantizes)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `ConvInteger`/`QLinearConv` ready to run; the kernels are `Quantization.integerConv` and
/// `Quantization.requantize` (the factor `x_scale · w_scale[m] / y_scale` in Double).
struct IntegerConvOp: PreparedOp {
    let geometry: Conv2DGeometry
    let requantizes: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let g = geometry
        let x = try required(inputs, 0, "x"), w = try required(inputs, requantizes ? 3 : 1, "w")
        let xz = (requantizes ? inputs[2] : inputs.count > 2 ? inputs[2] : nil)?.int64s().first ?? 0
        let wz = (requantizes ? inputs[5] : inputs.count > 3 ? inputs[3] : nil)?.int64s() ?? [0]
        let bias = requantizes && inputs.count > 8 ? inputs[8]?.int64s() : nil
        let acc = Quantization.integerConv(x.int64s(), w.int64s(), geometry: g, xZero: xz, wZero: wz, bias: bias)
        guard requantizes else {
            Tensor(shape: outputs[0].shape, scalars: acc).convert(into: outputs[0])
            return
        }
        let sx = try required(inputs, 1, "x_scale").doubles()[0], sy = try required(inputs, 6, "y_scale").doubles()[0]
        let sw = try required(inputs, 4, "w_scale").doubles()
        let zy = try required(inputs, 7, "y_zero_point").doubles()[0]
        let plane = g.outHeight * g.outWidth
        let q = Quantization.requantize(
            acc, factor: { k in sx * (sw.count == 1 ? sw[0] : sw[(k / plane) % g.outChannels]) / sy }, zeroPoint: zy, range: outputs[0].dtype.integerRange)
        Tensor(shape: outputs[0].shape, scalars: q).convert(into: outputs[0])
    }
}
