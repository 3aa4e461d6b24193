import Testing
@testable import TensorCore
import TouchstoneTesting

/// Seeded random floats in [-1, 1).
func randomFloats(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
    (0..<n).map { _ in Float(Double(g.next() >> 11) / Double(1 << 53) * 2 - 1) }
}

func randomInt(_ range: ClosedRange<Int>, _ g: inout SeededGenerator) -> Int {
    range.lowerBound + Int(g.next() % UInt64(range.count))
}

/// Expects `got ≈ want` elementwise: |got − want| ≤ atol + rtol·|want|, NaN matching NaN (the
/// Oracle's `allClose` rule, through TouchstoneTesting).
func expectClose(
    _ got: [Float], _ want: [Float], atol: Float, rtol: Float = 0, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
    let n = min(got.count, want.count)
    expectAgreement(
        Tensor(shape: [n], scalars: Array(got.prefix(n))), Tensor(shape: [n], scalars: Array(want.prefix(n))), what,
        rule: .allClose(rtol: Double(rtol), atol: Double(atol)), sourceLocation: sourceLocation)
}
