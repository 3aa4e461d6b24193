import TensorCore

/// Mean and variance normalisation over groups of contiguous elements, in Double, then a
/// per-element scale and shift. The shared core of InstanceNormalization, LayerNormalization and
/// GroupNormalization.
///
/// `x` is seen as `[groups, size]`; group g is normalised with its own mean and (biased)
/// variance, `y = (x − mean) / sqrt(var + epsilon) · scale(g, j) + shift(g, j)`.
func normalizeGroups(
    _ x: [Double], groups: Int, size: Int, epsilon: Double,
    affine: (Int, Int, Double) -> Double
) -> (y: [Double], mean: [Double], invStdDev: [Double]) {
    var y = [Double](repeating: 0, count: x.count)
    var means = [Double](repeating: 0, count: groups), inv = [Double](repeating: 0, count: groups)
    for g in 0..<groups {
        let base = g * size
        var sum = 0.0
        for j in 0..<size { sum += x[base + j] }
        let mean = size > 0 ? sum / Double(size) : 0
        var squares = 0.0
        for j in 0..<size { let d = x[base + j] - mean; squares += d * d }
        let r = 1 / (squares / Double(Swift.max(size, 1)) + epsilon).squareRoot()
        for j in 0..<size { y[base + j] = affine(g, j, (x[base + j] - mean) * r) }
        means[g] = mean
        inv[g] = r
    }
    return (y, means, inv)
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let scale = try required(inputs, 1, "scale").doubles(), shift = try required(inputs, 2, "B").doubles()
        let c = x.shape[1], size = x.shape[2...].reduce(1, *)
        let r = normalizeGroups(x.doubles(), groups: x.shape[0] * c, size: size, epsilon: epsilon) { g, _, v in v * scale[g % c] + shift[g % c] }
        Tensor(shape: x.shape, scalars: r.y).convert(into: outputs[0])
    }
}

/// ONNX `LayerNormalization` (axis, epsilon): X `[d0, …]` normalised over the dimensions from
/// `axis` on; Scale and B (optional) broadcast to those dimensions. Outputs Y like X and, when
/// named, Mean and InvStdDev with the normalised dimensions kept as 1 (in float32 unless
/// `stash_type` says otherwise; Touchstone computes the statistics in Double either way).
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let normalized = Array(x.shape[a...])
        let size = normalized.reduce(1, *), groups = size == 0 ? 0 : x.count / size
        func expanded(_ t: Tensor?) -> [Double]? {
            guard let t else { return nil }
            let full = Tensor(zeros: normalized, dtype: t.dtype)
            Movement.broadcast(t, into: full)
            return full.doubles()
        }
        let scale = expanded(inputs[1]) ?? [], shift = expanded(inputs.count > 2 ? inputs[2] : nil)
        let r = normalizeGroups(x.doubles(), groups: groups, size: size, epsilon: epsilon) { _, j, v in v * scale[j] + (shift?[j] ?? 0) }
        Tensor(shape: x.shape, scalars: r.y).convert(into: outputs[0])
        if outputs.count > 1 { Tensor(shape: outputs[1].shape, scalars: r.mean).convert(into: outputs[1]) }
        if outputs.count > 2 { Tensor(shape: outputs[2].shape, scalars: r.invStdDev).convert(into: outputs[2]) }
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let scale = try required(inputs, 1, "scale").doubles(), shift = try required(inputs, 2, "bias").doubles()
        let c = x.shape[1], spatial = x.shape[2...].reduce(1, *), perGroup = c / groups
        let perChannel = scale.count == c
        let r = normalizeGroups(x.doubles(), groups: x.shape[0] * groups, size: perGroup * spatial, epsilon: epsilon) { g, j, v in
            let k = perChannel ? (g % groups) * perGroup + j / Swift.max(spatial, 1) : g % groups
            return v * scale[k] + shift[k]
        }
        Tensor(shape: x.shape, scalars: r.y).convert(into: outputs[0])
    }
}
