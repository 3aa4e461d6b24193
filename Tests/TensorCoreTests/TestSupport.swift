import Testing
@testable import TensorCore

/// Seeded random floats in [-1, 1).
func randomFloats(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
    (0..<n).map { _ in Float(Double(g.next() >> 11) / Double(1 << 53) * 2 - 1) }
}

func randomInt(_ range: ClosedRange<Int>, _ g: inout SeededGenerator) -> Int {
    range.lowerBound + Int(g.next() % UInt64(range.count))
}

/// Expects `got ≈ want` elementwise: |got − want| ≤ atol + rtol·|want|, NaN matching NaN.
func expectClose(
    _ got: [Float], _ want: [Float], atol: Float, rtol: Float = 0, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
    var worst = 0
    var worstErr: Float = 0
    var bad = 0
    for i in 0..<min(got.count, want.count) {
        if (got[i].isNaN && want[i].isNaN) || got[i] == want[i] { continue }
        let err = abs(got[i] - want[i])
        if !(err <= atol + rtol * abs(want[i])) {
            bad += 1
            if err > worstErr || err.isNaN { worstErr = err; worst = i }
        }
    }
    #expect(bad == 0, "\(what): \(bad) values differ; worst at \(worst): got \(got[worst]), expected \(want[worst])", sourceLocation: sourceLocation)
}
