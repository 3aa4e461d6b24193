import ArgumentParser
import Foundation
import Touchstone

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show a model's inputs, outputs, opset, ops, parameters and FLOPs.")

    @Argument(help: "The model file (.onnx, or Keras .json in frugally-deep's format).")
    var model: String

    @Option(help: "Batch size used for symbolic first dimensions when counting FLOPs.")
    var batch: Int = 1

    @OptionGroup var memory: MemoryOptions

    func run() throws {
        let url = URL(fileURLWithPath: model)
        if let keras = try Model(kerasJSONAt: url) {
            // Keras JSON: the layers are typed as they load; show the graph they became.
            print("model: \(url.path)")
            print("format: Keras JSON (frugally-deep)\(keras.metadata["model"].map { ", model '\($0)'" } ?? "")")
            print("parameters: \(formatCount(keras.graph.parameterCount)) in \(keras.graph.constants.count) weight tensors")
            printOps(keras.opHistogram, unsupported: [])
            try describe(keras)
            return
        }
        let survey = try ONNXSurvey.read(contentsOf: url)
        print("model: \(url.path)")
        print("format: ONNX, IR version \(survey.irVersion), opset \(survey.opset.map(String.init) ?? "none")\(survey.producer.isEmpty ? "" : ", produced by \(survey.producer)")")
        print("parameters: \(formatCount(survey.parameterCount)) in \(survey.initializerCount) initializers")
        printOps(survey.opHistogram, unsupported: Set(survey.unsupported.keys))
        if !survey.unsupported.isEmpty {
            print("supported: no — \(survey.unsupported.count) op type(s) unsupported: \(survey.unsupported.keys.sorted().joined(separator: ", "))")
            throw CheckFailed(message: "the model uses unsupported ops")
        }
        try describe(try Model(contentsOf: url))
    }

    /// The op histogram, most frequent first, marking unsupported ops.
    func printOps(_ histogram: [String: Int], unsupported: Set<String>) {
        print("ops (\(histogram.values.reduce(0, +)) nodes):")
        for (op, n) in histogram.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            print("  \(op.padding(toLength: max(op.count, 24), withPad: " ", startingAt: 0)) \(n)\(unsupported.contains(op) ? "   (unsupported)" : "")")
        }
    }

    func describe(_ m: Model) throws {
        print("inputs:")
        for d in m.inputs { print("  \(d)") }
        print("outputs:")
        for d in m.outputs { print("  \(d)") }
        var shapes: [String: [Int]] = [:]
        for d in m.inputs { shapes[d.name] = try concreteShape(d, batch: batch) }
        let types = try m.valueTypes(for: shapes)
        for d in m.outputs { if let t = types[d.name] { print("  \(d.name) at batch \(batch): \(t)") } }
        let macs = try m.multiplyAdds(for: shapes)
        print("FLOPs at batch \(batch): \(formatCount(2 * macs)) (multiply-adds counted as 2)")
        print("supported: yes — every op is supported")
    }
}

/// 12345678 → "12.35 M".
func formatCount(_ n: Int) -> String {
    let v = Double(n)
    if v >= 1e9 { return String(format: "%.2f G", v / 1e9) }
    if v >= 1e6 { return String(format: "%.2f M", v / 1e6) }
    if v >= 1e3 { return String(format: "%.2f k", v / 1e3) }
    return "\(n)"
}
