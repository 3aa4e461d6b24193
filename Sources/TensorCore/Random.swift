import Foundation

/// A small seeded generator (SplitMix64), so that generated inputs are the same on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(Double.leastNormalMagnitude, Double(next() >> 11) / Double(1 << 53))
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}

extension Tensor {
    /// Seeded random values: standard normal for floats, integers uniform in `0..<intRange`
    /// (by default 0 or 1, the range Polygraphy's data loader gives integers: valid token ids,
    /// token types and masks), bools fair coin flips, strings those integers written out.
    public static func random(shape: [Int], dtype: DType, seed: UInt64, intRange: Int = 2) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let n = shape.product
        if dtype.isFloatingPoint {
            return Tensor(shape: shape, scalars: (0..<n).map { _ in g.normal() }).converted(to: dtype)
        }
        if dtype == .string {
            return Tensor(strings: (0..<n).map { _ in String(g.next() % UInt64(max(1, intRange))) }, shape: shape)
        }
        if dtype == .bool {
            return Tensor(shape: shape, scalars: (0..<n).map { _ in g.next() & 1 == 1 })
        }
        return Tensor(shape: shape, scalars: (0..<n).map { _ in Int64(g.next() % UInt64(max(1, intRange))) }).converted(to: dtype)
    }
}
