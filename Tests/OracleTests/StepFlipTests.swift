import Foundation
import Testing
import Touchstone

/// Differences of a QDQ model's quantized tensors are counted in whole quantization steps.
@Suite("quantization step flips")
struct StepFlipTests {
    /// X → QuantizeLinear (int16) → DequantizeLinear: a candidate whose integer tensor is off by
    /// one unit at one element, and whose dequantized output is off by one step at one element,
    /// two steps at another and by a fraction of a step at a third.
    @Test func wholeStepsAreCountedAsFlips() throws {
        let model = try Model(contentsOf: repoRoot.appendingPathComponent("ModelZoo/ops/models/qdq_int16_chain.onnx"))
        let steps = Oracle.quantizationSteps(of: model.graph)
        let scale = try #require(steps["Y"])
        #expect(steps["Q"] == 1)
        let x = Tensor(shape: [2, 5], scalars: (0..<10).map { Float($0) * 0.37 - 1.1 })
        let session = Session(model: model, options: SessionOptions(threads: 1, taps: .names(["Q"])))
        let y = try #require(try session.run(["X": x])["Y"])
        let q = try #require(session.tapped["Q"])
        var qv = q.int64s()
        qv[3] += 1
        var yv = y.scalars(as: Float.self)
        yv[0] += Float(scale)
        yv[4] -= 2 * Float(scale)
        yv[7] += Float(scale) * 0.4
        let candidate = NamedTensors([("Q", Tensor(shape: q.shape, scalars: qv.map { Int16($0) })), ("Y", Tensor(shape: y.shape, scalars: yv))])
        let verdict = try Comparator(model: model, options: ComparatorOptions(threads: 1)).judge(candidate, feed: ["X": x], feedKey: 0)
        let fq = try #require(verdict.stepFlips["Q"]), fy = try #require(verdict.stepFlips["Y"])
        #expect(fq.byStep == [1: 1] && fq.other == 0 && fq.onlyFlips)
        #expect(fy.byStep == [1: 1, 2: 1] && fy.other == 1 && !fy.onlyFlips)
        #expect(fy.summary.contains("2 rounding-boundary flips") && fy.summary.contains("1 other difference"))
        #expect(Oracle.quantizerInput(of: "Y", in: model.graph) == "X")
    }
}
