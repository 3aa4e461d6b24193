import Foundation
import Testing
import Touchstone
import TouchstoneTesting
import XCTest

/// The helpers users' tests call: they pass what agrees and record an issue, with a message that
/// says which tensor, how much, where and what would pass, for what does not.
@Suite("TouchstoneTesting")
struct TouchstoneTestingTests {
    let reference = Tensor(shape: [2, 3], scalars: [Float(1), 2, 3, 4, 5, 6])

    @Test func agreeingTensorsPass() {
        let candidate = Tensor(shape: [2, 3], scalars: [Float(1.000001), 2, 3, 4, 5, 6.000001])
        let a = expectAgreement(candidate, reference, "y")
        #expect(a.passed)
    }

    @Test func aDisagreementIsRecordedWithWhereAndWhatWouldPass() {
        let candidate = Tensor(shape: [2, 3], scalars: [Float(1), 2, 3, 4, 5.5, 6])
        // The issue must be recorded, and only with that message: an issue that does not match
        // is not a known one and fails the test.
        withKnownIssue {
            let a = expectAgreement(candidate, reference, "y", tolerance: Tolerance(atol: 1e-3, rtol: 1e-3))
            #expect(a.passed == false)
        } matching: { issue in
            let m = issue.comments.map(\.rawValue).joined()
            return m.contains("'y'") && m.contains("[1, 1]") && m.contains("candidate 5.5") && m.contains("reference 5.0") && m.contains("atol ≥ 0.5")
        }
    }

    /// The model form: a candidate equal to Touchstone's own outputs and an intermediate passes;
    /// one with an intermediate off by 1% fails, localized to the node that computes it.
    @Test func modelFormJudgesAndLocalizes() throws {
        let model = try Model(contentsOf: repoRoot.appendingPathComponent("ModelZoo/models/digits_cnn.onnx"))
        let input = try NPY.read(contentsOf: repoRoot.appendingPathComponent("ModelZoo/data/digits_cnn/input_images.npy"))
        let conv = "/features/features.3/Conv_output_0"
        let session = Session(model: model, options: SessionOptions(threads: 1, taps: .names([conv])))
        let outputs = try session.run(["images": input])
        let tapped = try #require(session.tapped[conv])
        let good = try expectAgreement(model: model, inputs: ["images": input], candidate: ["logits": try #require(outputs["logits"]), conv: tapped], derivedFor: .fp32)
        #expect(good.passed && good.derived.count == 2)
        let scaled = Tensor(shape: tapped.shape, scalars: tapped.scalars(as: Float.self).map { $0 * 1.01 })
        // Expectations inside the known-issue scope that fail are not matched below, so they fail the test.
        try withKnownIssue {
            let bad = try expectAgreement(model: model, inputs: ["images": input], candidate: [conv: scaled], derivedFor: .fp32, localize: true)
            #expect(bad.passed == false)
            // Given only that tensor, its segment runs from the input: the first three nodes.
            #expect(bad.localization?.firstDivergent?.segment == ["/features/features.0/Conv", "/features/features.2/Relu", "/features/features.3/Conv"])
        } matching: { issue in
            let m = issue.comments.map(\.rawValue).joined()
            return (m.contains(conv) && m.contains("passes with atol")) || (m.contains("first segment") && m.contains("'/features/features.3/Conv'"))
        }
    }

    /// Derived tolerances for the scaled formats: a candidate that is Touchstone's own simulated
    /// MXFP4 / INT4 weight-only run passes (its error is the simulation's), Touchstone's FP32 run
    /// passes too (a correct backend of the format may be that close), and a logit moved by twice
    /// the derived atol fails.
    @Test(arguments: [CandidatePrecision.mxfp4, .int4w, .mxfp8])
    func derivedTolerancesForScaledFormats(_ precision: CandidatePrecision) throws {
        let model = try Model(contentsOf: repoRoot.appendingPathComponent("ModelZoo/models/digits_cnn.onnx"))
        let input = try NPY.read(contentsOf: repoRoot.appendingPathComponent("ModelZoo/data/digits_cnn/input_images.npy"))
        let simulated = try #require(try Session(model: model, options: SessionOptions(threads: 1, policy: ExecutionPolicy(precision: precision.numericFormat)))
            .run(["images": input])["logits"])
        let fp32 = try #require(try Session(model: model, options: SessionOptions(threads: 1)).run(["images": input])["logits"])
        #expect(simulated.scalars(as: Float.self) != fp32.scalars(as: Float.self), "the format changes the logits")
        var atol = 0.0
        for candidate in [simulated, fp32] {
            let a = try expectAgreement(model: model, inputs: ["images": input], candidate: ["logits": candidate], derivedFor: precision)
            #expect(a.passed)
            atol = try #require(a.derived["logits"]).tolerance.atol
        }
        let values = fp32.scalars(as: Float.self), peak = Double(values.map(\.magnitude).max() ?? 1)
        // What the formats cost this small CNN's logits (peak 19.3): the largest simulated error
        // is 2.7 (MXFP8), 6.4 (INT4 weight-only), 6.8 (MXFP4), so the atols (× 4) are 11 to 27.
        #expect(atol > 0.1 * peak && atol.isFinite, "\(precision): atol \(atol), peak \(peak)")
        let shifted = Tensor(shape: fp32.shape, scalars: values.enumerated().map { $0.offset == 0 ? $0.element + Float(2 * atol) : $0.element })
        try withKnownIssue {
            let bad = try expectAgreement(model: model, inputs: ["images": input], candidate: ["logits": shifted], derivedFor: precision)
            #expect(bad.passed == false)
        } matching: { issue in issue.comments.map(\.rawValue).joined().contains("'logits'") }
    }
}

/// The XCTest form.
final class TouchstoneTestingXCTests: XCTestCase {
    func testAgreeingTensorsPass() {
        let r = Tensor(shape: [3], scalars: [Float(1), 2, 3])
        let a = XCTAssertAgreement(Tensor(shape: [3], scalars: [Float(1), 2, 3.00001]), r, "y")
        XCTAssertTrue(a.passed)
        let b = Oracle.agreement(Tensor(shape: [3], scalars: [Float(1), 2, 4]), r, name: "y", rule: .polygraphy(.polygraphyDefault))
        XCTAssertFalse(b.passed)
        XCTAssertTrue(b.message.contains("'y' [3]: 1 of 3 elements outside"), b.message)
    }
}
