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
        Elementwise.unary(.activation(activation), try required(inputs, 0, "X"), into: outputs[0], threads: context.threads)
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
        Elementwise.unary(op, try required(inputs, 0, "X"), into: outputs[0], threads: context.threads)
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

    /// Checks the bounds against X and prepares their walks once per plan (`ClipOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "X")
        func bound(_ i: Int, _ name: String) throws -> BroadcastWalk? {
            guard i < inputs.count, let t = inputs[i] else { return nil }
            guard t.dtype == x.dtype, Broadcast.shape([x.shape, t.shape]) == x.shape else {
                throw LayerError("\(name) is \(t); it must be a scalar of X's dtype (\(x))")
            }
            return BroadcastWalk(output: x.shape, operands: [x.shape, t.shape])
        }
        return ClipOp(min: try bound(1, "min"), max: try bound(2, "max"))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Clip` with runtime bounds ready to run: the walk of each present bound over X; the kernel
/// is `Elementwise.binary` (max with the lower bound, then min with the upper).
struct ClipOp: PreparedOp {
    let min: BroadcastWalk?, max: BroadcastWalk?

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        var y = try required(inputs, 0, "X")
        let out = outputs[0]
        if let walk = min {
            Elementwise.binary(.max, y, try required(inputs, 1, "min"), into: out, walk: walk)
            y = out
        }
        if let walk = max {
            Elementwise.binary(.min, y, try required(inputs, 2, "max"), into: out, walk: walk)
            y = out
        }
        if min == nil && max == nil { y.copy(into: out) }
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
    /// Equal compares strings too (`StringEqualOp`).
    public var takesStrings: Bool { op == .equal }

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

    /// Prepares the broadcast walk of A and B once per plan (`BroadcastBinaryOp`). `Pow` by a
    /// constant 2 on float32, float16 or bfloat16 becomes `A·A`: the same bits, since the square of
    /// a float32 is exact in Double and the power is rounded once (LayerNorm as exported at
    /// opset 13 squares with Pow). `Pow` by a constant 3 on float32 becomes `(A·A)·A` in float32,
    /// two roundings, as onnxruntime computes it (bitwise on 100,000 normal values; a correctly
    /// rounded cube agreed with it on 74%): GPT-2's GELU cubes with Pow.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let out = try outputTypes(inputs, constants: constants)[0]
        if a.dtype == .string { return StringEqualOp(a: a.shape, b: b.shape, out: out.shape) }
        if op == .pow, [.float32, .float16, .bfloat16].contains(a.dtype), constants.count > 1, let e = constants[1], e.count == 1, e.doubles()[0] == 2 {
            return SmallPowerOp(cube: false, activation: activation, walk: BroadcastWalk(output: out.shape, operands: [a.shape, a.shape]))
        }
        if op == .pow, a.dtype == .float32, constants.count > 1, let e = constants[1], e.count == 1, e.doubles()[0] == 3 {
            return SmallPowerOp(cube: true, activation: activation, walk: BroadcastWalk(output: out.shape, operands: [a.shape, a.shape]))
        }
        return BroadcastBinaryOp(op: op, activation: activation, walk: BroadcastWalk(output: out.shape, operands: [a.shape, b.shape]))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { 0 }
}

/// A binary op ready to run: the walk of its operands over the output; the kernel is
/// `Elementwise.binary`. Pow's exponent, which may have another dtype, is converted to the base's.
struct BroadcastBinaryOp: PreparedOp {
    let op: BinaryOp
    let activation: Activation?
    let walk: BroadcastWalk

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let a = try required(inputs, 0, "A")
        var b = try required(inputs, 1, "B")
        if b.dtype != a.dtype { b = b.converted(to: a.dtype) }
        Elementwise.binary(op, a, b, into: outputs[0], activation: activation, walk: walk, threads: context.threads)
    }
}

/// `Pow(A, 2)` ready to run as `A·A`, or `Pow(A, 3)` (float32) as `(A·A)·A`, the second product in
/// place (`Elementwise.binary`).
struct SmallPowerOp: PreparedOp {
    let cube: Bool
    let activation: Activation?
    let walk: BroadcastWalk

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let a = try required(inputs, 0, "A")
        Elementwise.binary(.mul, a, a, into: outputs[0], activation: cube ? nil : activation, walk: walk)
        if cube { Elementwise.binary(.mul, outputs[0], a, into: outputs[0], activation: activation, walk: walk) }
    }
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

    /// Prepares the first input's broadcast and each other input's walk once per plan (`VariadicOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let out = try outputTypes(inputs, constants: constants)[0]
        let present = inputs.compactMap { $0 }
        return VariadicOp(
            op: op, firstStrides: Broadcast.strides(of: present[0].shape, broadcastTo: out.shape),
            walks: present.dropFirst().map { BroadcastWalk(output: out.shape, operands: [out.shape, $0.shape]) },
            mean: isMean ? (Tensor(scalar: Double(present.count)).converted(to: out.dtype), BroadcastWalk(output: out.shape, operands: [out.shape, []])) : nil)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Sum`/`Max`/`Min`/`Mean` ready to run: the first present input broadcast into the output,
/// then each other one combined into it in input order (`Elementwise.binary`); Mean divides by
/// the count last.
struct VariadicOp: PreparedOp {
    let op: BinaryOp
    let firstStrides: [Int]
    let walks: [BroadcastWalk]
    let mean: (count: Tensor, walk: BroadcastWalk)?

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let present = inputs.compactMap { $0 }
        let out = outputs[0]
        Movement.stridedCopy(present[0], offset: 0, strides: firstStrides, into: out)
        for (t, walk) in zip(present.dropFirst(), walks) {
            Elementwise.binary(op, out, t, into: out, walk: walk)
        }
        if let mean { Elementwise.binary(.div, out, mean.count, into: out, walk: mean.walk) }
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

    /// Prepares the walk of X and the slope once per plan (`PReluOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0], s = try required(inputs, 1, "slope")
        return PReluOp(walk: BroadcastWalk(output: x.shape, operands: [x.shape, s.shape]))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `PRelu` ready to run; the kernel is `Elementwise.prelu`.
struct PReluOp: PreparedOp {
    let walk: BroadcastWalk

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "slope")
        Elementwise.prelu(x, s.dtype == x.dtype ? s : s.converted(to: x.dtype), into: outputs[0], walk: walk)
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

/// ONNX `SwiGLU` (opset 28): Swish_α(A) · B for A and B of one shape, as its function body
/// computes it: the Swish rounded to the element type, then the product.
public struct SwiGLU: Layer {
    public var opType: String { "SwiGLU" }
    public let alpha: Double
    public init(alpha: Double) { self.alpha = alpha }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        try requireFloat(a, "A")
        guard a == b else { throw LayerError("A is \(a) and B is \(b): SwiGLU needs the same type and shape") }
        return [a]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Elementwise.unary(.swish(alpha: alpha), try required(inputs, 0, "A"), into: outputs[0])
        Elementwise.binary(.mul, outputs[0], try required(inputs, 1, "B"), into: outputs[0])
    }
}
