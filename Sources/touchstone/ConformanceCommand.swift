import ArgumentParser
import Foundation
import Touchstone

struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run ONNX backend node tests (folders with model.onnx and test_data_set_0/*.pb).",
        discussion: """
            Inputs are bound to the graph's inputs by position. A case passes when every output has the expected \
            shape and dtype and |got − expected| ≤ atol + rtol·|expected| (NaN equals NaN). Cases whose outputs are \
            random by definition (training_dropout*, bernoulli*) are skipped. \
            ModelZoo/scripts/materialize_node_tests.py writes the suite of onnx 1.23.2 to disk.
            """)

    @Argument(help: "A folder of test-case folders (or one test-case folder).")
    var directory: String

    @Option(help: "Write {\"cases\": {name: result}} to this file.")
    var json: String?

    @Option(help: "Only cases whose name matches this POSIX extended regular expression (anywhere in the name, e.g. ^conv_).")
    var filter: String?

    @Option(help: "Relative tolerance.")
    var rtol: Double = 1e-3

    @Option(help: "Absolute tolerance.")
    var atol: Double = 1e-7

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = 1

    @OptionGroup var memory: MemoryOptions

    func validate() throws { try validateThreads(threads) }

    func run() throws {
        let root = URL(fileURLWithPath: directory)
        let fm = FileManager.default
        var dirs: [URL]
        if fm.fileExists(atPath: root.appendingPathComponent("model.onnx").path) {
            dirs = [root]
        } else {
            guard let names = try? fm.contentsOfDirectory(atPath: root.path) else { throw UsageError("\(directory) cannot be read") }
            dirs = names.sorted().map { root.appendingPathComponent($0) }.filter { fm.fileExists(atPath: $0.appendingPathComponent("model.onnx").path) }
        }
        if let filter {
            let re = try NameFilter(filter)
            dirs = dirs.filter { re.matches($0.lastPathComponent) }
        }
        var results: [String: String] = [:]
        var passed = 0, failed = 0, skipped = 0
        for dir in dirs {
            let name = dir.lastPathComponent
            let (result, detail) = runCase(dir)
            results[name] = result
            switch result {
            case "pass": passed += 1
            case "fail", "error": failed += 1
            default: skipped += 1
            }
            print("\(result) \(name)\(detail.isEmpty ? "" : ": " + detail)")
        }
        if let json {
            let body = results.keys.sorted().map { "  \"\($0)\": \"\(results[$0] ?? "")\"" }.joined(separator: ",\n")
            try "{\"cases\": {\n\(body)\n}}\n".write(toFile: json, atomically: true, encoding: .utf8)
        }
        print("\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : ""))
        if failed > 0 { throw CheckFailed(message: "\(failed) of \(passed + failed) runnable cases failed or raised an error") }
    }

    /// What differs between an output and the expected value, by the node tests' own rule
    /// (numpy's allclose, NaN agreeing with NaN); sequences item by item, and an optional as its
    /// value (as onnx's backend runner compares them).
    func compare(_ got: Tensor, _ expected: Tensor, name: String) -> [String] {
        func unwrapped(_ t: Tensor) -> Tensor? {
            if case .optional(let v)? = t.container { return v.flatMap(unwrapped) }
            return t
        }
        guard let e = unwrapped(expected) else { return unwrapped(got) == nil ? [] : ["output \(name) has a value, expected none"] }
        guard let g = unwrapped(got) else { return ["output \(name) is none, expected \(e)"] }
        if let expectedItems = e.sequenceItems {
            guard let items = g.sequenceItems else { return ["output \(name) is \(g), expected a sequence"] }
            guard items.count == expectedItems.count else { return ["output \(name) has \(items.count) items, expected \(expectedItems.count)"] }
            return zip(items, expectedItems).enumerated().flatMap { k, p in compare(p.0, p.1, name: "\(name)[\(k)]") }
        }
        guard g.dtype == e.dtype else { return ["output \(name) is \(g.dtype), expected \(e.dtype)"] }
        guard g.container == nil || g.strings != nil else { return ["output \(name) is \(g), expected a tensor"] }
        // Strings agree only when equal (`Oracle.agreement`), numbers by the tests' rule.
        let a = Oracle.agreement(g, e, name: name, rule: .allClose(rtol: rtol, atol: atol))
        return a.passed ? [] : [a.message]
    }

    /// Runs one case: ("pass" | "fail" | "unsupported" | "skipped" | "error", detail).
    func runCase(_ dir: URL) -> (String, String) {
        let name = dir.lastPathComponent
        if name.hasPrefix("test_training_dropout") || name.hasPrefix("test_bernoulli") {
            return ("skipped", "outputs are random by definition")
        }
        let modelURL = dir.appendingPathComponent("model.onnx")
        do {
            let survey = try ONNXSurvey.read(contentsOf: modelURL)
            if !survey.unsupported.isEmpty { return ("unsupported", survey.unsupported.keys.sorted().joined(separator: ", ")) }
            let model = try Model(contentsOf: modelURL)
            let data = dir.appendingPathComponent("test_data_set_0")
            var feeds: [String: Tensor] = [:]
            for (i, decl) in model.inputs.enumerated() {
                let file = data.appendingPathComponent("input_\(i).pb")
                guard FileManager.default.fileExists(atPath: file.path) else { break }
                feeds[decl.name] = try ONNXTensor.readValue(contentsOf: file, kind: decl.kind, dtype: decl.dtype)
            }
            let outputs = try Session(model: model, options: SessionOptions(threads: threads)).run(feeds)
            var failures: [String] = []
            for (i, decl) in model.outputs.enumerated() {
                let file = data.appendingPathComponent("output_\(i).pb")
                guard FileManager.default.fileExists(atPath: file.path) else { continue }
                let expected = try ONNXTensor.readValue(contentsOf: file, kind: decl.kind, dtype: decl.dtype)
                guard let got = outputs[decl.name] else { return ("fail", "no output \(decl.name)") }
                failures += compare(got, expected, name: decl.name)
            }
            return failures.isEmpty ? ("pass", "") : ("fail", failures.joined(separator: "; "))

        } catch let e as LoadError where e.message.contains("not supported") {
            return ("unsupported", e.message)
        } catch {
            return ("error", "\(error)".replacingOccurrences(of: "\n", with: " "))
        }
    }
}
