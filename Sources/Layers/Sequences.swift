import TensorCore

// ONNX sequences and optionals. A sequence's type lists its items' types, so a plan knows them as
// it knows shapes; a position that decides an output type is planned by its value.

/// Input `i` as a sequence type: its items' types and element type.
func sequenceType(_ inputs: [TensorType?], _ i: Int, _ what: String) throws -> (items: [TensorType], dtype: DType) {
    let t = try required(inputs, i, what)
    guard case .sequence(let items) = t.kind else { throw LayerError("input \(i) (\(what)) is a \(t.kind.name), expected a sequence") }
    return (items, t.dtype)
}

/// Input `i` as a sequence value: its items.
func sequenceValue(_ inputs: [Tensor?], _ i: Int, _ what: String) throws -> [Tensor] {
    let t = try required(inputs, i, what)
    guard let items = t.sequenceItems else { throw LayerError("input \(i) (\(what)) is not a sequence") }
    return items
}

/// Input `i`, checked to be a tensor (not a sequence or optional).
func tensorType(_ inputs: [TensorType?], _ i: Int, _ what: String) throws -> TensorType {
    let t = try required(inputs, i, what)
    guard t.isTensor else { throw LayerError("input \(i) (\(what)) is a \(t.kind.name), expected a tensor") }
    return t
}

/// A position in a sequence of `count` items: an integer scalar in `-count..<count` (`-count...count`
/// where `insert`), negative ones counting from the end.
func sequencePosition(_ value: Tensor, count: Int, insert: Bool = false) throws -> Int {
    guard value.dtype == .int32 || value.dtype == .int64, value.count == 1, value.rank <= 1 else {
        throw LayerError("position must be an int32 or int64 scalar, got \(value.dtype)\(value.shape)")
    }
    let p = value.int64s()[0]
    let n = Int64(count)
    let upper = insert ? n : n - 1
    guard p >= -n, p <= upper else {
        throw LayerError("position \(p) is out of range for a sequence of \(count) items (\(-n)…\(upper))")
    }
    return Int(p < 0 ? p + n : p)
}

/// The most items a sequence may hold. A sequence's type lists its items, so a loop that
/// inserts one item per iteration plans its body once per length: the work grows with the square
/// of the length (a loop reaching 16,384 items took 48 s), and this bound keeps a file from asking
/// for hours of it.
public let sequenceItemLimit = 1 << 12

/// Bytes one item is counted to cost beyond its elements: the tensor, its storage and shape, and
/// its type in the plan (an estimate with room to spare, not a measurement).
let sequenceItemOverhead = 512

/// Checks that `count` items can be made (the item limit) before anything is allocated for them.
func checkSequenceCount(_ count: Int, _ what: String) throws {
    guard count <= sequenceItemLimit else { throw LayerError("\(what) would hold \(count) items; a sequence holds at most \(sequenceItemLimit)") }
    try MemoryBudget.check(count * sequenceItemOverhead, "\(what) (\(count) items)")
}

/// The memory a sequence's items take, checked against the budget.
func checkSequenceBytes(_ items: [TensorType], _ what: String) throws {
    try checkSequenceCount(items.count, what)
    var total = 0
    for t in items {
        total = MemoryBudget.sum(total, MemoryBudget.sum(sequenceItemOverhead, MemoryBudget.bytes(count: t.count, dtype: t.dtype) ?? Int.max))
    }
    try MemoryBudget.check(total, "\(what) (\(items.count) items)")
}

/// ONNX `SequenceEmpty`: a sequence with no items, of element type `dtype`.
public struct SequenceEmpty: ValueLayer {
    public var opType: String { "SequenceEmpty" }
    public let dtype: DType
    public init(dtype: DType) { self.dtype = dtype }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [.sequence([], dtype: dtype)] }
    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] { [Tensor(sequence: [], dtype: dtype)] }
}

/// ONNX `SequenceConstruct`: a sequence of its inputs, which share one element type.
public struct SequenceConstruct: ValueLayer {
    public var opType: String { "SequenceConstruct" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let items = try inputs.indices.map { try tensorType(inputs, $0, "item \($0)") }
        guard let first = items.first else { throw LayerError("SequenceConstruct needs at least one input") }
        if let other = items.first(where: { $0.dtype != first.dtype }) {
            throw LayerError("the items have element types \(first.dtype) and \(other.dtype); a sequence has one")
        }
        return [.sequence(items, dtype: first.dtype)]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let items = try inputs.indices.map { try required(inputs, $0, "item \($0)") }
        return [Tensor(sequence: items, dtype: items.first?.dtype ?? .float32)]
    }
}

/// ONNX `SequenceAt`: the item at a position.
public struct SequenceAt: ValueLayer {
    public var opType: String { "SequenceAt" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let (items, _) = try sequenceType(inputs, 0, "input_sequence")
        _ = try tensorType(inputs, 1, "position")
        guard let position = constants.count > 1 ? constants[1] : nil else {
            throw LayerError.needs([1], "the item's type depends on the position's value")
        }
        return [items[try sequencePosition(position, count: items.count)]]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let items = try sequenceValue(inputs, 0, "input_sequence")
        return [items[try sequencePosition(try required(inputs, 1, "position"), count: items.count)]]
    }
}

/// ONNX `SequenceInsert`: the sequence with a tensor inserted at a position (the end when absent).
public struct SequenceInsert: ValueLayer {
    public var opType: String { "SequenceInsert" }
    public init() {}

    func position(_ value: Tensor?, count: Int) throws -> Int {
        try value.map { try sequencePosition($0, count: count, insert: true) } ?? count
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        var (items, dtype) = try sequenceType(inputs, 0, "input_sequence")
        let t = try tensorType(inputs, 1, "tensor")
        guard t.dtype == dtype else { throw LayerError("the tensor is \(t.dtype), the sequence's items are \(dtype)") }
        try requireKnownIfPresent(inputs, constants, 2, "position")
        if inputs.count > 2, inputs[2] != nil { _ = try tensorType(inputs, 2, "position") }
        items.insert(t, at: try position(constants.count > 2 ? constants[2] : nil, count: items.count))
        try checkSequenceBytes(items, "the sequence")
        return [.sequence(items, dtype: dtype)]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        var items = try sequenceValue(inputs, 0, "input_sequence")
        let t = try required(inputs, 1, "tensor")
        items.insert(t, at: try position(inputs.count > 2 ? inputs[2] : nil, count: items.count))
        return [Tensor(sequence: items, dtype: t.dtype)]
    }
}

/// ONNX `SequenceErase`: the sequence without the item at a position (the last when absent).
public struct SequenceErase: ValueLayer {
    public var opType: String { "SequenceErase" }
    public init() {}

    func position(_ value: Tensor?, count: Int) throws -> Int {
        guard count > 0 else { throw LayerError("the sequence is empty: there is nothing to erase") }
        return try value.map { try sequencePosition($0, count: count) } ?? count - 1
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        var (items, dtype) = try sequenceType(inputs, 0, "input_sequence")
        try requireKnownIfPresent(inputs, constants, 1, "position")
        items.remove(at: try position(constants.count > 1 ? constants[1] : nil, count: items.count))
        return [.sequence(items, dtype: dtype)]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        var items = try sequenceValue(inputs, 0, "input_sequence")
        let dtype = try required(inputs, 0, "input_sequence").dtype
        items.remove(at: try position(inputs.count > 1 ? inputs[1] : nil, count: items.count))
        return [Tensor(sequence: items, dtype: dtype)]
    }
}

/// ONNX `SequenceLength`: the number of items, an int64 scalar (known from the type).
public struct SequenceLength: ValueLayer {
    public var opType: String { "SequenceLength" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        _ = try sequenceType(inputs, 0, "input_sequence")
        return [TensorType(.int64, [])]
    }

    public func valuesFromTypes(_ inputs: [TensorType?]) -> [Tensor]? {
        guard let (items, _) = try? sequenceType(inputs, 0, "input_sequence") else { return nil }
        return [Tensor(scalar: Int64(items.count))]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        [Tensor(scalar: Int64(try sequenceValue(inputs, 0, "input_sequence").count))]
    }
}

/// ONNX `SplitToSequence`: a tensor split along an axis into a sequence: into pieces of the sizes
/// `split` lists, of `split` elements each (the last may be shorter) when it is a scalar, or into
/// single slices (with the axis kept when `keepDims`) when it is absent.
public struct SplitToSequence: ValueLayer {
    public var opType: String { "SplitToSequence" }
    public let axis: Int
    public let keepDims: Bool
    public init(axis: Int, keepDims: Bool) {
        self.axis = axis
        self.keepDims = keepDims
    }

    /// The pieces' lengths along the axis, and whether the axis is dropped.
    func pieces(_ x: TensorType, _ split: Tensor?) throws -> (axis: Int, lengths: [Int], squeezes: Bool) {
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let dim = x.shape[a]
        guard let split else {
            try checkSequenceCount(dim, "the split")
            return (a, Array(repeating: 1, count: dim), !keepDims)
        }
        guard split.dtype == .int32 || split.dtype == .int64, split.rank <= 1 else {
            throw LayerError("split must be int32 or int64 of rank 0 or 1, got \(split.dtype)\(split.shape)")
        }
        let values = split.int64s()
        if split.rank == 0 {
            guard let size = values.first, size > 0 else { throw LayerError("split \(values) must be a positive size") }
            let s = Int(clamping: size)
            try checkSequenceCount(dim / s + (dim % s == 0 ? 0 : 1), "the split")
            var lengths = Array(repeating: s, count: dim / s)
            if dim % s != 0 { lengths.append(dim % s) }
            return (a, lengths, false)
        }
        guard values.allSatisfy({ $0 >= 0 }) else { throw LayerError("split \(values) has a negative length") }
        try checkSequenceCount(values.count, "the split")
        let lengths = values.map { Int(clamping: $0) }
        guard lengths.reduce(0, { MemoryBudget.sum($0, $1) }) == dim else {
            throw LayerError("split \(values) sums to \(lengths.reduce(0, { MemoryBudget.sum($0, $1) })), the axis has \(dim)")
        }
        return (a, lengths, false)
    }

    func itemTypes(_ x: TensorType, _ p: (axis: Int, lengths: [Int], squeezes: Bool)) -> [TensorType] {
        p.lengths.map { n in
            var shape = x.shape
            if p.squeezes { shape.remove(at: p.axis) } else { shape[p.axis] = n }
            return TensorType(x.dtype, shape)
        }
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try tensorType(inputs, 0, "input")
        try requireKnownIfPresent(inputs, constants, 1, "split")
        let items = itemTypes(x, try pieces(x, constants.count > 1 ? constants[1] : nil))
        try checkSequenceBytes(items, "the split")
        return [.sequence(items, dtype: x.dtype)]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "input")
        let type = TensorType(x.dtype, x.shape)
        let p = try pieces(type, inputs.count > 1 ? inputs[1] : nil)
        let inner = x.shape[(p.axis + 1)...].product, dim = x.shape[p.axis]
        var start = 0
        var items: [Tensor] = []
        for (n, t) in zip(p.lengths, itemTypes(type, p)) {
            let out = Tensor(zeros: t.shape, dtype: t.dtype)
            let from = start
            Movement.copyElements(from: x, into: out) { j in
                let o = j / (n * inner), r = j % (n * inner)
                return (o * dim + from) * inner + r
            }
            items.append(out)
            start += n
        }
        return [Tensor(sequence: items, dtype: x.dtype)]
    }
}

/// ONNX `ConcatFromSequence`: the items joined along an existing axis, or stacked along a new one
/// (`newAxis`).
public struct ConcatFromSequence: ValueLayer {
    public var opType: String { "ConcatFromSequence" }
    public let axis: Int
    public let newAxis: Bool
    public init(axis: Int, newAxis: Bool) {
        self.axis = axis
        self.newAxis = newAxis
    }

    /// The output type and the normalised axis (in the output's rank where `newAxis`).
    func output(_ items: [TensorType], dtype: DType) throws -> (TensorType, Int) {
        guard let first = items.first else { throw LayerError("the sequence is empty: there is nothing to concatenate") }
        let rank = first.shape.count
        let a = try normalizedAxis(axis, rank: rank + (newAxis ? 1 : 0))
        var shape = first.shape
        if newAxis { shape.insert(0, at: a) } else { shape[a] = 0 }
        for (k, t) in items.enumerated() {
            guard t.isTensor, t.shape.count == rank else { throw LayerError("item \(k) is \(t), item 0 is \(first)") }
            for d in 0..<rank where !(d == a && !newAxis) && t.shape[d] != first.shape[d] {
                throw LayerError("item \(k) has shape \(t.shape), item 0 has \(first.shape): they differ off axis \(axis)")
            }
            shape[a] = MemoryBudget.sum(shape[a], newAxis ? 1 : t.shape[a])
        }
        _ = try checkedProduct(shape, "the concatenation")
        return (TensorType(dtype, shape), a)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let (items, dtype) = try sequenceType(inputs, 0, "input_sequence")
        return [try output(items, dtype: dtype).0]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let items = try sequenceValue(inputs, 0, "input_sequence")
        let dtype = try required(inputs, 0, "input_sequence").dtype
        let (type, a) = try output(items.map { TensorType(of: $0) }, dtype: dtype)
        let out = Tensor(zeros: type.shape, dtype: dtype)
        // Each item is a block of `outer` rows of `length · inner` elements in the output's rows.
        let outer = type.shape[..<a].product, inner = type.shape[(a + 1)...].product, total = type.shape[a]
        let size = dtype.byteSize
        var at = 0
        out.withUnsafeMutableBytes { o in
            for item in items {
                let length = newAxis ? 1 : item.shape[a]
                let row = length * inner * size
                item.withUnsafeBytes { src in
                    guard row > 0, let s = src.baseAddress, let d = o.baseAddress else { return }
                    for r in 0..<outer {
                        (d + (r * total + at) * inner * size).copyMemory(from: s + r * row, byteCount: row)
                    }
                }
                at += length
            }
        }
        return [out]
    }
}

/// ONNX `Optional`: an optional holding the input, or an empty one of the type the node names.
public struct OptionalConstruct: ValueLayer {
    public var opType: String { "Optional" }
    /// The element type of an empty optional (when the node has no input).
    public let dtype: DType
    public init(dtype: DType) { self.dtype = dtype }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        guard let value = inputs.first ?? nil else { return [.optional(nil, dtype: dtype)] }
        if case .optional = value.kind { throw LayerError("the input is already an optional") }
        return [.optional(value, dtype: value.dtype)]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        guard let value = inputs.first ?? nil else { return [Tensor(optional: nil, dtype: dtype)] }
        return [Tensor(optional: value, dtype: value.dtype)]
    }
}

/// ONNX `OptionalHasElement`: whether the input is present and, when it is an optional, not
/// empty (a bool scalar; known from the type).
public struct OptionalHasElement: ValueLayer {
    public var opType: String { "OptionalHasElement" }
    public init() {}

    func has(_ input: TensorType?) -> Bool {
        guard let input else { return false }
        if case .optional(let v) = input.kind { return v != nil }
        return true
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [TensorType(.bool, [])] }
    public func valuesFromTypes(_ inputs: [TensorType?]) -> [Tensor]? { [Tensor(scalar: has(inputs.first ?? nil))] }
    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        [Tensor(scalar: has((inputs.first ?? nil).map { TensorType(of: $0) }))]
    }
}

/// ONNX `OptionalGetElement`: an optional's value (an error when it is empty); a tensor or a
/// sequence is returned as it is.
public struct OptionalGetElement: ValueLayer {
    public var opType: String { "OptionalGetElement" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        guard case .optional(let v) = x.kind else { return [x] }
        guard let v else { throw LayerError("the optional is empty: it has no element to get") }
        return [v]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "input")
        guard case .optional(let v)? = x.container else { return [x] }
        guard let v else { throw LayerError("the optional is empty: it has no element to get") }
        return [v]
    }
}
