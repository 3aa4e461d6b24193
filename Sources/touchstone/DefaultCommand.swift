import ArgumentParser
import Foundation
import Touchstone

/// What `touchstone` does with no arguments: runs the bundled default model on its bundled
/// sample input, compares with the stored expected output, and scores the labelled samples.
struct DefaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run the bundled default model and check it (what `touchstone` alone does).")

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var memory: MemoryOptions

    func validate() throws { try validateThreads(threads) }

    @Option(help: "Where the precision report on the labelled samples goes (empty to skip the report).")
    var reportOut: String = "touchstone-report"

    func run() throws {
        guard let root = ModelZoo.locate() else {
            throw UsageError("cannot find the ModelZoo (ModelZoo/manifest.json); run from the repository root or set TOUCHSTONE_MODELZOO")
        }
        let zoo = try ModelZoo.load(root)
        guard let name = zoo.defaultName, let entry = zoo.entries.first(where: { $0.name == name }) else {
            throw UsageError("\(root.path)/manifest.json names no default model")
        }
        if let expected = entry.sha256 {
            let actual = try SHA256.hexDigest(ofFile: entry.modelURL)
            guard actual == expected else {
                throw CheckFailed(message: "\(entry.modelURL.path) has SHA-256 \(actual), the manifest says \(expected)")
            }
        }
        print("touchstone: running the bundled model '\(entry.name)' (\(entry.file)) on its sample input, \(threads) thread\(threads == 1 ? "" : "s")")
        let checks = try checkEntry(entry, threads: threads)
        var ok = true
        for c in checks {
            print(String(format: "  output %@: max |Touchstone − onnxruntime| = %.3g, %.2g of the peak %.3g (tolerance %.0e) — %@",
                         c.name, c.maxAbsoluteError, c.maxAbsoluteError / max(c.peak, .leastNormalMagnitude), c.peak, entry.tolerance, c.passed ? "agrees" : "DISAGREES"))
            if !c.passed { print("    " + c.message) }
            ok = ok && c.passed
        }
        if let labelled = entry.labelledData {
            let arrays = try NPZ.read(contentsOf: entry.root.appendingPathComponent(labelled.file))
            guard let x = arrays[labelled.input], let y = arrays[labelled.labels] else {
                throw UsageError("\(labelled.file) lacks '\(labelled.input)' or '\(labelled.labels)'")
            }
            let model = try Model(contentsOf: entry.modelURL)
            let out = try Session(model: model, options: SessionOptions(threads: threads)).run([labelled.input: x])
            guard let logits = out[model.outputs[0].name], logits.shape.count == 2 else {
                throw CheckFailed(message: "the model's first output is not [N, classes]")
            }
            let classes = logits.shape[1]
            let v = logits.doubles(), labels = y.int64s()
            var correct = 0
            for i in 0..<labels.count {
                let row = v[(i * classes)..<((i + 1) * classes)]
                if let best = row.indices.max(by: { row[$0] < row[$1] }), best - i * classes == Int(labels[i]) { correct += 1 }
            }
            let acc = Double(correct) / Double(labels.count)
            print(String(format: "  accuracy on %d labelled samples: %.2f%% (%d correct)%@", labels.count, acc * 100, correct,
                         entry.referenceAccuracy.map { String(format: "; onnxruntime: %.2f%%", $0 * 100) } ?? ""))
            if let ref = entry.referenceAccuracy, abs(ref - acc) > 1.0 / Double(labels.count) + 1e-9 {
                ok = false
                print("  accuracy differs from onnxruntime's by more than one sample")
            }
        }
        if !ok { throw CheckFailed(message: "the bundled model's outputs do not match the stored expected outputs") }
        print("touchstone: OK — the results match the stored onnxruntime outputs")
        try precisionReport(root: root)
    }

    /// The precision report on the bundled samples (ModelZoo/data/digits_samples): FP32 against
    /// FP64, FP16, INT8 (entropy calibration), FP8 and INT4 weight-only against FP32.
    func precisionReport(root: URL) throws {
        let samples = root.appendingPathComponent("data/digits_samples"), labels = root.appendingPathComponent("data/digits_labels.txt")
        guard !reportOut.isEmpty, FileManager.default.fileExists(atPath: samples.path) else { return }
        let model = try Model(contentsOf: root.appendingPathComponent("models/digits_cnn.onnx"))
        let data = try SampleSet(directory: samples, model: model)
        var options = ReportOptions()
        options.precisions = [.fp16, .int8, .fp8, .int4w]
        options.labels = try data.labels(from: labels)
        options.threads = threads
        options.sensitivitySamples = 0
        print("touchstone: how much accuracy FP16, INT8 (entropy calibration), FP8 E4M3 (max calibration, Hopper's accumulation) and INT4 weight-only (blocks of 128, FP16 activations) lose, simulated, on \(data.count) labelled samples:")
        let bar = ProgressBar()
        let report = try PrecisionReport.make(model: model, name: "digits_cnn.onnx", data: data, options: options) { bar.update($0, $1, $2) }
        print(report.table(worst: 3), terminator: "")
        let dir = URL(fileURLWithPath: reportOut)
        try report.write(to: dir)
        print("touchstone: the HTML report is \(dir.appendingPathComponent("report.html").path) (touchstone report MODEL --data DIR makes one for any model)")
    }
}
