import TensorCore

/// ONNX `Where`: condition (bool) `[…]`, X `[…]`, Y `[…]`; output the broadcast of all three, with
/// X's dtype (X and Y must match).
public struct Where: Layer {
    public var opType: String { "Where" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let c = try required(inputs, 0, "condition"), x = try required(inputs, 1, "X"), y = try required(inputs, 2, "Y")
        guard c.dtype == .bool else { throw LayerError("condition has dtype \(c.dtype), expected bool") }
        guard x.dtype == y.dtype else { throw LayerError("X is \(x.dtype) and Y is \(y.dtype); they must match") }
        guard let shape = Broadcast.shape([c.shape, x.shape, y.shape]) else {
            throw LayerError("shapes \(c.shape), \(x.shape) and \(y.shape) do not broadcast")
        }
        return [TensorType(x.dtype, shape)]
    }

    /// Prepares the walk of condition, X and Y over the output once per plan (`WhereOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let out = try outputTypes(inputs, constants: constants)[0]
        let operands = try (0..<3).map { try required(inputs, $0, ["condition", "X", "Y"][$0]).shape }
        return WhereOp(walk: BroadcastWalk(output: out.shape, operands: operands))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Where` ready to run; the kernel is `Elementwise.select`.
struct WhereOp: PreparedOp {
    let walk: BroadcastWalk

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Elementwise.select(
            try required(inputs, 0, "condition"), try required(inputs, 1, "X"), try required(inputs, 2, "Y"), into: outputs[0], walk: walk)
    }
}

/// ONNX `Not`: X bool `[…]`, Y bool, same shape.
public struct LogicalNot: Layer {
    public var opType: String { "Not" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        guard x.dtype == .bool else { throw LayerError("X has dtype \(x.dtype), expected bool") }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Elementwise.not(try required(inputs, 0, "X"), into: outputs[0])
    }
}

/// ONNX `IsNaN` and `IsInf` (detect_positive, detect_negative): X `[…]` of any number type, Y
/// bool, same shape.
public struct FloatClassLayer: Layer {
    public let kind: Elementwise.FloatClass
    public init(_ kind: Elementwise.FloatClass) { self.kind = kind }
    public var opType: String { kind == .nan ? "IsNaN" : "IsInf" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(.bool, try required(inputs, 0, "X").shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Elementwise.classify(try required(inputs, 0, "X"), kind, into: outputs[0])
    }
}

/// ONNX `BitwiseNot`: X of an integer type, Y `~X`, same shape.
public struct BitwiseNot: Layer {
    public var opType: String { "BitwiseNot" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        guard !x.dtype.isFloatingPoint, x.dtype.miniFloatFormat == nil, x.dtype != .bool, x.dtype != .float8e8m0 else {
            throw LayerError("X has dtype \(x.dtype), expected an integer type")
        }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Elementwise.bitwiseNot(try required(inputs, 0, "X"), into: outputs[0])
    }
}

/// ONNX `EyeLike`: a 2-D tensor of the input's shape (values unused) with ones on the k-th
/// diagonal, of `dtype` (the input's when nil).
public struct EyeLike: Layer {
    public var opType: String { "EyeLike" }
    public let k: Int
    public let dtype: DType?
    public init(k: Int, dtype: DType?) {
        self.k = k
        self.dtype = dtype
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        guard x.shape.count == 2 else { throw LayerError("input has shape \(x.shape), expected rank 2") }
        return [TensorType(dtype ?? x.dtype, x.shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Elementwise.eye(into: outputs[0], k: k)
    }
}
