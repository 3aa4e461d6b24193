import Foundation
import TensorCore

/// ONNX `Attention` (opsets 23–25): scaled dot-product attention with masks, a key/value cache,
/// grouped key/value heads, softcap and sliding windows.
///
/// - Q `[B, Sq, Hq·D]` with K, V `[B, Skv, Hkv·D]` (3-D: `q_num_heads`, `kv_num_heads` given) or
///   Q `[B, Hq, Sq, D]`, K `[B, Hkv, Skv, D]`, V `[B, Hkv, Skv, Dv]`; attn_mask (bool: true attends;
///   or float, added) broadcastable to `[B, Hq, Sq, Skv_total]`, its last axis padded as masked when
///   shorter; past_key/past_value `[B, Hkv, Spast, D]`; nonpad_kv_seqlen `[B]` (opset 24).
/// - Y like Q (with Dv); present_key/present_value the cache with the new keys/values appended;
///   qk_matmul_output `[B, Hq, Sq, Skv_total]`: the (softcapped) scores for mode 0 and 1, plus the
///   mask for mode 2, the softmax for mode 3.
/// Rows with every key masked give 0. Computed in Double and rounded once to the output type.
public struct Attention: Layer {
    public var opType: String { "Attention" }
    public let scale: Double?
    public let isCausal: Bool
    public let qHeads: Int?, kvHeads: Int?
    public let softcap: Double
    public let qkOutputMode: Int
    public let leftWindow: Int, rightWindow: Int

    public init(scale: Double?, isCausal: Bool, qHeads: Int?, kvHeads: Int?, softcap: Double, qkOutputMode: Int, leftWindow: Int, rightWindow: Int) throws {
        guard (0...3).contains(qkOutputMode) else { throw LayerError("qk_matmul_output_mode is \(qkOutputMode), expected 0 to 3") }
        guard leftWindow >= -1, rightWindow >= -1 else { throw LayerError("window sizes must be -1 or non-negative") }
        self.scale = scale
        self.isCausal = isCausal
        self.qHeads = qHeads
        self.kvHeads = kvHeads
        self.softcap = softcap
        self.qkOutputMode = qkOutputMode
        self.leftWindow = leftWindow
        self.rightWindow = rightWindow
    }

    struct Shape {
        var batch = 0, qHeads = 0, kvHeads = 0, qLength = 0, kvLength = 0, pastLength = 0, headSize = 0, valueSize = 0
        var rank3 = false
        var total: Int { pastLength + kvLength }
    }

    func resolve(_ inputs: [TensorType?]) throws -> Shape {
        let q = try required(inputs, 0, "Q"), k = try required(inputs, 1, "K"), v = try required(inputs, 2, "V")
        try requireFloat(q, "Q")
        guard q.shape.count == k.shape.count, k.shape.count == v.shape.count, q.shape.count == 3 || q.shape.count == 4 else {
            throw LayerError("Q \(q.shape), K \(k.shape), V \(v.shape) must all be 3-D or all 4-D")
        }
        var s = Shape()
        s.batch = q.shape[0]
        guard k.shape[0] == s.batch, v.shape[0] == s.batch else { throw LayerError("Q, K and V have different batch sizes") }
        if q.shape.count == 3 {
            guard let hq = qHeads, let hkv = kvHeads, hq > 0, hkv > 0 else { throw LayerError("3-D inputs need q_num_heads and kv_num_heads") }
            guard q.shape[2] % hq == 0, k.shape[2] % hkv == 0, v.shape[2] % hkv == 0 else {
                throw LayerError("hidden sizes \(q.shape[2]), \(k.shape[2]), \(v.shape[2]) are not divisible by the head counts \(hq), \(hkv)")
            }
            s.rank3 = true
            s.qHeads = hq; s.kvHeads = hkv; s.qLength = q.shape[1]; s.kvLength = k.shape[1]
            s.headSize = q.shape[2] / hq; s.valueSize = v.shape[2] / hkv
            guard k.shape[2] / hkv == s.headSize, v.shape[1] == s.kvLength else { throw LayerError("K \(k.shape) and V \(v.shape) do not match Q \(q.shape)") }
        } else {
            s.qHeads = q.shape[1]; s.kvHeads = k.shape[1]; s.qLength = q.shape[2]; s.kvLength = k.shape[2]
            s.headSize = q.shape[3]; s.valueSize = v.shape[3]
            guard k.shape[3] == s.headSize, v.shape[1] == s.kvHeads, v.shape[2] == s.kvLength else {
                throw LayerError("K \(k.shape) and V \(v.shape) do not match Q \(q.shape)")
            }
        }
        guard s.kvHeads > 0, s.qHeads % s.kvHeads == 0 else { throw LayerError("q heads \(s.qHeads) are not a multiple of kv heads \(s.kvHeads)") }
        if inputs.count > 4, let pk = inputs[4] {
            guard inputs.count > 5, let pv = inputs[5] else { throw LayerError("past_key and past_value come together") }
            guard pk.shape.count == 4, pk.shape[0] == s.batch, pk.shape[1] == s.kvHeads, pk.shape[3] == s.headSize,
                  pv.shape == [s.batch, s.kvHeads, pk.shape[2], s.valueSize] else {
                throw LayerError("past_key \(pk.shape) and past_value \(pv.shape) do not match the heads and sizes")
            }
            s.pastLength = pk.shape[2]
        }
        if inputs.count > 3, let m = inputs[3] {
            guard (1...4).contains(m.shape.count), m.shape[m.shape.count - 1] <= s.total,
                  Broadcast.shape([Array(m.shape.dropLast()), [s.batch, s.qHeads, s.qLength]]) == [s.batch, s.qHeads, s.qLength] else {
                throw LayerError("attn_mask \(m.shape) does not broadcast to [\(s.batch), \(s.qHeads), \(s.qLength), \(s.total)]")
            }
        }
        return s
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let s = try resolve(inputs)
        let dtype = try required(inputs, 0, "Q").dtype
        let y = s.rank3 ? [s.batch, s.qLength, s.qHeads * s.valueSize] : [s.batch, s.qHeads, s.qLength, s.valueSize]
        return [
            TensorType(dtype, y), TensorType(dtype, [s.batch, s.kvHeads, s.total, s.headSize]),
            TensorType(dtype, [s.batch, s.kvHeads, s.total, s.valueSize]), TensorType(dtype, [s.batch, s.qHeads, s.qLength, s.total]),
        ]
    }

    /// Resolves the heads, lengths and sizes once per plan (`AttentionOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        AttentionOp(layer: self, shape: try resolve(inputs))
    }

    /// float32 computes in Float (the exponentials and tanh rounded from Double), float64 in
    /// Double; float16 and bfloat16 in Double with every step of ONNX's reference formula rounded
    /// to the type (`ScaledDotProductAttention.Rounding`).
    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try AttentionOp(layer: self, shape: try resolve(types(of: inputs))).run(inputs, outputs: outputs, context: context)
    }

    /// The additive bias of each (batch, head, query, key): 0 or −∞ from a bool mask, a float mask's
    /// value, −∞ outside the causal frontier or the sliding window, and past the non-padded length.
    func maskBias(_ inputs: [Tensor?], _ s: Shape) throws -> (Int, Int, Int, Int) -> Double {
        var mask: (Int, Int, Int, Int) -> Double = { _, _, _, _ in 0 }
        if inputs.count > 3, let m = inputs[3] {
            let isBool = m.dtype == .bool
            let raw = m.doubles()
            let width = m.shape.last ?? 1
            let lead = [Int](repeating: 1, count: 4 - m.shape.count) + m.shape
            let strides = contiguousStrides(lead)
            mask = { b, h, i, j in
                guard j < width else { return -.infinity }  // a shorter mask pads as masked
                let o = (lead[0] == 1 ? 0 : b * strides[0]) + (lead[1] == 1 ? 0 : h * strides[1]) + (lead[2] == 1 ? 0 : i * strides[2]) + j
                return isBool ? (raw[o] != 0 ? 0 : -.infinity) : raw[o]
            }
        }
        let nonpad: [Int]? = inputs.count > 6 ? inputs[6].map { $0.int64s().map { Int(clamping: $0) } } : nil
        if let n = nonpad, n.count != s.batch { throw LayerError("nonpad_kv_seqlen has \(n.count) values, expected the batch size \(s.batch)") }
        // Where query i sits among the keys: after the cache, or aligned to the non-padded end.
        let offset: (Int) -> Int = { b in nonpad.map { $0[b] - s.qLength } ?? s.pastLength }
        let causal = isCausal, left = leftWindow, right = rightWindow
        return { b, h, i, j in
            var bias = mask(b, h, i, j)
            let diff = i + offset(b) - j
            if causal && diff < 0 { bias = -.infinity }
            if left >= 0 && diff > left { bias = -.infinity }
            if right >= 0 && -diff > right { bias = -.infinity }
            if let n = nonpad, j >= n[b] { bias = -.infinity }
            return bias
        }
    }
}

/// An `Attention` ready to run: its shape resolved; the operands laid out as
/// `ScaledDotProductAttention` reads them on each run (Q as `[B, Hq, Sq, D]`, the caches with the
/// new keys and values appended), and the result laid out back as Q's.
struct AttentionOp: PreparedOp {
    let layer: Attention
    let shape: Attention.Shape

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        if outputs[0].dtype == .float32 { try compute(Float.self, inputs, outputs) } else { try compute(Double.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let s = shape
        let (q, k, v) = (try required(inputs, 0, "Q").scalars(as: T.self), try required(inputs, 1, "K").scalars(as: T.self), try required(inputs, 2, "V").scalars(as: T.self))
        let total = s.total
        let queries = s.rank3 ? ScaledDotProductAttention.headsFirst(q, batch: s.batch, heads: s.qHeads, length: s.qLength, size: s.headSize) : q
        // The caches: past then new, [B, Hkv, total, D].
        let pastK = inputs.count > 4 ? inputs[4]?.scalars(as: T.self) : nil, pastV = inputs.count > 5 ? inputs[5]?.scalars(as: T.self) : nil
        let keys = ScaledDotProductAttention.appendCache(
            past: pastK, new: k, batch: s.batch, heads: s.kvHeads, pastLength: s.pastLength, newLength: s.kvLength, size: s.headSize, sequenceFirst: s.rank3)
        let values = ScaledDotProductAttention.appendCache(
            past: pastV, new: v, batch: s.batch, heads: s.kvHeads, pastLength: s.pastLength, newLength: s.kvLength, size: s.valueSize, sequenceFirst: s.rank3)
        let dtype = outputs[0].dtype
        let rounding: ScaledDotProductAttention.Rounding<T>? = dtype == .float16 ? { T(Float(Float16(Float($0)))) }
            : dtype == .bfloat16 ? { T(BFloat16(Float($0)).floatValue) } : nil
        let geometry = ScaledDotProductAttention.Geometry(
            batch: s.batch, qHeads: s.qHeads, kvHeads: s.kvHeads, qLength: s.qLength, keyLength: total, headSize: s.headSize, valueSize: s.valueSize)
        var y: [T] = [], qk: [T] = []
        ScaledDotProductAttention.compute(
            q: queries, keys: keys, values: values, geometry: geometry, scale: layer.scale ?? 1 / Double(s.headSize).squareRoot(),
            softcap: layer.softcap, bias: try layer.maskBias(inputs, s), rounding: rounding,
            scoresOutput: ScaledDotProductAttention.ScoresOutput(rawValue: layer.qkOutputMode) ?? .scores, y: &y, scores: &qk)
        if s.rank3 { y = ScaledDotProductAttention.sequenceFirst(y, batch: s.batch, heads: s.qHeads, length: s.qLength, size: s.valueSize) }
        Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
        if outputs.count > 1 { Tensor(shape: outputs[1].shape, scalars: keys).convert(into: outputs[1]) }
        if outputs.count > 2 { Tensor(shape: outputs[2].shape, scalars: values).convert(into: outputs[2]) }
        if outputs.count > 3 { Tensor(shape: outputs[3].shape, scalars: qk).convert(into: outputs[3]) }
    }
}

/// ONNX `RotaryEmbedding` (opset 23): rotates the first `rotary_embedding_dim` features of each
/// head by the angles whose cosines and sines the caches hold.
///
/// - input `[B, H, S, D]` or `[B, S, H·D]` (with `num_heads`); cos_cache, sin_cache `[P, R/2]`
///   indexed by position_ids `[B, S]`, or `[B, S, R/2]` without them; output like input.
/// - Pairs are `(x[k], x[k + R/2])`, or `(x[2k], x[2k+1])` when `interleaved`; each becomes
///   `(cos·a − sin·b, sin·a + cos·b)`; features from R on pass through.
public struct RotaryEmbedding: Layer {
    public var opType: String { "RotaryEmbedding" }
    public let interleaved: Bool
    public let rotaryDim: Int
    public let heads: Int

    public init(interleaved: Bool, rotaryDim: Int, heads: Int) {
        self.interleaved = interleaved
        self.rotaryDim = rotaryDim
        self.heads = heads
    }

    /// (batch, sequence, heads, head size, rotated features).
    func layout(_ inputs: [TensorType?]) throws -> (Int, Int, Int, Int, Int) {
        let x = try required(inputs, 0, "input"), c = try required(inputs, 1, "cos_cache"), s = try required(inputs, 2, "sin_cache")
        try requireFloat(x, "input")
        let (b, seq, h, d): (Int, Int, Int, Int)
        if x.shape.count == 4 {
            (b, h, seq, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        } else if x.shape.count == 3 {
            guard heads > 0, x.shape[2] % heads == 0 else { throw LayerError("3-D input \(x.shape) needs num_heads dividing its last dimension") }
            (b, seq, h, d) = (x.shape[0], x.shape[1], heads, x.shape[2] / heads)
        } else {
            throw LayerError("input has shape \(x.shape), expected [B, H, S, D] or [B, S, H·D]")
        }
        let r = rotaryDim == 0 ? d : rotaryDim
        guard r <= d, r % 2 == 0 else { throw LayerError("rotary_embedding_dim \(r) must be even and at most the head size \(d)") }
        guard c.shape == s.shape, c.shape.last == r / 2 else { throw LayerError("cos_cache \(c.shape) and sin_cache \(s.shape) must end in R/2 = \(r / 2)") }
        if inputs.count > 3, let p = inputs[3] {
            guard p.shape == [b, seq], c.shape.count == 2 else { throw LayerError("position_ids \(p.shape) must be [\(b), \(seq)] with 2-D caches") }
        } else {
            guard c.shape == [b, seq, r / 2] else { throw LayerError("without position_ids the caches must be [\(b), \(seq), \(r / 2)], they are \(c.shape)") }
        }
        return (b, seq, h, d, r)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        _ = try layout(inputs)
        return [try required(inputs, 0, "input")]
    }

    /// Resolves the layout once per plan (`RotaryEmbeddingOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let (b, seq, h, d, r) = try layout(inputs)
        let x = try required(inputs, 0, "input"), c = try required(inputs, 1, "cos_cache")
        return RotaryEmbeddingOp(
            layout: Rotary.Layout(batch: b, sequence: seq, heads: h, headSize: d, rotated: r, headsFirst: x.shape.count == 4),
            rows: inputs.count > 3 && inputs[3] != nil ? c.shape[0] : b * seq, interleaved: interleaved)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// A `RotaryEmbedding` ready to run: the layout and the caches' row count; the kernel is
/// `Rotary.apply`, in Float (Double for float64 input).
struct RotaryEmbeddingOp: PreparedOp {
    let layout: Rotary.Layout
    let rows: Int
    let interleaved: Bool

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        if try required(inputs, 0, "input").dtype == .float64 { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "input")
        let positions = try (inputs.count > 3 ? inputs[3] : nil).map { ids in
            try ids.int64s().map { v -> Int in
                let p = Int(clamping: v)
                guard p >= 0 && p < rows else { throw LayerError("position \(p) is outside the caches' \(rows) rows") }
                return p
            }
        }
        var v = x.scalars(as: T.self)
        let cos = try required(inputs, 1, "cos_cache").scalars(as: T.self), sin = try required(inputs, 2, "sin_cache").scalars(as: T.self)
        Rotary.apply(&v, cos: cos, sin: sin, positions: positions, layout: layout, interleaved: interleaved)
        Tensor(shape: x.shape, scalars: v).convert(into: outputs[0])
    }
}
