import Foundation

/// The 8-bit and 4-bit floating-point formats of today's accelerators and of ONNX's element types:
/// bit patterns to values and values to bit patterns, rounded to nearest with ties to even.
///
/// - `e4m3fn`: FP8 E4M3 (OCP, NVIDIA): bias 7, no infinities, NaN = S.1111.111, largest 448.
/// - `e4m3fnuz`: bias 8, no infinities and no −0, NaN = 0x80, largest 240.
/// - `e5m2`: FP8 E5M2, IEEE-like: bias 15, ±inf, NaNs, largest 57,344.
/// - `e5m2fnuz`: bias 16, no infinities and no −0, NaN = 0x80, largest 57,344.
/// - `e2m1fn`: FP4 E2M1 (NVFP4's and MXFP4's values): bias 1, no infinities or NaN, largest 6;
///   every value beyond ±6 saturates; NaN becomes −0, as ml_dtypes converts it.
/// - `e8m0fnu`: the MX block scale, an unsigned power of two 2^(e − 127), e = 0…254, NaN = 0xFF;
///   no zero (values below 2^−127 become 2^−127; 0, negatives, ±inf and NaN become NaN), and ties
///   round up (1.5 → 2, 3 → 4), as ml_dtypes rounds.
///
/// `saturate` (ONNX `Cast`'s and TensorRT's default) clamps finite values beyond the largest to it
/// and sends ±inf to ±largest; without it they become inf (E5M2) or NaN (the rest). Checked on every
/// bit pattern and on random values against numpy with ml_dtypes (`MiniFloatTests`).
public enum MiniFloat: String, CaseIterable, Sendable {
    case e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e2m1fn, e8m0fnu

    public var bitWidth: Int { self == .e2m1fn ? 4 : 8 }
    var exponentBits: Int { switch self { case .e4m3fn, .e4m3fnuz: 4; case .e5m2, .e5m2fnuz: 5; case .e2m1fn: 2; case .e8m0fnu: 8 } }
    var mantissaBits: Int { switch self { case .e4m3fn, .e4m3fnuz: 3; case .e5m2, .e5m2fnuz: 2; case .e2m1fn: 1; case .e8m0fnu: 0 } }
    var bias: Int { switch self { case .e4m3fn: 7; case .e4m3fnuz: 8; case .e5m2: 15; case .e5m2fnuz: 16; case .e2m1fn: 1; case .e8m0fnu: 127 } }
    var isSigned: Bool { self != .e8m0fnu }
    var signBit: UInt8 { isSigned ? UInt8(1 << (bitWidth - 1)) : 0 }
    /// The "uz" formats: one zero, and the pattern of −0 is their NaN.
    var isUnsignedZero: Bool { self == .e4m3fnuz || self == .e5m2fnuz }

    /// The value of a bit pattern (the low `bitWidth` bits).
    public func decode(_ bits: UInt8) -> Float {
        let b = bits & UInt8(truncatingIfNeeded: (1 << bitWidth) - 1)
        let e = Int(b >> mantissaBits) & ((1 << exponentBits) - 1)
        let f = Int(b) & ((1 << mantissaBits) - 1)
        let negative = isSigned && b & signBit != 0
        switch self {
        case .e4m3fn where e == 15 && f == 7: return .nan
        case .e4m3fnuz, .e5m2fnuz: if b == 0x80 { return .nan }
        case .e5m2 where e == 31: return f == 0 ? (negative ? -.infinity : .infinity) : .nan
        case .e8m0fnu: return b == 0xFF ? .nan : Float(sign: .plus, exponent: e - 127, significand: 1)
        default: break
        }
        let magnitude: Float = e == 0
            ? Float(f) * Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
            : Float(sign: .plus, exponent: e - bias, significand: 1 + Float(f) / Float(1 << mantissaBits))
        return negative ? -magnitude : magnitude
    }

    /// Every finite non-negative value with its code, in increasing order (codes increase with value).
    var finiteCodes: [(value: Float, code: UInt8)] {
        let count = isSigned ? 1 << (bitWidth - 1) : 1 << bitWidth
        return (0..<count).map { UInt8($0) }.compactMap { c in
            let v = decode(c)
            return v.isFinite ? (v, c) : nil
        }
    }

    /// The largest finite value.
    public var largest: Float { Self.tables[self]?.last?.value ?? 0 }

    private static let tables: [MiniFloat: [(value: Float, code: UInt8)]] = Dictionary(uniqueKeysWithValues: allCases.map { ($0, $0.finiteCodes) })

    /// The pattern of NaN with the given sign, for the formats that have one.
    var nanCode: UInt8 {
        switch self {
        case .e4m3fn: 0x7F
        case .e5m2: 0x7E
        case .e4m3fnuz, .e5m2fnuz: 0x80
        case .e2m1fn: 0x8  // no NaN: ml_dtypes converts NaN to −0
        case .e8m0fnu: 0xFF
        }
    }

    /// Rounds `x` to the nearest value of the format (ties to the even pattern) and returns its bits.
    public func encode(_ x: Float, saturate: Bool = false) -> UInt8 { encode(Double(x), saturate: saturate) }

    /// The same from a Double, rounded once (no detour through Float that could round twice).
    public func encode(_ x: Double, saturate: Bool = false) -> UInt8 {
        guard let table = Self.tables[self], let top = table.last else { return 0 }
        if x.isNaN { return self == .e4m3fn || self == .e5m2 ? nanCode | (x.sign == .minus ? signBit : 0) : nanCode }
        if self == .e8m0fnu {
            if x == .infinity && saturate { return 0xFE }
            guard x > 0, x.isFinite else { return nanCode }
            let e = Int(x.exponent), halfway = Double(sign: .plus, exponent: e, significand: 1.5)
            let up = x >= halfway ? e + 1 : e
            if up < -127 { return 0 }
            if up > 127 { return saturate ? 0xFE : nanCode }
            return UInt8(up + 127)
        }
        let sign: UInt8 = x.sign == .minus ? signBit : 0
        let a = x.magnitude
        if a > Double(top.value) {
            // Between the largest value and the next step up, which does not exist: beyond the
            // halfway point (or at it, when the overflow pattern is the even one) the value overflows.
            if self == .e2m1fn || saturate { return top.code | sign }
            let step = Double(top.value) - Double(table[table.count - 2].value)
            let halfway = Double(top.value) + step / 2
            let overflows = a > halfway || (a == halfway && (top.code + 1) & 1 == 0)
            if !overflows { return top.code | sign }
            switch self {
            case .e5m2: return 0x7C | sign
            case .e4m3fn: return nanCode | sign
            default: return nanCode
            }
        }
        // Binary search for the first value ≥ a.
        var lo = 0, hi = table.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if Double(table[mid].value) < a { lo = mid + 1 } else { hi = mid }
        }
        var pick = table[lo]
        if lo > 0, Double(pick.value) != a {
            let below = table[lo - 1]
            let dBelow = a - Double(below.value), dAbove = Double(pick.value) - a
            if dBelow < dAbove || (dBelow == dAbove && below.code & 1 == 0) { pick = below }
        }
        // A value rounded to zero keeps its sign (−0), except where the format has no −0.
        if pick.code == 0 && isUnsignedZero { return 0 }
        return pick.code | sign
    }

    /// `x` rounded to the format and back to Float.
    public func round(_ x: Float, saturate: Bool = false) -> Float { decode(encode(x, saturate: saturate)) }

    /// How ONNX `Cast` rounds into float8e8m0 (`round_mode`).
    public enum E8M0Rounding: String, Sendable, CaseIterable {
        /// To the next power of two at or above |x| (the default).
        case up
        /// To the power of two at or below |x|.
        case down
        /// To the nearer power of two in the exponent's bits (guard, round and sticky bits, as
        /// ONNX's reference does it).
        case nearest
    }

    /// The float8e8m0 code of `x` as ONNX `Cast` makes it: the float32 exponent field, rounded by
    /// the fraction bits as `roundMode` says (the sign is ignored); inf and NaN give 0xFF (NaN);
    /// with `saturate` rounding never goes past 2^127 (0xFE).
    public static func e8m0Code(_ x: Float, roundMode: E8M0Rounding, saturate: Bool) -> UInt8 {
        let bits = x.bitPattern
        var e = (bits >> 23) & 0xFF
        if e == 0xFF { return 0xFF }
        let up: Bool
        switch roundMode {
        case .up: up = bits & 0x7F_FFFF != 0
        case .down: up = false
        case .nearest:
            let guardBit = bits & 0x40_0000 != 0, round = bits & 0x20_0000 != 0, sticky = bits & 0x1F_FFFF != 0
            up = guardBit && (round || sticky || e > 0)
        }
        if up && !(saturate && e == 0xFE) { e += 1 }
        return UInt8(truncatingIfNeeded: e)
    }
}
