import TensorCore

/// ONNX `Reduce*` (Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare).
///
/// Axes come from the attribute (older opsets) or input 1 (ReduceSum from 13, the rest from 18).
/// With no axes every axis is reduced, unless `noop_with_empty_axes` makes it the identity.
/// data `[d0, …]`; reduced `[…]` with the reduced axes kept as 1 (keepdims) or dropped.
public struct ReduceLayer: Layer {
    public let op: ReduceOp
    public let opType: String
    public let attributeAxes: [Int]?
    public let keepDims: Bool
    public let noopWithEmptyAxes: Bool

    public init(_ op: ReduceOp, opType: String, axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool) {
        self.op = op
        self.opType = opType
        attributeAxes = axes
        self.keepDims = keepDims
        self.noopWithEmptyAxes = noopWithEmptyAxes
    }

    func resolvedAxes(_ rank: Int, _ values: [Tensor?]) throws -> [Int] {
        var axes = attributeAxes
        if axes == nil, values.count > 1, values[1] != nil { axes = try constantInts(values, 1, "axes") }
        guard let a = axes, !a.isEmpty else { return noopWithEmptyAxes ? [] : Array(0..<rank) }
        let norm = try a.map { try normalizedAxis($0, rank: rank) }
        guard Set(norm).count == norm.count else { throw LayerError("axes \(a) repeat an axis") }
        return norm.sorted()
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data")
        if inputs.count > 1, inputs[1] != nil { _ = try constantInts(constants, 1, "axes") }
        let axes = Set(try resolvedAxes(x.shape.count, constants))
        var shape: [Int] = []
        for (i, d) in x.shape.enumerated() {
            if axes.contains(i) { if keepDims { shape.append(1) } } else { shape.append(d) }
        }
        return [TensorType(x.dtype, shape)]
    }

    /// Resolves the reduced axes once per plan (`ReduceOp`): they are attributes or a constant input.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "data")
        let axes = try resolvedAxes(x.shape.count, constants)
        return ReduceLayerOp(op: op, axes: axes, identity: axes.isEmpty && noopWithEmptyAxes)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A reduction ready to run: its axes resolved; the kernel is `Reduce.reduce`.
struct ReduceLayerOp: PreparedOp {
    let op: ReduceOp
    let axes: [Int]
    /// No axes with `noop_with_empty_axes`: the output is the input.
    let identity: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data")
        if identity {
            x.copy(into: outputs[0])
            return
        }
        Reduce.reduce(op, x, axes: axes, into: outputs[0])
    }
}
