import TensorCore

/// A pointwise activation as its own layer (Relu, LeakyRelu, Clip with constant bounds, Sigmoid,
/// HardSigmoid, HardSwish, Tanh). X, Y: same shape, float.
public struct ActivationLayer: Layer {
    public let activation: Activation
    public init(_ activation: Activation) { self.activation = activation }
    public var opType: String { activation.description }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        if case .clip = activation, x.dtype != .bool { return [x] }  // Clip also takes integer tensors
        try requireFloat(x, "X")
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if case .clip(let lo, let hi) = activation, !x.dtype.isFloatingPoint {
            // Integers through Double: exact below 2^53, and the bounds are the input's type.
            let clipped = x.doubles().map { Swift.min(Swift.max($0, Double(lo)), Double(hi)) }
            Tensor(shape: x.shape, scalars: clipped).convert(into: outputs[0])
            return
        }
        Elementwise.unary(.activation(activation), x, into: outputs[0])
    }
}

/// A unary elementwise op (Abs, Exp, Sqrt, Erf, …). X, Y: same shape.
public struct UnaryLayer: Layer {
    public let op: UnaryOp
    public let opType: String
    public init(_ op: UnaryOp, opType: String) {
        self.op = op
        self.opType = opType
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [try required(inputs, 0, "X")]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Elementwise.unary(op, try required(inputs, 0, "X"), into: outputs[0])
    }
}

/// ONNX `Clip` whose bounds are runtime inputs (opset ≥ 11 with non-constant min/max).
/// X `[…]`, min and max scalars (optional), Y like X.
public struct Clip: Layer {
    public var opType: String { "Clip" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [try required(inputs, 0, "X")]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        var y = x
        if inputs.count > 1, let lo = inputs[1] {
            let t = Tensor(zeros: x.shape, dtype: x.dtype)
            Elementwise.binary(.max, y, lo, into: t)
            y = t
        }
        if inputs.count > 2, let hi = inputs[2] {
            let t = Tensor(zeros: x.shape, dtype: x.dtype)
            Elementwise.binary(.min, y, hi, into: t)
            y = t
        }
        y.copy(into: outputs[0])
    }
}

/// A binary elementwise op with numpy broadcasting (Add, Sub, Mul, Div, Pow, comparisons, …).
/// A `[…]`, B `[…]`, C `[broadcast(A, B)]`.
public struct BinaryLayer: Layer {
    public let op: BinaryOp
    public let opType: String
    public let activation: Activation?

    public init(_ op: BinaryOp, opType: String, activation: Activation? = nil) {
        self.op = op
        self.opType = opType
        self.activation = activation
    }

    public var fusedActivation: Activation? { activation }

    public func fusing(_ activation: Activation) -> (any Layer)? {
        guard self.activation == nil, !op.isComparison else { return nil }
        return BinaryLayer(op, opType: opType, activation: activation)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        // Pow allows a different exponent type; everything else needs one type.
        guard a.dtype == b.dtype || op == .pow else { throw LayerError("A is \(a.dtype) and B is \(b.dtype); they must match") }
        guard let shape = Broadcast.shape([a.shape, b.shape]) else {
            throw LayerError("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        return [TensorType(op.isComparison ? .bool : a.dtype, shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let a = try required(inputs, 0, "A")
        var b = try required(inputs, 1, "B")
        if b.dtype != a.dtype { b = b.converted(to: a.dtype) }
        Elementwise.binary(op, a, b, into: outputs[0], activation: activation)
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { 0 }
}

/// An n-ary elementwise op with broadcasting (Sum, Max, Min, Mean). Inputs `[…]`; output the
/// broadcast of all.
public struct VariadicLayer: Layer {
    public let op: BinaryOp
    public let isMean: Bool
    public let opType: String

    public init(_ op: BinaryOp, isMean: Bool = false, opType: String) {
        self.op = op
        self.isMean = isMean
        self.opType = opType
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let present = inputs.compactMap { $0 }
        guard let first = present.first else { throw LayerError("needs at least one input") }
        guard present.allSatisfy({ $0.dtype == first.dtype }) else { throw LayerError("inputs have different dtypes \(present.map(\.dtype))") }
        guard let shape = Broadcast.shape(present.map(\.shape)) else {
            throw LayerError("shapes \(present.map(\.shape)) do not broadcast")
        }
        return [TensorType(first.dtype, shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let present = inputs.compactMap { $0 }
        let out = outputs[0]
        Movement.broadcast(present[0], into: out)
        for t in present.dropFirst() {
            Elementwise.binary(op, out, t, into: out)
        }
        if isMean {
            Elementwise.binary(.div, out, Tensor(scalar: Double(present.count)).converted(to: out.dtype), into: out)
        }
    }
}

/// ONNX `PRelu`: `Y = X < 0 ? slope·X : X`, slope broadcast to X.
public struct PRelu: Layer {
    public var opType: String { "PRelu" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "slope")
        guard Broadcast.shape([x.shape, s.shape]) == x.shape else {
            throw LayerError("slope \(s.shape) does not broadcast to X \(x.shape)")
        }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "slope")
        // PRelu(x) = max(x, 0) + slope·min(x, 0).
        let zero = Tensor(scalar: 0.0).converted(to: x.dtype)
        let neg = Tensor(zeros: x.shape, dtype: x.dtype)
        Elementwise.binary(.min, x, zero, into: neg)
        Elementwise.binary(.mul, neg, s.dtype == x.dtype ? s : s.converted(to: x.dtype), into: neg)
        Elementwise.binary(.max, x, zero, into: outputs[0])
        Elementwise.binary(.add, outputs[0], neg, into: outputs[0])
    }
}

/// ONNX `Softmax` / `LogSoftmax`.
///
/// From opset 13 the normalisation runs along `axis` alone; before, the input is viewed as
/// `[∏dims[..<axis], ∏dims[axis...]]` and each row is normalised.
public struct Softmax: Layer {
    public let axis: Int
    public let legacyCoercion: Bool
    public let isLog: Bool
    public var opType: String { isLog ? "LogSoftmax" : "Softmax" }

    public init(axis: Int, legacyCoercion: Bool, isLog: Bool = false) {
        self.axis = axis
        self.legacyCoercion = legacyCoercion
        self.isLog = isLog
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [try floatTypeAlongAxis(inputs, axis: axis)]
    }

    /// Resolves the `[outer, axis, inner]` view once per plan (`SoftmaxOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "input")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let outer = x.shape[..<a].product
        if legacyCoercion { return SoftmaxOp(outer: outer, axis: x.shape[a...].product, inner: 1, log: isLog) }
        return SoftmaxOp(
            outer: outer, axis: x.shape.isEmpty ? 1 : x.shape[a], inner: x.shape.isEmpty ? 1 : x.shape[(a + 1)...].product, log: isLog)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Softmax` ready to run: the input seen as `[outer, axis, inner]`; the kernel is `Reduce.softmax`.
struct SoftmaxOp: PreparedOp {
    let outer: Int, axis: Int, inner: Int
    let log: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        Reduce.softmax(x, into: outputs[0], outer: outer, axis: axis, inner: inner, log: log, threads: context.threads)
    }
}
