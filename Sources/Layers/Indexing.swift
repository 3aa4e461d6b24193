import TensorCore


/// Element `j` of `dst` becomes element `source(j)` of `src` (see `Movement.copyElements`).
func copyElements(from src: Tensor, into dst: Tensor, _ source: (Int) throws -> Int?) rethrows {
    try Movement.copyElements(from: src, into: dst, source)
}

/// Reads an index tensor as Ints, wrapping negative values by `length` and rejecting the rest
/// (`IndexMap.resolve`).
func resolvedIndices(_ t: Tensor, length: (Int) -> Int, _ what: String) throws -> [Int] {
    do { return try IndexMap.resolve(t.int64s(), length: length) } catch {
        throw LayerError("\(what) \(error.value) is out of range for a dimension of size \(error.length)")
    }
}

/// GatherElements' and ScatterElements' check that the indices stay within data off the axis.
func checkAlongAxis(_ idx: TensorType, data x: TensorType, axis a: Int) throws {
    guard idx.count == 0 || idx.shape.indices.allSatisfy({ $0 == a || idx.shape[$0] <= x.shape[$0] }) else {
        throw LayerError("indices have shape \(idx.shape), beyond data's \(x.shape) off the axis")
    }
}

/// The data offsets of GatherElements' and ScatterElements' index positions (`IndexMap.alongAxis`).
func alongAxisOffsets(_ idx: Tensor, data: [Int], axis a: Int) throws -> [Int] {
    IndexMap.alongAxis(try resolvedIndices(idx, length: { _ in data[a] }, "index"), indexShape: idx.shape, data: data, axis: a)
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
        try checkAlongAxis(idx, data: x, axis: try normalizedAxis(axis, rank: x.shape.count))
        return [TensorType(x.dtype, idx.shape)]
    }

    /// Resolves the axis, and the offsets when the indices are constant, once per plan.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let x = try required(inputs, 0, "data")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let known = constants.count > 1 ? constants[1] : nil
        return GatherElementsOp(axis: a, offsets: try known.map { try alongAxisOffsets($0, data: x.shape, axis: a) })
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `GatherElements` ready to run: its axis, and the offsets it reads when the indices were
/// constant; the map is `IndexMap.alongAxis`.
struct GatherElementsOp: PreparedOp {
    let axis: Int
    let offsets: [Int]?

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data")
        let offsets = try offsets ?? alongAxisOffsets(try required(inputs, 1, "indices"), data: x.shape, axis: axis)
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
        try checkAlongAxis(idx, data: x, axis: try normalizedAxis(axis, rank: x.shape.count))
        return [x]
    }

    /// Resolves the axis, and the targets when the indices are constant, once per plan.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let x = try required(inputs, 0, "data")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let known = constants.count > 1 ? constants[1] : nil
        return ScatterElementsOp(axis: a, reduction: reduction, target: try known.map { try alongAxisOffsets($0, data: x.shape, axis: a) })
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `ScatterElements` ready to run: its axis, and where the updates go when the indices were
/// constant; the kernel is `Movement.scatter`.
struct ScatterElementsOp: PreparedOp {
    let axis: Int
    let reduction: ScatterReduction
    let target: [Int]?

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data"), u = try required(inputs, 2, "updates")
        let target = try target ?? alongAxisOffsets(try required(inputs, 1, "indices"), data: x.shape, axis: axis)
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

    /// Checks the layout, and resolves the offsets when the indices are constant, once per plan.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "data"), idx = try required(inputs, 1, "indices")
        let (k, out) = try layout(x.shape, idx.shape)
        let op = GatherNDOp(k: k, batchDims: batchDims, count: out.product, offsets: nil)
        guard constants.count > 1, let known = constants[1] else { return op }
        return GatherNDOp(k: k, batchDims: batchDims, count: op.count, offsets: try op.resolve(known, data: x.shape))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `GatherND` ready to run: the index tuple's length, the output's element count, and the
/// offsets it reads when the indices were constant; the map is `IndexMap.gatherND`.
struct GatherNDOp: PreparedOp {
    let k: Int, batchDims: Int, count: Int
    let offsets: [Int]?

    /// The offsets the indices name.
    func resolve(_ idx: Tensor, data: [Int]) throws -> [Int] {
        let indices = try resolvedIndices(idx, length: { data[batchDims + $0 % k] }, "index")
        return IndexMap.gatherND(indices, indexShape: idx.shape, data: data, batchDims: batchDims, count: count)
    }

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data")
        let offsets = try offsets ?? resolve(try required(inputs, 1, "indices"), data: x.shape)
        copyElements(from: x, into: outputs[0]) { offsets[$0] }
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

    /// Checks the layout, and resolves the targets when the indices are constant, once per plan.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let idx = try required(inputs, 1, "indices"), u = try required(inputs, 2, "updates")
        let op = ScatterNDOp(k: idx.shape.last ?? 1, count: u.count, reduction: reduction, target: nil)
        guard constants.count > 1, let known = constants[1] else { return op }
        return ScatterNDOp(k: op.k, count: op.count, reduction: reduction, target: try op.resolve(known, data: try required(inputs, 0, "data").shape))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `ScatterND` ready to run: the index tuple's length, the update count, and where the updates
/// go when the indices were constant; the map is `IndexMap.scatterND`, the kernel `Movement.scatter`.
struct ScatterNDOp: PreparedOp {
    let k: Int, count: Int
    let reduction: ScatterReduction
    let target: [Int]?

    /// Where the updates go, as the indices name it.
    func resolve(_ idx: Tensor, data: [Int]) throws -> [Int] {
        IndexMap.scatterND(try resolvedIndices(idx, length: { data[$0 % k] }, "index"), k: k, data: data, count: count)
    }

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data"), u = try required(inputs, 2, "updates")
        let target = try target ?? resolve(try required(inputs, 1, "indices"), data: x.shape)
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
            throw LayerError.needs([1], "input 1 (depth) must be a one-value constant or computable from shapes")
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

    /// Resolves the depth and the `[outer, depth, inner]` view once per plan (`OneHotOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let out = try outputTypes(inputs, constants: constants)[0]
        let idx = try required(inputs, 0, "indices")
        let a = try normalizedAxis(axis, rank: idx.shape.count + 1)
        return OneHotOp(depth: out.shape[a], inner: idx.shape[a...].product)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let idx = try required(inputs, 0, "indices")
        let a = try normalizedAxis(axis, rank: idx.shape.count + 1)
        try OneHotOp(depth: outputs[0].shape[a], inner: idx.shape[a...].product).run(inputs, outputs: outputs, context: context)
    }
}

/// A `OneHot` ready to run; the kernel is `Movement.oneHot`.
struct OneHotOp: PreparedOp {
    let depth: Int, inner: Int
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let idx = try required(inputs, 0, "indices"), values = try required(inputs, 2, "values")
        Movement.oneHot(idx.doubles(), values: values, into: outputs[0], depth: depth, inner: inner)
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

    /// Resolves the matrix size, and k when it is constant, once per plan (`TriluOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let known = inputs.count > 1 && inputs[1] != nil ? (constants.count > 1 ? constants[1] : nil) : Tensor(scalar: Int64(0))
        return TriluOp(rows: x.shape[x.shape.count - 2], cols: x.shape[x.shape.count - 1], upper: upper, k: known.map(TriluOp.diagonal))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Trilu` ready to run: the matrix size, and the diagonal when it was constant; the kernel is
/// `Movement.triangle`.
struct TriluOp: PreparedOp {
    let rows: Int, cols: Int
    let upper: Bool
    let k: Int?

    static func diagonal(_ t: Tensor) -> Int { Int(clamping: t.int64s().first ?? 0) }

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let k = try k ?? TriluOp.diagonal(try required(inputs, 1, "k"))
        Movement.triangle(try required(inputs, 0, "input"), into: outputs[0], rows: rows, cols: cols, k: k, upper: upper)
    }
}

/// ONNX `CumSum` along the axis given by input 1 (a constant), optionally exclusive and/or
/// reversed (`Reduce.cumulativeSum`). Sums in Float for float32, float16 and bfloat16, as FP32
/// backends do; in Double for float64 and integers (exact below 2^53).
public struct CumSum: Layer {
    public var opType: String { product ? "CumProd" : "CumSum" }
    public let exclusive: Bool, reverse: Bool
    /// ONNX `CumProd`: running products instead of sums (`Reduce.cumulativeProduct`).
    public let product: Bool
    public init(exclusive: Bool, reverse: Bool, product: Bool = false) {
        self.exclusive = exclusive
        self.reverse = reverse
        self.product = product
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "x")
        guard let axis = try constantInts(constants, 1, "axis").first else { throw LayerError("axis is empty") }
        _ = try normalizedAxis(axis, rank: x.shape.count)
        return [x]
    }

    /// Resolves the `[outer, length, inner]` view from the constant axis once per plan (`CumSumOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try outputTypes(inputs, constants: constants)[0]
        let a = try normalizedAxis(try constantInts(constants, 1, "axis")[0], rank: x.shape.count)
        let length = x.shape[a], inner = x.shape[(a + 1)...].product
        return CumSumOp(outer: x.count / max(1, length * inner), length: length, inner: inner, exclusive: exclusive, reverse: reverse, product: product)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `CumSum` ready to run; the kernel is `Reduce.cumulativeSum`, in Float for float32, float16
/// and bfloat16, in Double for float64 and integers (exact below 2^53).
struct CumSumOp: PreparedOp {
    let outer: Int, length: Int, inner: Int
    let exclusive: Bool, reverse: Bool, product: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "x")
        if x.dtype.isFloatingPoint && x.dtype != .float64 {
            let y = Reduce.cumulative(x.scalars(as: Float.self), outer: outer, length: length, inner: inner, exclusive: exclusive, reverse: reverse, product: product)
            Tensor(shape: x.shape, scalars: y).convert(into: outputs[0])
        } else {
            let y = Reduce.cumulative(x.doubles(), outer: outer, length: length, inner: inner, exclusive: exclusive, reverse: reverse, product: product)
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
        throw LayerError.needs([i], "\(op)'s output size depends on input \(i)'s values, which must be known before it runs")
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
        // Every input given must be known (an unknown threshold is not an absent one).
        let unknown = inputs.indices.filter { inputs[$0] != nil && ($0 >= constants.count || constants[$0] == nil) }
        if let i = unknown.first {
            throw LayerError.needs(unknown, "NonMaxSuppression's output size depends on input \(i)'s values, which must be known before it runs")
        }
        return [TensorType(.int64, [try select(constants).count / 3, 3])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let selected = try select(inputs)
        guard selected.count == outputs[0].count else { throw LayerError("the selection changed after planning") }
        Tensor(shape: outputs[0].shape, scalars: selected).copy(into: outputs[0])
    }
}

/// ONNX `Compress`: the slices along `axis` (of the flattened input when nil) whose condition is
/// true; a condition shorter than the axis leaves the rest out. The output's size depends on the
/// condition, so it must be known when the run is planned.
public struct Compress: Layer {
    public var opType: String { "Compress" }
    public let axis: Int?
    public init(axis: Int?) { self.axis = axis }

    func layout(_ x: TensorType, _ constants: [Tensor?]) throws -> (kept: [Int], outer: Int, length: Int, inner: Int, shape: [Int]) {
        let condition = try planTimeValue(constants, 1, "Compress")
        guard condition.rank == 1 else { throw LayerError("condition has shape \(condition.shape), expected one dimension") }
        let flags = condition.doubles()
        var shape = [x.count], a = 0
        if let axis {
            a = try normalizedAxis(axis, rank: x.shape.count)
            shape = x.shape
        }
        let length = shape[a]
        let kept = flags.indices.filter { flags[$0] != 0 }
        if let last = kept.last, last >= length {
            throw LayerError("condition selects position \(last), beyond the axis' \(length)")
        }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        shape[a] = kept.count
        return (kept, outer, length, inner, shape)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        return [TensorType(x.dtype, try layout(x, constants).shape)]
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let l = try layout(try required(inputs, 0, "input"), constants)
        return SourceMapOp(sources: IndexMap.compress(kept: l.kept, outer: l.outer, length: l.length, inner: l.inner))
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: ComputeFormat()).run(inputs, outputs: outputs, context: context)
    }
}

/// Input 0 copied element by element from the offsets resolved when planning.
struct SourceMapOp: PreparedOp {
    let sources: [Int]
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        copyElements(from: x, into: outputs[0]) { sources[$0] }
    }
}

/// ONNX `Unique`: the distinct elements (`axis` nil) or slices along `axis`, in ascending order
/// (`sorted`) or of first appearance, with each one's first position, each position's distinct
/// value and the counts (int64). The output's size depends on the values, so the input must be
/// known when the run is planned.
public struct Unique: Layer {
    public var opType: String { "Unique" }
    public let axis: Int?, sorted: Bool
    public init(axis: Int?, sorted: Bool) {
        self.axis = axis
        self.sorted = sorted
    }

    func layout(_ x: Tensor) throws -> (found: (first: [Int], inverse: [Int], counts: [Int]), outer: Int, length: Int, inner: Int, shape: [Int]) {
        var shape = [x.count], a = 0
        if let axis {
            a = try normalizedAxis(axis, rank: x.rank)
            shape = x.shape
        }
        let length = shape[a], outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        func slices<K>(_ v: [K]) -> [[K]] {
            (0..<length).map { p in (0..<outer).flatMap { o in (0..<inner).map { v[(o * length + p) * inner + $0] } } }
        }
        let found = x.dtype.isFloatingPoint ? IndexMap.unique(slices(x.doubles()), sorted: sorted)
            : x.dtype == .uint64 ? IndexMap.unique(slices(x.scalars(as: UInt64.self)), sorted: sorted)
            : IndexMap.unique(slices(x.int64s()), sorted: sorted)
        shape[a] = found.first.count
        return (found, outer, length, inner, shape)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try planTimeValue(constants, 0, "Unique")
        let l = try layout(x)
        return [TensorType(x.dtype, l.shape), TensorType(.int64, [l.found.first.count]), TensorType(.int64, [l.length]),
                TensorType(.int64, [l.found.first.count])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let l = try layout(x)
        guard l.shape == outputs[0].shape else { throw LayerError("the input's distinct values changed after planning") }
        let sources = IndexMap.compress(kept: l.found.first, outer: l.outer, length: l.length, inner: l.inner)
        copyElements(from: x, into: outputs[0]) { sources[$0] }
        let rest = [l.found.first, l.found.inverse, l.found.counts]
        for (k, o) in outputs.dropFirst().enumerated() where k < rest.count {
            Tensor(shape: o.shape, scalars: rest[k].map { Int64($0) }).copy(into: o)
        }
    }
}

/// ONNX `TensorScatter` (a KV cache's update): past_cache with `update` written along `axis`
/// from each batch entry's write index (zero when absent), wrapping around in `circular` mode.
public struct TensorScatter: Layer {
    public var opType: String { "TensorScatter" }
    public let axis: Int, circular: Bool
    public init(axis: Int, circular: Bool) {
        self.axis = axis
        self.circular = circular
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let past = try required(inputs, 0, "past_cache"), update = try required(inputs, 1, "update")
        let a = try normalizedAxis(axis, rank: past.shape.count)
        guard a > 0, update.dtype == past.dtype, update.shape.count == past.shape.count,
              update.shape.indices.allSatisfy({ $0 == a || update.shape[$0] == past.shape[$0] }), update.shape[a] <= past.shape[a] else {
            throw LayerError("update \(update) does not fit past_cache \(past) along axis \(axis) (the batch axis 0 excluded)")
        }
        if let w = inputs.count > 2 ? inputs[2] : nil, w.shape != [past.shape[0]] || !(w.dtype == .int64 || w.dtype == .int32) {
            throw LayerError("write_indices is \(w), expected int64[\(past.shape[0])]")
        }
        return [past]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let past = try required(inputs, 0, "past_cache"), update = try required(inputs, 1, "update")
        let a = try normalizedAxis(axis, rank: past.rank), maxLength = past.shape[a]
        let writes = try (inputs.count > 2 ? inputs[2] : nil).map { t in
            try t.int64s().map { v -> Int in
                guard v >= 0 && v < Int64(maxLength) else { throw LayerError("a write index \(v) is outside 0..<\(maxLength)") }
                return Int(v)
            }
        } ?? [Int](repeating: 0, count: past.shape[0])
        let targets: [Int]
        do {
            targets = try IndexMap.tensorScatter(prefix: Array(past.shape[..<a]), length: update.shape[a], maxLength: maxLength,
                                                 inner: past.shape[(a + 1)...].reduce(1, *), writeIndices: writes, circular: circular)
        } catch { throw LayerError("an update at position \(error.value) runs past the cache's \(error.length) (mode linear)") }
        past.copy(into: outputs[0])
        Movement.placeElements(update, into: outputs[0], at: targets)
    }
}

/// ONNX-ML `ArrayFeatureExtractor`: the elements of X's last axis at the (flattened) indices Y;
/// the output is X's shape with the last axis replaced by the index count (a vector becomes
/// one row, `[1, k]`, as onnxruntime does).
public struct ArrayFeatureExtractor: Layer {
    public var opType: String { "ArrayFeatureExtractor" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), y = try required(inputs, 1, "Y")
        guard x.shape.count >= 1, y.dtype == .int64 else { throw LayerError("X is \(x) and Y \(y): expected rank 1 or more and int64 indices") }
        return [TensorType(x.dtype, x.shape.count == 1 ? [1, y.count] : Array(x.shape.dropLast()) + [y.count])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let length = x.shape[x.rank - 1]
        let picked = try resolvedIndices(try required(inputs, 1, "Y"), length: { _ in length }, "index")
        let k = picked.count
        copyElements(from: x, into: outputs[0]) { j in (j / max(k, 1)) * length + picked[j % k] }
    }
}

/// ONNX-ML `Binarizer`: 1 where X exceeds the threshold, else 0, in X's type.
public struct Binarizer: Layer {
    public var opType: String { "Binarizer" }
    public let threshold: Double
    public init(threshold: Double) { self.threshold = threshold }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [try required(inputs, 0, "X")]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        Tensor(shape: x.shape, scalars: x.doubles().map { $0 > threshold ? 1.0 : 0 }).convert(into: outputs[0])
    }
}
