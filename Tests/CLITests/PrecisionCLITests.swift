import Foundation
import TensorCore
import Testing
import TouchstoneTesting

/// Headless Chromium, when installed (Debian's `chromium` package; `.ci/install-deps --browser`).
let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs a program with a time limit (see `runLogged`); returns its exit code and what it printed.
func runProgram(_ path: String, _ args: [String], timeout: TimeInterval) throws -> (Int32, String) {
    let (code, output) = try runLogged(URL(fileURLWithPath: path), args, timeout: timeout)
    return (code, output)
}

@Suite("touchstone calibrate and report")
struct PrecisionCLITests {
    let digits = "ModelZoo/models/digits_cnn.onnx"
    let samples = "ModelZoo/data/digits_samples"

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-precision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Sharded calibration (two passes of two shards, merged) writes the very cache one process does.
    /// Every run uses one thread: FP32 kernels split over threads may differ in the last bit.
    @Test(arguments: ["entropy", "minmax"]) func shardsMergeIntoTheSingleProcessCache(method: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        var (code, _, err) = try cli(["calibrate", digits, "--data", samples, "--method", method, "--cache", path("single.cache"), "--threads", "1"])
        #expect(code == 0, "\(err)")
        for i in 0..<2 {
            (code, _, err) = try cli(["calibrate", digits, "--data", samples, "--method", method, "--shard", "\(i)/2", "--cache", path("max\(i).json"), "--threads", "1"])
            #expect(code == 0, "\(err)")
        }
        (code, _, err) = try cli(["calibrate", "merge", path("max0.json"), path("max1.json"), "--method", method, "--cache", path(method == "minmax" ? "sharded.cache" : "ranges.json")])
        #expect(code == 0, "\(err)")
        if method != "minmax" {
            for i in 0..<2 {
                (code, _, err) = try cli(["calibrate", digits, "--data", samples, "--method", method, "--shard", "\(i)/2", "--ranges", path("ranges.json"), "--cache", path("hist\(i).json"), "--threads", "1"])
                #expect(code == 0, "\(err)")
            }
            (code, _, err) = try cli(["calibrate", "merge", path("hist1.json"), path("hist0.json"), "--method", method, "--cache", path("sharded.cache")])
            #expect(code == 0, "\(err)")
        }
        let single = try String(contentsOfFile: path("single.cache"), encoding: .utf8)
        let sharded = try String(contentsOfFile: path("sharded.cache"), encoding: .utf8)
        #expect(single == sharded)
        #expect(single.hasPrefix(method == "entropy" ? "TRT-8601-EntropyCalibration2\n" : "TRT-8601-MinMaxCalibration\n"))
        // Every float tensor computed from the input, as TensorRT's calibrators cover them: the
        // input, the four activations INT8 quantizes, the other layers' outputs and the logits.
        let names = Set(single.split(separator: "\n").dropFirst().map { String($0[..<($0.range(of: ": ", options: .backwards)?.lowerBound ?? $0.endIndex)]) })
        #expect(names.isSuperset(of: ["images", "logits", "/features/features.2/Relu_output_0"]) && names.count > 4, "\(names)")
        // --tensors quantized: only the inputs of the Conv and Gemm nodes.
        (code, _, err) = try cli(["calibrate", digits, "--data", samples, "--method", method, "--tensors", "quantized", "--cache", path("quantized.cache"), "--threads", "1"])
        #expect(code == 0, "\(err)")
        let quantized = try String(contentsOfFile: path("quantized.cache"), encoding: .utf8).split(separator: "\n")
        #expect(quantized.count == 5)  // header + the 4 quantized activations
        #expect(quantized.dropFirst().allSatisfy { line in names.contains { line.hasPrefix($0 + ": ") } })
        // The cache drives an INT8 run.
        (code, _, err) = try cli(["run", digits, "--precision", "int8", "--calibration", path("single.cache"), "--input", "images=ModelZoo/data/digits_cnn/input_images.npy"])
        #expect(code == 0, "\(err)")
    }

    @Test func fp16AccumulationIsChosenOnTheCommandLine() throws {
        let input = ["--input", "images=ModelZoo/data/digits_cnn/input_images.npy"]
        var (code, out, err) = try cli(["run", digits, "--precision", "fp16", "--accumulation", "fp16"] + input)
        #expect(code == 0, "\(err)")
        #expect(out.contains("fp16, FP16 sums"))
        (code, _, err) = try cli(["run", digits, "--precision", "fp16", "--accumulation", "fp8"] + input)
        #expect(code == 2)
        #expect(err.contains("--accumulation 'fp8'"))
    }

    /// `--bias-addition after-rounding` reaches the run (the digits CNN's convolutions have
    /// biases, so its FP16 logits change) and a wrong value is a usage error.
    @Test func biasAdditionIsChosenOnTheCommandLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = ["--input", "images=ModelZoo/data/digits_cnn/input_images.npy"]
        var logits: [String: [Float]] = [:]
        for mode in ["in-sum", "after-rounding"] {
            let out = dir.appendingPathComponent(mode).path
            let (code, stdout, err) = try cli(["run", digits, "--precision", "fp16", "--bias-addition", mode, "--out", out] + input)
            #expect(code == 0, "\(err)")
            #expect(stdout.contains("biases added after rounding") == (mode == "after-rounding"), "\(stdout)")
            logits[mode] = try NPY.read(contentsOf: URL(fileURLWithPath: out).appendingPathComponent("logits.npy")).scalars(as: Float.self)
        }
        #expect(logits["in-sum"] != logits["after-rounding"], "the option changed nothing")
        let (code, _, err) = try cli(["run", digits, "--precision", "fp16", "--bias-addition", "later"] + input)
        #expect(code == 2)
        #expect(err.contains("--bias-addition 'later'"))
    }

    @Test func aCacheNamingUnknownTensorsIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("bad.cache")
        try "TRT-8601-EntropyCalibration2\nimages: 3c010204\nno such tensor: 3c010204\n".write(to: cache, atomically: true, encoding: .utf8)
        let (code, _, err) = try cli(["run", digits, "--precision", "int8", "--calibration", cache.path])
        #expect(code == 2)
        #expect(err.contains("'no such tensor'") && err.contains("not in the model"))
    }

    @Test func reportWritesItsFilesAndGatesOnBounds() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["report", digits, "--data", samples, "--labels", "ModelZoo/data/digits_labels.txt", "--out", dir.path, "--sensitivity-samples", "32", "--target", "top1_drop<=0"]
        let (code, out, err) = try cli(common + ["--fail-if", "top1_drop>0.05"])
        #expect(code == 0, "\(err)")
        #expect(out.contains("fp16") && out.contains("int8") && out.contains("report.html"))
        for f in ["report.json", "layers.csv", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report.json"))) as? [String: Any]
        let precisions = json?["precisions"] as? [String: [String: Any]]
        let fp32 = precisions?["fp32"]?["accuracy"] as? Double, fp16 = precisions?["fp16"]?["accuracy"] as? Double
        let int8 = precisions?["int8"]?["accuracy"] as? Double
        // The trained model: FP16 within a fraction of a percent of FP32, INT8 close.
        #expect(fp32.map { $0 > 0.95 } == true)
        #expect(fp16 != nil && fp32 != nil && abs(fp16! - fp32!) < 0.005)
        #expect(int8 != nil && fp32 != nil && fp32! - int8! < 0.03)
        let sensitivity = json?["sensitivity"] as? [String: Any]
        #expect((sensitivity?["layers"] as? [Any])?.count == 4)
        let csv = try String(contentsOf: dir.appendingPathComponent("layers.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("index,node,op,output,precision"))
        // A bound that holds makes the exit code 1 and says which.
        let (failCode, _, failErr) = try cli(common + ["--precisions", "int8", "--fail-if", "int8.top1_agreement<=1"])
        #expect(failCode == 1)
        #expect(failErr.contains("top1_agreement"))
    }

    /// Three shards merged give the single process's report.json, layers.csv and report.html, bit
    /// for bit (timing aside), with INT8, FP8 and FP16 rows, the sensitivity analysis and a target.
    @Test func shardedReportEqualsOneProcess() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache.json").path
        let (c0, _, e0) = try cli(["calibrate", digits, "--data", samples, "--method", "entropy", "--cache", cache])
        #expect(c0 == 0, "\(e0)")
        let common = ["report", digits, "--data", samples, "--labels", "ModelZoo/data/digits_labels.txt", "--calibration", cache, "--limit", "60",
                      "--sensitivity-samples", "8", "--target", "top1_drop<=0", "--precisions", "fp16,int8,fp8"]
        let (c1, _, e1) = try cli(common + ["--out", dir.appendingPathComponent("single").path])
        #expect(c1 == 0, "\(e1)")
        for i in 0..<3 {
            let (c, out, e) = try cli(common + ["--shard", "\(i)/3", "--out", dir.appendingPathComponent("part\(i)").path])
            #expect(c == 0 && out.contains("shard \(i) of 3, 20 samples"), "\(e)")
        }
        // Merged in another order than the shards' numbers: the order must not matter.
        let (c2, out2, e2) = try cli(["report", "merge"] + [2, 0, 1].map { dir.appendingPathComponent("part\($0)").path } + ["--out", dir.appendingPathComponent("merged").path])
        #expect(c2 == 0 && out2.contains("3 shards, 60 samples"), "\(e2)")
        func read(_ d: String, _ f: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(d).appendingPathComponent(f)) }
        var single = try #require(JSONSerialization.jsonObject(with: read("single", "report.json")) as? [String: Any])
        var merged = try #require(JSONSerialization.jsonObject(with: read("merged", "report.json")) as? [String: Any])
        #expect(single.removeValue(forKey: "seconds") != nil && merged.removeValue(forKey: "seconds") != nil)
        #expect(NSDictionary(dictionary: single).isEqual(to: merged), "report.json differs")
        #expect(try read("single", "layers.csv") == read("merged", "layers.csv"))
        #expect(try read("single", "report.html") == read("merged", "report.html"))
        #expect((single["sensitivity"] as? [String: Any]) != nil && (single["precisions"] as? [String: Any])?["fp8"] != nil)
        // Missing or repeated shards are refused.
        let (c3, _, e3) = try cli(["report", "merge", dir.appendingPathComponent("part0").path, dir.appendingPathComponent("part0").path, dir.appendingPathComponent("part1").path])
        #expect(c3 == 2 && e3.contains("each of 0…2 of 3 once"), "\(e3)")
        // A part claiming an absurd shard count is refused without allocating for it.
        let hostile = dir.appendingPathComponent("hostile.json")
        let text = try String(contentsOf: dir.appendingPathComponent("part0/part.json"), encoding: .utf8)
        try text.replacingOccurrences(of: "\"shard\": [0,3]", with: "\"shard\": [0,4503599627370496]").write(to: hostile, atomically: true, encoding: .utf8)
        let (c5, _, e5) = try cli(["report", "merge", hostile.path, "--out", dir.appendingPathComponent("y").path])
        #expect(c5 == 2 && e5.contains("of 4503599627370496 once"), "\(e5)")
        // A sharded report without a cache for its calibrated formats is refused.
        let (c4, _, e4) = try cli(["report", digits, "--data", samples, "--precisions", "int8", "--shard", "0/2", "--out", dir.appendingPathComponent("x").path])
        #expect(c4 == 2 && e4.contains("calibration cache"), "\(e4)")
    }

    /// A transformer encoder: per-layer errors for its MatMul, Attention-like and LayerNormalization
    /// nodes, and the pooled output as the headline (cosine, SQNR, top-1 per row) with `--output`.
    @Test func reportOnATransformerEncoder() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = repoRoot.appendingPathComponent("ModelZoo/nets/data/bert_tiny_o17_0_b1_s12")
        var feeds: [String: Tensor] = [:]
        for name in ["input_ids", "attention_mask", "token_type_ids"] { feeds[name] = try NPY.read(contentsOf: data.appendingPathComponent("input_\(name).npy")) }
        let samplesDir = dir.appendingPathComponent("samples")
        try FileManager.default.createDirectory(at: samplesDir, withIntermediateDirectories: true)
        let ids = try #require(feeds["input_ids"]).int64s()
        for k in 0..<4 {
            // Four samples: the token ids rotated by k.
            var f = feeds
            f["input_ids"] = Tensor(shape: [1, ids.count], scalars: (0..<ids.count).map { ids[($0 + k) % ids.count] })
            try NPZ.write(f, to: samplesDir.appendingPathComponent("s\(k).npz"))
        }
        let out = dir.appendingPathComponent("report")
        let (code, stdout, err) = try cli(["report", "ModelZoo/nets/models/bert_tiny_o17.onnx", "--data", samplesDir.path, "--precisions", "fp16,fp8,int4w",
                                           "--output", "pooled", "--out", out.path])
        #expect(code == 0, "\(err)")
        #expect(stdout.contains("fp8") && stdout.contains("int4w"))
        let json = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any])
        let fp8 = try #require((json["precisions"] as? [String: Any])?["fp8"] as? [String: Any])
        // The headline is the pooled output: 4 samples × 1 row; its cosine and SQNR are reported.
        let cosine = try #require(fp8["cosine"] as? Double), sqnr = try #require(fp8["sqnr_db"] as? Double)
        #expect(cosine > 0.99 && cosine < 1 && sqnr > 15 && sqnr < 60, "cosine \(cosine), SQNR \(sqnr)")
        let ops = Set(((json["layers"] as? [[String: Any]]) ?? []).compactMap { $0["op"] as? String })
        #expect(ops.isSuperset(of: ["MatMul", "Softmax", "LayerNormalization"]), "\(ops)")
        let (bad, _, badErr) = try cli(["report", "ModelZoo/nets/models/bert_tiny_o17.onnx", "--data", samplesDir.path, "--output", "nope", "--out", out.path])
        #expect(bad == 2 && badErr.contains("'nope' is not an output"))
    }

    @Test func reportHTMLDrawsItsPlotsInABrowser() throws {
        try #require(chromium != nil, "chromium is not installed (.ci/install-deps --browser installs it)")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, _, err) = try cli(["report", digits, "--data", samples, "--out", dir.path, "--limit", "40", "--sensitivity-samples", "8", "--precisions", "fp16,bf16,int8"])
        #expect(code == 0, "\(err)")
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        let plots = html.components(separatedBy: "<svg class=\"plot").count - 1
        #expect(plots >= 6)  // SQNR bars, depth plot, 4 activation histograms
        let (browserCode, dom) = try runProgram(
            chromium ?? "", ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", dir.appendingPathComponent("report.html").absoluteString], timeout: 120)
        #expect(browserCode == 0)
        // The page's own check ran in the browser: every plot has a drawn, non-empty box.
        #expect(dom.contains("data-plots-drawn=\"\(plots)\""), "\(dom.prefix(300))")
        #expect(dom.contains("<polyline") && dom.contains("plot-histogram"))
    }
}
