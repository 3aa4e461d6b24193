import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TensorCore
import Testing
import TouchstoneTesting

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The `touchstone` executable built beside this test bundle.
let touchstone: URL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("touchstone")

/// The CLI tests need the `touchstone` executable that `swift build` puts beside the test bundle.
struct MissingExecutable: Error, CustomStringConvertible {
    var description: String { "the touchstone executable is not built beside the tests (\(touchstone.path)); run swift build first" }
}

/// Runs touchstone with arguments; returns (exit code, stdout, stderr). Output goes to files (a
/// child that fills a pipe cannot block) and the child is terminated after `timeout` seconds
/// (exit code -1).
func cli(_ args: [String], cwd: URL = repoRoot, timeout: TimeInterval = 600, environment: [String: String] = [:]) throws -> (Int32, String, String) {
    guard FileManager.default.isExecutableFile(atPath: touchstone.path) else { throw MissingExecutable() }
    let p = Process()
    p.executableURL = touchstone
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    p.currentDirectoryURL = cwd
    let dir = FileManager.default.temporaryDirectory
    let outURL = dir.appendingPathComponent("ts-cli-out-\(UUID().uuidString)"), errURL = dir.appendingPathComponent("ts-cli-err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    var code: Int32 = -1
    if p.isRunning { p.terminate(); p.waitUntilExit() } else { p.waitUntilExit(); code = p.terminationStatus }
    try? out.close()
    try? err.close()
    let o = (try? String(contentsOf: outURL, encoding: .utf8)) ?? "", e = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
    return (code, o, code == -1 ? e + "\ntouchstone \(args.first ?? "") timed out after \(timeout) s" : e)
}

@Suite("touchstone command line")
struct CLITests {
    let digits = "ModelZoo/models/digits_cnn.onnx"

    @Test func noArgumentsRunsAndChecksTheBundledModel() throws {
        // From a scratch folder, so that the report the demo writes stays out of the repository
        // (the demo finds the ModelZoo beside its executable).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, out, _) = try cli([], cwd: dir)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("touchstone-report/report.html").path))
        #expect(code == 0)
        #expect(out.contains("agrees") && out.contains("accuracy on 360 labelled samples"))
    }

    /// A model path that is a FIFO (which would block a read forever) or a folder is refused at
    /// once with exit code 2, by every command that loads a model, and so is a candidate file that
    /// is a FIFO.
    @Test func pathsThatAreNotRegularFilesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("model.onnx"), npz = dir.appendingPathComponent("c.npz")
        #expect(mkfifo(fifo.path, 0o600) == 0 && mkfifo(npz.path, 0o600) == 0)
        for args in [["inspect", fifo.path], ["run", fifo.path], ["verify", fifo.path], ["run", dir.path],
                     ["compare", digits, "--candidate", npz.path, "--load-inputs", "ModelZoo/data/digits_cnn/input_images.npy"]] {
            let (code, _, err) = try cli(args, timeout: 60)
            #expect(code == 2 && (err.contains("not a regular file") || err.contains("is a folder")), "\(args): exit \(code), \(err)")
        }
    }

    /// Seeded inputs are sized before they are allocated: a batch of 2^40 is refused (exit 2), as
    /// is a percentile that is not a number.
    @Test func hugeSeededInputsAndBadPercentilesAreRefused() throws {
        let (code, _, err) = try cli(["run", digits, "--batch", "1099511627776"], timeout: 60)
        #expect(code == 2 && err.contains("over the memory budget"), "\(err)")
        let (code2, _, err2) = try cli(["report", digits, "--data", "ModelZoo/data/digits_samples", "--percentile", "nan"], timeout: 60)
        #expect(code2 == 2 && err2.contains("--percentile"), "\(err2)")
        let (code3, _, err3) = try cli(["run", digits, "--threads", "0"], timeout: 60)
        #expect(code3 == 2 && err3.contains("--threads"), "\(err3)")
    }

    @Test func runWritesSanitisedOutputFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, out, _) = try cli(["run", digits, "--input", "images=ModelZoo/data/digits_cnn/input_images.npy", "--out", dir.path, "--threads", "1"])
        #expect(code == 0)
        #expect(out.contains("output logits: float32[8, 10]") && out.contains("top-5"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("logits.npy").path))
        // Omitted inputs get seeded random values, and the tool says so.
        let (code2, out2, _) = try cli(["run", "ModelZoo/ops/models/transpose_perm.onnx", "--out", dir.path])
        #expect(code2 == 0 && out2.contains("seeded random"))
    }

    /// A transformer encoder with three int64 inputs through `touchstone run`: the .npy files it
    /// writes hold onnxruntime's values within 5e-4 of the peak (the manifest's rule), and `verify`
    /// agrees on the same case.
    @Test func runWritesTransformerOutputsThatVerify() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = "ModelZoo/nets/data/bert_tiny_o14_1_b3_s7"
        let (code, out, _) = try cli([
            "run", "ModelZoo/nets/models/bert_tiny_o14.onnx", "--input", "input_ids=\(data)/input_input_ids.npy",
            "--input", "attention_mask=\(data)/input_attention_mask.npy", "--input", "token_type_ids=\(data)/input_token_type_ids.npy",
            "--out", dir.path])
        #expect(code == 0)
        #expect(out.contains("output last_hidden_state: float32[3, 7, 64]") && out.contains("output pooled: float32[3, 64]"))
        for name in ["last_hidden_state", "pooled"] {
            let got = try NPY.read(contentsOf: dir.appendingPathComponent("\(name).npy"))
            let expected = try NPY.read(contentsOf: repoRoot.appendingPathComponent("\(data)/expected_\(name).npy"))
            expectAgreement(got, expected, name, rule: .peakRelative(5e-4))
        }
        let (verifyCode, verifyOut, _) = try cli(["verify", "--manifest", "ModelZoo/nets/manifest.json", "--filter", "^bert_tiny_o14"])
        #expect(verifyCode == 0 && verifyOut.contains("2 passed, 0 failed"))
    }

    @Test func outputNamesWithOddCharactersBecomeSafeFileNames() throws {
        // concat_neg_axis has output Y; split_attr_opset11 has Y0..Y2; use the shape-subgraph model's Y.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, _, _) = try cli(["run", "ModelZoo/ops/models/split_attr_opset11.onnx", "--out", dir.path])
        #expect(code == 0)
        for n in ["Y0", "Y1", "Y2"] { #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("\(n).npy").path)) }
    }

    @Test func inspectReportsTheModel() throws {
        let (code, out, _) = try cli(["inspect", digits])
        #expect(code == 0)
        #expect(out.contains("opset 17") && out.contains("Conv") && out.contains("FLOPs") && out.contains("supported: yes"))
    }

    @Test func benchPrintsJSON() throws {
        let (code, out, _) = try cli(["bench", digits, "--runs", "3", "--warmup", "1", "--batch", "4", "--json"])
        #expect(code == 0)
        let last = out.split(separator: "\n").last.map(String.init) ?? ""
        let json = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        #expect((json?["lat_ms"] as? [Double])?.count == 3)
        #expect(json?["load_s"] is Double && json?["peak_rss_mb"] is Double)
    }

    /// Seeded integer inputs are 0 or 1, as Polygraphy's data loader makes them: valid token
    /// ids, token types and masks (a token type beyond 1 stopped BERT's benchmark); and inputs can
    /// be given as files, named as the model names them.
    @Test func benchSeedsValidTokensAndTakesInputFiles() throws {
        let bert = "ModelZoo/nets/models/bert_tiny_o14.onnx"
        let (code, out, err) = try cli(["bench", bert, "--runs", "2", "--warmup", "0", "--batch", "2"])
        #expect(code == 0, "\(out)\(err)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var args = ["bench", bert, "--runs", "2", "--warmup", "0"]
        for (name, values) in [("input_ids", (0..<16).map { Int64($0 * 7 % 50) }), ("attention_mask", [Int64](repeating: 1, count: 16)),
                               ("token_type_ids", (0..<16).map { Int64($0 / 8) })] {
            let file = dir.appendingPathComponent("\(name).npy")
            try NPY.write(Tensor(shape: [1, 16], scalars: values), to: file)
            args += ["--input", "\(name)=\(file.path)"]
        }
        let (c2, o2, e2) = try cli(args)
        #expect(c2 == 0 && o2.contains("batch 1"), "\(o2)\(e2)")
        #expect(try cli(["bench", bert, "--input", "no_such_input=\(dir.path)/input_ids.npy"]).0 == 2)
        // Symbolic dimensions after the batch are 1 unless --input-shapes (Polygraphy's syntax) sets them.
        #expect(out.contains("symbolic dimension seq set to 1"))
        let shapes = ["input_ids:[2,32]", "attention_mask:[2,32]", "token_type_ids:[2,32]"]
        let (c3, o3, e3) = try cli(["bench", bert, "--runs", "2", "--warmup", "0", "--json", "--input-shapes"] + shapes)
        #expect(c3 == 0 && !o3.contains("set to 1"), "\(o3)\(e3)")
        let (c4, _, e4) = try cli(["run", bert, "--input-shapes", "input_ids:[2,32,1]"])
        #expect(c4 == 2 && e4.contains("declared"))
        #expect(try cli(["run", bert, "--input-shapes", "input_ids:2x32"]).0 == 2)
    }

    @Test func exitCodes() throws {
        // 2: bad usage and bad files.
        #expect(try cli(["run"]).0 == 2)
        #expect(try cli(["run", "no/such/model.onnx"]).0 == 2)
        #expect(try cli(["run", digits, "--input", "nosuchinput=x.npy"]).0 == 2)
        let (code, _, err) = try cli(["run", "ModelZoo/data/npy/values.json"])
        #expect(code == 2 && !err.isEmpty && err.split(separator: "\n").count == 1)
        let (c2, _, e2) = try cli(["run", "ModelZoo/data/npy/f32.npy"])
        #expect(c2 == 2 && e2.contains("not a valid ONNX model"))
        // 1: a comparison that fails (verify against a manifest whose expected output is wrong).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let wrong = dir.appendingPathComponent("wrong.npy")
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("ModelZoo/data/npy/f32.npy"), to: wrong)
        let model = repoRoot.appendingPathComponent("ModelZoo/ops/models/act_relu.onnx")
        let input = repoRoot.appendingPathComponent("ModelZoo/ops/data/act_relu/input_X.npy")
        let manifest = """
            {"models": [{"name": "wrong", "file": "\(model.path)", "inputs": {"X": "\(input.path)"}, "outputs": {"Y": "\(wrong.path)"}, "tolerance": 1e-5}]}
            """
        try manifest.write(to: dir.appendingPathComponent("manifest.json"), atomically: true, encoding: .utf8)
        #expect(try cli(["verify", "--manifest", dir.appendingPathComponent("manifest.json").path]).0 == 1)
        #expect(try cli(["verify", "--manifest", "ModelZoo/ops/manifest.json", "--filter", "^conv_"]).0 == 0)
    }
}

/// Where .ci/run materializes ONNX's node tests (TOUCHSTONE_NODE_TESTS overrides).
let nodeTests = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TOUCHSTONE_NODE_TESTS"] ?? repoRoot.appendingPathComponent(".build/node-tests").path)

@Suite("ONNX node-test conformance does not regress")
struct ConformanceTests {
    @Test func everyBaselinePassStillPasses() throws {
        try #require(
            FileManager.default.fileExists(atPath: nodeTests.appendingPathComponent("test_abs/model.onnx").path),
            "the ONNX node tests are not materialized (python3 ModelZoo/scripts/materialize_node_tests.py .build/node-tests; .ci/run does it)")
        let baseline = try String(contentsOf: repoRoot.appendingPathComponent("ModelZoo/conformance/passing.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        #expect(baseline.count > 400)
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let (code, out, err) = try cli(["conformance", nodeTests.path, "--json", json.path])
        let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: [String: String]]
        let cases = parsed?["cases"] ?? [:]
        // Exit code 1 exactly when a runnable case fails or raises an error.
        let failing = cases.filter { $0.value == "fail" || $0.value == "error" }
        #expect(code == (failing.isEmpty ? 0 : 1), "exit \(code) with \(failing.count) failing cases: \(err)")
        let regressed = baseline.filter { cases[$0] != "pass" }
        #expect(regressed.isEmpty, "cases that passed before and now do not: \(regressed.prefix(20))")
        #expect(out.split(separator: "\n").last?.contains("passed") == true)
    }
}

@Suite("touchstone on hostile command lines")
struct HostileCommandLineTests {
    let digits = "ModelZoo/models/digits_cnn.onnx"

    /// Sizes from files are checked against the memory budget (--max-memory, or
    /// TOUCHSTONE_MAX_MEMORY) before anything is allocated.
    @Test func memoryBudget() throws {
        let (code, _, err) = try cli(["run", digits, "--max-memory", "4K"], timeout: 60)
        #expect(code == 2 && err.contains("over the memory budget of 4 KiB (--max-memory)"), "\(err)")
        let (code2, _, err2) = try cli(["run", digits], timeout: 60, environment: ["TOUCHSTONE_MAX_MEMORY": "4K"])
        #expect(code2 == 2 && err2.contains("TOUCHSTONE_MAX_MEMORY"), "\(err2)")
        let (code3, _, err3) = try cli(["run", digits], timeout: 60, environment: ["TOUCHSTONE_MAX_MEMORY": "lots"])
        #expect(code3 == 2 && err3.contains("is not a size"), "\(err3)")
        let (code4, _, err4) = try cli(["run", digits, "--max-memory", "64M"], timeout: 60)
        #expect(code4 == 0, "\(err4)")
    }

    /// A filter that backtracks exponentially in a backtracking engine, on a long name, finishes
    /// at once: the C library's matcher is used.
    @Test func backtrackingFilterFinishes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-filter-\(UUID().uuidString)")
        let name = "test_" + String(repeating: "a", count: 60) + "b"
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent(digits), to: dir.appendingPathComponent(name).appendingPathComponent("model.onnx"))
        let start = Date()
        let (code, out, err) = try cli(["conformance", dir.path, "--filter", "(a+)+$"], timeout: 60)
        #expect(code != -1 && Date().timeIntervalSince(start) < 30, "\(out) \(err)")
        let (code2, _, err2) = try cli(["conformance", dir.path, "--filter", "(a)\\1"], timeout: 60)
        #expect(code2 == 2 && err2.contains("back-reference"), "\(err2)")
    }

    /// Names from files and arguments are printed with control characters escaped.
    @Test func controlCharactersAreEscaped() throws {
        let (code, _, err) = try cli(["run", "no\u{1b}[2Jsuch\u{07}.onnx"], timeout: 60)
        #expect(code == 2)
        #expect(!err.contains("\u{1b}") && !err.contains("\u{07}") && err.contains("\\u{1b}"), "\(err)")
    }
}
