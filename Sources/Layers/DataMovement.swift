import TensorCore

/// ONNX `Transpose`. data `[d0, …]`, transposed `[d[perm[0]], …]`; perm defaults to reversed axes.
public struct Transpose: Layer {
    public var opType: String { "Transpose" }
    public let perm: [Int]?
    public init(perm: [Int]?) { self.perm = perm }

    func resolvedPerm(_ rank: Int) throws -> [Int] {
        let p = perm ?? Array((0..<rank).reversed())
        guard p.count == rank, Set(p) == Set(0..<rank) else { throw LayerError("perm \(p) is not a permutation of 0..<\(rank)") }
        return p
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data")
        let p = try resolvedPerm(x.shape.count)
        return [TensorType(x.dtype, p.map { x.shape[$0] })]
    }

    /// Resolves the permutation once per plan (`TransposeOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        TransposeOp(perm: try resolvedPerm(try required(inputs, 0, "data").shape.count))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Transpose` ready to run; the kernel is `Movement.transpose`.
struct TransposeOp: PreparedOp {
    let perm: [Int]
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Movement.transpose(try required(inputs, 0, "data"), perm: perm, into: outputs[0], threads: context.threads)
    }
}

/// ONNX `Concat` along `axis`. Inputs agree on every other dimension.
public struct Concat: Layer {
    public var opType: String { "Concat" }
    public let axis: Int
    public init(axis: Int) { self.axis = axis }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let present = inputs.compactMap { $0 }
        guard let first = present.first else { throw LayerError("needs at least one input") }
        let a = try normalizedAxis(axis, rank: first.shape.count)
        var shape = first.shape
        shape[a] = 0
        for t in present {
            guard t.dtype == first.dtype, t.shape.count == first.shape.count else {
                throw LayerError("inputs \(present) differ in dtype or rank")
            }
            for i in 0..<shape.count where i != a && t.shape[i] != first.shape[i] {
                throw LayerError("inputs \(present.map(\.shape)) differ outside axis \(a)")
            }
            shape[a] += t.shape[a]
        }
        return [TensorType(first.dtype, shape)]
    }

    /// Resolves the axis once per plan (`ConcatOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        ConcatOp(axis: try normalizedAxis(axis, rank: try outputTypes(inputs, constants: constants)[0].shape.count))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Concat` ready to run; the kernel is `Movement.concat`.
struct ConcatOp: PreparedOp {
    let axis: Int
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Movement.concat(inputs.compactMap { $0 }, axis: axis, into: outputs[0], threads: context.threads)
    }
}

/// ONNX `Split` along `axis`, by sizes (attribute before opset 13, input 1 after) or into equal
/// parts (the last smaller when opset 18's `num_outputs` does not divide the axis).
public struct Split: Layer {
    public var opType: String { "Split" }
    public let axis: Int
    public let sizes: [Int]?
    public let outputCount: Int

    public init(axis: Int, sizes: [Int]?, outputCount: Int) {
        self.axis = axis
        self.sizes = sizes
        self.outputCount = outputCount
    }

    func resolvedSizes(_ shape: [Int], _ constants: [Tensor?]) throws -> (Int, [Int]) {
        let a = try normalizedAxis(axis, rank: shape.count)
        let d = shape[a]
        var s = sizes
        if s == nil, constants.count > 1, constants[1] != nil { s = try constantInts(constants, 1, "split") }
        if let s {
            guard s.count == outputCount, s.allSatisfy({ $0 >= 0 }), s.reduce(0, +) == d else {
                throw LayerError("split sizes \(s) do not add up to \(d) over \(outputCount) outputs")
            }
            return (a, s)
        }
        let part = (d + outputCount - 1) / outputCount
        var out: [Int] = []
        var left = d
        for _ in 0..<outputCount { out.append(min(part, left)); left -= min(part, left) }
        return (a, out)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        try requireKnownIfPresent(inputs, constants, 1, "split")
        let (a, s) = try resolvedSizes(x.shape, constants)
        return s.map { n in var sh = x.shape; sh[a] = n; return TensorType(x.dtype, sh) }
    }

    /// Resolves the axis once per plan (`SplitOp`); the sizes are the planned outputs' own.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        SplitOp(axis: try normalizedAxis(axis, rank: try required(inputs, 0, "input").shape.count))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Split` ready to run; the kernel is `Movement.split`.
struct SplitOp: PreparedOp {
    let axis: Int
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Movement.split(try required(inputs, 0, "input"), axis: axis, into: outputs)
    }
}

/// ONNX `Slice` (starts/ends/axes/steps as attributes before opset 10, inputs after).
/// Negative steps walk backwards; bounds clamp as numpy's do.
public struct Slice: Layer {
    public var opType: String { "Slice" }
    /// Attribute values for opset < 10; nil means "read inputs 1…4".
    public let attributes: (starts: [Int], ends: [Int], axes: [Int]?)?

    public init(starts: [Int], ends: [Int], axes: [Int]?) {
        attributes = (starts, ends, axes)
    }

    public init() { attributes = nil }

    struct Plan { var offset: Int; var strides: [Int]; var shape: [Int] }

    func plan(_ shape: [Int], _ values: [Tensor?]) throws -> Plan {
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if let attr = attributes {
            (starts, ends, axes, steps) = (attr.starts, attr.ends, attr.axes, nil)
        } else {
            starts = try constantInts(values, 1, "starts")
            ends = try constantInts(values, 2, "ends")
            axes = values.count > 3 && values[3] != nil ? try constantInts(values, 3, "axes") : nil
            steps = values.count > 4 && values[4] != nil ? try constantInts(values, 4, "steps") : nil
        }
        let ax = axes ?? Array(0..<starts.count)
        guard starts.count == ends.count, ax.count == starts.count, (steps?.count ?? starts.count) == starts.count else {
            throw LayerError("starts \(starts), ends \(ends), axes \(ax) and steps \(steps ?? []) differ in length")
        }
        let inStrides = contiguousStrides(shape)
        var outShape = shape
        var strides = inStrides
        var offset = 0
        var seen = Set<Int>()
        for i in 0..<starts.count {
            let a = try normalizedAxis(ax[i], rank: shape.count)
            guard seen.insert(a).inserted else { throw LayerError("axes \(ax) repeat axis \(a)") }
            let d = shape[a]
            let step = steps?[i] ?? 1
            guard step != 0, step != Int.min else { throw LayerError("steps must not be 0 or −2^63, got \(step)") }
            var s = starts[i], e = ends[i]
            if s < 0 { s += d }
            if e < 0 { e += d }
            let count: Int
            if step > 0 {
                s = min(max(s, 0), d)
                e = min(max(e, 0), d)
                count = e > s ? (e - s - 1) / step + 1 : 0
            } else {
                s = min(max(s, -1), d - 1)
                e = min(max(e, -1), d - 1)
                count = s > e ? (s - e - 1) / (-step) + 1 : 0
            }
            outShape[a] = count
            // A step beyond the axis takes one element; its stride is never followed.
            strides[a] = count > 1 ? inStrides[a] * step : inStrides[a]
            if count > 0 { offset += s * inStrides[a] }
        }
        return Plan(offset: offset, strides: strides, shape: outShape)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data")
        try requireKnownIfPresent(inputs, constants, 3, "axes")
        try requireKnownIfPresent(inputs, constants, 4, "steps")
        return [TensorType(x.dtype, try plan(x.shape, constants).shape)]
    }

    /// Resolves the offset and strides once per plan (`StridedCopyOp`): starts, ends, axes and steps
    /// are attributes or constants by then (`outputTypes` refuses them otherwise).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let p = try plan(try required(inputs, 0, "data").shape, constants)
        return StridedCopyOp(offset: p.offset, strides: p.strides)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A data-movement op that reads a strided view of its input, ready to run (Slice, Expand, Tile,
/// DepthToSpace, SpaceToDepth): the output, seen as `view` (its own shape when nil), element
/// `[i0, …, ik]` is input element `offset + Σ ij·strides[j]`. The kernel is `Movement.stridedCopy`.
struct StridedCopyOp: PreparedOp {
    let offset: Int
    let strides: [Int]
    var view: [Int]? = nil

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let out = view.map { outputs[0].reshaped($0) } ?? outputs[0]
        Movement.stridedCopy(try required(inputs, 0, "input"), offset: offset, strides: strides, into: out)
    }
}

/// ONNX `Gather` along `axis`: data `[…, d, …]`, indices `[k…]` (negative counts from the end),
/// output `data.shape[..<axis] + indices.shape + data.shape[(axis+1)...]`.
public struct Gather: Layer {
    public var opType: String { "Gather" }
    public let axis: Int
    public init(axis: Int) { self.axis = axis }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices")
        guard idx.dtype == .int64 || idx.dtype == .int32 else { throw LayerError("indices are \(idx.dtype), expected int64 or int32") }
        let a = try normalizedAxis(axis, rank: x.shape.count)
        return [TensorType(x.dtype, Array(x.shape[..<a]) + idx.shape + Array(x.shape[(a + 1)...]))]
    }

    /// Resolves the axis once per plan, and the indices too when they are constant (an embedding
    /// table's lookups are not; a Gather of a shape's entries is): `GatherOp`.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "data")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let fixed = try constants.count > 1 ? constants[1].map { try GatherOp.resolved($0, axis: a, length: x.shape[a]) } : nil
        return GatherOp(axis: a, indices: fixed)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Gather` ready to run: its axis, and its indices when they were constant; the kernel is
/// `Movement.gather`.
struct GatherOp: PreparedOp {
    let axis: Int
    let indices: [Int]?

    /// The indices wrapped by the axis length, each checked to lie on the axis.
    static func resolved(_ idx: Tensor, axis a: Int, length d: Int) throws -> [Int] {
        do { return try IndexMap.resolve(idx.int64s(), length: { _ in d }) } catch {
            throw LayerError("index \(error.value) is out of range for axis \(a) of size \(d)")
        }
    }

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data")
        let i = try indices ?? GatherOp.resolved(try required(inputs, 1, "indices"), axis: axis, length: x.shape[axis])
        Movement.gather(x, axis: axis, indices: i, into: outputs[0])
    }
}

/// ONNX `Pad` (constant, reflect, edge, wrap). pads `[begin_0, …, end_0, …]` from the attribute
/// (opset < 11) or input 1; constant value from the attribute or input 2; axes from input 3.
public struct Pad: Layer {
    public var opType: String { "Pad" }
    public let mode: Movement.PadMode
    public let attributePads: [Int]?
    public let attributeValue: Double

    public init(mode: Movement.PadMode, pads: [Int]?, value: Double) {
        self.mode = mode
        attributePads = pads
        attributeValue = value
    }

    func resolvedPads(_ rank: Int, _ values: [Tensor?]) throws -> ([Int], [Int]) {
        let raw = try attributePads ?? constantInts(values, 1, "pads")
        let axes = values.count > 3 && values[3] != nil ? try constantInts(values, 3, "axes").map { try normalizedAxis($0, rank: rank) } : Array(0..<rank)
        guard raw.count == 2 * axes.count else { throw LayerError("pads \(raw) needs 2 values for each of \(axes.count) axes") }
        var before = [Int](repeating: 0, count: rank), after = before
        for (i, a) in axes.enumerated() {
            before[a] = raw[i]
            after[a] = raw[i + axes.count]
        }
        return (before, after)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data")
        try requireKnownIfPresent(inputs, constants, 3, "axes")
        let (b, e) = try resolvedPads(x.shape.count, constants)
        let shape = try (0..<x.shape.count).map { i in
            let (s1, o1) = x.shape[i].addingReportingOverflow(b[i]), (s2, o2) = s1.addingReportingOverflow(e[i])
            guard !o1, !o2 else { throw LayerError("pads \(b + e) of \(x.shape) overflow") }
            return s2
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw LayerError("pads \(b + e) crop \(x.shape) below zero") }
        if mode != .constant {
            for i in 0..<shape.count where x.shape[i] == 0 && shape[i] > 0 {
                throw LayerError("\(mode.rawValue) padding needs a non-empty axis \(i)")
            }
        }
        return [TensorType(x.dtype, shape)]
    }

    /// Resolves the leading pads once per plan (`PadOp`); the constant value is read on each run
    /// (it may be computed).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let (before, _) = try resolvedPads(try required(inputs, 0, "data").shape.count, constants)
        return PadOp(before: before, mode: mode, attributeValue: attributeValue)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Pad` ready to run; the kernel is `Movement.pad`.
struct PadOp: PreparedOp {
    let before: [Int]
    let mode: Movement.PadMode
    let attributeValue: Double

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data")
        var value: Tensor
        if inputs.count > 2, let v = inputs[2], v.count > 0 { value = v } else { value = Tensor(scalar: attributeValue) }
        if value.dtype != x.dtype { value = value.converted(to: x.dtype) }
        Movement.pad(x, before: before, mode: mode, constant: value, into: outputs[0])
    }
}

/// ONNX `Cast` (and `CastLike`): elements converted to `to`.
public struct Cast: Layer {
    public var opType: String { "Cast" }
    public let to: DType
    /// For FP8 targets: clamp values beyond the largest (ONNX's default) or make them inf/NaN.
    public let saturate: Bool
    /// For float8e8m0 targets: how values round to a power of two (`round_mode`, default up).
    public let e8m0Rounding: MiniFloat.E8M0Rounding
    public init(to: DType, saturate: Bool = true, e8m0Rounding: MiniFloat.E8M0Rounding = .up) {
        self.to = to
        self.saturate = saturate
        self.e8m0Rounding = e8m0Rounding
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(to, try required(inputs, 0, "input").shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try required(inputs, 0, "input").cast(into: outputs[0], saturate: saturate, e8m0Rounding: e8m0Rounding)
    }
}

/// ONNX `BitCast`: the same bits read as another type of the same bit width (little endian, as
/// held in memory). Sub-byte types, held one to a byte, keep their low bits (sign-extended for
/// int4 and int2).
public struct BitCast: Layer {
    public var opType: String { "BitCast" }
    public let to: DType
    public init(to: DType) { self.to = to }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        guard x.dtype.bitWidth == to.bitWidth else {
            throw LayerError("input is \(x.dtype) (\(x.dtype.bitWidth) bits), which cannot be read as \(to) (\(to.bitWidth) bits)")
        }
        return [TensorType(to, x.shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let bits = to.bitWidth
        x.withUnsafeBytes { source in
            outputs[0].withUnsafeMutableBytes { target in
                guard bits < 8 else { target.copyMemory(from: source); return }
                let mask = UInt8((1 << bits) - 1), signed = to == .int4 || to == .int2
                for i in 0..<source.count {
                    let v = source[i] & mask
                    target[i] = signed && v >> (bits - 1) != 0 ? v | ~mask : v
                }
            }
        }
    }
}

/// ONNX `CastLike`: input 0 converted to the element type of input 1, whose values are unused.
public struct CastLike: Layer {
    public var opType: String { "CastLike" }
    public let saturate: Bool
    public init(saturate: Bool = true) { self.saturate = saturate }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(try required(inputs, 1, "target_type").dtype, try required(inputs, 0, "input").shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try required(inputs, 0, "input").cast(into: outputs[0], saturate: saturate)
    }
}

/// ONNX `Size`: the input's element count as an int64 scalar (known from the shape alone).
public struct SizeOf: Layer {
    public var opType: String { "Size" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        _ = try required(inputs, 0, "data")
        return [TensorType(.int64, [])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Tensor(scalar: Int64(try required(inputs, 0, "data").count)).copy(into: outputs[0])
    }

    public func valuesFromTypes(_ inputs: [TensorType?]) -> [Tensor]? {
        guard let t = inputs.first ?? nil else { return nil }
        return [Tensor(scalar: Int64(t.shape.product))]
    }
}

/// ONNX `Shape` (with opset 15's start/end): a 1-D int64 tensor of the input's dimensions.
public struct ShapeOf: Layer {
    public var opType: String { "Shape" }
    public let start: Int, end: Int?
    public init(start: Int = 0, end: Int? = nil) {
        self.start = start
        self.end = end
    }

    func range(_ rank: Int) -> Range<Int> {
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        let s = clamp(start), e = clamp(end ?? rank)
        return s..<max(s, e)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data")
        return [TensorType(.int64, [range(x.shape.count).count])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data")
        value(x.shape).copy(into: outputs[0])
    }

    public func valuesFromTypes(_ inputs: [TensorType?]) -> [Tensor]? {
        guard let t = inputs.first ?? nil else { return nil }
        return [value(t.shape)]
    }

    func value(_ shape: [Int]) -> Tensor {
        let r = range(shape.count)
        return Tensor(shape: [r.count], scalars: shape[r].map { Int64($0) })
    }
}

/// ONNX `ConstantOfShape`: a tensor of shape input 0 filled with `value` (default float32 0).
public struct ConstantOfShape: Layer {
    public var opType: String { "ConstantOfShape" }
    public let value: Tensor
    public init(value: Tensor) { self.value = value }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let shape = try constantInts(constants, 0, "input")
        guard shape.allSatisfy({ $0 >= 0 }) else { throw LayerError("shape \(shape) has a negative dimension") }
        guard let n = try? NPY.checkedCount(shape, path: "", limit: 1 << 32) else { throw LayerError("shape \(shape) is too large") }
        _ = n
        return [TensorType(value.dtype, shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Movement.broadcast(value.reshaped([]), into: outputs[0])
    }

    /// The fill as a strided read of the one value (every stride 0), planned once.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let shape = try outputTypes(inputs, constants: constants)[0].shape
        return FillOp(value: value.reshaped([]), strides: [Int](repeating: 0, count: shape.count))
    }
}

/// A `ConstantOfShape` ready to run; the kernel is `Movement.stridedCopy`.
struct FillOp: PreparedOp {
    let value: Tensor
    let strides: [Int]
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Movement.stridedCopy(value, offset: 0, strides: strides, into: outputs[0])
    }
}

/// ONNX `Expand`: broadcast `input` with `shape` (numpy rules, either side may be 1).
public struct Expand: Layer {
    public var opType: String { "Expand" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        let shape = try constantInts(constants, 1, "shape")
        guard let out = Broadcast.shape([x.shape, shape]) else { throw LayerError("\(x.shape) does not broadcast with \(shape)") }
        return [TensorType(x.dtype, out)]
    }

    /// The broadcast's strides, planned once (`StridedCopyOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "input"), out = try outputTypes(inputs, constants: constants)[0]
        return StridedCopyOp(offset: 0, strides: Broadcast.strides(of: x.shape, broadcastTo: out.shape))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        try StridedCopyOp(offset: 0, strides: Broadcast.strides(of: x.shape, broadcastTo: outputs[0].shape)).run(inputs, outputs: outputs, context: context)
    }
}
