import TensorCore

/// The dtype and shape of a value flowing between layers.
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public var count: Int { shape.product }
    public var description: String { "\(dtype)\(shape)" }
}

/// A layer's complaint about its inputs or attributes; the runtime adds the node's name and op.
public struct LayerError: Error, CustomStringConvertible, Equatable {
    public let message: String
    /// Whether the layer could not infer its outputs because an input's values are not known yet
    /// (the runtime may then plan again with the graph inputs' values).
    public let needsValues: Bool
    public init(_ message: String, needsValues: Bool = false) {
        self.message = message
        self.needsValues = needsValues
    }
    public var description: String { message }
}

/// Per-run state a layer may use: the thread budget and reusable scratch memory.
public final class ExecutionContext: @unchecked Sendable {
    /// Threads Touchstone's own parallel loops may use.
    public let threads: Int
    /// Scratch memory for kernels (im2col columns).
    public let scratch = Scratch()

    public init(threads: Int) { self.threads = max(1, threads) }
}

/// One typed operation of a model.
///
/// A layer is an immutable value: attributes are `let`s, weights are prepacked when the layer is
/// made. Inputs that the format allows to be absent arrive as `nil`.
public protocol Layer: Sendable {
    /// The ONNX op type this layer implements (also used for Keras layers, by the matching op).
    var opType: String { get }

    /// Infers output types from input types. `constants[i]` holds input i's value when it is known
    /// before running (initializers and folded subgraphs): ops whose output shape depends on an
    /// input's value (Reshape, Slice, …) read it from there and throw if it is unknown.
    func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType]

    /// Computes the outputs, whose storage the runtime allocated with the inferred types.
    func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws

    /// When true, output 0 has the same elements as input 0 in the same order (a reshape), and
    /// the runtime lets it share storage instead of calling `forward`.
    var isReshape: Bool { get }

    /// A copy of this layer that also applies `activation` to its output in its own output pass,
    /// or nil when it cannot.
    func fusing(_ activation: Activation) -> (any Layer)?

    /// Multiply-adds for one run with these input types (0 for data movement).
    func multiplyAdds(_ inputs: [TensorType?]) -> Int

    /// The activation fused into this layer, if any (for display).
    var fusedActivation: Activation? { get }

    /// The outputs when they follow from the input types alone (Shape), else nil.
    func valuesFromTypes(_ inputs: [TensorType?]) -> [Tensor]?

    /// This layer for new values of its constant inputs (`constants[i]` is input i's value, nil
    /// where not constant), as the precision policies make when they round or quantize weights.
    /// Layers that prepare anything from a constant when they are made must prepare it again here.
    func replacingConstants(_ constants: [Tensor?]) throws -> any Layer
}

extension Layer {
    public var isReshape: Bool { false }
    public func fusing(_ activation: Activation) -> (any Layer)? { nil }
    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { 0 }
    public var fusedActivation: Activation? { nil }
    public func valuesFromTypes(_ inputs: [TensorType?]) -> [Tensor]? { nil }
    public func replacingConstants(_ constants: [Tensor?]) throws -> any Layer { self }
}

// MARK: - Helpers for layer implementations

/// Returns input `i`'s type, or throws naming it.
@inlinable
public func required(_ inputs: [TensorType?], _ i: Int, _ what: String) throws -> TensorType {
    guard i < inputs.count, let t = inputs[i] else { throw LayerError("input \(i) (\(what)) is missing") }
    return t
}

/// The types of tensors (for a forward pass that reuses its layer's type checks).
public func types(of tensors: [Tensor?]) -> [TensorType?] {
    tensors.map { $0.map { TensorType($0.dtype, $0.shape) } }
}

/// Returns input `i`'s tensor, or throws naming it.
@inlinable
public func required(_ inputs: [Tensor?], _ i: Int, _ what: String) throws -> Tensor {
    guard i < inputs.count, let t = inputs[i] else { throw LayerError("input \(i) (\(what)) is missing") }
    return t
}

/// Returns the constant value of input `i` as integers, or throws explaining that the value must
/// be known before running.
public func constantInts(_ constants: [Tensor?], _ i: Int, _ what: String) throws -> [Int] {
    guard i < constants.count, let t = constants[i] else {
        throw LayerError("input \(i) (\(what)) must be a constant or computable from shapes; it depends on data", needsValues: true)
    }
    guard !t.dtype.isFloatingPoint || t.dtype == .float32 else { return t.int64s().map { Int($0) } }
    return t.int64s().map { Int(clamping: $0) }
}

/// Normalises a possibly negative axis for a tensor of `rank`: a scalar (rank 0) has no axis.
public func normalizedAxis(_ axis: Int, rank: Int, _ what: String = "axis") throws -> Int {
    let (a, overflow) = axis < 0 ? axis.addingReportingOverflow(rank) : (axis, false)
    guard !overflow, a >= 0 && a < rank else { throw LayerError("\(what) \(axis) is out of range for rank \(rank)") }
    return a
}

/// Input 0's type, checked to be floating point with `axis` in range: the output type of the ops
/// that work along one axis and keep the shape (Softmax, Hardmax, LpNormalization).
public func floatTypeAlongAxis(_ inputs: [TensorType?], axis: Int, _ what: String = "input") throws -> TensorType {
    let x = try required(inputs, 0, what)
    try requireFloat(x, what)
    _ = try normalizedAxis(axis, rank: x.shape.count)
    return x
}

/// Checks that a tensor type is a floating-point type the kernels compute.
public func requireFloat(_ t: TensorType, _ what: String) throws {
    guard t.dtype.isFloatingPoint else { throw LayerError("\(what) has dtype \(t.dtype), expected a floating-point type") }
}

/// The element count of a shape that came from a tensor's values, refusing negative dimensions and
/// products beyond 2^40 (which no tensor on this machine could hold) instead of overflowing.
public func checkedProduct(_ shape: [Int], _ what: String) throws -> Int {
    var n = 1
    for d in shape {
        guard d >= 0 else { throw LayerError("\(what) \(shape) has a negative dimension") }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow, p <= 1 << 40 else { throw LayerError("\(what) \(shape) has more than 2^40 elements") }
        n = p
    }
    return n
}

/// Throws when an optional input that decides the output shape is present but not known before
/// running (so that it is never mistaken for an absent one).
public func requireKnownIfPresent(_ inputs: [TensorType?], _ constants: [Tensor?], _ index: Int, _ what: String) throws {
    if index < inputs.count, inputs[index] != nil, index >= constants.count || constants[index] == nil {
        throw LayerError("input \(index) (\(what)) must be a constant or computable from shapes; it depends on data", needsValues: true)
    }
}
