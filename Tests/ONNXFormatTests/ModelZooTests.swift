import Foundation
import JSONC
import Testing
import Touchstone
import TouchstoneTesting

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let zooRoot = repoRoot.appendingPathComponent("ModelZoo")

struct ZooCase: CustomTestStringConvertible, Sendable {
    let name: String
    let dir: URL
    let file: String
    let inputs: [String: String]
    let outputs: [String: String]
    let tolerance: Double
    var testDescription: String { name }
}

func zooCases(_ manifest: String) -> [ZooCase] {
    let url = zooRoot.appendingPathComponent(manifest)
    guard let json = try? JSON.parse(contentsOf: url) else { return [] }
    return (json["models"]?.array ?? []).compactMap { m in
        guard let name = m["name"]?.string, let file = m["file"]?.string else { return nil }
        return ZooCase(
            name: name, dir: url.deletingLastPathComponent(), file: file,
            inputs: (m["inputs"]?.object ?? [:]).compactMapValues(\.string), outputs: (m["outputs"]?.object ?? [:]).compactMapValues(\.string),
            tolerance: m["tolerance"]?.number ?? 5e-4)
    }
}

/// Runs a case and checks each output: same shape and dtype, max|got − expected| ≤ tolerance · max|expected|
/// (`AgreementRule.peakRelative`, the manifests' rule, as `touchstone verify` applies it).
/// The tolerance is the manifest's (see ModelZoo/scripts/zoo.py for why 5e-4 of the peak for deep nets;
/// the single-op graphs use 1e-5).
func check(_ c: ZooCase, threads: Int = 2, batchOverride: Bool = false) throws {
    let model = try Model(contentsOf: c.dir.appendingPathComponent(c.file))
    var feeds: [String: Tensor] = [:]
    for (k, v) in c.inputs { feeds[k] = try NPY.read(contentsOf: c.dir.appendingPathComponent(v)) }
    let session = Session(model: model, options: SessionOptions(threads: threads))
    let out = try session.run(feeds)
    for (k, v) in c.outputs {
        let expected = try NPY.read(contentsOf: c.dir.appendingPathComponent(v))
        let got = try #require(out[k], "\(c.name): no output \(k)")
        #expect(got.shape == expected.shape, "\(c.name)/\(k): shape \(got.shape), expected \(expected.shape)")
        #expect(got.dtype == expected.dtype, "\(c.name)/\(k): dtype \(got.dtype), expected \(expected.dtype)")
        // Integer outputs (indices, quantized values) exactly, as the README promises.
        expectAgreement(got, expected, "\(c.name)/\(k)", rule: expected.dtype.isFloatingPoint ? .peakRelative(c.tolerance) : .exact)
    }
}

@Suite("ModelZoo models against onnxruntime's outputs")
struct ModelZooTests {
    @Test(arguments: zooCases("ops/manifest.json"))
    func opGraph(_ c: ZooCase) throws { try check(c) }

    @Test func opGraphsArePresent() {
        #expect(zooCases("ops/manifest.json").count >= 161, "ModelZoo/ops/manifest.json is missing or short")
    }

    /// Transformer encoders (opsets 14-17), a ViT and encoder-decoder CNNs exported from PyTorch
    /// (ModelZoo/scripts/make_nets.py); small enough for the debug build.
    @Test(arguments: zooCases("nets/manifest.json"))
    func network(_ c: ZooCase) throws { try check(c) }

    @Test func networksArePresent() {
        #expect(zooCases("nets/manifest.json").count >= 16, "ModelZoo/nets/manifest.json is missing or short")
    }

    @Test func digitsModel() throws {
        let cases = zooCases("manifest.json")
        let c = try #require(cases.first { $0.name == "digits_cnn" })
        try check(c, threads: 1)
        try check(c, threads: 2)
    }

    /// The ten torchvision architectures are generated on demand: exported with their weights
    /// (ModelZoo/scripts/make_torchvision.py, needs torch) or filled from the committed skeletons
    /// (ModelZoo/scripts/zoo_skeletons.py fill, needs onnx and onnxruntime only; what CI does). Run in
    /// release builds only, since a debug build computes them 10–100× slower.
    @Test(.enabled(if: isReleaseBuild && FileManager.default.fileExists(atPath: zooRoot.appendingPathComponent("generated/manifest.json").path),
                   "needs a release build and ModelZoo/generated (python3 ModelZoo/scripts/zoo_skeletons.py fill)"),
          arguments: zooCases("generated/manifest.json"))
    func generatedModel(_ c: ZooCase) throws { try check(c) }

    /// Where TOUCHSTONE_REQUIRE_ZOO is set (CI), the ten architectures must be there: a missing
    /// ModelZoo/generated fails instead of skipping.
    @Test(.enabled(if: isReleaseBuild && ProcessInfo.processInfo.environment["TOUCHSTONE_REQUIRE_ZOO"] != nil))
    func generatedModelsArePresent() {
        let architectures = Set(zooCases("generated/manifest.json").map { $0.name.split(separator: "_").dropLast().joined(separator: "_") })
        #expect(architectures.count >= 10, "ModelZoo/generated holds \(architectures.count) architectures; run python3 ModelZoo/scripts/zoo_skeletons.py fill")
    }
}

#if DEBUG
let isReleaseBuild = false
#else
let isReleaseBuild = true
#endif

@Suite("Values inside control-flow subgraphs")
struct SubgraphTapTests {
    /// The Loop's body (with an If nested in it) and the outer If's branch are visible to taps by
    /// their names, with the last iteration's values: the body's `h_out` must equal the last row of
    /// the scan output `steps` (stacked by the Loop from every iteration's `h_scan`), and `hw` is
    /// h·W of that iteration, so `pre − hw` is the bias b on every row.
    @Test func loopBodyValuesAreTapped() throws {
        let dir = zooRoot.appendingPathComponent("nets")
        let model = try Model(contentsOf: dir.appendingPathComponent("models/control_flow_o16.onnx"))
        let data = dir.appendingPathComponent("data/control_flow_o16_0_b2_m5")
        let feeds = ["h0": try NPY.read(contentsOf: data.appendingPathComponent("input_h0.npy")),
                     "M": try NPY.read(contentsOf: data.appendingPathComponent("input_M.npy"))]
        #expect(model.graph.computedNames.contains("hw") && model.graph.computedNames.contains("picked2"))
        let session = Session(model: model, options: SessionOptions(threads: 1, taps: .all))
        let out = try session.run(feeds)
        let steps = try #require(out["steps"]), hOut = try #require(session.tapped["h_out"])
        let last = steps.scalars(as: Float.self).suffix(hOut.count)
        #expect(Array(last) == hOut.scalars(as: Float.self), "h_out is not the last iteration's")
        let pre = try #require(session.tapped["pre"]).scalars(as: Float.self), hw = try #require(session.tapped["hw"]).scalars(as: Float.self)
        let bias = zip(pre, hw).map { $0 - $1 }
        // Two rows of 6: the same bias on both (to rounding of one addition).
        for j in 0..<6 { #expect(abs(bias[j] - bias[6 + j]) <= 1e-6, "pre − hw differs between rows at \(j)") }
        // The outer If took its else branch (the input sums below zero or not): one branch's value exists.
        #expect((session.tapped["picked"] != nil) != (session.tapped["picked2"] != nil))
    }
}
