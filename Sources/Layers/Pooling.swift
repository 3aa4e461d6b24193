import TensorCore

/// ONNX `MaxPool` and `AveragePool` over windows of any rank (1-D and 2-D by the fast kernel).
///
/// - X `[N, C, *in]` float (MaxPool also int8 and uint8, exact through float32);
///   Y `[N, C, *out]`, sizes as for `Conv` (with `ceil_mode` rounding up, a window never starting
///   inside the end padding).
public struct Pool: Layer {
    public enum Kind: Sendable, Equatable { case max, average(countIncludePad: Bool), lp(p: Int) }

    public let kind: Kind
    public let window: WindowAttributes
    /// Whether MaxPool's second output, the index of each maximum, is produced.
    public let producesIndices: Bool
    /// Whether those indices count column-major within a plane (`storage_order` 1).
    public let columnMajorIndices: Bool

    /// Refuses explicit pads as large as the kernel (as onnxruntime does): such a window can lie
    /// wholly in the padding, where a maximum or an average over no taps is undefined.
    public init(kind: Kind, window: WindowAttributes, producesIndices: Bool = false, columnMajorIndices: Bool = false) throws {
        let n = window.kernelShape.count
        if window.autoPad == .notSet {
            for i in 0..<n where window.pads[i] >= window.kernelShape[i] || window.pads[i + n] >= window.kernelShape[i] {
                throw LayerError("pads \(window.pads) must be smaller than kernel_shape \(window.kernelShape)")
            }
        }
        self.kind = kind
        self.window = window
        self.producesIndices = producesIndices
        self.columnMajorIndices = columnMajorIndices
    }

    public var opType: String {
        switch kind {
        case .max: return "MaxPool"
        case .average: return "AveragePool"
        case .lp: return "LpPool"
        }
    }

    /// Whether the N-D kernel runs: windows of more than two axes, indices asked for, or LpPool.
    var usesND: Bool {
        if case .lp = kind { return true }
        return window.kernelShape.count > 2 || producesIndices
    }

    func geometry(_ x: [Int]) throws -> (Pool2DGeometry, [Int]) {
        let rank = window.kernelShape.count
        guard x.count == rank + 2 else { throw LayerError("X has shape \(x), expected rank \(rank + 2)") }
        let r = try window.resolve(spatial: Array(x[2...]))
        let g = Pool2DGeometry(
            planes: x[0] * x[1], inHeight: r.inH, inWidth: r.inW, outHeight: r.outH, outWidth: r.outW,
            kernelHeight: r.kh, kernelWidth: r.kw, strideH: r.sh, strideW: r.sw, dilationH: r.dh, dilationW: r.dw,
            padTop: r.padTop, padLeft: r.padLeft, padBottom: r.padBottom, padRight: r.padRight)
        return (g, [x[0], x[1]] + r.outSpatial(rank: rank))
    }

    func geometryND(_ x: [Int]) throws -> PoolNDGeometry {
        let axes = try window.resolveAxes(spatial: Array(x[2...]))
        return PoolNDGeometry(
            planes: x[0] * x[1], input: Array(x[2...]), output: axes.map(\.out), kernel: window.kernelShape, strides: window.strides,
            dilations: window.dilations, padBegin: axes.map(\.padBegin), padEnd: axes.map(\.padEnd))
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        if !(kind == .max && (x.dtype == .int8 || x.dtype == .uint8)) { try requireFloat(x, "X") }
        guard x.shape.count == window.kernelShape.count + 2 else {
            throw LayerError("X has shape \(x.shape), expected rank \(window.kernelShape.count + 2)")
        }
        if usesND {
            let y = Array(x.shape[..<2]) + (try geometryND(x.shape).output)
            return [TensorType(x.dtype, y)] + (producesIndices ? [TensorType(.int64, y)] : [])
        }
        return [TensorType(x.dtype, try geometry(x.shape).1)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }

    /// The geometry resolved once: the N-D kernel (3-D windows, or indices asked for) or the 2-D one.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "X")
        var average: Bool? = nil, lp: Int? = nil
        if case .average(let cip) = kind { average = cip }
        if case .lp(let p) = kind { lp = p }
        if usesND {
            return PoolOp(
                geometry: .nd(try geometryND(x.shape)), average: average, lp: lp, producesIndices: producesIndices, columnMajorIndices: columnMajorIndices)
        }
        return PoolOp(geometry: .plane(try geometry(x.shape).0), average: average, lp: nil, producesIndices: false, columnMajorIndices: false)
    }
}

/// A pooling ready to run. `average` nil: max pooling; else whether padding counts.
struct PoolOp: PreparedOp {
    enum Geometry { case plane(Pool2DGeometry), nd(PoolNDGeometry) }
    let geometry: Geometry
    let average: Bool?
    let lp: Int?
    let producesIndices: Bool, columnMajorIndices: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        switch geometry {
        case .nd(let g):
            let indices = producesIndices ? outputs[1] : nil
            if isFloat64([x], outputs[0]) {
                PoolND.pool(input: x, output: outputs[0], geometry: g, average: average, indices: indices, columnMajor: columnMajorIndices, lp: lp)
                return
            }
            try withFloat32([x], outputs[0]) { f, y in
                PoolND.pool(input: try required(f, 0, "X"), output: y, geometry: g, average: average, indices: indices, columnMajor: columnMajorIndices, lp: lp)
            }
        case .plane(let g):
            if isFloat64([x], outputs[0]) {
                Pool2D.reference(input: x, output: outputs[0], geometry: g, isMax: average == nil, countIncludePad: average ?? false, as: Double.self)
                return
            }
            try withFloat32([x], outputs[0]) { f, y in
                let x32 = try required(f, 0, "X")
                if let cip = average {
                    Pool2D.average(input: x32, output: y, geometry: g, countIncludePad: cip, threads: context.threads)
                } else {
                    Pool2D.max(input: x32, output: y, geometry: g, threads: context.threads)
                }
            }
        }
    }
}

/// ONNX `GlobalAveragePool` and `GlobalMaxPool`: `[N, C, spatial…] => [N, C, 1, …]`.
public struct GlobalPool: Layer {
    public let isMax: Bool
    public init(isMax: Bool) { self.isMax = isMax }
    public var opType: String { isMax ? "GlobalMaxPool" : "GlobalAveragePool" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count >= 2 else { throw LayerError("X has shape \(x.shape), expected [N, C, …]") }
        return [TensorType(x.dtype, [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.shape.count - 2))]
    }

    /// Resolves the planes once per plan (`GlobalPoolOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let x = try required(inputs, 0, "X")
        return GlobalPoolOp(planes: x.shape[0] * x.shape[1], planeSize: x.shape[2...].product, isMax: isMax)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A global pooling ready to run: the input seen as `[planes, planeSize]`; the kernels are
/// `Pool2D.global` (Float) and `Float64Kernels.globalPool`.
struct GlobalPoolOp: PreparedOp {
    let planes: Int, planeSize: Int
    let isMax: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if isFloat64([x], outputs[0]) {
            Float64Kernels.globalPool(input: x, output: outputs[0], planes: planes, planeSize: planeSize, max: isMax)
            return
        }
        try withFloat32([x], outputs[0]) { f, y in
            Pool2D.global(input: try required(f, 0, "X"), output: y, planes: planes, planeSize: planeSize, max: isMax, threads: context.threads)
        }
    }
}

/// ONNX `LRN` across channels. X, Y `[N, C, …]`.
public struct LRN: Layer {
    public var opType: String { "LRN" }
    public let size: Int
    public let alpha: Float, beta: Float, bias: Float

    public init(size: Int, alpha: Float, beta: Float, bias: Float) throws {
        guard size >= 1 else { throw LayerError("size \(size) must be at least 1") }
        self.size = size; self.alpha = alpha; self.beta = beta; self.bias = bias
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count >= 2 else { throw LayerError("X has shape \(x.shape), expected [N, C, …]") }
        return [x]
    }

    /// Resolves the `[N, C, S]` view once per plan (`LRNOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        return LRNOp(view: [x.shape[0], x.shape[1], x.shape[2...].product], size: size, alpha: alpha, beta: beta, bias: bias)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// An `LRN` ready to run: the input seen as `[N, C, S]`; the kernel is `Normalize.lrn` (Float,
/// or Double for float64).
struct LRNOp: PreparedOp {
    let view: [Int]
    let size: Int
    let alpha: Float, beta: Float, bias: Float

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if isFloat64([x], outputs[0]) {
            Normalize.lrn(x.reshaped(view), into: outputs[0], size: size, alpha: alpha, beta: beta, bias: bias)
            return
        }
        try withFloat32([x], outputs[0]) { f, y in
            Normalize.lrn(try required(f, 0, "X").reshaped(view), into: y, size: size, alpha: alpha, beta: beta, bias: bias)
        }
    }
}

/// ONNX `MaxUnpool`: X's values placed at their indices (into `[N, C, (in − 1)·stride − pads +
/// kernel …]` flattened, as MaxPool writes them) among zeros; with `output_shape` (known when
/// planning) that image sits in the top-left corner of a larger one, as ONNX's reference does.
public struct MaxUnpool: Layer {
    public var opType: String { "MaxUnpool" }
    public let kernel: [Int], strides: [Int]?, pads: [Int]?
    public init(kernel: [Int], strides: [Int]?, pads: [Int]?) {
        self.kernel = kernel
        self.strides = strides
        self.pads = pads
    }

    func inferred(_ x: TensorType) throws -> [Int] {
        let r = kernel.count, strides = self.strides ?? Array(repeating: 1, count: r), pads = self.pads ?? Array(repeating: 0, count: 2 * r)
        guard x.shape.count == r + 2, strides.count == r, pads.count == 2 * r, kernel.allSatisfy({ $0 > 0 && $0 <= 1 << 20 }),
              strides.allSatisfy({ $0 > 0 && $0 <= 1 << 20 }), pads.allSatisfy({ $0 >= 0 && $0 <= 1 << 20 }) else {
            throw LayerError("X \(x.shape) with kernel \(kernel), strides \(strides), pads \(pads): expected rank \(r + 2) and positive sizes")
        }
        let spatial = try (0..<r).map { i -> Int in
            let v = (x.shape[i + 2] - 1) * strides[i] - pads[i] - pads[r + i] + kernel[i]
            guard v > 0 else { throw LayerError("the unpooled size along axis \(i + 2) is \(v)") }
            return v
        }
        return [x.shape[0], x.shape[1]] + spatial
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), i = try required(inputs, 1, "I")
        guard i.shape == x.shape, i.dtype == .int64 else { throw LayerError("I is \(i), expected int64\(x.shape)") }
        let shape = try inferred(x)
        _ = try checkedProduct(shape, "output")
        guard inputs.count > 2, inputs[2] != nil else { return [TensorType(x.dtype, shape)] }
        let given = try constantInts(constants, 2, "output_shape")
        guard given.count == shape.count, zip(given, shape).allSatisfy({ $0 >= $1 }) else {
            throw LayerError("output_shape \(given) is smaller than the unpooled shape \(shape)")
        }
        _ = try checkedProduct(given, "output_shape")
        return [TensorType(x.dtype, given)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let shape = try inferred(TensorType(x.dtype, x.shape)), out = outputs[0].shape
        let count = shape.reduce(1, *), inner = contiguousStrides(shape), outer = contiguousStrides(out)
        let targets = x.rank == 0 ? [] : try required(inputs, 1, "I").int64s().map { v -> Int in
            guard v >= 0 && v < Int64(count) else { throw LayerError("an index \(v) is outside 0..<\(count)") }
            // The flat index in the inferred shape, placed in the output's corner.
            var q = Int(v), o = 0
            for d in 0..<shape.count { o += (q / inner[d]) * outer[d]; q %= inner[d] }
            return o
        }
        outputs[0].withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
        Movement.placeElements(x, into: outputs[0], at: targets)
    }
}
