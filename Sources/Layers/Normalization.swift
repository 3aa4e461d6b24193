import TensorCore

/// The element type float ops compute in: Double for float64 tensors, Float for every other float
/// dtype (float32, and float16/bfloat16 converted in and rounded once on the way out), so that an
/// FP32 run computes in FP32 as a real backend does and only FP64 computes in Double.
func computesInDouble(_ dtype: DType) -> Bool { dtype == .float64 }

/// Mean and variance normalisation over groups of contiguous elements, in `T` (two passes: the
/// mean, then the mean of squared deviations, each a sequential sum), then a per-element scale and
/// shift. The shared core of InstanceNormalization, LayerNormalization and GroupNormalization.
///
/// `x` is seen as `[groups, size]`; group g is normalised with its own mean and (biased)
/// variance, `y = (x − mean) / sqrt(var + epsilon) · scale(g, j) + shift(g, j)`.
func normalizeGroups<T: BinaryFloatingPoint>(
    _ x: [T], groups: Int, size: Int, epsilon: Double,
    affine: (Int, Int, T) -> T
) -> (y: [T], mean: [T], invStdDev: [T]) {
    var y = [T](repeating: 0, count: x.count)
    var means = [T](repeating: 0, count: groups), inv = [T](repeating: 0, count: groups)
    for g in 0..<groups {
        let base = g * size
        var sum: T = 0
        for j in 0..<size { sum += x[base + j] }
        let mean = size > 0 ? sum / T(size) : 0
        var squares: T = 0
        for j in 0..<size { let d = x[base + j] - mean; squares += d * d }
        let r = 1 / (squares / T(Swift.max(size, 1)) + T(epsilon)).squareRoot()
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
        if computesInDouble(x.dtype) { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "input")
        let scale = try required(inputs, 1, "scale").scalars(as: T.self), shift = try required(inputs, 2, "B").scalars(as: T.self)
        let c = x.shape[1], size = x.shape[2...].reduce(1, *)
        let r = normalizeGroups(x.scalars(as: T.self), groups: x.shape[0] * c, size: size, epsilon: epsilon) { g, _, v in v * scale[g % c] + shift[g % c] }
        Tensor(shape: x.shape, scalars: r.y).convert(into: outputs[0])
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if computesInDouble(x.dtype) { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "X")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let normalized = Array(x.shape[a...])
        let size = normalized.reduce(1, *), groups = size == 0 ? 0 : x.count / size
        func expanded(_ t: Tensor?) -> [T]? {
            guard let t else { return nil }
            let full = Tensor(zeros: normalized, dtype: t.dtype)
            Movement.broadcast(t, into: full)
            return full.scalars(as: T.self)
        }
        let scale = expanded(inputs[1]) ?? [], shift = expanded(inputs.count > 2 ? inputs[2] : nil)
        let r = normalizeGroups(x.scalars(as: T.self), groups: groups, size: size, epsilon: epsilon) { _, j, v in v * scale[j] + (shift?[j] ?? 0) }
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
        if computesInDouble(x.dtype) { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "X")
        let scale = try required(inputs, 1, "scale").scalars(as: T.self), shift = try required(inputs, 2, "bias").scalars(as: T.self)
        let c = x.shape[1], spatial = x.shape[2...].reduce(1, *), perGroup = c / groups
        let perChannel = scale.count == c
        let r = normalizeGroups(x.scalars(as: T.self), groups: x.shape[0] * groups, size: perGroup * spatial, epsilon: epsilon) { g, j, v in
            let k = perChannel ? (g % groups) * perGroup + j / Swift.max(spatial, 1) : g % groups
            return v * scale[k] + shift[k]
        }
        Tensor(shape: x.shape, scalars: r.y).convert(into: outputs[0])
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        if computesInDouble(x.dtype) { try compute(Double.self, x, outputs) } else { try compute(Float.self, x, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ x: Tensor, _ outputs: [Tensor]) throws {
        let (outer, length, inner) = splitAt(x.shape, try normalizedAxis(axis, rank: x.shape.count))
        var v = x.scalars(as: T.self)
        for o in 0..<outer {
            for i in 0..<inner {
                var norm: T = 0
                for t in 0..<length { let e = v[(o * length + t) * inner + i]; norm += p == 1 ? e.magnitude : e * e }
                if p == 2 { norm = norm.squareRoot() }
                for t in 0..<length { let k = (o * length + t) * inner + i; v[k] = norm == 0 ? 0 : v[k] / norm }
            }
        }
        Tensor(shape: x.shape, scalars: v).convert(into: outputs[0])
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if computesInDouble(x.dtype) { try compute(Double.self, x, outputs) } else { try compute(Float.self, x, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ x: Tensor, _ outputs: [Tensor]) throws {
        let reduced = Set(try axes.map { try normalizedAxis($0, rank: x.shape.count) })
        let strides = contiguousStrides(x.shape)
        // The statistics index of each element: its position with the reduced axes dropped.
        let kept = (0..<x.shape.count).filter { !reduced.contains($0) }
        let keptStrides = contiguousStrides(kept.map { x.shape[$0] })
        let groups = kept.map { x.shape[$0] }.product
        let v = x.scalars(as: T.self)
        let group = (0..<v.count).map { e in kept.enumerated().reduce(0) { $0 + ((e / strides[$1.element]) % x.shape[$1.element]) * keptStrides[$1.offset] } }
        var sum = [T](repeating: 0, count: groups), squares = sum, count = sum
        for (e, g) in group.enumerated() { sum[g] += v[e]; squares[g] += v[e] * v[e]; count[g] += 1 }
        let y = group.enumerated().map { e, g -> T in
            let mean = sum[g] / count[g]
            return (v[e] - mean) / ((squares[g] / count[g] - mean * mean).squareRoot() + 1e-9)
        }
        Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if computesInDouble(x.dtype) { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "X"), s = try required(inputs, 1, "scale")
        let normalized = Array(x.shape[try normalizedAxis(axis, rank: x.shape.count)...])
        let size = normalized.product, groups = size == 0 ? 0 : x.count / size
        let full = Tensor(zeros: normalized, dtype: s.dtype)
        Movement.broadcast(s, into: full)
        let scale = full.scalars(as: T.self)
        var v = x.scalars(as: T.self)
        for g in 0..<groups {
            var squares: T = 0
            for j in 0..<size { squares += v[g * size + j] * v[g * size + j] }
            let inverse = 1 / (squares / T(size) + T(epsilon)).squareRoot()
            for j in 0..<size { v[g * size + j] = v[g * size + j] * inverse * scale[j] }
        }
        Tensor(shape: x.shape, scalars: v).convert(into: outputs[0])
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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let (outer, length, inner) = legacyCoercion ? (x.shape[..<a].product, x.shape[a...].product, 1) : splitAt(x.shape, a)
        let v = x.doubles()
        var y = [Double](repeating: 0, count: v.count)
        for o in 0..<outer {
            for i in 0..<inner where length > 0 {
                var best = 0
                for t in 1..<length where v[(o * length + t) * inner + i] > v[(o * length + best) * inner + i] { best = t }
                y[(o * length + best) * inner + i] = 1
            }
        }
        Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
    }
}
