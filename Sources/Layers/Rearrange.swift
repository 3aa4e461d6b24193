import TensorCore

/// ONNX `Tile`: input `[d0, …]`, repeats int64 `[rank]` (known before running); output
/// `[d0·r0, …]`. Any dtype.
public struct Tile: Layer {
    public var opType: String { "Tile" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        let repeats = try constantInts(constants, 1, "repeats")
        guard repeats.count == x.shape.count else { throw LayerError("repeats has \(repeats.count) values for an input of rank \(x.shape.count)") }
        guard repeats.allSatisfy({ $0 >= 0 }) else { throw LayerError("repeats \(repeats) has a negative value") }
        let shape = try zip(x.shape, repeats).map { d, r in
            let (p, overflow) = d.multipliedReportingOverflow(by: r)
            guard !overflow else { throw LayerError("repeats \(repeats) of \(x.shape) overflow") }
            return p
        }
        _ = try checkedProduct(shape, "output shape")
        return [TensorType(x.dtype, shape)]
    }

    /// Tile as a strided copy, planned once (`Movement.tileView`, `StridedCopyOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let (view, strides) = Movement.tileView(try required(inputs, 0, "input").shape, repeats: try constantInts(constants, 1, "repeats"))
        return StridedCopyOp(offset: 0, strides: strides, view: view)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// ONNX `Range` (named so as not to hide Swift's `Range`): start, limit, delta scalars (known before running: they fix the length);
/// output 1-D of `max(⌈(limit − start) / delta⌉, 0)` elements `start + i·delta`, in start's dtype.
public struct RangeLayer: Layer {
    public var opType: String { "Range" }
    public init() {}

    /// The scalars start, limit, delta (known at planning).
    static func scalars(_ constants: [Tensor?]) throws -> [Tensor] {
        try ["start", "limit", "delta"].enumerated().map { i, name in
            guard i < constants.count, let t = constants[i] else {
                throw LayerError.needs([0, 1, 2], "input \(i) (\(name)) must be a constant or computable from shapes; it depends on data")
            }
            guard t.count == 1 else { throw LayerError("\(name) must be a scalar, it has \(t.count) elements") }
            return t
        }
    }

    static let maxCount = 1 << 40

    /// Floating-point ranges: start, delta and the element count.
    static func values(_ constants: [Tensor?]) throws -> (Double, Double, Int) {
        let v = try scalars(constants).map { $0.doubles()[0] }
        guard v[2] != 0, v.allSatisfy({ $0.isFinite }) else { throw LayerError("delta must be finite and nonzero; start, limit, delta are \(v)") }
        let n = ((v[1] - v[0]) / v[2]).rounded(.up)
        guard n <= Double(maxCount) else { throw LayerError("the range has more than 2^40 elements") }
        // A range running the other way is empty (n ≤ 0, possibly −∞ when limit − start overflows).
        return (v[0], v[2], n > 0 ? Int(n) : 0)
    }

    /// Integer ranges, in 128-bit arithmetic so that bounds near Int64.min/max cannot overflow.
    static func integerValues(_ constants: [Tensor?]) throws -> (Int128, Int128, Int) {
        let v = try scalars(constants).map { Int128($0.int64s()[0]) }
        guard v[2] != 0 else { throw LayerError("delta must be nonzero; start, limit, delta are \(v)") }
        let span = v[1] - v[0]
        guard (span > 0) == (v[2] > 0), span != 0 else { return (v[0], v[2], 0) }
        let n = (span.magnitude + v[2].magnitude - 1) / v[2].magnitude
        guard n <= UInt128(maxCount) else { throw LayerError("the range has more than 2^40 elements") }
        return (v[0], v[2], Int(n))
    }

    static func count(_ constants: [Tensor?]) throws -> Int {
        let start = try scalars(constants)[0]
        return start.dtype.isFloatingPoint ? try values(constants).2 : try integerValues(constants).2
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let start = try required(inputs, 0, "start")
        return [TensorType(start.dtype, [try RangeLayer.count(constants)])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let out = outputs[0]
        if out.dtype.isFloatingPoint {
            let (start, delta, n) = try RangeLayer.values(inputs)
            // Each element is start + i·delta computed in the output's type, as the spec's loop
            // accumulates in that type: for float32, repeated float additions.
            if out.dtype == .float64 {
                Tensor(shape: [n], scalars: (0..<n).map { start + Double($0) * delta }).copy(into: out)
            } else {
                var v = Float(start), values: [Float] = []
                values.reserveCapacity(n)
                for _ in 0..<n { values.append(v); v += Float(delta) }
                Tensor(shape: [n], scalars: values).convert(into: out)
            }
        } else {
            // Every element lies between start and limit, so it fits the input's type.
            let (s, d, n) = try RangeLayer.integerValues(inputs)
            Tensor(shape: [n], scalars: (0..<n).map { Int64(s + Int128($0) * d) }).convert(into: out)
        }
    }
}

/// ONNX `DepthToSpace` and `SpaceToDepth` (mode DCR or CRD; SpaceToDepth's mode is newer): input `[N, C, H, W]`; DepthToSpace
/// gives `[N, C/b², H·b, W·b]`, SpaceToDepth `[N, C·b², H/b, W/b]`. Any dtype.
public struct DepthSpace: Layer {
    public enum Kind: Sendable { case depthToSpaceDCR, depthToSpaceCRD, spaceToDepthDCR, spaceToDepthCRD }
    public let kind: Kind
    public let blockSize: Int
    public init(_ kind: Kind, blockSize: Int) {
        self.kind = kind
        self.blockSize = blockSize
    }
    var isSpaceToDepth: Bool { kind == .spaceToDepthDCR || kind == .spaceToDepthCRD }
    public var opType: String { isSpaceToDepth ? "SpaceToDepth" : "DepthToSpace" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        guard x.shape.count == 4 else { throw LayerError("input must be [N, C, H, W], it is \(x.shape)") }
        guard blockSize > 0 else { throw LayerError("blocksize is \(blockSize), expected a positive value") }
        let (n, c, h, w, b) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], blockSize)
        guard b <= maxWindowAttribute else { throw LayerError("blocksize \(b) must not exceed 2^31 − 1") }
        if isSpaceToDepth {
            let (cb, overflow) = c.multipliedReportingOverflow(by: b * b)
            guard !overflow else { throw LayerError("C·blocksize² overflows for C = \(c), blocksize \(b)") }
            guard h % b == 0, w % b == 0 else { throw LayerError("H and W (\(h), \(w)) must be multiples of blocksize \(b)") }
            return [TensorType(x.dtype, [n, cb, h / b, w / b])]
        }
        guard c % (b * b) == 0 else { throw LayerError("C = \(c) must be a multiple of blocksize² = \(b * b)") }
        guard !h.multipliedReportingOverflow(by: b).overflow, !w.multipliedReportingOverflow(by: b).overflow else {
            throw LayerError("H·blocksize or W·blocksize overflows for H = \(h), W = \(w), blocksize \(b)")
        }
        return [TensorType(x.dtype, [n, c / (b * b), h * b, w * b])]
    }

    /// A reshape to rank 6, a transpose and a reshape to the output: one strided copy, planned
    /// once (`StridedCopyOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let x = try required(inputs, 0, "input")
        let (n, c, h, w, b) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], blockSize)
        let (view, perm): ([Int], [Int])
        switch kind {
        case .depthToSpaceDCR: (view, perm) = ([n, b, b, c / (b * b), h, w], [0, 3, 4, 1, 5, 2])
        case .depthToSpaceCRD: (view, perm) = ([n, c / (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3])
        case .spaceToDepthDCR: (view, perm) = ([n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4])
        case .spaceToDepthCRD: (view, perm) = ([n, c, h / b, b, w / b, b], [0, 1, 3, 5, 2, 4])
        }
        let st = contiguousStrides(view)
        return StridedCopyOp(offset: 0, strides: perm.map { st[$0] }, view: perm.map { view[$0] })
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// ONNX `ArgMax` and `ArgMin` (axis, keepdims, select_last_index): data `[…]`; int64 indices with
/// the axis kept as 1 or dropped. NaN counts as the largest (ArgMax) or smallest (ArgMin) value,
/// so its first (or last) position wins, as numpy's argmax does.
public struct ArgExtreme: Layer {
    public let isMax: Bool
    public let axis: Int
    public let keepDims: Bool
    public let selectLast: Bool
    public init(isMax: Bool, axis: Int, keepDims: Bool, selectLast: Bool) {
        self.isMax = isMax
        self.axis = axis
        self.keepDims = keepDims
        self.selectLast = selectLast
    }
    public var opType: String { isMax ? "ArgMax" : "ArgMin" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        guard x.shape.isEmpty || x.shape[a] > 0 else { throw LayerError("axis \(axis) has length 0; there is no extreme to index") }
        var shape = x.shape
        if !shape.isEmpty { if keepDims { shape[a] = 1 } else { shape.remove(at: a) } }
        return [TensorType(.int64, shape)]
    }

    /// Resolves the `[outer, axis, inner]` view once per plan (`ArgExtremeOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        let x = try required(inputs, 0, "data")
        let a = try normalizedAxis(axis, rank: x.shape.count)
        let length = x.shape.isEmpty ? 1 : x.shape[a]
        let inner = x.shape.isEmpty ? 1 : x.shape[(a + 1)...].reduce(1, *)
        return ArgExtremeOp(outer: x.count / Swift.max(1, length * inner), length: length, inner: inner, isMax: isMax, selectLast: selectLast)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// An `ArgMax`/`ArgMin` ready to run; the kernel is `Ranking.argExtreme`.
struct ArgExtremeOp: PreparedOp {
    let outer: Int, length: Int, inner: Int
    let isMax: Bool, selectLast: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "data")
        let best = Ranking.argExtreme(x.doubles(), outer: outer, length: length, inner: inner, isMax: isMax, selectLast: selectLast)
        Tensor(shape: outputs[0].shape, scalars: best.map { Int64($0) }).copy(into: outputs[0])
    }
}

/// ONNX `HannWindow`, `HammingWindow`, `BlackmanWindow`: size (a scalar known before running)
/// values of the window in `dtype` (`Window.values`).
public struct WindowLayer: Layer {
    public let kind: Window.Kind
    public let periodic: Bool
    public let dtype: DType
    public init(_ kind: Window.Kind, periodic: Bool, dtype: DType) {
        self.kind = kind
        self.periodic = periodic
        self.dtype = dtype
    }
    public var opType: String {
        switch kind {
        case .hann: return "HannWindow"
        case .hamming: return "HammingWindow"
        case .blackman: return "BlackmanWindow"
        }
    }

    func size(_ constants: [Tensor?]) throws -> Int {
        guard let t = constants.first ?? nil else {
            throw LayerError.needs([0], "input 0 (size) must be a constant or computable from shapes; it depends on data")
        }
        // Windows are a DFT frame long; 2^24 samples is far beyond any, and keeps a file from
        // asking for gigabytes with one number.
        guard t.count == 1, !t.dtype.isFloatingPoint, let n = t.int64s().first, n >= 0, n <= 1 << 24 else {
            throw LayerError("size must be one non-negative integer of at most 2^24, it is \(t)")
        }
        return Int(n)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(dtype, [try size(constants)])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let n = outputs[0].count
        Tensor(shape: [n], scalars: Window.values(kind, size: n, periodic: periodic)).convert(into: outputs[0])
    }
}

/// ONNX `ReverseSequence`: input with a batch axis and a time axis (0 and 1, either way round);
/// for each batch entry b the first `sequence_lens[b]` steps are reversed, the rest kept.
public struct ReverseSequence: Layer {
    public var opType: String { "ReverseSequence" }
    public let batchAxis: Int, timeAxis: Int
    public init(batchAxis: Int, timeAxis: Int) {
        self.batchAxis = batchAxis
        self.timeAxis = timeAxis
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input"), lens = try required(inputs, 1, "sequence_lens")
        guard x.shape.count >= 2, Set([batchAxis, timeAxis]) == [0, 1] else {
            throw LayerError("input \(x.shape) with batch_axis \(batchAxis) and time_axis \(timeAxis): expected rank 2 or more and axes 0 and 1")
        }
        guard lens.shape == [x.shape[batchAxis]], lens.dtype == .int64 || lens.dtype == .int32 else {
            throw LayerError("sequence_lens is \(lens), expected int64[\(x.shape[batchAxis])]")
        }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let steps = x.shape[timeAxis]
        let lens = try required(inputs, 1, "sequence_lens").int64s().map { v -> Int in
            guard v >= 0 && v <= Int64(steps) else { throw LayerError("a sequence length \(v) is outside 0...\(steps)") }
            return Int(v)
        }
        Movement.reverseSequences(x, into: outputs[0], lengths: lens, batchAxis: batchAxis, timeAxis: timeAxis)
    }
}

/// ONNX `Det`: the determinant of each square matrix of X `[*, M, M]`; Y `[*]`. In Float (Double for
/// float64), `LinearAlgebra.determinants`.
public struct Det: Layer {
    public var opType: String { "Det" }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count >= 2, x.shape[x.shape.count - 1] == x.shape[x.shape.count - 2] else {
            throw LayerError("X has shape \(x.shape), expected [*, M, M]")
        }
        return [TensorType(x.dtype, Array(x.shape.dropLast(2)))]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let n = x.shape[x.shape.count - 1], count = outputs[0].count
        if x.dtype == .float64 {
            Tensor(shape: outputs[0].shape, scalars: LinearAlgebra.determinants(x.doubles(), count: count, n: n)).convert(into: outputs[0])
        } else {
            Tensor(shape: outputs[0].shape, scalars: LinearAlgebra.determinants(x.scalars(as: Float.self), count: count, n: n)).convert(into: outputs[0])
        }
    }
}

/// ONNX `CenterCropPad`: each of `axes` (all when nil) cropped or zero-padded to the size that
/// input 1 (known before running) gives it, centred: a crop starts at ⌊(d − s)/2⌋, a pad puts
/// ⌊(s − d)/2⌋ zeros before. The kernel is `Movement.pad` (negative pads crop).
public struct CenterCropPad: Layer {
    public var opType: String { "CenterCropPad" }
    public let axes: [Int]?
    public init(axes: [Int]?) { self.axes = axes }

    func before(_ x: TensorType, _ constants: [Tensor?]) throws -> (before: [Int], shape: [Int]) {
        let sizes = try constantInts(constants, 1, "shape")
        let axes = try (self.axes ?? Array(0..<x.shape.count)).map { try normalizedAxis($0, rank: x.shape.count) }
        guard sizes.count == axes.count, Set(axes).count == axes.count, sizes.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }) else {
            throw LayerError("shape \(sizes) must give one non-negative size for each of the axes \(axes)")
        }
        var before = [Int](repeating: 0, count: x.shape.count), shape = x.shape
        for (a, s) in zip(axes, sizes) {
            let d = x.shape[a]
            before[a] = s >= d ? (s - d) / 2 : -((d - s) / 2)
            shape[a] = s
        }
        _ = try checkedProduct(shape, "output shape")
        return (before, shape)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input_data")
        return [TensorType(x.dtype, try before(x, constants).shape)]
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        CenterCropPadOp(before: try before(try required(inputs, 0, "input_data"), constants).before)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: inputs, format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `CenterCropPad` ready to run: the pads before each axis (negative: a crop).
struct CenterCropPadOp: PreparedOp {
    let before: [Int]
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        Movement.pad(try required(inputs, 0, "input_data"), before: before, mode: .constant, constant: nil, into: outputs[0])
    }
}

/// ONNX `Col2Im`: columns `[N, C·∏block_shape, L]` summed back into images `[N, C,
/// image_shape…]` (`Movement.col2im`); `image_shape` and `block_shape` known when planning, L
/// the number of block positions that strides, dilations and pads give. In T (Double for float64).
public struct Col2Im: Layer {
    public var opType: String { "Col2Im" }
    public let dilations: [Int]?, pads: [Int]?, strides: [Int]?
    public init(dilations: [Int]?, pads: [Int]?, strides: [Int]?) {
        self.dilations = dilations
        self.pads = pads
        self.strides = strides
    }

    struct Geometry {
        let image: [Int], block: [Int], blocks: [Int], strides: [Int], dilations: [Int], padBefore: [Int], channels: Int
    }

    func geometry(_ x: TensorType, _ constants: [Tensor?]) throws -> Geometry {
        let image = try constantInts(constants, 1, "image_shape"), block = try constantInts(constants, 2, "block_shape")
        let r = image.count
        let strides = self.strides ?? Array(repeating: 1, count: r), dilations = self.dilations ?? Array(repeating: 1, count: r)
        let pads = self.pads ?? Array(repeating: 0, count: 2 * r)
        let limit = 1 << 24
        guard r > 0, block.count == r, strides.count == r, dilations.count == r, pads.count == 2 * r,
              (image + block + strides + dilations).allSatisfy({ $0 > 0 && $0 <= limit }), pads.allSatisfy({ $0 >= 0 && $0 <= limit }) else {
            throw LayerError("image_shape \(image), block_shape \(block), strides \(strides), dilations \(dilations), pads \(pads) do not describe \(r) spatial axes of positive sizes")
        }
        let blocks = try (0..<r).map { i -> Int in
            let span = dilations[i] * (block[i] - 1) + 1, room = image[i] + pads[i] + pads[r + i]
            guard room >= span else { throw LayerError("a block of \(span) does not fit the padded image's \(room) along axis \(i)") }
            return (room - span) / strides[i] + 1
        }
        let blockCount = try checkedProduct(block, "block_shape")
        guard x.shape.count == 3, x.shape[1] % blockCount == 0, x.shape[2] == blocks.reduce(1, *) else {
            throw LayerError("input is \(x.shape), expected [N, C·\(blockCount), \(blocks.reduce(1, *))]")
        }
        return Geometry(image: image, block: block, blocks: blocks, strides: strides, dilations: dilations,
                        padBefore: Array(pads[..<r]), channels: x.shape[1] / blockCount)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        try requireFloat(x, "input")
        let g = try geometry(x, constants)
        let shape = [x.shape[0], g.channels] + g.image
        _ = try checkedProduct(shape, "output")
        return [TensorType(x.dtype, shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let g = try geometry(TensorType(x.dtype, x.shape), inputs)
        func run<T: BinaryFloatingPoint & TensorScalar>(_: T.Type) {
            let y = Movement.col2im(x.scalars(as: T.self), batch: x.shape[0], channels: g.channels, image: g.image, block: g.block,
                                    blocks: g.blocks, strides: g.strides, dilations: g.dilations, padBefore: g.padBefore)
            Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
        }
        if x.dtype == .float64 { run(Double.self) } else { run(Float.self) }
    }
}
