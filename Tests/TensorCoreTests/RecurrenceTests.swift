import Foundation
import Testing
@testable import TensorCore

@Suite("Recurrent cells against the naive twin")
struct RecurrenceTests {
    static let cells: [Recurrence.Cell] = [.simple, .lstm, .gru(resetAfter: false), .gru(resetAfter: true)]

    /// Every cell, forwards and reversed, all steps or the last; tanh and sigmoid activations.
    /// The twin writes Keras's equations as whole matrix products, so a wrong gate order, bias
    /// half or reset placement shows as errors of O(0.1).
    @Test(arguments: cells, [false, true])
    func matchesReference(cell: Recurrence.Cell, reverse: Bool) {
        let (n, steps, f, units) = (2, 5, 3, 4)
        let width = cell.gates * units
        var rng = SeededGenerator(seed: UInt64(width * 10 + (reverse ? 1 : 0)))
        func uniform(_ count: Int, _ scale: Double) -> [Double] {
            (0..<count).map { _ in Double(Float(scale * (Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1))) }
        }
        let x = uniform(n * steps * f, 1)
        let weights = Recurrence.Weights(
            cell: cell, units: units, inputFeatures: f, kernel: uniform(f * width, 0.7), recurrentKernel: uniform(units * width, 0.7),
            bias: uniform(cell == .gru(resetAfter: true) ? 2 * width : width, 0.3))
        let tanh: (Double) -> Double = { Foundation.tanh($0) }, sigmoid: (Double) -> Double = { 1 / (1 + Foundation.exp(-$0)) }
        for sequences in [true, false] {
            let want = Recurrence.reference(x, batch: n, steps: steps, weights: weights, activation: tanh, gate: sigmoid,
                                            returnSequences: sequences, reverse: reverse)
            let double = Recurrence.run(x, batch: n, steps: steps, weights: weights, activation: tanh, gate: sigmoid,
                                        returnSequences: sequences, reverse: reverse)
            let fw = Recurrence.Weights(cell: cell, units: units, inputFeatures: f, kernel: weights.kernel.map { Float($0) },
                                        recurrentKernel: weights.recurrentKernel.map { Float($0) }, bias: weights.bias.map { Float($0) })
            let float = Recurrence.run(x.map { Float($0) }, batch: n, steps: steps, weights: fw,
                                       activation: { Float(Foundation.tanh(Double($0))) }, gate: { Float(1 / (1 + Foundation.exp(-Double($0)))) },
                                       returnSequences: sequences, reverse: reverse)
            let worstDouble = zip(double, want).map { abs($0 - $1) }.max() ?? 0
            let worstFloat = zip(float, want).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(double.count == want.count && worstDouble <= 1e-14, "\(cell) double: \(worstDouble)")
            // States in (−1, 1) after 5 steps of sums of at most 7 terms: Float measured at most 9e-8
            // off; 1e-5 still fails for any wrong weight or gate (errors of O(0.1)).
            #expect(worstFloat <= 1e-5, "\(cell) float: \(worstFloat)")
        }
    }
}
