/// The integer-arithmetic ops (MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv,
/// DynamicQuantizeLinear): exact Int64 sums of zero-point-shifted 8-bit values in direct loops,
/// the reference form, and the rescaling back to 8 bits. Their reference is ONNX's node tests.
extension Quantization {
    /// `(A − aZero) · (B − bZero)` for each batch pair (`pairs[t]`: the batch entries of A and B
    /// that output batch t multiplies; A `[·, m, k]`, B `[·, k, n]`), summed exactly in Int64. A
    /// zero point has one value or one per row of A (`m`) / column of B (`n`).
    public static func integerMatMul(
        _ a: [Int64], _ b: [Int64], pairs: [(a: Int, b: Int)], m: Int, k: Int, n: Int, aZero: [Int64], bZero: [Int64]
    ) -> [Int64] {
        var out = [Int64](repeating: 0, count: pairs.count * m * n)
        for (t, pair) in pairs.enumerated() {
            let aOff = pair.a * m * k, bOff = pair.b * k * n
            for i in 0..<m {
                let zi = aZero.count == 1 ? aZero[0] : aZero[i]
                for j in 0..<n {
                    let zj = bZero.count == 1 ? bZero[0] : bZero[j]
                    var s: Int64 = 0
                    for q in 0..<k { s &+= (a[aOff + i * k + q] &- zi) &* (b[bOff + q * n + j] &- zj) }
                    out[(t * m + i) * n + j] = s
                }
            }
        }
        return out
    }

    /// A grouped 2-D convolution of `x − xZero` by `w − wZero[m]` (one value, or one per output
    /// channel) plus `bias[m]`, summed exactly in Int64 (`[N, M, outH, outW]`).
    public static func integerConv(_ x: [Int64], _ w: [Int64], geometry g: Conv2DGeometry, xZero: Int64, wZero: [Int64], bias: [Int64]?) -> [Int64] {
        var acc = [Int64](repeating: 0, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        for n in 0..<g.batch {
            for m in 0..<g.outChannels {
                let wz = wZero.count == 1 ? wZero[0] : wZero[m]
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        var s = bias?[m] ?? 0
                        g.forEachTap(n: n, m: m, oy: oy, ox: ox) { xi, wi in s &+= (x[xi] &- xZero) &* (w[wi] &- wz) }
                        acc[((n * g.outChannels + m) * g.outHeight + oy) * g.outWidth + ox] = s
                    }
                }
            }
        }
        return acc
    }

    /// Integer sums back to 8 bits: `acc[k]·factor(k) + zeroPoint` in Double, saturated to
    /// `range` and rounded half to even (NaN, from a zero or NaN scale, gives 0).
    public static func requantize(_ acc: [Int64], factor: (Int) -> Double, zeroPoint: Double, range: (lo: Int64, hi: Int64)) -> [Int64] {
        acc.enumerated().map { k, v in
            let r = Double(v) * factor(k) + zeroPoint
            return saturatingInt64(Swift.min(Swift.max(r, Double(range.lo)), Double(range.hi)).rounded(.toNearestOrEven))
        }
    }

    /// DynamicQuantizeLinear's parameters from the values' range widened to include 0:
    /// `scale = (max − min) / 255` and `zeroPoint = clamp(roundHalfEven(−min / scale), 0, 255)`
    /// (0 when the scale is 0).
    public static func dynamicUInt8Parameters(_ values: [Float]) -> (scale: Float, zeroPoint: UInt8) {
        let lo = Swift.min(0, values.min() ?? 0), hi = Swift.max(0, values.max() ?? 0)
        let scale = (hi - lo) / 255
        guard scale != 0, scale.isFinite else { return (scale, 0) }
        return (scale, UInt8(Swift.min(Swift.max((-lo / scale).rounded(.toNearestOrEven), 0), 255)))
    }
}
