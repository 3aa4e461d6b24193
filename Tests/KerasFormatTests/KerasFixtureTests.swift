import Foundation
import Testing
import Touchstone
import TouchstoneTesting

let sharedFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/fixtures/keras")
let haveFixtures = FileManager.default.fileExists(atPath: sharedFixtures.path)

/// The Keras fixtures (frugally-deep files made by its converter from Keras 3.14 on TensorFlow
/// 2.21; each embeds Keras's own outputs for one input).
let supportedFixtures = [
    "a_mlp_dense", "b_cnn_sequential", "c_functional_branches", "d_mobilenet_block", "e_two_in_two_out", "f_conv1d_embedding",
    "g_transformer_block", "h_conv_transpose_resize", "i_lstm_gru", "j_misc_layers", "k_nested_shared_rnn",
]

@Suite("Keras JSON (frugally-deep format) against Keras's stored outputs")
struct KerasFixtureTests {
    /// The fixtures live beside the checkout, in ../shared (CI has it); without them the tests fail.
    func requireFixtures() throws {
        try #require(haveFixtures, "\(sharedFixtures.path) is absent: the Keras fixture tests need ../shared beside the checkout")
    }

    /// Every output within frugally-deep's own bound, 1e-4 · max(1, max|expected|) (what `verify`
    /// applies), and within 2e-5 of the peak: Keras computed these in float32 with other summation
    /// orders and agreement is measured at ≤ 2e-6 of the peak, so 2e-5 leaves a factor of 10.
    @Test(arguments: supportedFixtures)
    func embeddedTestPasses(name: String) throws {
        try requireFixtures()
        let model = try Model(contentsOf: sharedFixtures.appendingPathComponent("\(name).json"))
        #expect(model.format == "keras")
        let result = try #require(try model.verify(options: SessionOptions(threads: 1)), "\(name) has no embedded test")
        for o in result.outputs { #expect(o.passed, "\(name): \(o.message)") }
        #expect(!result.outputs.isEmpty)
        try expectWithinMeasuredBound(model, name)
    }

    @Test func inputsAndOutputsKeepKerasShapes() throws {
        try requireFixtures()
        let model = try Model(contentsOf: sharedFixtures.appendingPathComponent("b_cnn_sequential.json"))
        let x = try #require(model.embeddedTest?.inputs.values.first)
        #expect(x.shape == [1, 30, 26, 3])
        let y = try model.run([model.inputs[0].name: x])
        #expect(y.values.first?.shape == [1, 5])
    }
}

let zooKeras = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("ModelZoo/keras")

/// Files written by Touchstone's own converter (Tools/keras2touchstone.py) from Keras 3.14 models run
/// on the PyTorch backend (ModelZoo/scripts/make_keras.py): they load and pass their embedded test.
@Suite("Keras JSON written by Tools/keras2touchstone.py")
struct KerasConverterTests {
    @Test(arguments: ["kz_cnn", "kz_sequence", "kz_transformer", "kz_sequential_mlp", "kz_dot"])
    func convertedModelPassesItsTest(name: String) throws {
        let model = try Model(contentsOf: zooKeras.appendingPathComponent("\(name).json"))
        let result = try #require(try model.verify(options: SessionOptions(threads: 1)), "\(name) has no embedded test")
        #expect(!result.outputs.isEmpty)
        for o in result.outputs { #expect(o.passed, "\(name): \(o.message)") }
        try expectWithinMeasuredBound(model, name)
    }
}

/// The embedded test's outputs within 2e-5 of each output's peak (10× the measured agreement).
func expectWithinMeasuredBound(_ model: Model, _ name: String) throws {
    let test = try #require(model.embeddedTest, "\(name) has no embedded test")
    let out = try model.run(test.inputs, options: SessionOptions(threads: 1))
    for (k, expected) in test.outputs {
        let got = try #require(out[k], "\(name): no output \(k)")
        expectAgreement(got, expected, "\(name)/\(k)", rule: .peakRelative(2e-5))
    }
}

@Suite("Keras JSON: bad files give typed errors")
struct KerasMalformedTests {
    func load(_ text: String) throws -> Model {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("keras-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try Model(contentsOf: url)
    }

    func expectError(_ text: String, _ fragments: [String]) {
        do {
            _ = try load(text)
            Issue.record("expected an error mentioning \(fragments)")
        } catch {
            let message = "\(error)"
            for f in fragments { #expect(message.contains(f), "error '\(message)' lacks '\(f)'") }
        }
    }

    static let dense = """
        {"architecture": {"class_name": "Functional", "config": {"name": "m", "layers": [
          {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [null, 2]}, "inbound_nodes": []},
          {"class_name": "Dense", "name": "d", "config": {"units": 1, "activation": "linear", "use_bias": true},
           "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 2], "keras_history": ["x", 0, 0]}}]}]}],
          "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}},
         "image_data_format": "channels_last", "trainable_params": {"d": {"weights": [WEIGHTS], "bias": ["AAAAAA=="]}}}
        """

    @Test func truncatedJSON() { expectError("{\"architecture\": {", ["not valid JSON"]) }
    @Test func weightSizeMismatch() {
        // Two floats declared by the shape (2 × 1), one float stored.
        expectError(Self.dense.replacingOccurrences(of: "WEIGHTS", with: "\"AACAPw==\""), ["layer 'd' weights", "needs 8"])
    }
    @Test func badBase64() { expectError(Self.dense.replacingOccurrences(of: "WEIGHTS", with: "\"AAC*PwAAgD8=\""), ["not valid base64"]) }
    @Test func unknownLayer() {
        expectError(Self.dense.replacingOccurrences(of: "\"Dense\"", with: "\"Fancy\"").replacingOccurrences(of: "WEIGHTS", with: ""),
                    ["Fancy", "not supported"])
    }
    @Test func channelsFirstRefused() {
        expectError(Self.dense.replacingOccurrences(of: "channels_last", with: "channels_first").replacingOccurrences(of: "WEIGHTS", with: "\"AACAPwAAgD8=\""),
                    ["channels_first"])
    }
    @Test func validFileLoadsAndRuns() throws {
        // weights [1.0, 1.0] (0x3F800000 twice), bias 0: y = x0 + x1.
        let m = try load(Self.dense.replacingOccurrences(of: "WEIGHTS", with: "\"AACAPwAAgD8=\""))
        let y = try m.run(["x": Tensor(shape: [1, 2], scalars: [Float(2), 3.5])])
        #expect(y["d"]?.scalars(as: Float.self) == [5.5])
    }
}
