import Foundation
import TensorCore

// The recurrent building blocks of linear-attention and state-space language models (ONNX
// opset 27): a causal depthwise convolution that carries its last inputs, and the linear
// attention recurrences. Both compute in float32 (float64 inputs too, as ONNX's reference does for
// LinearAttention) and round their outputs to the inputs' type once.

/// Input `i`'s values as Float (its type was checked when the layer was planned).
func floats(_ inputs: [Tensor?], _ i: Int, _ what: String) throws -> [Float] {
    try required(inputs, i, what).scalars(as: Float.self)
}

/// ONNX `CausalConvWithState`: input `(B, C, L)` after `past_state` `(B, C, k − 1)` (zeros when
/// absent), convolved per channel with weight `(C, 1, k)` (and bias), SiLU optional;
/// `present_state` is the last k − 1 positions of that padded sequence.
public struct CausalConvWithState: Layer {
    public var opType: String { "CausalConvWithState" }
    public let silu: Bool
    public init(silu: Bool) { self.silu = silu }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try tensorType(inputs, 0, "input"), w = try tensorType(inputs, 1, "weight")
        try requireFloat(x, "input")
        guard x.shape.count == 3 else { throw LayerError("input has shape \(x.shape), expected (batch, channels, length)") }
        let (b, c) = (x.shape[0], x.shape[1])
        guard w.shape.count == 3, w.shape[0] == c, w.shape[1] == 1, w.shape[2] >= 1 else {
            throw LayerError("weight has shape \(w.shape), expected (\(c), 1, k) with k ≥ 1")
        }
        let k = w.shape[2]
        if inputs.count > 2, let bias = inputs[2], bias.shape != [c] { throw LayerError("bias has shape \(bias.shape), expected [\(c)]") }
        if inputs.count > 3, let past = inputs[3], past.shape != [b, c, k - 1] {
            throw LayerError("past_state has shape \(past.shape), expected [\(b), \(c), \(k - 1)]")
        }
        for (i, t) in inputs.enumerated() where i > 0 { if let t, t.dtype != x.dtype { throw LayerError("input \(i) is \(t.dtype), input 0 is \(x.dtype)") } }
        return [x, TensorType(x.dtype, [b, c, k - 1])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let (b, c, l) = (x.shape[0], x.shape[1], x.shape[2])
        let k = try required(inputs, 1, "weight").shape[2]
        let xs = try floats(inputs, 0, "input"), w = try floats(inputs, 1, "weight")
        let bias = inputs.count > 2 ? inputs[2]?.scalars(as: Float.self) : nil
        let past = inputs.count > 3 ? inputs[3]?.scalars(as: Float.self) : nil
        let padded = l + k - 1
        var y = [Float](repeating: 0, count: b * c * l), state = [Float](repeating: 0, count: b * c * (k - 1))
        var row = [Float](repeating: 0, count: padded)
        for bi in 0..<b {
            for ci in 0..<c {
                let r = bi * c + ci
                for j in 0..<(k - 1) { row[j] = past?[r * (k - 1) + j] ?? 0 }
                for t in 0..<l { row[k - 1 + t] = xs[r * l + t] }
                for t in 0..<l {
                    var acc = bias?[ci] ?? 0
                    for j in 0..<k { acc += w[ci * k + j] * row[t + j] }
                    y[r * l + t] = acc
                }
                for j in 0..<(k - 1) { state[r * (k - 1) + j] = row[padded - (k - 1) + j] }
            }
        }
        let conv = Tensor(shape: x.shape, scalars: y).converted(to: x.dtype)
        if silu {
            // SiLU of the convolution rounded to the input's type, in float32, rounded again.
            let v = conv.scalars(as: Float.self)
            Tensor(shape: x.shape, scalars: v.map { $0 * (1 / (1 + exp(-$0))) }).convert(into: outputs[0])
        } else {
            conv.convert(into: outputs[0])
        }
        if outputs.count > 1 { Tensor(shape: [b, c, k - 1], scalars: state).convert(into: outputs[1]) }
    }
}

/// ONNX `LinearAttention`: per token, the state `(B, H_kv, d_k, d_v)` decays by exp(decay)
/// (`gated`, `gated_delta`), the value is corrected by what the state already holds for the key
/// and weighted by beta (`delta`, `gated_delta`), the state gains key ⊗ value, and each query
/// head reads `scale · qᵀS` from its key/value head (`q_num_heads / kv_num_heads` query heads per
/// KV head). query, key, value, decay, beta are packed `(B, T, H·D)`; output `(B, T, H_q·d_v)` and
/// `present_state`. In float32, as ONNX's reference computes it; the state comes out in
/// past_state's type (query's when absent).
public struct LinearAttention: Layer {
    public enum Rule: String, Sendable { case linear, gated, delta, gatedDelta = "gated_delta" }
    public var opType: String { "LinearAttention" }
    public let rule: Rule
    public let qHeads: Int, kvHeads: Int
    public let scale: Float?

    public init(rule: Rule, qHeads: Int, kvHeads: Int, scale: Float?) throws {
        guard qHeads > 0, kvHeads > 0, qHeads % kvHeads == 0, qHeads <= 1 << 16 else {
            throw LayerError("q_num_heads \(qHeads) must be a positive multiple of kv_num_heads \(kvHeads)")
        }
        self.rule = rule
        self.qHeads = qHeads
        self.kvHeads = kvHeads
        self.scale = scale.flatMap { $0 == 0 ? nil : $0 }
    }

    var gating: Bool { rule == .gated || rule == .gatedDelta }
    var correcting: Bool { rule == .delta || rule == .gatedDelta }

    /// (B, T, d_k, d_v) after checking every input's shape.
    func dimensions(_ inputs: [TensorType?]) throws -> (b: Int, t: Int, dk: Int, dv: Int) {
        let q = try tensorType(inputs, 0, "query"), k = try tensorType(inputs, 1, "key"), v = try tensorType(inputs, 2, "value")
        try requireFloat(q, "query")
        for (name, t) in [("query", q), ("key", k), ("value", v)] where t.shape.count != 3 || t.dtype != q.dtype {
            throw LayerError("\(name) is \(t), expected a rank-3 \(q.dtype) tensor (B, T, H·D)")
        }
        let (b, t) = (q.shape[0], q.shape[1])
        guard q.shape[2] % qHeads == 0, v.shape[2] % kvHeads == 0 else {
            throw LayerError("query's last dimension \(q.shape[2]) and value's \(v.shape[2]) must divide by \(qHeads) and \(kvHeads) heads")
        }
        let dk = q.shape[2] / qHeads, dv = v.shape[2] / kvHeads
        guard k.shape == [b, t, kvHeads * dk], v.shape[0] == b, v.shape[1] == t else {
            throw LayerError("key \(k.shape) and value \(v.shape) must be [\(b), \(t), \(kvHeads)·d] with d_k \(dk)")
        }
        if inputs.count > 3, let past = inputs[3], past.shape != [b, kvHeads, dk, dv] {
            throw LayerError("past_state has shape \(past.shape), expected [\(b), \(kvHeads), \(dk), \(dv)]")
        }
        let decay = inputs.count > 4 ? inputs[4] : nil, beta = inputs.count > 5 ? inputs[5] : nil
        guard (decay != nil) == gating, (beta != nil) == correcting else {
            throw LayerError("update_rule '\(rule.rawValue)' \(gating ? "needs" : "takes no") decay and \(correcting ? "needs" : "takes no") beta")
        }
        if let decay, decay.shape != [b, t, kvHeads], decay.shape != [b, t, kvHeads * dk] {
            throw LayerError("decay has shape \(decay.shape), expected [\(b), \(t), \(kvHeads)] or [\(b), \(t), \(kvHeads * dk)]")
        }
        if let beta, beta.shape != [b, t, kvHeads], beta.shape != [b, t, 1] {
            throw LayerError("beta has shape \(beta.shape), expected [\(b), \(t), \(kvHeads)] or [\(b), \(t), 1]")
        }
        return (b, t, dk, dv)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let (b, t, dk, dv) = try dimensions(inputs)
        let q = try tensorType(inputs, 0, "query")
        let stateType = (inputs.count > 3 ? inputs[3]?.dtype : nil) ?? q.dtype
        return [TensorType(q.dtype, [b, t, qHeads * dv]), TensorType(stateType, [b, kvHeads, dk, dv])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let (b, t, dk, dv) = try dimensions(types(of: inputs))
        let q = try floats(inputs, 0, "query"), k = try floats(inputs, 1, "key"), v = try floats(inputs, 2, "value")
        let decay = inputs.count > 4 ? inputs[4] : nil, beta = inputs.count > 5 ? inputs[5] : nil
        let g = decay?.scalars(as: Float.self), gWidth = decay?.shape[2] ?? 0
        let be = beta?.scalars(as: Float.self), beWidth = beta?.shape[2] ?? 0
        let s = scale ?? 1 / Float(dk).squareRoot()
        var state = (inputs.count > 3 ? inputs[3]?.scalars(as: Float.self) : nil) ?? [Float](repeating: 0, count: b * kvHeads * dk * dv)
        var out = [Float](repeating: 0, count: b * t * qHeads * dv)
        let group = qHeads / kvHeads
        var value = [Float](repeating: 0, count: dv)
        for bi in 0..<b {
            for ti in 0..<t {
                for h in 0..<kvHeads {
                    let base = (bi * kvHeads + h) * dk * dv
                    let kOff = (bi * t + ti) * kvHeads * dk + h * dk
                    if let g {
                        // Per head: one factor; per key dimension: a factor for each row of S.
                        let gOff = (bi * t + ti) * gWidth
                        for d in 0..<dk {
                            let factor = exp(gWidth == kvHeads ? g[gOff + h] : g[gOff + h * dk + d])
                            for m in 0..<dv { state[base + d * dv + m] *= factor }
                        }
                    }
                    let vOff = (bi * t + ti) * kvHeads * dv + h * dv
                    for m in 0..<dv { value[m] = v[vOff + m] }
                    if let be {
                        let rate = be[(bi * t + ti) * beWidth + (beWidth == 1 ? 0 : h)]
                        for m in 0..<dv {
                            var retrieved: Float = 0
                            for d in 0..<dk { retrieved += state[base + d * dv + m] * k[kOff + d] }
                            value[m] = rate * (value[m] - retrieved)
                        }
                    }
                    for d in 0..<dk { for m in 0..<dv { state[base + d * dv + m] += k[kOff + d] * value[m] } }
                    for qh in (h * group)..<((h + 1) * group) {
                        let qOff = (bi * t + ti) * qHeads * dk + qh * dk
                        let oOff = (bi * t + ti) * qHeads * dv + qh * dv
                        for m in 0..<dv {
                            var acc: Float = 0
                            for d in 0..<dk { acc += q[qOff + d] * state[base + d * dv + m] }
                            out[oOff + m] = s * acc
                        }
                    }
                }
            }
        }
        Tensor(shape: [b, t, qHeads * dv], scalars: out).convert(into: outputs[0])
        if outputs.count > 1 { Tensor(shape: [b, kvHeads, dk, dv], scalars: state).convert(into: outputs[1]) }
    }
}
