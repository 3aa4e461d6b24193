import Foundation
import Testing
import Touchstone
import TouchstoneTesting

/// The FP8, NVFP4, MX and INT4 weight-only policies on a Conv → Relu → Gemm → MatMul model against
/// numpy with ml_dtypes (`ModelZoo/scripts/scaled_policy_reference.py`, the policies' definitions
/// written independently), with calibrated ranges below the true maxima so that values saturate.
@Suite("FP8, NVFP4, MX and INT4 policies against numpy")
struct ScaledPolicyTests {
    struct Fixture {
        let model: Model
        let reference: [String: Tensor]
        let ranges: [String: Float]
    }

    static let fixture: Result<Fixture, Error> = Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scaled-policy-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, log) = try tool("python3", ["ModelZoo/scripts/scaled_policy_reference.py", dir.path])
        guard code == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "scaled_policy_reference.py failed (it needs numpy, onnx and ml_dtypes): \(log)"]) }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("ranges.json"))) as? [String: [String: Double]]
        let ranges = (json?["ranges"] ?? [:]).mapValues { Float($0) }
        return Fixture(
            model: try Model(contentsOf: dir.appendingPathComponent("model.onnx")),
            reference: try NPZ.read(contentsOf: dir.appendingPathComponent("reference.npz")), ranges: ranges)
    }

    func run(_ policy: ExecutionPolicy) throws -> (got: [Float], x: Tensor) {
        let f = try Self.fixture.get()
        let x = try #require(f.reference["x"])
        let out = try Session(model: f.model, options: SessionOptions(threads: 2, policy: policy)).run(["x": x])
        return (try #require(out["y"]).scalars(as: Float.self), x)
    }

    /// FP8 with the Hopper model and with FP32 sums: the same operations in the same order as the
    /// reference, so every output bit for bit.
    @Test(arguments: [("fp8", NumericFormat.fp8, FP8Accumulator.hopper), ("fp8|fp32", .fp8, .float32), ("fp8-e5m2", .fp8E5M2, .hopper), ("fp8-e5m2|fp32", .fp8E5M2, .float32)])
    func fp8MatchesBitForBit(key: String, format: NumericFormat, accumulator: FP8Accumulator) throws {
        let f = try Self.fixture.get()
        let want = try #require(f.reference[key]).scalars(as: Float.self)
        let (got, _) = try run(ExecutionPolicy(precision: format, activationRanges: f.ranges, fp8Accumulator: accumulator))
        #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(key): \(got.prefix(4)) vs \(want.prefix(4))")
        let fp32 = try run(.fp32).got
        #expect(got != fp32, "the policy changed nothing")
    }

    /// NVFP4, MX and INT4 weight-only: products summed in FP32 by Touchstone's kernels and by numpy
    /// in other orders, so outputs agree to float32 sum-order differences: 1e-5 of the largest
    /// output (the model's sums run over at most 288 terms: ~288·2⁻²⁴ ≈ 2e-5 relative at worst,
    /// about 1e-6 measured), far below the formats' own steps (2⁻³ relative for FP4 and INT4).
    @Test(arguments: [
        ("nvfp4", ExecutionPolicy(precision: .nvfp4)), ("mxfp8", ExecutionPolicy(precision: .mxfp8)), ("mxfp4", ExecutionPolicy(precision: .mxfp4)),
        ("int4w", ExecutionPolicy(precision: .int4w)), ("int4w|32|asymmetric", ExecutionPolicy(precision: .int4w, int4Block: 32, int4Symmetric: false)),
    ])
    func blockFormatsMatch(key: String, policy: ExecutionPolicy) throws {
        let f = try Self.fixture.get()
        var p = policy
        p.activationRanges = f.ranges
        let want = try #require(f.reference[key]).scalars(as: Float.self)
        let (got, _) = try run(p)
        let peak = want.map(\.magnitude).max() ?? 0
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
        #expect(got.count == want.count && worst <= 1e-5 * peak, "\(key): worst |Δ| \(worst) of peak \(peak)")
        let fp32 = try run(.fp32).got
        let change = zip(got, fp32).map { abs($0 - $1) }.max() ?? 0
        #expect(change > 100 * worst, "\(key): the format's own change \(change) must dwarf the agreement \(worst)")
    }

    @Test func calibratedFormatsNeedRanges() throws {
        for format in [NumericFormat.fp8, .fp8E5M2, .nvfp4] {
            #expect(throws: ExecutionError.self) { _ = try run(ExecutionPolicy(precision: format)) }
        }
        // MX needs no calibration.
        _ = try run(ExecutionPolicy(precision: .mxfp8))
    }

    @Test func samebitsForEveryThreadCount() throws {
        let f = try Self.fixture.get()
        let x = try #require(f.reference["x"])
        for format in [NumericFormat.fp8, .nvfp4, .mxfp4, .int4w] {
            let policy = ExecutionPolicy(precision: format, activationRanges: f.ranges)
            let outs = try [1, 2, 3].map { t in try Session(model: f.model, options: SessionOptions(threads: t, policy: policy)).run(["x": x])["y"]?.scalars(as: Float.self) }
            #expect(outs[0] == outs[1] && outs[1] == outs[2], "\(format)")
        }
    }
}

/// A model fed only small integer inputs (a BERT encoder: token ids, mask, token types) must run
/// its quantized activations and rounded outputs on every run: plans once folded such a graph
/// whole from the inputs' values, skipping them, and local errors equalled accumulated ones.
@Suite("policies on models with small integer inputs")
struct IntegerInputPolicyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func feeds() throws -> [String: Tensor] {
        let d = Self.root.appendingPathComponent("ModelZoo/nets/data/bert_tiny_o17_0_b1_s12")
        var f: [String: Tensor] = [:]
        for name in ["input_ids", "attention_mask", "token_type_ids"] {
            f[name] = try NPY.read(contentsOf: d.appendingPathComponent("input_\(name).npy"))
        }
        return f
    }

    @Test func quantizedActivationsAndSubstitutesApply() throws {
        let model = try Model(contentsOf: Self.root.appendingPathComponent("ModelZoo/nets/models/bert_tiny_o17.onnx"))
        let x = try feeds()
        let activations = ExecutionPolicy.quantizedActivations(of: model.graph)
        #expect(!activations.isEmpty)
        // Ranges from an FP32 run's own maxima.
        let fp32 = Session(model: model, options: SessionOptions(threads: 1, taps: .all))
        let out32 = try fp32.run(x)
        var ranges: [String: Float] = [:]
        for a in activations { ranges[a] = fp32.tapped[a]?.scalars(as: Float.self).map(\.magnitude).max() }
        let int8 = Session(model: model, options: SessionOptions(threads: 1, taps: .all, policy: ExecutionPolicy(precision: .int8, activationRanges: ranges)))
        let out8 = try int8.run(x)
        // Every quantized activation went through the per-run quantization.
        #expect(Set(int8.clippingCounts.keys) == Set(activations), "quantized on the run: \(int8.clippingCounts.count) of \(activations.count)")
        let name = try #require(model.outputs.first?.name)
        #expect(out8[name]?.scalars(as: Float.self) != out32[name]?.scalars(as: Float.self))
        // With every tensor substituted by the FP32 run's, the last node sees FP32 inputs: its
        // output differs from the accumulated INT8 run's.
        let local = Session(model: model, options: SessionOptions(threads: 1, policy: ExecutionPolicy(precision: .int8, activationRanges: ranges)))
        let outLocal = try local.run(x, substitutes: fp32.tapped.filter { $0.key != name })
        #expect(outLocal[name]?.scalars(as: Float.self) != out8[name]?.scalars(as: Float.self))
    }
}
