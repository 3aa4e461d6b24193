import ArgumentParser
import Foundation
import Touchstone

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "How much accuracy a model loses in FP16, BF16, INT8, FP8, FP4 or INT4 weight-only, and which layers are to blame.",
        discussion: """
            `touchstone report MODEL --data DIR` (the default subcommand, run) writes the report. Sharded: each shard runs \
            `touchstone report MODEL --data DIR --shard i/n --calibration CACHE --out PART_i`, which writes PART_i/part.json; \
            `touchstone report merge PART_0 … --out DIR` writes the same report.json, layers.csv and report.html as one \
            process with the same options (timing aside).
            """,
        subcommands: [ReportRun.self, ReportMerge.self], defaultSubcommand: ReportRun.self)
}

struct ReportRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "How much accuracy a model loses in FP16, BF16, INT8, FP8, FP4 or INT4 weight-only, and which layers are to blame.",
        discussion: """
            Runs the model over the data in FP64, FP32 and each reduced precision (simulated) and writes report.json, \
            layers.csv and report.html: per layer local and accumulated error, per output top-1 agreement, KL divergence \
            and errors (accuracy with --labels), INT8 sensitivity per layer and, with --target, the layers to keep in FP32. \
            Exit code 1 when a --fail-if bound holds.
            """)

    @Argument(help: "The model file (.onnx or Keras .json).")
    var model: String

    @Option(help: "Directory of samples: one .npy per sample or .npz keyed by input name.")
    var data: String

    @Option(help: "Labels in sample order: a .npy of integers or a text file with one per line.")
    var labels: String?

    @Option(help: "Reduced precisions to compare with FP32, comma-separated: fp16, bf16, int8, tf32, fp8, fp8-e5m2, nvfp4, mxfp8, mxfp4, int4w.")
    var precisions: String = "fp16,int8"

    @OptionGroup var formats: FormatOptions

    @Option(help: "Calibration method over the data (INT8, FP8, NVFP4 ranges): minmax, percentile, entropy or mse.")
    var method: String = "entropy"

    @Option(help: "The percentile for --method percentile.")
    var percentile: Double = 99.99

    @Option(help: "INT8 ranges from a calibration cache (TensorRT text or Touchstone JSON) instead of calibrating.")
    var calibration: String?

    @Option(help: "Where FP16 runs sum the products of Conv, Gemm and MatMul: fp32 or fp16 (each multiply-add rounded).")
    var accumulation: String = "fp32"

    @Option(help: "Directory for report.json, layers.csv and report.html.")
    var out: String = "touchstone-report"

    @Option(help: ArgumentHelp("Exit with code 1 when a bound holds, e.g. \"top1_drop>0.01\" or \"int8.sqnr_db<20\" (comma-separated or repeated).", valueName: "BOUND"))
    var failIf: [String] = []

    @Option(help: ArgumentHelp("Find the layers to keep in FP32 so that INT8 meets this, e.g. \"top1_drop<=0.005\".", valueName: "BOUND"))
    var target: String?

    @Option(help: "Samples for the per-layer INT8 sensitivity runs (0 to skip them).")
    var sensitivitySamples: Int = 64

    @Option(help: "Use at most this many samples.")
    var limit: Int?

    @Option(help: "The output the summary, the sensitivity analysis and --fail-if judge (e.g. a transformer's pooled output or logits); the model's first by default.")
    var output: String?

    @Option(help: "Run shard i of n (0-based): every n-th sample from the i-th; writes OUT/part.json for `report merge` (needs --calibration for calibrated formats).")
    var shard: String?

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var memory: MemoryOptions

    func validate() throws { try validateThreads(threads) }

    func run() throws {
        let url = URL(fileURLWithPath: model)
        let m = try Model(contentsOf: url)
        let samples = try SampleSet(directory: URL(fileURLWithPath: data), model: m)
        var options = ReportOptions()
        options.precisions = try precisions.split(separator: ",").map { item -> NumericFormat in
            guard let f = NumericFormat(rawValue: item.trimmingCharacters(in: .whitespaces).lowercased()), f != .fp64 else {
                throw UsageError("--precisions '\(item)' is not one of \(NumericFormat.allCases.filter { $0 != .fp64 }.map(\.rawValue).joined(separator: ", "))")
            }
            return f
        }
        guard let cm = CalibrationMethod(rawValue: method) else { throw UsageError("--method '\(method)' is not one of minmax, percentile, entropy, mse") }
        options.method = cm
        guard percentile > 0, percentile <= 100 else { throw UsageError("--percentile \(percentile) must be in (0, 100]") }
        options.percentile = percentile
        options.accumulation = try parseAccumulation(accumulation)
        try formats.apply(to: &options.formats)
        options.threads = threads
        options.sensitivitySamples = max(0, sensitivitySamples)
        if let limit { guard limit >= 1 else { throw UsageError("--limit must be at least 1") }; options.limit = limit }
        if let labels { options.labels = try samples.labels(from: URL(fileURLWithPath: labels)) }
        if let calibration { options.calibration = try CalibrationCache(contentsOf: URL(fileURLWithPath: calibration)) }
        let bounds = try failIf.flatMap { $0.split(separator: ",").map(String.init) }.map { try MetricBound($0) }
        if let target { options.target = try MetricBound(target) }
        options.shard = try parseShard(shard)
        options.headline = output
        let bar = ProgressBar()
        let report = try PrecisionReport.make(model: m, name: url.lastPathComponent, data: samples, options: options) { bar.update($0, $1, $2) }
        if let sh = options.shard {
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let file = dir.appendingPathComponent("part.json")
            try (report.partialJSON.serialized() + "\n").write(to: file, atomically: true, encoding: .utf8)
            print(String(format: "report: shard %d of %d, %d samples: %@ (merge the shards with `touchstone report merge`; %.1f s)", sh.index, sh.count, report.samples, file.path, report.seconds))
            return
        }
        print(report.table(), terminator: "")
        let dir = URL(fileURLWithPath: out)
        try report.write(to: dir)
        print(String(format: "report: %@ (also report.json, layers.csv; %.1f s)", dir.appendingPathComponent("report.html").path, report.seconds))
        let failures = report.failures(bounds)
        if !failures.isEmpty {
            throw CheckFailed(message: failures.map { "\($0.1): \($0.0.metric) = \(String(format: "%.4g", $0.2)) breaks --fail-if \($0.0)" }.joined(separator: "; "))
        }
    }
}

struct ReportMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge the parts of a sharded report into the report one process makes.")

    @Argument(help: "The shards' output folders (or their part.json files).")
    var parts: [String]

    @Option(help: "Directory for report.json, layers.csv and report.html.")
    var out: String = "touchstone-report"

    @Option(help: ArgumentHelp("Exit with code 1 when a bound holds, e.g. \"top1_drop>0.01\" (comma-separated or repeated).", valueName: "BOUND"))
    var failIf: [String] = []

    func run() throws {
        guard !parts.isEmpty else { throw UsageError("give the shards' folders to merge") }
        let bounds = try failIf.flatMap { $0.split(separator: ",").map(String.init) }.map { try MetricBound($0) }
        let reports = try parts.map { path -> PrecisionReport in
            var url = URL(fileURLWithPath: path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { url = url.appendingPathComponent("part.json") }
            return try PrecisionReport(partialContentsOf: url)
        }
        let report = try PrecisionReport.merge(reports)
        print(report.table(), terminator: "")
        let dir = URL(fileURLWithPath: out)
        try report.write(to: dir)
        print("report: \(dir.appendingPathComponent("report.html").path) (also report.json, layers.csv; \(reports.count) shards, \(report.samples) samples)")
        let failures = report.failures(bounds)
        if !failures.isEmpty {
            throw CheckFailed(message: failures.map { "\($0.1): \($0.0.metric) = \(String(format: "%.4g", $0.2)) breaks --fail-if \($0.0)" }.joined(separator: "; "))
        }
    }
}
