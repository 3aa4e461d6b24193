import TensorCore


/// Element `j` of `dst` becomes element `source(j)` of `src` (see `Movement.copyElements`).
func copyElements(from src: Tensor, into dst: Tensor, _ source: (Int) throws -> Int?) rethrows {
    try Movement.copyElements(from: src, into: dst, source)
}

/// Reads an index tensor as Ints, wrapping negative values by `length` and rejecting the rest.
func resolvedIndices(_ t: Tensor, length: (Int) -> Int, _ what: String) throws -> [Int] {
    try t.int64s().enumerated().map { k, v in
        let n = length(k)
        let i = v < 0 ? Int(v) + n : Int(clamping: v)
        guard i >= 0 && i < n else { throw LayerError("\(what) \(v) is out of range for a dimension of size \(n)") }
        return i
    }
}

/// For each position of an index tensor (GatherElements, ScatterElements): the flat offset in data
/// of the element with the same coordinates, except along `axis`, where the index's value is used.
func alongAxisOffsets(indexShape: [Int], indices idx: Tensor, data: [Int], axis a: Int) throws -> [Int] {
    let indices = try resolvedIndices(idx, length: { _ in data[a] }, "index")
    let ds = contiguousStrides(data), ks = contiguousStrides(indexShape)
    return try (0..<indices.count).map { k in
        var offset = 0
        for d in 0..<indexShape.count {
            let i = (k / ks[d]) % indexShape[d]
            guard d == a || i < data[d] else { throw LayerError("indices have shape \(indexShape), beyond data's \(data) off the axis") }
            offset += (d == a ? indices[k] : i) * ds[d]
        }
        return offset
    }
}

/// ONNX `GatherElements`: `out[i…] = data[i… with index[i…] at axis]`.
/// - data `[*]`, indices (int32/int64) of data's rank; out like indices, data's dtype.
public struct GatherElements: Layer {
    public var opType: String { "GatherElements" }
    public let axis: Int
    public init(axis: Int) { self.axis = axis }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices")
        guard idx.shape.count == x.shape.count else { throw LayerError("indices have rank \(idx.shape.count), data \(x.shape.count): they must match") }
        _ = try normalizedAxis(axis, rank: x.shape.count)
        return [TensorType(x.dtype, idx.shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let offsets = try alongAxisOffsets(indexShape: idx.shape, indices: idx, data: x.shape, axis: a)
        copyElements(from: x, into: outputs[0]) { offsets[$0] }
    }
}

/// ONNX `ScatterElements`: a copy of data with `updates` written where `indices` (along `axis`,
/// elsewhere their own position) point, combined per `reduction`.
public struct ScatterElements: Layer {
    public var opType: String { "ScatterElements" }
    public let axis: Int
    public let reduction: ScatterReduction
    public init(axis: Int, reduction: ScatterReduction) {
        self.axis = axis
        self.reduction = reduction
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices"), u = try required(inputs, 2, "updates")
        guard idx.shape == u.shape, idx.shape.count == x.shape.count, u.dtype == x.dtype else {
            throw LayerError("indices \(idx.shape) and updates \(u) must have one shape, of data's rank and dtype (\(x))")
        }
        _ = try normalizedAxis(axis, rank: x.shape.count)
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices"), u = try required(inputs, 2, "updates")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let target = try alongAxisOffsets(indexShape: idx.shape, indices: idx, data: x.shape, axis: a)
        Movement.scatter(data: x, updates: u, into: outputs[0], reduction: reduction, target: target)
    }
}

/// ONNX `GatherND` with `batch_dims` b: indices `[*batch, *rest, k]` pick slices of data
/// `[*batch, *index(k), *slice]`; out `[*batch, *rest, *slice]`.
public struct GatherND: Layer {
    public var opType: String { "GatherND" }
    public let batchDims: Int
    public init(batchDims: Int) { self.batchDims = batchDims }

    func layout(_ x: [Int], _ idx: [Int]) throws -> (k: Int, out: [Int]) {
        let b = batchDims
        guard let k = idx.last, idx.count >= 1, x.count >= 1, b >= 0, b < min(x.count, idx.count), k >= 1, b + k <= x.count,
              Array(x[..<b]) == Array(idx[..<b]) else {
            throw LayerError("indices \(idx) do not index data \(x) with batch_dims \(batchDims)")
        }
        return (k, Array(idx.dropLast()) + Array(x[(b + k)...]))
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices")
        return [TensorType(x.dtype, try layout(x.shape, idx.shape).out)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices")
        let (k, _) = try layout(x.shape, idx.shape)
        let b = batchDims
        let indices = try resolvedIndices(idx, length: { x.shape[b + $0 % k] }, "index")
        let xs = contiguousStrides(x.shape)
        let slice = x.shape[(b + k)...].product
        let perBatch = idx.shape.dropLast().product / max(1, idx.shape[..<b].product)
        copyElements(from: x, into: outputs[0]) { j in
            let t = j / max(slice, 1), within = j % max(slice, 1)
            let batch = t / max(perBatch, 1)
            var offset = within
            var rest = batch
            for d in stride(from: b - 1, through: 0, by: -1) {
                offset += (rest % x.shape[d]) * xs[d]
                rest /= x.shape[d]
            }
            for c in 0..<k { offset += indices[t * k + c] * xs[b + c] }
            return offset
        }
    }
}

/// ONNX `ScatterND`: a copy of data with each update slice written at the position its index
/// tuple names, combined per `reduction`. indices `[*rest, k]`, updates `[*rest, *data[k...]]`.
public struct ScatterND: Layer {
    public var opType: String { "ScatterND" }
    public let reduction: ScatterReduction
    public init(reduction: ScatterReduction) { self.reduction = reduction }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices"), u = try required(inputs, 2, "updates")
        guard let k = idx.shape.last, k >= 1, k <= x.shape.count, u.dtype == x.dtype,
              u.shape == Array(idx.shape.dropLast()) + Array(x.shape[k...]) else {
            throw LayerError("updates \(u) must be indices' \(idx.shape) leading dims + data's \(x.shape) trailing dims, data's dtype")
        }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices"), u = try required(inputs, 2, "updates")
        let k = idx.shape.last ?? 1
        let indices = try resolvedIndices(idx, length: { x.shape[$0 % k] }, "index")
        let xs = contiguousStrides(x.shape)
        let slice = x.shape[k...].product
        let target = (0..<u.count).map { e -> Int in
            let t = e / max(slice, 1)
            var offset = e % max(slice, 1)
            for c in 0..<k { offset += indices[t * k + c] * xs[c] }
            return offset
        }
        Movement.scatter(data: x, updates: u, into: outputs[0], reduction: reduction, target: target)
    }
}

/// ONNX `OneHot`: indices `[*]`, depth (scalar, known before running), values `[off, on]`;
/// out inserts an axis of length depth at `axis`. Negative indices count from depth; indices
/// outside `-depth..<depth` give an all-`off` row.
public struct OneHot: Layer {
    public var opType: String { "OneHot" }
    public let axis: Int
    public init(axis: Int) { self.axis = axis }

    func depth(_ constants: [Tensor?]) throws -> Int {
        guard constants.count > 1, let d = constants[1], d.count == 1 else {
            throw LayerError("input 1 (depth) must be a one-value constant or computable from shapes", needsValues: true)
        }
        let v = d.doubles()[0]
        guard v >= 1, v <= Double(1 << 31) else { throw LayerError("depth \(v) must be a positive count") }
        return Int(v)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let idx = try required(inputs, 0, "indices"), values = try required(inputs, 2, "values")
        guard values.count == 2 else { throw LayerError("values has shape \(values.shape), expected 2 elements [off, on]") }
        let a = try normalizedAxis(axis, rank: idx.shape.count + 1)
        var shape = idx.shape
        shape.insert(try depth(constants), at: a)
        _ = try checkedProduct(shape, "output shape")
        return [TensorType(values.dtype, shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let idx = try required(inputs, 0, "indices"), values = try required(inputs, 2, "values")
        let out = outputs[0]
        let a = try normalizedAxis(axis, rank: idx.shape.count + 1)
        let depth = out.shape[a]
        let inner = idx.shape[a...].product
        let positions = idx.doubles()
        copyElements(from: values, into: out) { j in
            let i = j % inner, d = (j / inner) % depth, o = j / (inner * depth)
            var p = positions[o * inner + i].rounded(.towardZero)
            if p < 0 { p += Double(depth) }
            return p == Double(d) ? 1 : 0
        }
    }
}

/// ONNX `Trilu`: keeps the upper (`j − i ≥ k`) or lower (`j − i ≤ k`) triangle of the last two
/// axes and zeroes the rest; k from input 1 (default 0).
public struct Trilu: Layer {
    public var opType: String { "Trilu" }
    public let upper: Bool
    public init(upper: Bool) { self.upper = upper }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        guard x.shape.count >= 2 else { throw LayerError("input has shape \(x.shape), expected rank 2 or more") }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let k = inputs.count > 1 ? inputs[1].map { Int(clamping: $0.int64s().first ?? 0) } ?? 0 : 0
        let rows = x.shape[x.shape.count - 2], cols = x.shape[x.shape.count - 1]
        let out = outputs[0]
        Tensor(zeros: out.shape, dtype: out.dtype).copy(into: out)
        copyElements(from: x, into: out) { e in
            let j = e % cols, i = (e / cols) % rows
            return (upper ? j - i >= k : j - i <= k) ? e : nil
        }
    }
}

/// ONNX `CumSum` along the axis given by input 1 (a constant), optionally exclusive and/or
/// reversed (`Reduce.cumulativeSum`). Sums in Float for float32, float16 and bfloat16, as FP32
/// backends do; in Double for float64 and integers (exact below 2^53).
public struct CumSum: Layer {
    public var opType: String { "CumSum" }
    public let exclusive: Bool, reverse: Bool
    public init(exclusive: Bool, reverse: Bool) {
        self.exclusive = exclusive
        self.reverse = reverse
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "x")
        guard let axis = try constantInts(constants, 1, "axis").first else { throw LayerError("axis is empty") }
        _ = try normalizedAxis(axis, rank: x.shape.count)
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "x")
        let axisValue = try required(inputs, 1, "axis").int64s().first ?? 0
        let a = try normalizedAxis(Int(clamping: axisValue), rank: x.shape.count)
        let length = x.shape[a], inner = x.shape[(a + 1)...].product, outer = x.count / max(1, length * inner)
        if x.dtype.isFloatingPoint && x.dtype != .float64 {
            let y = Reduce.cumulativeSum(x.scalars(as: Float.self), outer: outer, length: length, inner: inner, exclusive: exclusive, reverse: reverse)
            Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
        } else {
            let y = Reduce.cumulativeSum(x.doubles(), outer: outer, length: length, inner: inner, exclusive: exclusive, reverse: reverse)
            Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
        }
    }
}

/// ONNX `TopK`: the K largest (or smallest) values along `axis` and their indices; K from input 1
/// (a constant). Equal values keep their index order; NaN counts as larger than any number.
public struct TopK: Layer {
    public var opType: String { "TopK" }
    public let axis: Int
    public let largest: Bool
    /// ONNX's `sorted` = 0 lets any order through; the output is sorted either way.
    public let sorted: Bool
    /// K from the attribute (opset < 10), else nil.
    public let attributeK: Int?

    public init(axis: Int, largest: Bool, sorted: Bool, k: Int?) {
        self.axis = axis
        self.largest = largest
        self.sorted = sorted
        attributeK = k
    }

    func k(_ constants: [Tensor?]) throws -> Int {
        if let attributeK { return attributeK }
        guard let k = try constantInts(constants, 1, "K").first else { throw LayerError("K is empty") }
        return k
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let k = try k(constants)
        guard k >= 0 && k <= x.shape[a] else { throw LayerError("K \(k) is out of range for axis \(a) of size \(x.shape[a])") }
        var shape = x.shape
        shape[a] = k
        return [TensorType(x.dtype, shape), TensorType(.int64, shape)]
    }

    /// Resolves the axis, K and the `[outer, length, inner]` view once per plan (`TopKOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "X")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let y = try outputTypes(inputs, constants: constants)[0]
        let length = x.shape[a], inner = x.shape[(a + 1)...].product
        return TopKOp(outer: x.shape.product / max(1, length * inner), length: length, inner: inner, k: y.shape[a], largest: largest, empty: y.shape.product == 0)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `TopK` ready to run; the kernel is `Ranking.topK`.
struct TopKOp: PreparedOp {
    let outer: Int, length: Int, inner: Int, k: Int
    let largest: Bool
    let empty: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        guard !empty else { return }
        let x = try required(inputs, 0, "X")
        let picked = Ranking.topK(x.doubles(), outer: outer, length: length, inner: inner, k: k, largest: largest)
        copyElements(from: x, into: outputs[0]) { j in
            let i = j % inner, o = j / (inner * k)
            return (o * length + picked[j]) * inner + i
        }
        Tensor(shape: outputs[1].shape, scalars: picked.map { Int64($0) }).copy(into: outputs[1])
    }
}

/// The value of a data-dependent op's input, which must be known when the run is planned.
func planTimeValue(_ constants: [Tensor?], _ i: Int, _ op: String) throws -> Tensor {
    guard i < constants.count, let t = constants[i] else {
        throw LayerError("\(op)'s output size depends on input \(i)'s values, which must be known before running (a constant, or computed from graph inputs alone)", needsValues: true)
    }
    return t
}

/// ONNX `NonZero`: the indices of the non-zero elements, `[rank, count]` int64 in row-major order.
/// Its size depends on the values, so its input must be known when the run is planned.
public struct NonZero: Layer {
    public var opType: String { "NonZero" }
    public init() {}

    static func indices(_ x: Tensor) -> [Int64] {
        let v = x.doubles(), strides = contiguousStrides(x.shape)
        let hits = v.indices.filter { v[$0] != 0 }
        return (0..<x.shape.count).flatMap { d in hits.map { Int64(($0 / strides[d]) % x.shape[d]) } }
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try planTimeValue(constants, 0, "NonZero")
        let count = x.doubles().filter { $0 != 0 }.count
        return [TensorType(.int64, [x.shape.count, count])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let found = Self.indices(x)
        guard found.count == outputs[0].count else { throw LayerError("the input's non-zero count changed after planning") }
        Tensor(shape: outputs[0].shape, scalars: found).copy(into: outputs[0])
    }
}

/// ONNX `NonMaxSuppression`: per batch and class, boxes scoring above score_threshold in
/// descending score order (ties: lower index first), each kept unless its IoU with a kept box
/// exceeds iou_threshold, at most max_output_boxes_per_class. Output `[selected, 3]` int64
/// (batch, class, box). Boxes `[B, N, 4]` as two corners (either order) or, with
/// `center_point_box`, centre and size; scores `[B, C, N]`. The inputs must be known when the
/// run is planned, since the output's size depends on them.
public struct NonMaxSuppression: Layer {
    public var opType: String { "NonMaxSuppression" }
    public let centerPointBox: Bool
    public init(centerPointBox: Bool) { self.centerPointBox = centerPointBox }

    func select(_ values: [Tensor?]) throws -> [Int64] {
        let boxes = try planTimeValue(values, 0, "NonMaxSuppression"), scores = try planTimeValue(values, 1, "NonMaxSuppression")
        guard boxes.shape.count == 3, boxes.shape[2] == 4, scores.shape.count == 3, scores.shape[0] == boxes.shape[0], scores.shape[2] == boxes.shape[1] else {
            throw LayerError("boxes \(boxes.shape) must be [B, N, 4] and scores \(scores.shape) [B, C, N]")
        }
        func scalar(_ i: Int) throws -> Double? {
            guard i < values.count, values[i] != nil else { return nil }
            return try planTimeValue(values, i, "NonMaxSuppression").doubles().first
        }
        let limit = 2 < values.count && values[2] != nil ? Int(clamping: try planTimeValue(values, 2, "NonMaxSuppression").int64s().first ?? 0) : 0
        let iouThreshold = try scalar(3) ?? 0, scoreThreshold = try scalar(4)
        return Ranking.nonMaxSuppression(
            boxes: boxes.doubles(), scores: scores.doubles(), batches: scores.shape[0], classes: scores.shape[1], boxCount: scores.shape[2],
            centerPointBox: centerPointBox, limit: limit, iouThreshold: iouThreshold, scoreThreshold: scoreThreshold)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(.int64, [try select(constants).count / 3, 3])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let selected = try select(inputs)
        guard selected.count == outputs[0].count else { throw LayerError("the selection changed after planning") }
        Tensor(shape: outputs[0].shape, scalars: selected).copy(into: outputs[0])
    }
}
