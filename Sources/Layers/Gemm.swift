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

    public init(transA: Bool, transB: Bool, alpha: Float, beta: Float, activation: Activation? = nil) {
        self.transA = transA; self.transB = transB; self.alpha = alpha; self.beta = beta
        self.activation = activation
    }

    public var fusedActivation: Activation? { activation }

    public func fusing(_ activation: Activation) -> (any Layer)? {
        self.activation == nil ? Gemm(transA: transA, transB: transB, alpha: alpha, beta: beta, activation: activation) : nil
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
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let c = inputs.count > 2 ? inputs[2] : nil
        let (m, n, k) = try dims(a.shape, b.shape)
        if isFloat64([a, b, c], outputs[0]) {
            let y = outputs[0]
            var betaUsed = 0.0
            if let c, beta != 0 {
                Movement.broadcast(c, into: y)
                betaUsed = Double(beta)
            }
            Float64Kernels.matmul(a, b, into: y, m: m, n: n, k: k, transA: transA, transB: transB, alpha: Double(alpha), beta: betaUsed)
            if let act = activation { Float64Kernels.activate(y, act) }
            return
        }
        try withFloat32([a, b, c], outputs[0]) { f, y in
            var betaUsed: Float = 0
            if let ct = f[2], beta != 0 {
                Movement.broadcast(ct, into: y)
                betaUsed = beta
            }
            Linear.matmul(f[0]!, f[1]!, into: y, m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: betaUsed, threads: context.threads)
            if let act = activation { Linear.activate(y, act) }
        }
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

    public init(activation: Activation? = nil) { self.activation = activation }

    public var fusedActivation: Activation? { activation }
    public func fusing(_ activation: Activation) -> (any Layer)? { self.activation == nil ? MatMul(activation: activation) : nil }

    struct Plan {
        var a: [Int], b: [Int]  // promoted to rank ≥ 2
        var batch: [Int]
        var m: Int, n: Int, k: Int
        var out: [Int]
    }

    func plan(_ a0: [Int], _ b0: [Int]) throws -> Plan {
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
        let a = try required(inputs, 0, "A"), b = try required(inputs, 1, "B")
        let p = try plan(a.shape, b.shape)
        if !a.dtype.isFloatingPoint {
            Linear.integerMatmul(a.reshaped(p.a), b.reshaped(p.b), into: outputs[0], plan: (p.batch, p.m, p.n, p.k))
            return
        }
        if isFloat64([a, b], outputs[0]) {
            Float64Kernels.batchedMatmul(a.reshaped(p.a), b.reshaped(p.b), into: outputs[0], batch: p.batch, m: p.m, n: p.n, k: p.k)
            if let act = activation { Float64Kernels.activate(outputs[0], act) }
            return
        }
        try withFloat32([a, b], outputs[0]) { f, y in
            Linear.batchedMatmul(f[0]!.reshaped(p.a), f[1]!.reshaped(p.b), into: y, batch: p.batch, m: p.m, n: p.n, k: p.k, threads: context.threads)
            if let act = activation { Linear.activate(y, act) }
        }
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int {
        guard inputs.count > 1, let a = inputs[0], let b = inputs[1], let p = try? plan(a.shape, b.shape) else { return 0 }
        return p.batch.product * p.m * p.n * p.k
    }
}
