import TensorCore

/// The element type float ops compute in: Double for float64 tensors, Float for every other float
/// dtype (float32, and float16/bfloat16 converted in and rounded once on the way out), so that an
/// FP32 run computes in FP32 as a real backend does and only FP64 computes in Double.
func computesInDouble(_ dtype: DType) -> Bool { dtype == .float64 }

/// A group normalisation ready to run (InstanceNormalization, LayerNormalization,
/// GroupNormalization, RMSNormalization): the input seen as `[groups, size]`, the affine
/// parameters' index for element j of group g resolved, and the parameters themselves read once
/// when they are constants. The kernels are `Normalize.meanVariance` and `Normalize.rms`.
struct NormalizeOp: PreparedOp {
    /// Where element j of group g finds its scale and shift.
    enum ParameterIndex {
        /// `j`: parameters over the normalised dimensions (LayerNormalization, RMSNormalization).
        case element
        /// `g % period`: one per group of a sample (InstanceNormalization's channels, GroupNormalization's opset-18 form).
        case group(period: Int)
        /// GroupNormalization with one value per channel: group g of a sample holds `perGroup`
        /// channels of `spatial` elements each.
        case channel(groups: Int, perGroup: Int, spatial: Int)

        func callAsFunction(_ g: Int, _ j: Int) -> Int {
            switch self {
            case .element: j
            case .group(let p): g % p
            case let .channel(groups, perGroup, spatial): (g % groups) * perGroup + j / Swift.max(spatial, 1)
            }
        }
    }

    /// Constant parameters, read once in both precisions.
    struct Parameters {
        let float: [Float], double: [Double]
        /// `float` as a tensor, for `Normalize.layerNorm`.
        let tensor: Tensor
        init?(_ t: Tensor?) {
            guard let t else { return nil }
            float = t.scalars(as: Float.self)
            double = t.scalars(as: Double.self)
            tensor = Tensor(shape: [float.count], scalars: float)
        }
    }

    let groups: Int, size: Int, epsilon: Double
    let rms: Bool
    let index: ParameterIndex
    /// Input indices of the scale and shift (shift nil: none), and how to lay them out: expanded
    /// to the normalised dimensions for `.element`, as they are otherwise.
    let scaleInput: Int, shiftInput: Int?
    let expandTo: [Int]?
    let constantScale: Parameters?, constantShift: Parameters?

    init(groups: Int, size: Int, epsilon: Double, rms: Bool = false, index: ParameterIndex, scaleInput: Int, shiftInput: Int?,
         expandTo: [Int]?, constants: [Tensor?]) {
        self.groups = groups
        self.size = size
        self.epsilon = epsilon
        self.rms = rms
        self.index = index
        self.scaleInput = scaleInput
        self.shiftInput = shiftInput
        self.expandTo = expandTo
        func value(_ i: Int?) -> Tensor? { i.flatMap { $0 < constants.count ? constants[$0] : nil }.map { NormalizeOp.laidOut($0, expandTo) } }
        constantScale = Parameters(value(scaleInput))
        constantShift = Parameters(value(shiftInput))
    }

    static func laidOut(_ t: Tensor, _ shape: [Int]?) -> Tensor {
        guard let shape, t.shape != shape else { return t }
        let full = Tensor(zeros: shape, dtype: t.dtype)
        Movement.broadcast(t, into: full)
        return full
    }

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if x.dtype == .float32, outputs[0].dtype == .float32, !rms, case .element = index {
            // In place on the buffers (`Normalize.layerNorm`), the bits of the array form below.
            let scale = try constantScale?.tensor
                ?? NormalizeOp.laidOut(try required(inputs, scaleInput, "scale"), expandTo).converted(to: .float32)
            let shift = try constantShift?.tensor
                ?? shiftInput.map { NormalizeOp.laidOut(try required(inputs, $0, "B"), expandTo).converted(to: .float32) }
            guard scale.count >= size, (shift?.count ?? size) >= size, x.count >= groups * size else {
                throw LayerError("scale \(scale.shape) and B \(shift?.shape ?? []) must cover the \(size) normalised elements")
            }
            let stats = Normalize.layerNorm(
                x, into: outputs[0], groups: groups, size: size, epsilon: epsilon, scale: scale, shift: shift, threads: context.threads)
            if outputs.count > 1 { Tensor(shape: outputs[1].shape, scalars: stats.mean).convert(into: outputs[1]) }
            if outputs.count > 2 { Tensor(shape: outputs[2].shape, scalars: stats.invStdDev).convert(into: outputs[2]) }
            return
        }
        if x.dtype == .float64 {
            compute(x.scalars(as: Double.self), try parameters(constantScale?.double, scaleInput, "scale", inputs) ?? [],
                        try parameters(constantShift?.double, shiftInput, "B", inputs), shape: x.shape, outputs, threads: context.threads)
        } else {
            compute(x.scalars(as: Float.self), try parameters(constantScale?.float, scaleInput, "scale", inputs) ?? [],
                        try parameters(constantShift?.float, shiftInput, "B", inputs), shape: x.shape, outputs, threads: context.threads)
        }
    }

    /// A parameter in `T`: the constant's, or input `i`'s laid out on this run (nil: no such input).
    func parameters<T: TensorScalar>(_ constant: [T]?, _ i: Int?, _ what: String, _ inputs: [Tensor?]) throws -> [T]? {
        if let constant { return constant }
        guard let i else { return nil }
        return NormalizeOp.laidOut(try required(inputs, i, what), expandTo).scalars(as: T.self)
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_ x: [T], _ scale: [T], _ shift: [T]?, shape: [Int], _ outputs: [Tensor], threads: Int = 1) {
        var y = [T](repeating: 0, count: x.count)
        if rms {
            Normalize.rms(x, into: &y, groups: groups, size: size, epsilon: epsilon, scale: scale)
        } else if case .element = index {
            let stats = Normalize.meanVariance(x, into: &y, groups: groups, size: size, epsilon: epsilon, scale: scale, shift: shift, threads: threads)
            if outputs.count > 1 { Tensor(shape: outputs[1].shape, scalars: stats.mean).convert(into: outputs[1]) }
            if outputs.count > 2 { Tensor(shape: outputs[2].shape, scalars: stats.invStdDev).convert(into: outputs[2]) }
        } else {
            let index = self.index
            let stats = Normalize.meanVariance(
                x, into: &y, groups: groups, size: size, epsilon: epsilon, scale: { scale[index($0, $1)] },
                shift: { g, j in shift.map { $0[index(g, j)] } ?? 0 })
            if outputs.count > 1 { Tensor(shape: outputs[1].shape, scalars: stats.mean).convert(into: outputs[1]) }
            if outputs.count > 2 { Tensor(shape: outputs[2].shape, scalars: stats.invStdDev).convert(into: outputs[2]) }
        }
        Tensor(shape: shape, scalars: y).convert(into: outputs[0])
    }
}

/// ONNX `InstanceNormalization`: input `[N, C, D1, …]`, scale `[C]`, B `[C]`; each (n, c) plane is
/// normalised over its spatial elements. Output like the input. Float dtypes.
public struct InstanceNormalization: Layer {
    public let epsilon: Double
    public init(epsilon: Double) { self.epsilon = epsilon }
    public var opType: String { "InstanceNormalization" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input"), s = try required(inputs, 1, "scale"), b = try required(inputs, 2, "B")
        try requireFloat(x, "input")
        guard x.shape.count >= 2 else { throw LayerError("input must be [N, C, …], it is \(x.shape)") }
        guard s.count == x.shape[1], b.count == x.shape[1] else { throw LayerError("scale \(s.shape) and B \(b.shape) must have C = \(x.shape[1]) elements") }
        return [x]
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let c = x.shape[1]
        return NormalizeOp(groups: x.shape[0] * c, size: x.shape[2...].product, epsilon: epsilon, index: .group(period: c),
                           scaleInput: 1, shiftInput: 2, expandTo: nil, constants: constants)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// ONNX `LayerNormalization` (axis, epsilon): X `[d0, …]` normalised over the dimensions from
/// `axis` on; Scale and B (optional) broadcast to those dimensions. Outputs Y like X and, when
/// named, Mean and InvStdDev with the normalised dimensions kept as 1 (in float32 unless
/// `stash_type` says otherwise). Computed in Float, or Double for float64 X.
public struct LayerNormalization: Layer {
    public let axis: Int
    public let epsilon: Double
    public let stashType: DType
    public init(axis: Int, epsilon: Double, stashType: DType) {
        self.axis = axis
        self.epsilon = epsilon
        self.stashType = stashType
    }
    public var opType: String { "LayerNormalization" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "Scale")
        try requireFloat(x, "X")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let normalized = Array(x.shape[a...])
        for (t, name) in [(s, "Scale"), (inputs.count > 2 ? inputs[2] : nil, "B")] {
            guard let t else { continue }
            guard let shape = Broadcast.shape([normalized, t.shape]), shape == normalized else {
                throw LayerError("\(name) \(t.shape) does not broadcast to the normalised dimensions \(normalized)")
            }
        }
        let stats = x.shape.enumerated().map { $0.offset < a ? $0.element : 1 }
        return [x, TensorType(stashType, stats), TensorType(stashType, stats)]
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let normalized = Array(x.shape[try normalizedAxis(axis, rank: x.shape.count)...])
        let size = normalized.product
        return NormalizeOp(groups: size == 0 ? 0 : x.count / size, size: size, epsilon: epsilon, index: .element,
                           scaleInput: 1, shiftInput: inputs.count > 2 && inputs[2] != nil ? 2 : nil, expandTo: normalized, constants: constants)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// ONNX `GroupNormalization` (num_groups, epsilon): X `[N, C, D1, …]`, the C channels split into
/// `num_groups` groups each normalised over its channels and spatial elements; scale and bias have
/// one value per channel (opset 21) or, in opset 18's form, per group. Output like X.
public struct GroupNormalization: Layer {
    public let groups: Int
    public let epsilon: Double
    public init(groups: Int, epsilon: Double) {
        self.groups = groups
        self.epsilon = epsilon
    }
    public var opType: String { "GroupNormalization" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "scale"), b = try required(inputs, 2, "bias")
        try requireFloat(x, "X")
        guard x.shape.count >= 2 else { throw LayerError("X must be [N, C, …], it is \(x.shape)") }
        let c = x.shape[1]
        guard groups > 0, c % groups == 0 else { throw LayerError("num_groups \(groups) must divide the \(c) channels") }
        guard s.count == b.count, s.count == c || s.count == groups else {
            throw LayerError("scale \(s.shape) and bias \(b.shape) must have one value per channel (\(c)) or per group (\(groups))")
        }
        return [x]
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let c = x.shape[1], spatial = x.shape[2...].product, perGroup = c / groups
        let perChannel = try required(inputs, 1, "scale").count == c
        return NormalizeOp(
            groups: x.shape[0] * groups, size: perGroup * spatial, epsilon: epsilon,
            index: perChannel ? .channel(groups: groups, perGroup: perGroup, spatial: spatial) : .group(period: groups),
            scaleInput: 1, shiftInput: 2, expandTo: nil, constants: constants)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// Splits a shape at an axis: `(outer, length, inner)` with the tensor seen as `[outer, length, inner]`.
func splitAt(_ shape: [Int], _ axis: Int) -> (Int, Int, Int) {
    (shape[..<axis].product, shape[axis], shape[(axis + 1)...].product)
}

/// ONNX `LpNormalization` (p 1 or 2): `x / ‖x‖_p` along `axis`; a zero norm gives 0.
public struct LpNormalization: Layer {
    public var opType: String { "LpNormalization" }
    public let axis: Int, p: Int
    public init(axis: Int, p: Int) throws {
        guard p == 1 || p == 2 else { throw LayerError("p is \(p), expected 1 or 2") }
        self.axis = axis
        self.p = p
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [try floatTypeAlongAxis(inputs, axis: axis)]
    }

    /// Resolves the `[outer, length, inner]` view once per plan (`LpNormalizationOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let (outer, length, inner) = splitAt(x.shape, try normalizedAxis(axis, rank: x.shape.count))
        return LpNormalizationOp(outer: outer, length: length, inner: inner, p: p)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// An `LpNormalization` ready to run; the kernel is `Normalize.lpNormalize`, in Double for
/// float64 and in Float otherwise.
struct LpNormalizationOp: PreparedOp {
    let outer: Int, length: Int, inner: Int, p: Int

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        if computesInDouble(x.dtype) {
            let y = Normalize.lpNormalize(x.doubles(), outer: outer, length: length, inner: inner, p: p)
            Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
        } else {
            let y = Normalize.lpNormalize(x.scalars(as: Float.self), outer: outer, length: length, inner: inner, p: p)
            Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
        }
    }
}

/// ONNX `MeanVarianceNormalization`: `(x − E[x]) / (√(E[x²] − E[x]²) + 1e-9)` over `axes`
/// (default `[0, 2, 3]`), as ONNX's function body defines it.
public struct MeanVarianceNormalization: Layer {
    public var opType: String { "MeanVarianceNormalization" }
    public let axes: [Int]
    public init(axes: [Int]) { self.axes = axes }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        for a in axes { _ = try normalizedAxis(a, rank: x.shape.count) }
        return [x]
    }

    /// Resolves each element's statistics group once per plan (`MeanVarianceOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let reduced = Set(try axes.map { try normalizedAxis($0, rank: x.shape.count) })
        let (group, groups) = Normalize.groupIndex(shape: x.shape, reduced: reduced)
        return MeanVarianceOp(group: group, groups: groups)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `MeanVarianceNormalization` ready to run: each element's statistics group; the kernel is
/// `Normalize.meanVariance`, in Double for float64 and in Float otherwise.
struct MeanVarianceOp: PreparedOp {
    let group: [Int]
    let groups: Int

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if computesInDouble(x.dtype) {
            Tensor(shape: x.shape, scalars: Normalize.meanVariance(x.doubles(), group: group, groups: groups)).convert(into: outputs[0])
        } else {
            Tensor(shape: x.shape, scalars: Normalize.meanVariance(x.scalars(as: Float.self), group: group, groups: groups)).convert(into: outputs[0])
        }
    }
}

/// ONNX `RMSNormalization` (opset 23): `x / √(mean(x²) + ε) · scale` over the axes from `axis` to
/// the last, computed in Float (Double for float64 X), as `stash_type` float32 asks.
public struct RMSNormalization: Layer {
    public var opType: String { "RMSNormalization" }
    public let axis: Int
    public let epsilon: Double
    public init(axis: Int, epsilon: Double) {
        self.axis = axis
        self.epsilon = epsilon
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "scale")
        try requireFloat(x, "X")
        let normalized = Array(x.shape[try normalizedAxis(axis, rank: x.shape.count)...])
        guard let shape = Broadcast.shape([normalized, s.shape]), shape == normalized else {
            throw LayerError("scale \(s.shape) does not broadcast to the normalised dimensions \(normalized)")
        }
        return [x]
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let normalized = Array(x.shape[try normalizedAxis(axis, rank: x.shape.count)...])
        let size = normalized.product
        return NormalizeOp(groups: size == 0 ? 0 : x.count / size, size: size, epsilon: epsilon, rms: true, index: .element,
                           scaleInput: 1, shiftInput: nil, expandTo: normalized, constants: constants)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// ONNX `Hardmax`: 1 at the first largest value along `axis`, 0 elsewhere. Before opset 13 the
/// input is seen as 2-D `[∏ dims before axis, ∏ dims from axis]` (`legacyCoercion`).
public struct Hardmax: Layer {
    public var opType: String { "Hardmax" }
    public let axis: Int
    public let legacyCoercion: Bool
    public init(axis: Int, legacyCoercion: Bool) {
        self.axis = axis
        self.legacyCoercion = legacyCoercion
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [try floatTypeAlongAxis(inputs, axis: axis)]
    }

    /// Resolves the `[outer, length, inner]` view once per plan (`HardmaxOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let (outer, length, inner) = legacyCoercion ? (x.shape[..<a].product, x.shape[a...].product, 1) : splitAt(x.shape, a)
        return HardmaxOp(outer: outer, length: length, inner: inner)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Hardmax` ready to run; the kernel is `Ranking.hardmax`.
struct HardmaxOp: PreparedOp {
    let outer: Int, length: Int, inner: Int

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let y = Ranking.hardmax(x.doubles(), outer: outer, length: length, inner: inner)
        Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
    }
}
