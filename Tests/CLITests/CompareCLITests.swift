import Foundation
import Testing
import TouchstoneTesting

/// `touchstone` with output to a file.
func touchstoneRun(_ args: [String]) throws -> (code: Int32, output: String) {
    try runLogged(touchstone, args)
}

/// Interop with Polygraphy (pinned in ModelZoo/scripts/requirements.txt): its files are read, and
/// Touchstone's files are read by it.
@Suite("touchstone compare and Polygraphy's files", .serialized)
struct CompareCLITests {
    let digits = "ModelZoo/models/digits_cnn.onnx"

    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Polygraphy's onnxruntime run of the digits CNN with every tensor marked: its inputs and
    /// results files.
    func polygraphyRun(_ dir: URL) throws -> (inputs: String, outputs: String) {
        let inputs = dir.appendingPathComponent("inputs.json").path, outputs = dir.appendingPathComponent("onnxrt.json").path
        let (code, log) = try tool("polygraphy", [
            "run", digits, "--onnxrt", "--input-shapes", "images:[4,1,8,8]", "--save-inputs", inputs, "--save-outputs", outputs,
            "--onnx-outputs", "mark", "all",
        ])
        try #require(code == 0, "polygraphy run failed (install the pinned polygraphy: pip install -r ModelZoo/scripts/requirements.txt): \(log)")
        return (inputs, outputs)
    }

    /// Touchstone reads Polygraphy's inputs and RunResults (with intermediates) and judges
    /// onnxruntime's 10 tensors within Polygraphy's default tolerances; the JSON verdict says so.
    @Test func comparesPolygraphyResults() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (inputs, outputs) = try polygraphyRun(dir)
        let json = dir.appendingPathComponent("verdict.json")
        let (code, out) = try touchstoneRun(["compare", digits, "--candidate", outputs, "--load-inputs", inputs, "--json", json.path, "--threads", "1"])
        #expect(code == 0, "\(out)")
        #expect(out.contains("PASSED: 10 of 10 tensors within tolerance"), "\(out)")
        let verdict = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any]
        #expect(verdict?["passed"] as? Bool == true)
        let tensors = verdict?["tensors"] as? [String: [String: Any]] ?? [:]
        #expect(tensors.count == 10 && tensors["logits"]?["error_stat"] as? String == "elemwise")
        for (name, t) in tensors {
            #expect((t["max_abs"] as? Double ?? .infinity) < 1e-4, "\(name): \(t)")
            #expect(t["atol"] as? Double == 1e-5 && t["rtol"] as? Double == 1e-5)
        }
    }

    /// Polygraphy loads Touchstone's saved outputs and intermediates (runner "touchstone") and
    /// compares them with its own onnxruntime run on the same inputs: it passes them.
    @Test func polygraphyReadsTouchstoneResults() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (inputs, _) = try polygraphyRun(dir)
        let results = dir.appendingPathComponent("touchstone.json").path
        let (code, out) = try touchstoneRun(["run", digits, "--load-inputs", inputs, "--save-outputs", results, "--save-tensors", "all", "--threads", "1"])
        #expect(code == 0 && out.contains("saved 10 tensors"), "\(out)")
        // Touchstone's own inputs file, too.
        let ownInputs = dir.appendingPathComponent("ts-inputs.json").path
        let (code2, out2) = try touchstoneRun(["run", digits, "--load-inputs", inputs, "--save-inputs", ownInputs, "--threads", "1"])
        #expect(code2 == 0, "\(out2)")
        let (pcode, plog) = try tool("polygraphy", [
            "run", digits, "--onnxrt", "--load-inputs", ownInputs, "--load-outputs", results, "--onnx-outputs", "mark", "all",
        ])
        #expect(pcode == 0, "\(plog)")
        #expect(plog.contains("vs. touchstone | Passed: 1/1 iterations"), "\(plog)")
        #expect(!plog.contains("FAILED"), "\(plog)")
    }

    /// A planted fault in one tensor of an .npz (one intermediate scaled by 1.01) fails that
    /// tensor alone (exit code 1), and the JSON names it; per-tensor tolerances loose enough for
    /// it pass (exit 0); .npz written by Touchstone is read back; bad files are refused (exit 2).
    @Test func plantedFaultPerTensorTolerancesAndBadFiles() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (inputs, outputs) = try polygraphyRun(dir)
        let faulty = dir.appendingPathComponent("faulty.npz").path
        let target = "/features/features.7/Conv_output_0"
        let script = """
            import sys, numpy as np
            from polygraphy.comparator import RunResults
            results = RunResults.load(sys.argv[1])
            outputs = dict(results[0][1][0].items())
            outputs[sys.argv[3]] = outputs[sys.argv[3]] * np.float32(1.01)
            np.savez(sys.argv[2], **outputs)
            """
        let (pcode, plog) = try tool("python3", ["-c", script, outputs, faulty, target])
        try #require(pcode == 0, "\(plog)")
        let json = dir.appendingPathComponent("verdict.json")
        let (code, out) = try touchstoneRun(["compare", digits, "--candidate", faulty, "--load-inputs", inputs, "--json", json.path, "--threads", "1"])
        #expect(code == 1, "\(out)")
        let verdict = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any]
        let tensors = verdict?["tensors"] as? [String: [String: Any]] ?? [:]
        #expect(tensors[target]?["passed"] as? Bool == false)
        // The scaled tensor's worst relative error is the 1% planted.
        #expect(abs((tensors[target]?["max_rel"] as? Double ?? 0) - 0.01) < 1e-4)
        // The other intermediates the candidate dumped come from the unscaled run: they pass.
        #expect(tensors.filter { $0.key != target }.allSatisfy { $0.value["passed"] as? Bool == true })
        #expect(out.contains("FAIL") && out.contains("Histogram"), "\(out)")
        // A per-tensor rtol that covers 1% passes everything.
        let (code2, out2) = try touchstoneRun(["compare", digits, "--candidate", faulty, "--load-inputs", inputs, "--rtol", "1e-5", "\(target):0.0101", "--threads", "1"])
        #expect(code2 == 0, "\(out2)")
        // Touchstone's own .npz, read back, passes at the tightest tolerance.
        let own = dir.appendingPathComponent("own.npz").path
        let (code3, out3) = try touchstoneRun(["run", digits, "--load-inputs", inputs, "--save-outputs", own, "--threads", "1"])
        #expect(code3 == 0, "\(out3)")
        let (code4, out4) = try touchstoneRun(["compare", digits, "--candidate", own, "--load-inputs", inputs, "--atol", "0", "--rtol", "0", "--threads", "1"])
        #expect(code4 == 0, "\(out4)")
        // Bad files: exit 2 with the file named.
        let garbage = dir.appendingPathComponent("garbage.json")
        try Data("{\"lst\": [[\"x\", [{\"outputs\": {\"logits\": {\"array\": \"!!\", \"polygraphy_class\": \"ndarray\"}}, \"polygraphy_class\": \"IterationResult\"}]]], \"polygraphy_class\": \"RunResults\"}".utf8).write(to: garbage)
        let (code5, out5) = try touchstoneRun(["compare", digits, "--candidate", garbage.path, "--load-inputs", inputs])
        #expect(code5 == 2 && out5.contains(garbage.path) && out5.contains("'logits'"), "\(out5)")
        let truncated = dir.appendingPathComponent("truncated.json")
        try Data(try Data(contentsOf: URL(fileURLWithPath: outputs)).prefix(300)).write(to: truncated)
        let (code6, out6) = try touchstoneRun(["compare", digits, "--candidate", truncated.path, "--load-inputs", inputs])
        #expect(code6 == 2 && out6.contains(truncated.path), "\(out6)")
        let (code7, out7) = try touchstoneRun(["compare", digits, "--candidate", outputs, "--load-inputs", inputs, "--atol", "nan"])
        #expect(code7 == 2 && out7.contains("--atol"), "\(out7)")
        let (code8, out8) = try touchstoneRun(["compare", digits, "--candidate", outputs])
        #expect(code8 == 2 && out8.contains("--load-inputs"), "\(out8)")
    }
}

/// Derived tolerances and localization on onnxruntime's runs (every tensor marked) of a small
/// U-Net with planted faults (ModelZoo/scripts/make_fault_candidates.py): the clean run passes,
/// each fault fails; with every tensor the first divergent segment is the faulty node alone, and
/// with a handful of tensors it is a segment holding that node.
@Suite("compare --localize on planted faults", .serialized)
struct LocalizationCLITests {
    let model = "ModelZoo/nets/models/unet_small_o17.onnx"
    let faults = [
        ("scale", "/downs.1/downs.1.0/Conv"), ("swap", "/downs.2/downs.2.0/Conv"), ("nearest", "/ups.1/ups.1.0/Resize"),
    ]

    func verdict(_ path: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any] ?? [:]
    }

    @Test func namesTheFaultyNode() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-faults-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var args = ["ModelZoo/scripts/make_fault_candidates.py", model, dir.path, "--shape", "1,3,32,40"]
        for (kind, node) in faults { args += ["--fault", "\(kind):\(node)"] }
        let (code, log) = try tool("python3", args)
        try #require(code == 0, "make_fault_candidates.py failed (needs the pinned onnx and onnxruntime): \(log)")
        let inputs = dir.appendingPathComponent("inputs.npz").path
        let json = dir.appendingPathComponent("verdict.json")
        func compare(_ candidate: String) throws -> (Int32, String, [String: Any]) {
            try? FileManager.default.removeItem(at: json)
            let (c, out) = try touchstoneRun([
                "compare", model, "--candidate", candidate, "--load-inputs", inputs, "--tolerance", "derived", "--localize", "--json", json.path,
                "--threads", "1",
            ])
            return (c, out, (try? verdict(json)) ?? [:])
        }
        let (cleanCode, cleanOut, clean) = try compare(dir.appendingPathComponent("clean.npz").path)
        #expect(cleanCode == 0, "\(cleanOut)")
        let cleanLocalization = clean["localization"] as? [String: Any]
        #expect(cleanLocalization?["first_divergent"] is NSNull, "\(cleanOut)")
        for (kind, node) in faults {
            let safe = node.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" ? $0 : "_" }
            let file = dir.appendingPathComponent("\(kind)_\(String(safe)).npz")
            let (c, out, v) = try compare(file.path)
            #expect(c == 1, "\(kind): \(out)")
            let loc = v["localization"] as? [String: Any]
            #expect(loc?["first_divergent"] as? String == node, "\(kind): \(out)")
            #expect(loc?["segment"] as? [String] == [node], "\(kind): \(out)")
            // A handful of tensors: every fourth in graph order, and the output.
            let subset = dir.appendingPathComponent("subset.npz")
            let script = """
                import sys, numpy as np
                z = np.load(sys.argv[1]); order = [k for k in z.files]
                keep = set(order[::4]) | {order[-1]}
                np.savez(sys.argv[2], **{k: z[k] for k in order if k in keep})
                """
            let (pc, plog) = try tool("python3", ["-c", script, file.path, subset.path])
            try #require(pc == 0, "\(plog)")
            let (c2, out2, v2) = try compare(subset.path)
            #expect(c2 == 1, "\(kind): \(out2)")
            let loc2 = v2["localization"] as? [String: Any]
            let segment = loc2?["segment"] as? [String] ?? []
            #expect(segment.contains(node), "\(kind): the first divergent segment \(segment) does not hold \(node): \(out2)")
        }
        // The HTML report of a localized failure draws its plots in a browser: the verdict
        // table, the error along depth, local against inherited error and one histogram per tensor.
        let browser = try #require(chromium, "chromium is needed to render the report (.ci/install-deps --browser installs it)")
        let html = dir.appendingPathComponent("html")
        let scaled = dir.appendingPathComponent("scale__downs.1_downs.1.0_Conv.npz").path
        let (hc, hout) = try touchstoneRun([
            "compare", model, "--candidate", scaled, "--load-inputs", inputs, "--tolerance", "derived", "--localize", "--html", html.path, "--threads", "1",
        ])
        #expect(hc == 1, "\(hout)")
        let page = try String(contentsOf: html.appendingPathComponent("compare.html"), encoding: .utf8)
        let plots = page.components(separatedBy: "<svg class=\"plot").count - 1
        #expect(plots == 2 + 26, "\(plots) plots")  // depth, local/inherited, one histogram per tensor (26)
        #expect(page.contains("First segment making more error than its tolerance") && page.contains("/downs.1/downs.1.0/Conv"))
        let (browserCode, dom) = try runProgram(
            browser, ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", html.appendingPathComponent("compare.html").absoluteString], timeout: 120)
        #expect(browserCode == 0)
        #expect(dom.contains("data-plots-drawn=\"\(plots)\""), "\(dom.prefix(300))")
    }
}
