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
        let values = x.scalars(as: Float.self)
        let lo = min(0, values.min() ?? 0), hi = max(0, values.max() ?? 0)
        let scale = (hi - lo) / 255
        let zero = scale == 0 ? 0 : min(max((-lo / scale).rounded(.toNearestOrEven), 0), 255)
        let s = Tensor(scalar: scale), z = Tensor(scalar: UInt8(zero))
        // A zero scale (x all zeros) quantizes everything to the zero point.
        Quantization.quantize(x, scale: scale == 0 ? Tensor(scalar: Float(1)) : s, zeroPoint: z, into: outputs[0],
                              map: .perTensor(count: x.count), precision: .float32)
        s.copy(into: outputs[1])
        z.copy(into: outputs[2])
    }
}

/// `(A − a_zero_point) · (B − b_zero_point)` with exact Int64 accumulation and MatMul's broadcasting,
/// for MatMulInteger and QLinearMatMul. A zero point is a scalar, or per row of A (`[M]`) / per
/// column of B (`[N]`).
func integerProduct(_ a: Tensor, _ b: Tensor, aZero: Tensor?, bZero: Tensor?) throws -> (values: [Int64], shape: [Int]) {
    let p = try MatMul().plan(a.shape, b.shape)
    let za = aZero?.int64s() ?? [0], zb = bZero?.int64s() ?? [0]
    guard za.count == 1 || za.count == p.m else { throw LayerError("a_zero_point has \(za.count) values, expected 1 or M = \(p.m)") }
    guard zb.count == 1 || zb.count == p.n else { throw LayerError("b_zero_point has \(zb.count) values, expected 1 or N = \(p.n)") }
    let av = a.int64s(), bv = b.int64s()
    let aBatch = Broadcast.strides(of: Array(p.a.dropLast(2)), broadcastTo: p.batch)
    let bBatch = Broadcast.strides(of: Array(p.b.dropLast(2)), broadcastTo: p.batch)
    let batches = p.batch.product
    var out = [Int64](repeating: 0, count: batches * p.m * p.n)
    for t in 0..<batches {
        var aOff = 0, bOff = 0, rest = t
        for d in stride(from: p.batch.count - 1, through: 0, by: -1) {
            let i = rest % p.batch[d]
            rest /= p.batch[d]
            aOff += i * aBatch[d]
            bOff += i * bBatch[d]
        }
        aOff *= p.m * p.k
        bOff *= p.k * p.n
        for i in 0..<p.m {
            let zi = za.count == 1 ? za[0] : za[i]
            for j in 0..<p.n {
                let zj = zb.count == 1 ? zb[0] : zb[j]
                var s: Int64 = 0
                for q in 0..<p.k { s += (av[aOff + i * p.k + q] - zi) * (bv[bOff + q * p.n + j] - zj) }
                out[(t * p.m + i) * p.n + j] = s
            }
        }
    }
    return (out, p.out)
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let r = try integerProduct(a, b, aZero: inputs.count > 2 ? inputs[2] : nil, bZero: inputs.count > 3 ? inputs[3] : nil)
        Tensor(shape: r.shape, scalars: r.values).convert(into: outputs[0])
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let a = try required(inputs, 0, "a"), b = try required(inputs, 3, "b")
        let r = try integerProduct(a, b, aZero: inputs[2], bZero: inputs[5])
        let sa = try required(inputs, 1, "a_scale").scalars(as: Float.self)[0], sb = try required(inputs, 4, "b_scale").scalars(as: Float.self)[0]
        let sy = try required(inputs, 6, "y_scale").scalars(as: Float.self)[0]
        let zy = try required(inputs, 7, "y_zero_point").doubles()[0]
        let factor = Double(sa * sb / sy)
        let (lo, hi) = outputs[0].dtype.integerRange
        let q = r.values.map { v -> Int64 in
            let d = (Double(v) * factor + zy).rounded(.toNearestOrEven)
            return Int64(Swift.min(Swift.max(d, Double(lo)), Double(hi)))
        }
        Tensor(shape: r.shape, scalars: q).convert(into: outputs[0])
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "x"), w = try required(inputs, weightIndex, "w")
        let g = try conv.geometry(x.shape, w.shape)
        let xz = (requantizes ? inputs[2] : inputs.count > 2 ? inputs[2] : nil)?.int64s().first ?? 0
        let wzAll = (requantizes ? inputs[5] : inputs.count > 3 ? inputs[3] : nil)?.int64s() ?? [0]
        guard wzAll.count == 1 || wzAll.count == g.outChannels else { throw LayerError("w_zero_point has \(wzAll.count) values, expected 1 or \(g.outChannels)") }
        let xs = x.int64s(), ws = w.int64s()
        let bias = requantizes && inputs.count > 8 ? inputs[8]?.int64s() : nil
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        var acc = [Int64](repeating: 0, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        for n in 0..<g.batch {
            for m in 0..<g.outChannels {
                let wz = wzAll.count == 1 ? wzAll[0] : wzAll[m]
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        var s = bias?[m] ?? 0
                        for ci in 0..<cg {
                            let c = (m / mg) * cg + ci
                            for ky in 0..<g.kernelHeight {
                                let iy = oy * g.strideH - g.padTop + ky * g.dilationH
                                if iy < 0 || iy >= g.inHeight { continue }
                                for kx in 0..<g.kernelWidth {
                                    let ix = ox * g.strideW - g.padLeft + kx * g.dilationW
                                    if ix < 0 || ix >= g.inWidth { continue }
                                    let xv = xs[((n * g.inChannels + c) * g.inHeight + iy) * g.inWidth + ix] - xz
                                    let wv = ws[((m * cg + ci) * g.kernelHeight + ky) * g.kernelWidth + kx] - wz
                                    s += xv * wv
                                }
                            }
                        }
                        acc[((n * g.outChannels + m) * g.outHeight + oy) * g.outWidth + ox] = s
                    }
                }
            }
        }
        guard requantizes else {
            Tensor(shape: outputs[0].shape, scalars: acc).convert(into: outputs[0])
            return
        }
        let sx = try required(inputs, 1, "x_scale").doubles()[0], sy = try required(inputs, 6, "y_scale").doubles()[0]
        let sw = try required(inputs, 4, "w_scale").doubles()
        guard sw.count == 1 || sw.count == g.outChannels else { throw LayerError("w_scale has \(sw.count) values, expected 1 or \(g.outChannels)") }
        let zy = try required(inputs, 7, "y_zero_point").doubles()[0]
        let (lo, hi) = outputs[0].dtype.integerRange
        let plane = g.outHeight * g.outWidth
        let q = acc.enumerated().map { k, v -> Int64 in
            let m = (k / plane) % g.outChannels
            let r = Double(v) * (sx * (sw.count == 1 ? sw[0] : sw[m]) / sy) + zy
            return Int64(Swift.min(Swift.max(r, Double(lo)), Double(hi)).rounded(.toNearestOrEven))
        }
        Tensor(shape: outputs[0].shape, scalars: q).convert(into: outputs[0])
    }
}
