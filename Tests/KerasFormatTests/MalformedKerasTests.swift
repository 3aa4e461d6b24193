import Foundation
import JSONC
import Testing
import Touchstone

/// The ModelZoo's small Keras MLP (Dense 12 → 20 → … → 4), as text to break.
let mlpText: String = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelZoo/keras/kz_sequential_mlp.json")
    return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
}()

func loadKeras(_ text: String) throws -> Model {
    try KerasLoader.load(try JSON.parse(Data(text.utf8), path: "test.json"), path: "test.json")
}

@Suite("Malformed Keras files give typed errors")
struct MalformedKerasTests {
    /// The MLP with the first Dense layer's `"units": 20` replaced.
    func withUnits(_ literal: String) -> String { mlpText.replacingOccurrences(of: "\"units\": 20,", with: "\"units\": \(literal),") }

    @Test func fixtureIsThere() throws {
        try #require(mlpText.contains("\"units\": 20,"), "ModelZoo/keras/kz_sequential_mlp.json is missing or changed")
        _ = try loadKeras(mlpText)
    }

    /// Numbers that are no integers (or do not fit one) are refused, not converted (1e300 and NaN
    /// trapped in Int(_:)).
    @Test(arguments: ["1e300", "NaN", "Infinity", "-Infinity", "2.5", "-1", "0", "9223372036854775808", "\"seven\"", "null", "[]"])
    func unitsThatAreNoSize(literal: String) throws {
        try #require(mlpText.contains("\"units\": 20,"))
        do {
            _ = try loadKeras(withUnits(literal))
            Issue.record("units \(literal) loaded")
        } catch let e as LoadError {
            #expect(e.description.contains("units"), "\(e)")
        } catch let e as JSONError {
            // json-c refuses some literals outright (that, too, is a typed error naming the file).
            #expect(e.description.contains("test.json"), "\(e)")
        }
    }

    @Test func keraHistoryIndexThatIsNoInteger() throws {
        let text = mlpText.replacingOccurrences(of: "\"keras_history\": [\"input_layer\", 0, 0]", with: "\"keras_history\": [\"input_layer\", 1e300, 0]")
        try #require(text != mlpText)
        #expect(throws: LoadError.self) { _ = try loadKeras(text) }
    }

    @Test func trailingGarbageIsRefused() throws {
        #expect(throws: JSONError.self) { _ = try JSON.parse(Data((mlpText + " {}x").utf8), path: "test.json") }
        #expect(throws: JSONError.self) { _ = try JSON.parse(Data((mlpText + mlpText).utf8), path: "test.json") }
        _ = try JSON.parse(Data((mlpText + " \n\t ").utf8), path: "test.json")  // white space is fine
    }

    /// 20,000 layers listed in reverse order load in time linear in their number (the walk looked
    /// for the first ready layer from the start of the list each time: 2·10^8 checks).
    @Test func reverseOrderedLayersLoadQuickly() throws {
        let n = 20_000
        var layers = [#"{"class_name": "InputLayer", "name": "in", "config": {"name": "in", "batch_shape": [null, 4]}, "inbound_nodes": []}"#]
        for i in stride(from: n - 1, through: 0, by: -1) {
            let prev = i == 0 ? "in" : "a\(i - 1)"
            layers.append(#"{"class_name": "Activation", "name": "a\#(i)", "config": {"name": "a\#(i)", "activation": "relu"}, "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "keras_history": ["\#(prev)", 0, 0]}}], "kwargs": {}}]}"#)
        }
        let text = #"{"architecture": {"class_name": "Functional", "config": {"layers": ["# + layers.joined(separator: ", ")
            + #"], "input_layers": [["in", 0, 0]], "output_layers": [["a\#(n - 1)", 0, 0]]}}, "trainable_params": {}}"#
        let start = Date()
        let model = try loadKeras(text)
        #expect(Date().timeIntervalSince(start) < 20, "loading took \(Date().timeIntervalSince(start)) s")
        let y = try model.run(["in": Tensor(shape: [1, 4], scalars: [Float(-1), 2, -3, 4])])
        #expect(y.values.first?.scalars(as: Float.self) == [0, 2, 0, 4])
    }

    @Test func layersThatReadAMissingTensorAreNamed() throws {
        let text = mlpText.replacingOccurrences(of: "\"keras_history\": [\"input_layer\", 0, 0]", with: "\"keras_history\": [\"nowhere\", 0, 0]")
        try #require(text != mlpText)
        do {
            _ = try loadKeras(text)
            Issue.record("loaded")
        } catch let e as LoadError {
            #expect(e.description.contains("read tensors no layer produces"), "\(e)")
        }
    }
}
