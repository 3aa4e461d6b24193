import TensorCore

/// ONNX `Gemm`: `Y = alpha·A'·B' + beta·C`, where `A'` is A or Aᵀ and `B'` is B or Bᵀ.
///
/// - A `[M, K]` (or `[K, M]` with transA); B `[K, N]` (or `[N, K]` with transB);
///   C optional, unidirectionally broadcastable to `[M, N]`; Y `[M, N]`.
public struct Gemm: Layer {
    public var opType: String { "Gemm" }
    public let transA: Bool, transB: Bool
    public let alpha: Float, beta: Float
    public let activation: Activation?
    /// B′ (B, or Bᵀ with transB) as `[N, K]`, packed as the register tiles' A operand, for
    /// products of fewer than 8 rows (a classifier at batch 1 to 7): `Linear.packedWeightProduct`
    /// computes Y′ᵀ = B′ᵀ·Aᵀ with the weight in that form, read once per run.
    /// Made from a float32 constant B of at most `packedWeightLimit` bytes, on first use by a
    /// float32 plan on a build with the tiles (as `Conv.packed`), so a model holds it only for
    /// the batch sizes it runs.
    public let packed: MadeOnce<PackedMatrix>?
    /// Bᵀ as a `[K, N]` row-major matrix, for products of 8 to `turnedRowLimit` rows when transB is set (every
    /// PyTorch `Linear` exported as Gemm), which the tiles then multiply as they do an untransposed
    /// B (`GemmOp.tiled`), read in place: OpenBLAS's `sgemm` with a transposed B packs the weight
    /// again on each call (MobileNetV3-Small's 1024→1000 classifier at batch 8: 0.86 ms on one
    /// thread). Made as `packed` is.
    public let turned: MadeOnce<Tensor>?

    /// The most rows (a classifier's batch) multiplied on `turned`. With more, OpenBLAS's packing
    /// of B on each call is spread over enough rows to cost little, and the products keep
    /// OpenBLAS's sums: Faster R-CNN's box head (150 RoIs, K = 12,544) on `turned` moved its
    /// outputs by ~1e-7, enough for two near-duplicate boxes (scores 3e-8 apart, 0.009 px apart)
    /// to trade places in NonMaxSuppression against onnxruntime's reference, which sums Gemm
    /// in its own order (`check_detectors.py` failed).
    public static let turnedRowLimit = 64

    /// The largest weight `packed` and `turned` are made from, in bytes: 64 MiB, every classifier
    /// of the zoo and VGG's 4096→4096 and 4096→1000 layers, but not its 25088→4096 one (392 MiB,
    /// which would then be held twice: peak memory is held to onnxruntime's).
    public static let packedWeightLimit = 64 << 20

    /// - weight: B's value when it is a constant: a float32 one of at most `packedWeightLimit`
    ///   bytes is then laid out for the tiles on first use (`packed`, `turned`).
    public init(transA: Bool, transB: Bool, alpha: Float, beta: Float, activation: Activation? = nil, weight: Tensor? = nil) {
        self.transA = transA; self.transB = transB; self.alpha = alpha; self.beta = beta
        self.activation = activation
        if let w = weight, w.dtype == .float32, w.rank == 2, w.count > 0, w.count <= Self.packedWeightLimit / 4 {
            let (rows, columns) = (w.shape[0], w.shape[1])
            packed = MadeOnce {
                w.withUnsafeBufferPointer(as: Float.self) { v in
                    guard !transB else { return PackedMatrix(v.baseAddress.unsafelyUnwrapped, rows: rows, depth: columns, rowStride: columns) }
                    // B is [K, N]: its transpose is the [N, K] matrix packed.
                    let t = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
                    defer { t.deallocate() }
                    Movement.transposeMatrix(v.baseAddress.unsafelyUnwrapped, rows: rows, columns: columns, into: t)
                    return PackedMatrix(t, rows: columns, depth: rows, rowStride: rows)
                }
            }
            turned = transB ? MadeOnce {
                let t = Tensor(zeros: [columns, rows], dtype: .float32)
                w.withUnsafeBufferPointer(as: Float.self) { v in
                    t.withUnsafeMutableBufferPointer(as: Float.self) {
                        Movement.transposeMatrix(v.baseAddress.unsafelyUnwrapped, rows: rows, columns: columns, into: $0.baseAddress.unsafelyUnwrapped)
                    }
                }
                return t
            } : nil
        } else {
            packed = nil
            turned = nil
        }
    }

    private init(_ other: Gemm, activation: Activation?) {
        transA = other.transA; transB = other.transB; alpha = other.alpha; beta = other.beta
        packed = other.packed
        turned = other.turned
        self.activation = activation
    }

    public var fusedActivation: Activation? { activation }

    public func fusing(_ activation: Activation) -> (any Layer)? {
        self.activation == nil ? Gemm(self, activation: activation) : nil
    }

    public func replacingConstants(_ constants: [Tensor?]) throws -> any Layer {
        Gemm(transA: transA, transB: transB, alpha: alpha, beta: beta, activation: activation, weight: constants.count > 1 ? constants[1] : nil)
    }

    func dims(_ a: [Int], _ b: [Int]) throws -> (m: Int, n: Int, k: Int) {
        guard a.count == 2, b.count == 2 else { throw LayerError("A \(a) and B \(b) must both be rank 2") }
        let (m, k) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard k == kb else { throw LayerError("inner dimensions differ: A' is [\(m), \(k)], B' is [\(kb), \(n)]") }
        return (m, n, k)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        try requireFloat(a, "A")
        let (m, n, _) = try dims(a.shape, b.shape)
        if inputs.count > 2, let c = inputs[2], Broadcast.shape([c.shape, [m, n]]) != [m, n] {
            throw LayerError("C has shape \(c.shape), which does not broadcast to [\(m), \(n)]")
        }
        return [TensorType(a.dtype, [m, n])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let c = inputs.count > 2 ? inputs[2] : nil
        let (m, n, k) = try dims(a.shape, b.shape)
        let kernel = ProductKernel([a.dtype, b.dtype, c?.dtype].compactMap { $0 }, format)
        guard case .float32 = kernel, PackedGEMM.selected.isTiles, alpha == 1 else { return GemmOp(gemm: self, m: m, n: n, k: k, kernel: kernel) }
        if !Linear.usesTiles(rows: m), !transA || m == 1, let packed,
           c == nil || beta == 0 || (beta == 1 && c?.count == n && c?.shape.last == n) {
            // Fewer than 8 rows on the packed weight, C (if any) one value per output column
            // added as a bias (B′'s rows are the tiles' rows).
            let w = packed.value
            if w.rows == n && w.depth == k && w.kernel == PackedGEMM.selected { return GemmOp(gemm: self, m: m, n: n, k: k, kernel: kernel, packed: w) }
        }
        if Linear.usesTiles(rows: m), m <= Self.turnedRowLimit, !transA, let turned {
            let t = turned.value
            if t.shape == [k, n] { return GemmOp(gemm: self, m: m, n: n, k: k, kernel: kernel, turnedB: t) }
        }
        return GemmOp(gemm: self, m: m, n: n, k: k, kernel: kernel)
    }

    public func productAxes(activationRank: Int, weightRank: Int) -> ProductAxes? {
        ProductAxes(weightChannel: transB ? 0 : 1, weightReduction: transB ? 1 : 0, activationReduction: transA ? 0 : 1)
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int {
        guard inputs.count > 1, let a = inputs[0], let b = inputs[1], let d = try? dims(a.shape, b.shape) else { return 0 }
        return d.m * d.n * d.k
    }
}

/// ONNX `MatMul` with numpy semantics: rank-1 operands are promoted, batch dimensions broadcast.
///
/// - A `[…, M, K]`, B `[…, K, N]`, Y `[broadcast(…), M, N]`.
public struct MatMul: Layer {
    public var opType: String { "MatMul" }
    public let activation: Activation?
    /// Whether input B is given as `[…, N, K]` and its transpose multiplied: the runtime's fold of
    /// a `Transpose` of the last two axes into the product (`Plan.foldTransposesIntoMatMul`); never
    /// read from a model.
    public let transposedB: Bool

    public init(activation: Activation? = nil) {
        self.activation = activation
        transposedB = false
    }

    private init(activation: Activation?, transposedB: Bool) {
        self.activation = activation
        self.transposedB = transposedB
    }

    /// This product reading B as `[…, N, K]` (see `transposedB`).
    public var readingTransposedB: MatMul { MatMul(activation: activation, transposedB: true) }

    public var fusedActivation: Activation? { activation }
    public func fusing(_ activation: Activation) -> (any Layer)? {
        self.activation == nil ? MatMul(activation: activation, transposedB: transposedB) : nil
    }

    struct Plan {
        var a: [Int], b: [Int]  // promoted to rank ≥ 2
        var batch: [Int]
        var m: Int, n: Int, k: Int
        var out: [Int]
    }

    func plan(_ a0: [Int], _ given: [Int]) throws -> Plan {
        var b0 = given
        if transposedB {
            guard b0.count >= 2 else { throw LayerError("a transposed B must have rank ≥ 2, got \(given)") }
            b0.swapAt(b0.count - 1, b0.count - 2)
        }
        guard !a0.isEmpty, !b0.isEmpty else { throw LayerError("MatMul operands must have rank ≥ 1, got \(a0) and \(b0)") }
        let a = a0.count == 1 ? [1, a0[0]] : a0
        let b = b0.count == 1 ? [b0[0], 1] : b0
        let m = a[a.count - 2], k = a[a.count - 1], kb = b[b.count - 2], n = b[b.count - 1]
        guard k == kb else { throw LayerError("inner dimensions differ: A is \(a0), B is \(b0)") }
        guard let batch = Broadcast.shape([Array(a.dropLast(2)), Array(b.dropLast(2))]) else {
            throw LayerError("batch dimensions of \(a0) and \(b0) do not broadcast")
        }
        var out = batch
        if a0.count > 1 { out.append(m) }
        if b0.count > 1 { out.append(n) }
        return Plan(a: a, b: b, batch: batch, m: m, n: n, k: k, out: out)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        guard a.dtype == b.dtype else { throw LayerError("A is \(a.dtype) and B is \(b.dtype); they must match") }
        return [TensorType(a.dtype, try plan(a.shape, b.shape).out)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }

    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let p = try plan(a.shape, b.shape)
        let kernel: ProductKernel? = a.dtype.isFloatingPoint ? ProductKernel([a.dtype, b.dtype], format) : nil
        if transposedB {
            guard case .float32? = kernel, a.dtype == .float32 else { throw LayerError("a transposed B is for float32 products, got \(a.dtype)") }
            return MatMulOp(plan: p, kernel: kernel, activation: activation, transposedB: true)
        }
        return MatMulOp(plan: p, kernel: kernel, activation: activation)
    }

    public func productAxes(activationRank: Int, weightRank: Int) -> ProductAxes? {
        ProductAxes(
            weightChannel: weightRank >= 2 ? weightRank - 1 : nil, weightReduction: max(0, weightRank - 2),
            activationReduction: max(0, activationRank - 1))
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int {
        guard inputs.count > 1, let a = inputs[0], let b = inputs[1], let p = try? plan(a.shape, b.shape) else { return 0 }
        return p.batch.product * p.m * p.n * p.k
    }
}

/// The kernel of a product op (Conv, Gemm, MatMul) for its operands' dtypes and compute format.
enum ProductKernel {
    /// Touchstone's float32 kernels (float16 or mixed operands converted in and out).
    case float32
    case float64
    case halfAccumulation
    case fp8(FP8Products)

    init(_ dtypes: [DType], _ format: ComputeFormat) {
        if dtypes.allSatisfy({ $0 == .float64 }) {
            self = .float64
        } else if dtypes.allSatisfy({ $0 == .float32 }), case .float16 = format.accumulation {
            self = .halfAccumulation
        } else if dtypes.allSatisfy({ $0 == .float32 }), case .fp8(let p) = format.accumulation {
            self = .fp8(p)
        } else {
            self = .float32
        }
    }
}

/// A Gemm ready to run.
struct GemmOp: PreparedOp {
    let gemm: Gemm
    let m: Int, n: Int, k: Int
    let kernel: ProductKernel
    /// B′ packed (`Gemm.packed`) when this product runs on it.
    var packed: PackedMatrix? = nil
    /// Bᵀ made once (`Gemm.turned`), which the tiles multiply in place of B.
    var turnedB: Tensor? = nil

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let c = inputs.count > 2 ? inputs[2] : nil
        let y = outputs[0]
        let (transA, transB, alpha) = (gemm.transA, gemm.transB, gemm.alpha)
        switch kernel {
        case .float64:
            var beta = 0.0
            if let c, gemm.beta != 0 {
                Movement.broadcast(c, into: y)
                beta = Double(gemm.beta)
            }
            Float64Kernels.matmul(a, b, into: y, m: m, n: n, k: k, transA: transA, transB: transB, alpha: Double(alpha), beta: beta)
            if let act = gemm.activation { Float64Kernels.activate(y, act) }
        case .halfAccumulation, .fp8:
            var beta: Float = 0
            if let c, gemm.beta != 0 {
                Movement.broadcast(c, into: y)
                beta = gemm.beta
            }
            if case .fp8(let p) = kernel {
                FP8Accumulation.matmul(a, b, into: y, m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta, products: p, threads: context.threads)
            } else {
                HalfAccumulation.matmul(a, b, into: y, m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta, threads: context.threads)
            }
            if let act = gemm.activation { Linear.activate(y, act) }
        case .float32:
            try withFloat32([a, b, c], y) { f, y in
                if let packed {
                    Linear.packedWeightProduct(
                        f[0]!, m: m, weights: packed, bias: gemm.beta == 0 ? nil : f[2], activation: gemm.activation,
                        into: y, threads: context.threads, scratch: context.scratch)
                    return
                }
                if tiled(f[0]!, turnedB ?? f[1]!, f[2], y, transposedB: gemm.transB && turnedB == nil, context: context) { return }
                var beta: Float = 0
                if let ct = f[2], gemm.beta != 0 {
                    Movement.broadcast(ct, into: y)
                    beta = gemm.beta
                }
                Linear.matmul(f[0]!, f[1]!, into: y, m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta, threads: context.threads)
                if let act = gemm.activation { Linear.activate(y, act) }
            }
        }
    }
}

extension GemmOp {
    /// `Y = A·B (+ C)`, then the activation, on the register tiles (`Linear.tiledMatmul`) where
    /// the product is a plain one (neither operand transposed, alpha 1, beta 1 or no C) and C is a
    /// row of N values, one value or the whole `[M, N]`: C is added after the product, as a
    /// convolution's bias is. False (nothing done) otherwise.
    /// - b: `[K, N]` (B, or Bᵀ made once: `Gemm.turned`); transposedB: it is `[N, K]` instead.
    func tiled(_ a: Tensor, _ b: Tensor, _ c: Tensor?, _ y: Tensor, transposedB: Bool, context: ExecutionContext) -> Bool {
        guard !gemm.transA, !transposedB, gemm.alpha == 1, c == nil || gemm.beta == 1, Linear.usesTiles(rows: m) else { return false }
        if let c, !(c.count == n || c.count == 1 || c.count == m * n) || (c.count == n && n > 1 && c.shape.last != n) { return false }
        Linear.tiledProduct(a, b, adding: c, into: y, m: m, n: n, k: k, activation: c == nil ? gemm.activation : nil,
                            threads: context.threads, scratch: context.scratch)
        guard c != nil else { return true }
        if let act = gemm.activation { Linear.activate(y, act) }
        return true
    }
}

/// A MatMul ready to run; integer operands when `kernel` is nil.
struct MatMulOp: PreparedOp {
    let plan: MatMul.Plan
    let kernel: ProductKernel?
    let activation: Activation?
    /// Whether B is given transposed (`MatMul.transposedB`).
    var transposedB = false

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        var bShape = plan.b
        if transposedB { bShape.swapAt(bShape.count - 1, bShape.count - 2) }
        let a = try required(inputs, 0, "A").reshaped(plan.a), b = try required(inputs, 1, "B").reshaped(bShape)
        let y = outputs[0]
        let p = plan
        switch kernel {
        case nil:
            Linear.integerMatmul(a, b, into: y, plan: (p.batch, p.m, p.n, p.k))
        case .float64?:
            Float64Kernels.batchedMatmul(a, b, into: y, batch: p.batch, m: p.m, n: p.n, k: p.k)
            if let act = activation { Float64Kernels.activate(y, act) }
        case .halfAccumulation?:
            HalfAccumulation.batchedMatmul(a, b, into: y, batch: p.batch, m: p.m, n: p.n, k: p.k, threads: context.threads)
            if let act = activation { Linear.activate(y, act) }
        case .fp8(let products)?:
            FP8Accumulation.batchedMatmul(a, b, into: y, batch: p.batch, m: p.m, n: p.n, k: p.k, products: products, threads: context.threads)
            if let act = activation { Linear.activate(y, act) }
        case .float32?:
            try withFloat32([a, b], y) { f, y in
                Linear.batchedMatmul(f[0]!, f[1]!, into: y, batch: p.batch, m: p.m, n: p.n, k: p.k, threads: context.threads,
                                     activation: activation, scratch: context.scratch, transposedB: transposedB)
            }
        }
    }
}
