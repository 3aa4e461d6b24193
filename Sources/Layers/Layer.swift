import Foundation
import TensorCore

/// The dtype and shape of a value flowing between layers; for an ONNX sequence or optional, its
/// kind and its items' types (`dtype` is then the items' element type and `shape` is `[0]`).
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]
    public var kind: ValueKind

    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
        kind = .tensor
    }

    /// The type of a sequence with items of these types (all of element type `dtype`).
    public static func sequence(_ items: [TensorType], dtype: DType) -> TensorType {
        var t = TensorType(dtype, [0])
        t.kind = .sequence(items)
        return t
    }

    /// The type of an optional holding a value of type `value`, or none (of element type `dtype`).
    public static func optional(_ value: TensorType?, dtype: DType) -> TensorType {
        var t = TensorType(dtype, [0])
        t.kind = .optional(value)
        return t
    }

    /// The type of a value (a tensor, a sequence or an optional).
    public init(of value: Tensor) {
        switch value.container {
        case .sequence(let items)?: self = .sequence(items.map { TensorType(of: $0) }, dtype: value.dtype)
        case .optional(let v)?: self = .optional(v.map { TensorType(of: $0) }, dtype: value.dtype)
        case .strings?, nil: self.init(value.dtype, value.shape)
        }
    }

    public var isTensor: Bool { kind == .tensor }
    public var count: Int { shape.product }
    public var description: String {
        switch kind {
        case .tensor: return "\(dtype)\(shape)"
        case .sequence(let items):
            // A long sequence is shown by its first items (errors quote input types).
            let shown = items.prefix(4).map(\.description).joined(separator: ", ")
            return "sequence<\(dtype)>[" + shown + (items.count > 4 ? ", … \(items.count) items" : "") + "]"
        case .optional(let v): return "optional(" + (v?.description ?? "none of \(dtype)") + ")"
        }
    }
}

/// What a value is: a tensor, or an ONNX sequence or optional (with its items' types, which plans
/// know as they know shapes).
public indirect enum ValueKind: Sendable, Hashable {
    case tensor
    /// A sequence with items of these types, in order.
    case sequence([TensorType])
    /// An optional holding a value of this type, or none.
    case optional(TensorType?)

    /// The name ONNX's type protos use.
    public var name: String {
        switch self {
        case .tensor: "tensor"
        case .sequence: "sequence"
        case .optional: "optional"
        }
    }
}

/// A layer's complaint about its inputs or attributes; the runtime adds the node's name and op.
public struct LayerError: Error, CustomStringConvertible, Equatable {
    public let message: String
    /// Whether the layer could not infer its outputs because an input's values are not known yet
    /// (the runtime then plans the rest of the graph once the run has computed them).
    public let needsValues: Bool
    /// With `needsValues`: the inputs whose values decide the outputs' types (empty: any of them).
    public let neededInputs: [Int]
    public init(_ message: String, needsValues: Bool = false, neededInputs: [Int] = []) {
        self.message = message
        self.needsValues = needsValues
        self.neededInputs = neededInputs
    }

    /// The error of a layer whose output types depend on the values of these inputs.
    public static func needs(_ inputs: [Int], _ message: String) -> LayerError {
        LayerError(message, needsValues: true, neededInputs: inputs)
    }
    public var description: String { message }
}

/// Per-run state a layer may use: the thread budget and reusable scratch memory.
public final class ExecutionContext: @unchecked Sendable {
    /// Threads Touchstone's own parallel loops may use.
    public let threads: Int
    /// Scratch memory for kernels (im2col columns).
    public let scratch = Scratch()

    /// Where control-flow subgraphs put the intermediate values a session captures (nil when it
    /// captures none).
    public var subgraphTaps: SubgraphTaps?

    public init(threads: Int) { self.threads = max(1, threads) }
}

/// The values, by name, that control-flow subgraphs computed and a session wants to capture
/// (a loop's last iteration wins).
public final class SubgraphTaps: @unchecked Sendable {
    public let wants: @Sendable (String) -> Bool
    private var values: [String: Tensor] = [:]
    private let lock = NSLock()

    public init(wants: @escaping @Sendable (String) -> Bool) { self.wants = wants }

    public func record(_ captured: [String: Tensor]) {
        lock.lock()
        defer { lock.unlock() }
        for (name, t) in captured where wants(name) { values[name] = t }
    }

    /// The values recorded since the last call, emptying the record.
    public func take() -> [String: Tensor] {
        lock.lock()
        defer { lock.unlock() }
        let out = values
        values = [:]
        return out
    }
}

/// How a node's products are summed, chosen for it once by the runtime's execution policy (the one
/// place that maps a numeric format to what each node computes) and handed to `Layer.prepare`.
/// The element type (float32, float64) follows from the tensors' dtypes: an FP64 run widens the
/// graph, so every kernel a layer prepares for float64 operands computes in Double.
public struct ComputeFormat: Sendable, Hashable, CustomStringConvertible {
    /// Where the sums of products (Conv, ConvTranspose, Gemm, MatMul) are held.
    public enum Accumulation: Sendable, Hashable {
        /// The op's own kernels: float32 sums (Double for float64 operands).
        case standard
        /// Each multiply-add rounded to float16 (`HalfAccumulation`).
        case float16
        /// FP8 products: the operands are FP8 values times scales, summed as a GPU's FP8 tensor
        /// cores do (`FP8Accumulation`).
        case fp8(FP8Products)
    }

    public var accumulation: Accumulation
    /// When set, a convolution (Conv, ConvTranspose) rounds its sum to this format before adding
    /// its bias, and the bias's sum is rounded again with the node's output: how PyTorch runs
    /// convolutions on CUDA (cuDNN writes the sum, a separate kernel adds the bias). Nil: the bias
    /// is part of the sum, rounded once with it (TensorRT, onnxruntime, PyTorch on the CPU).
    public var roundsBeforeBias: ReducedFormat?

    public init(accumulation: Accumulation = .standard, roundsBeforeBias: ReducedFormat? = nil) {
        self.accumulation = accumulation
        self.roundsBeforeBias = roundsBeforeBias
    }

    /// Float32 (or float64) kernels with their documented summation.
    public static let standard = ComputeFormat()

    public var description: String {
        let sums: String
        switch accumulation {
        case .standard: sums = "standard"
        case .float16: sums = "fp16-accumulation"
        case .fp8(let p): sums = "fp8(\(p.accumulator))"
        }
        return roundsBeforeBias.map { sums + ", rounded before the bias (\($0))" } ?? sums
    }
}

/// Where the sums of a product op run in its two operands: per-channel scales go along the
/// weight's channel axis, the blocks of block-scaled formats (NVFP4, MX, INT4) along the
/// reduction axes.
public struct ProductAxes: Sendable, Equatable {
    /// The weight's output-channel axis; nil when it has none (a rank-1 MatMul operand).
    public var weightChannel: Int?
    /// The weight's reduction axis; with `weightReductionSpansRest` the sums run over it and
    /// every axis after it, contiguous in memory (a convolution's `C/group·kh·kw`).
    public var weightReduction: Int
    public var weightReductionSpansRest: Bool
    /// The activation's reduction axis (a convolution's channels).
    public var activationReduction: Int

    public init(weightChannel: Int?, weightReduction: Int, weightReductionSpansRest: Bool = false, activationReduction: Int) {
        self.weightChannel = weightChannel
        self.weightReduction = weightReduction
        self.weightReductionSpansRest = weightReductionSpansRest
        self.activationReduction = activationReduction
    }
}

/// A node made ready to run for one set of input types and one compute format: shapes resolved,
/// the kernel chosen, constants prepared. Made once per plan; `run` does no shape work.
public protocol PreparedOp: Sendable {
    /// Computes the outputs, whose storage the runtime allocated with the planned types, from
    /// inputs of the types the op was prepared for.
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws
}

/// The prepared form of a layer with nothing to resolve ahead (a unary op, Cast, Shape, or an op
/// computed while planning): it calls `forward`.
public struct ForwardingOp: PreparedOp {
    public let layer: any Layer
    public init(_ layer: any Layer) { self.layer = layer }
    public func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try layer.forward(inputs, outputs: outputs, context: context)
    }
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

    /// Prepares this layer to run on inputs of these types in `format` (see `PreparedOp`).
    /// `constants[i]` is input i's value when known before running. Layers that do not sum
    /// products ignore the format.
    func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp

    /// For ops whose work is products of an activation (input 0) and a weight (input 1) (Conv,
    /// ConvTranspose, Gemm, MatMul): the axes their sums run over and the weight's output-channel
    /// axis; nil for other ops. The precision policies quantize or round the operands of exactly
    /// these ops.
    func productAxes(activationRank: Int, weightRank: Int) -> ProductAxes?

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

    /// Whether the layer takes sequences or optionals as inputs (else the runtime refuses them
    /// before the layer sees them).
    var takesContainers: Bool { get }

    /// Whether the layer takes string tensors as inputs (else the runtime refuses them).
    var takesStrings: Bool { get }

    /// This layer for new values of its constant inputs (`constants[i]` is input i's value, nil
    /// where not constant), as the precision policies make when they round or quantize weights.
    /// Layers that prepare anything from a constant when they are made must prepare it again here.
    func replacingConstants(_ constants: [Tensor?]) throws -> any Layer
}

extension Layer {
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp { ForwardingOp(self) }
    public func productAxes(activationRank: Int, weightRank: Int) -> ProductAxes? { nil }
    public var isReshape: Bool { false }
    public func fusing(_ activation: Activation) -> (any Layer)? { nil }
    public func multiplyAdds(_ inputs: [TensorType?]) -> Int { 0 }
    public var fusedActivation: Activation? { nil }
    public func valuesFromTypes(_ inputs: [TensorType?]) -> [Tensor]? { nil }
    public func replacingConstants(_ constants: [Tensor?]) throws -> any Layer { self }
    public var takesContainers: Bool { false }
    public var takesStrings: Bool { false }
}

/// A layer that makes its output values itself (sequences, optionals, a subgraph's results)
/// instead of writing into storage the runtime allocated; the runtime keeps them as they come.
public protocol ValueLayer: Layer {
    /// The outputs for these inputs.
    func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor]
}

extension ValueLayer {
    public var takesContainers: Bool { true }

    /// Evaluates, then copies the outputs into the storage given (tensors of the planned types).
    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let results = try evaluate(inputs, context: context)
        for (k, o) in outputs.enumerated() {
            guard k < results.count else { throw LayerError("\(opType) produced \(results.count) outputs, the node names \(outputs.count)") }
            let r = results[k]
            guard r.container == nil, o.container == nil, r.shape == o.shape else {
                throw LayerError("\(opType)'s output \(k) is \(TensorType(of: r)), planned \(TensorType(of: o))")
            }
            if r.dtype == o.dtype { r.copy(into: o) } else { r.convert(into: o) }
        }
    }
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
    tensors.map { $0.map { TensorType(of: $0) } }
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
        throw LayerError.needs([i], "input \(i) (\(what)) must be a constant or computable from shapes; it depends on data")
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
        throw LayerError.needs([index], "input \(index) (\(what)) must be a constant or computable from shapes; it depends on data")
    }
}
