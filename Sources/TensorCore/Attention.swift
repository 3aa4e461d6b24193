import Foundation

/// Scaled dot-product attention over laid-out operands: the kernel of ONNX `Attention`, beside a
/// naive twin in Double.
///
/// Q `[B, Hq, Sq, D]`, keys `[B, Hkv, T, D]`, values `[B, Hkv, T, Dv]` (T the whole key length, a
/// cache included), query head h reading key/value head h / (Hq / Hkv). For each query row:
/// scores `q·k·scale` (softcapped `c·tanh(s/c)` when `softcap` > 0), plus the additive `bias`
/// (−∞ masks), a softmax (a row with every key masked gives 0), and the probabilities' weighted
/// sum of the values. Computed in `T`; exponentials and tanh are rounded from Double.
public enum ScaledDotProductAttention {
    public struct Geometry: Sendable {
        public var batch: Int, qHeads: Int, kvHeads: Int, qLength: Int, keyLength: Int, headSize: Int, valueSize: Int
        public init(batch: Int, qHeads: Int, kvHeads: Int, qLength: Int, keyLength: Int, headSize: Int, valueSize: Int) {
            self.batch = batch
            self.qHeads = qHeads
            self.kvHeads = kvHeads
            self.qLength = qLength
            self.keyLength = keyLength
            self.headSize = headSize
            self.valueSize = valueSize
        }
    }

    /// What `scores` receives, per ONNX's `qk_matmul_output_mode`.
    public enum ScoresOutput: Int, Sendable { case scores = 0, maskedScores = 1, biasedScores = 2, probabilities = 3 }

    /// Rounds every step to a narrower type (float16, bfloat16), as ONNX's reference formula does
    /// in that type: Q and K each scaled by √scale and rounded, then the scores, the biased
    /// scores, the exponentials, their sum and the probabilities. nil: compute in `T` throughout.
    public typealias Rounding<T> = (T) -> T

    /// - y `[B, Hq, Sq, Dv]`, fully written; scores `[B, Hq, Sq, T]` (see `ScoresOutput`).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func compute<T: BinaryFloatingPoint>(
        q: [T], keys: [T], values: [T], geometry g: Geometry, scale: Double, softcap: Double,
        bias: (Int, Int, Int, Int) -> Double, rounding: Rounding<T>?, scoresOutput: ScoresOutput,
        y: inout [T], scores qk: inout [T]
    ) {
        let total = g.keyLength
        let round: (T) -> T = rounding ?? { $0 }
        let lowPrecision = rounding != nil
        let factor = T(scale)
        let rootFactor = round(T(Float(scale.squareRoot())))
        let group = g.qHeads / g.kvHeads
        y = [T](repeating: 0, count: g.batch * g.qHeads * g.qLength * g.valueSize)
        qk = [T](repeating: 0, count: g.batch * g.qHeads * g.qLength * total)
        var logits = [T](repeating: 0, count: total)
        for b in 0..<g.batch {
            for h in 0..<g.qHeads {
                let kh = h / group
                for i in 0..<g.qLength {
                    let row = ((b * g.qHeads + h) * g.qLength + i) * total
                    let qRow = ((b * g.qHeads + h) * g.qLength + i) * g.headSize
                    var allMasked = true
                    for j in 0..<total {
                        let kRow = ((b * g.kvHeads + kh) * total + j) * g.headSize
                        var dot: T = 0
                        for d in 0..<g.headSize {
                            let qv = q[qRow + d], kv = keys[kRow + d]
                            dot += lowPrecision ? round(qv * rootFactor) * round(kv * rootFactor) : qv * kv
                        }
                        var score = lowPrecision ? round(dot) : dot * factor
                        if softcap > 0 { score = round(T(softcap * Foundation.tanh(Double(score) / softcap))) }
                        let m = T(bias(b, h, i, j))
                        if m != -.infinity { allMasked = false }
                        logits[j] = round(score + m)
                        qk[row + j] = scoresOutput == .biasedScores ? score + m : score
                    }
                    // Softmax; a row whose every key is masked attends to nothing.
                    let top = logits.max() ?? 0
                    var sum: T = 0
                    for j in 0..<total {
                        logits[j] = allMasked || top == -.infinity ? 0 : round(T(Foundation.exp(Double(round(logits[j] - top)))))
                        sum += logits[j]
                    }
                    sum = round(sum)
                    let yRow = ((b * g.qHeads + h) * g.qLength + i) * g.valueSize
                    for j in 0..<total {
                        let p = allMasked || sum == 0 ? 0 : round(logits[j] / sum)
                        if scoresOutput == .probabilities { qk[row + j] = p }
                        if p == 0 { continue }
                        let vRow = ((b * g.kvHeads + kh) * total + j) * g.valueSize
                        for d in 0..<g.valueSize { y[yRow + d] += p * values[vRow + d] }
                    }
                }
            }
        }
    }

    /// The naive twin: softmax(q·kᵀ·scale + bias)·v in Double from the definition (the softmax
    /// normalised by its largest logit, masked rows 0), without softcap or narrow rounding.
    public static func reference(q: [Double], keys: [Double], values: [Double], geometry g: Geometry, scale: Double,
                                 bias: (Int, Int, Int, Int) -> Double) -> [Double] {
        var y = [Double](repeating: 0, count: g.batch * g.qHeads * g.qLength * g.valueSize)
        for b in 0..<g.batch { for h in 0..<g.qHeads { for i in 0..<g.qLength {
            let kh = h * g.kvHeads / g.qHeads
            let logits = (0..<g.keyLength).map { j -> Double in
                let dot = (0..<g.headSize).reduce(0.0) { acc, d in
                    acc + q[((b * g.qHeads + h) * g.qLength + i) * g.headSize + d] * keys[((b * g.kvHeads + kh) * g.keyLength + j) * g.headSize + d]
                }
                return dot * scale + bias(b, h, i, j)
            }
            guard let top = logits.max(), top > -.infinity else { continue }
            let e = logits.map { Foundation.exp($0 - top) }
            let sum = e.reduce(0, +)
            for d in 0..<g.valueSize {
                y[((b * g.qHeads + h) * g.qLength + i) * g.valueSize + d] = (0..<g.keyLength).reduce(0.0) { acc, j in
                    acc + e[j] / sum * values[((b * g.kvHeads + kh) * g.keyLength + j) * g.valueSize + d]
                }
            }
        } } }
        return y
    }
}

/// Rotary position embedding (ONNX `RotaryEmbedding`, opset 23).
public enum Rotary {
    /// The layout of a rotary embedding's input: `batch` × `sequence` tokens of `heads` heads of
    /// `headSize` features, the first `rotated` (even) of which turn; `headsFirst` for
    /// `[B, H, S, D]`, else `[B, S, H·D]`.
    public struct Layout: Sendable, Equatable {
        public let batch: Int, sequence: Int, heads: Int, headSize: Int, rotated: Int
        public let headsFirst: Bool
        public init(batch: Int, sequence: Int, heads: Int, headSize: Int, rotated: Int, headsFirst: Bool) {
            (self.batch, self.sequence, self.heads, self.headSize, self.rotated, self.headsFirst) = (batch, sequence, heads, headSize, rotated, headsFirst)
        }
    }

    /// Turns each pair of features (`interleaved`: neighbours; else the two halves of the rotated
    /// features) by the angle of its token's row of the caches (`[rows, rotated/2]`): row
    /// `positions[token]`, or the token's own index when `positions` is nil. Positions must lie
    /// within the caches' rows.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func apply<T: BinaryFloatingPoint>(
        _ x: inout [T], cos: [T], sin: [T], positions: [Int]?, layout: Layout, interleaved: Bool
    ) {
        let (b, seq, h, d) = (layout.batch, layout.sequence, layout.heads, layout.headSize)
        let half = layout.rotated / 2
        for bi in 0..<b {
            for t in 0..<seq {
                let p = positions?[bi * seq + t] ?? bi * seq + t
                for hi in 0..<h {
                    let base = layout.headsFirst ? ((bi * h + hi) * seq + t) * d : ((bi * seq + t) * h + hi) * d
                    for k in 0..<half {
                        let (i1, i2) = interleaved ? (base + 2 * k, base + 2 * k + 1) : (base + k, base + k + half)
                        let c = cos[p * half + k], s = sin[p * half + k], a = x[i1], bb = x[i2]
                        x[i1] = c * a - s * bb
                        x[i2] = s * a + c * bb
                    }
                }
            }
        }
    }
}

extension ScaledDotProductAttention {
    /// `[B, S, H·D]` (sequence first, as 3-D inputs are) laid out as `[B, H, S, D]`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func headsFirst<T>(_ x: [T], batch: Int, heads: Int, length: Int, size: Int) -> [T] {
        var out = x
        for b in 0..<batch { for h in 0..<heads { for t in 0..<length { for d in 0..<size {
            out[((b * heads + h) * length + t) * size + d] = x[(b * length + t) * heads * size + h * size + d]
        } } } }
        return out
    }

    /// `[B, H, S, D]` laid out as `[B, S, H·D]` (the inverse of `headsFirst`).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func sequenceFirst<T>(_ x: [T], batch: Int, heads: Int, length: Int, size: Int) -> [T] {
        var out = x
        for b in 0..<batch { for h in 0..<heads { for t in 0..<length { for d in 0..<size {
            out[((b * length + t) * heads + h) * size + d] = x[((b * heads + h) * length + t) * size + d]
        } } } }
        return out
    }

    /// A cache `[B, H, past + new, D]`: the past entries (`[B, H, past, D]`, zeros when nil) then
    /// the new ones (`[B, H, new, D]`, or `[B, new, H·D]` when `sequenceFirst`).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func appendCache<T: Numeric>(
        past: [T]?, new: [T], batch: Int, heads: Int, pastLength: Int, newLength: Int, size: Int, sequenceFirst: Bool
    ) -> [T] {
        let total = pastLength + newLength
        var out = [T](repeating: 0, count: batch * heads * total * size)
        for b in 0..<batch {
            for h in 0..<heads {
                for t in 0..<total {
                    for d in 0..<size {
                        let n = t - pastLength
                        out[((b * heads + h) * total + t) * size + d] = t < pastLength
                            ? past?[((b * heads + h) * pastLength + t) * size + d] ?? 0
                            : new[sequenceFirst ? (b * newLength + n) * heads * size + h * size + d : ((b * heads + h) * newLength + n) * size + d]
                    }
                }
            }
        }
        return out
    }
}
