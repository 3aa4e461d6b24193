/// A sum of Doubles held exactly, so that it does not depend on the order of the additions: a
/// report made in shards and merged equals the one made in one process, bit for bit.
///
/// Every finite Double is an integer multiple of 2⁻¹⁰⁷⁴ below 2¹⁰²⁴; the sum is kept as that
/// integer in 32-bit digits (each in an Int64, so that carries can wait), and `value` rounds it to
/// the nearest Double (ties to even) once. Infinities and NaN are remembered apart: any NaN, or
/// infinities of both signs, make the value NaN; otherwise an infinity wins.
public struct ExactSum: Sendable, CustomStringConvertible {
    static let digitBits = 32
    /// The weight of digit 0 is 2^lowestExponent.
    static let lowestExponent = -1074
    /// Enough digits for 2¹⁰²⁴ · 2⁶⁴ (room for 2⁶⁴ additions of the largest Double).
    static let digitCount = (1024 + 1074 + 64) / 32 + 1

    private var digits = [Int64](repeating: 0, count: ExactSum.digitCount)
    private var pending = 0
    private var positiveInfinity = false, negativeInfinity = false, nan = false

    public init() {}

    public init(_ value: Double) { add(value) }

    public mutating func add(_ x: Double) {
        guard x.isFinite else {
            if x.isNaN { nan = true } else if x > 0 { positiveInfinity = true } else { negativeInfinity = true }
            return
        }
        if x == 0 { return }
        // x = ±m · 2^(e), m < 2^53 an integer, e ≥ −1074.
        let m = x.significandBitPattern | (x.isSubnormal ? 0 : 1 << 52)
        let e = (x.isSubnormal ? -1022 : Int(x.exponent)) - 52
        let shift = e - Self.lowestExponent
        let digit = shift / Self.digitBits, offset = shift % Self.digitBits
        // m · 2^offset spans at most 85 bits: three digits.
        let low = m << UInt64(offset)
        let high = offset == 0 ? 0 : m >> UInt64(64 - offset)
        let parts: [UInt64] = [low & 0xFFFF_FFFF, low >> 32, high]
        let sign: Int64 = x < 0 ? -1 : 1
        for (k, p) in parts.enumerated() where p != 0 { digits[digit + k] += sign * Int64(p) }
        pending += 1
        // Each digit holds less than 2^32 per addition: carry before 2^30 additions could overflow.
        if pending >= 1 << 28 { normalize() }
    }

    public mutating func add(_ other: ExactSum) {
        var o = other
        o.normalize()
        normalize()
        for k in digits.indices { digits[k] += o.digits[k] }
        pending += 1
        normalize()
        positiveInfinity = positiveInfinity || other.positiveInfinity
        negativeInfinity = negativeInfinity || other.negativeInfinity
        nan = nan || other.nan
    }

    /// Carries so that every digit but the last is in 0..<2^32 (the last holds the sign): one
    /// form per value.
    mutating func normalize() {
        var carry: Int64 = 0
        for k in 0..<digits.count - 1 {
            let v = digits[k] + carry
            carry = v >> 32  // arithmetic shift: floor division
            digits[k] = v & 0xFFFF_FFFF
        }
        digits[digits.count - 1] += carry
        pending = 0
    }

    /// The sum rounded to the nearest Double.
    public var value: Double {
        if nan || (positiveInfinity && negativeInfinity) { return .nan }
        if positiveInfinity { return .infinity }
        if negativeInfinity { return -.infinity }
        var d = self
        d.normalize()
        var magnitude = d.digits
        let negative = magnitude[magnitude.count - 1] < 0
        if negative {
            // Two's complement across the digits: invert and add one.
            var carry: Int64 = 1
            for k in 0..<magnitude.count - 1 {
                let v = (0xFFFF_FFFF - magnitude[k]) + carry
                carry = v >> 32
                magnitude[k] = v & 0xFFFF_FFFF
            }
            magnitude[magnitude.count - 1] = -magnitude[magnitude.count - 1] - 1 + carry
        }
        guard let top = magnitude.lastIndex(where: { $0 != 0 }) else { return 0 }
        func bit(_ i: Int) -> UInt64 { i < 0 ? 0 : UInt64(magnitude[i / 32] >> Int64(i % 32)) & 1 }
        let highest = top * 32 + (63 - UInt64(magnitude[top]).leadingZeroBitCount)
        // The leading 64 bits, with any bit below them folded into the lowest (sticky), convert
        // to Double with one rounding, as the exact value would.
        var lead: UInt64 = 0
        for i in stride(from: highest, to: highest - 64, by: -1) { lead = lead << 1 | bit(i) }
        var sticky = false
        let low = highest - 64
        if low >= 0 {
            for j in 0..<(low / 32) where magnitude[j] != 0 { sticky = true }
            for i in (low / 32 * 32)...low where bit(i) != 0 { sticky = true }
        }
        if sticky { lead |= 1 }
        let v = Double(sign: .plus, exponent: highest - 63 + Self.lowestExponent, significand: Double(lead))
        return negative ? -v : v
    }

    public var description: String { "\(value)" }

    /// A text form that round-trips exactly (for partial reports): the nonzero digits as
    /// `index:value` pairs, and the non-finite flags.
    public var serialized: String {
        var d = self
        d.normalize()
        var parts = d.digits.enumerated().filter { $0.element != 0 }.map { "\($0.offset):\($0.element)" }
        if nan { parts.append("nan") }
        if positiveInfinity { parts.append("+inf") }
        if negativeInfinity { parts.append("-inf") }
        return parts.joined(separator: ",")
    }

    /// Reads `serialized`; nil for text it does not make.
    public init?(serialized text: String) {
        self.init()
        for part in text.split(separator: ",") {
            switch part {
            case "nan": nan = true
            case "+inf": positiveInfinity = true
            case "-inf": negativeInfinity = true
            default:
                let kv = part.split(separator: ":")
                guard kv.count == 2, let k = Int(kv[0]), let v = Int64(kv[1]), k >= 0, k < Self.digitCount else { return nil }
                // Every digit of the normal form is below 2^32; the last holds the sign, and no
                // sum of Doubles reaches beyond 2^32 there (it carries 2^(32·67 − 1074) ≫ 2^1024).
                guard k == Self.digitCount - 1 ? (-0xFFFF_FFFF...0xFFFF_FFFF).contains(v) : (0...0xFFFF_FFFF).contains(v) else { return nil }
                digits[k] = v
            }
        }
    }
}

extension ExactSum: Equatable {
    public static func == (a: ExactSum, b: ExactSum) -> Bool { a.serialized == b.serialized }
}
