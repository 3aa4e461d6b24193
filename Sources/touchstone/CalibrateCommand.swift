import ArgumentParser
import Foundation
import Touchstone

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Calibrate INT8 ranges of a model's activations over a data set and write a calibration cache.",
        discussion: """
            Two streaming passes (the largest |x| of each activation, then a 2048-bin histogram of |x| up to it), so memory \
            stays bounded and results depend neither on sample order nor on batch size. The cache is TensorRT's text format \
            (TRT-<version>-<algorithm>, one 'name: hex scale' line per tensor), or Touchstone's JSON when OUT ends in .json.

            Sharded: each shard runs pass 1 with --shard i/n --cache part-i.json; `calibrate merge` of those parts writes the \
            ranges (for minmax, the cache); each shard then runs pass 2 with --ranges RANGES; `calibrate merge` of those parts \
            writes the cache. The result is the same as one process over all samples.
            """,
        subcommands: [CalibrateRun.self, CalibrateMerge.self], defaultSubcommand: CalibrateRun.self)
}

struct CalibrateRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Calibrate a model (the default subcommand).")

    @Argument(help: "The model file (.onnx or Keras .json).")
    var model: String

    @Option(help: "Directory of samples: one .npy per sample (single-input models) or .npz keyed by input name.")
    var data: String

    @OptionGroup var methodOptions: CalibrationMethodOptions

    @Option(help: "Output: the cache (.json for Touchstone's JSON form), or with --shard this shard's part (JSON).")
    var cache: String

    @Option(help: "Run shard i of n (0-based): every n-th sample from the i-th.")
    var shard: String?

    @Option(help: "Pass 2 of a sharded run: the merged ranges of pass 1.")
    var ranges: String?

    @Option(help: "Tensors to calibrate: all (every float tensor computed from the inputs, as TensorRT's calibrators do) or quantized (the inputs of Conv, ConvTranspose, Gemm and MatMul, all that Touchstone's INT8 runs read).")
    var tensors: String = "all"

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var memory: MemoryOptions

    func validate() throws { try validateThreads(threads) }

    func run() throws {
        let m = try methodOptions.calibrationMethod()
        guard let which = CalibrationTensors(rawValue: tensors) else { throw UsageError("--tensors '\(tensors)' is not one of all, quantized") }
        let url = URL(fileURLWithPath: model)
        let loaded = try Model(contentsOf: url)
        let samples = try SampleSet(directory: URL(fileURLWithPath: data), model: loaded)
        let names = try Calibrator.tensors(which, of: loaded, inputShapes: try samples.sample(0).mapValues(\.shape))
        let calibrator = Calibrator(model: loaded, tensors: names, threads: threads)
        let shardSpec = try parseShard(shard)
        let indices = shardSpec.map { samples.shard($0.index, of: $0.count) } ?? Array(0..<samples.count)
        let bar = ProgressBar()
        let start = Date()
        print("calibrating \(calibrator.tensors.count) activation tensors of \(url.lastPathComponent) over \(indices.count) samples (\(m))")
        let part: CalibrationPart
        if let ranges {
            let r = try CalibrationPart(contentsOf: URL(fileURLWithPath: ranges))
            part = try calibrator.histograms(samples, indices: indices, ranges: r.maxima) { bar.update("pass 2", $0, $1) }
        } else if shardSpec != nil {
            part = try calibrator.maxima(samples, indices: indices) { bar.update("pass 1", $0, $1) }
        } else {
            let first = try calibrator.maxima(samples, indices: indices) { bar.update("pass 1", $0, $1) }
            warnNonFinite(first)
            part = m.needsHistogram ? try calibrator.histograms(samples, indices: indices, ranges: first.maxima) { bar.update("pass 2", $0, $1) } : first
        }
        warnNonFinite(part)
        let out = URL(fileURLWithPath: cache)
        if shardSpec != nil || ranges != nil {
            try part.write(to: out)
            print("wrote \(out.path): pass \(part.histograms == nil ? 1 : 2) of shard \(shard ?? "-") over \(part.samples) samples; merge the parts with `touchstone calibrate merge`")
        } else {
            let cacheFile = try methodOptions.cache(part)
            try cacheFile.write(to: out)
            print(String(format: "wrote %@: %d tensors, %@ (%.1f s)", out.path, cacheFile.scales.count, cacheFile.algorithm, Date().timeIntervalSince(start)))
        }
    }
}

struct CalibrateMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge the parts of sharded calibration runs.",
        discussion: "Parts of pass 1 merge into the ranges for pass 2 (or, for minmax, into the cache); parts of pass 2 merge into the cache.")

    @Argument(help: "The parts written by `touchstone calibrate --shard i/n`.")
    var parts: [String]

    @Option(help: "Output: the cache (or, for pass-1 parts of a histogram method, the ranges file for pass 2).")
    var cache: String

    @OptionGroup var methodOptions: CalibrationMethodOptions

    func run() throws {
        let m = try methodOptions.calibrationMethod()
        guard !parts.isEmpty else { throw UsageError("give the parts to merge") }
        let merged = try CalibrationPart.merge(parts.map { try CalibrationPart(contentsOf: URL(fileURLWithPath: $0)) })
        let out = URL(fileURLWithPath: cache)
        if merged.histograms == nil && m.needsHistogram {
            try merged.write(to: out)
            print("wrote \(out.path): the ranges of \(merged.maxima.count) tensors over \(merged.samples) samples; now run pass 2 of each shard with --ranges \(out.path)")
            return
        }
        let cacheFile = try methodOptions.cache(merged)
        try cacheFile.write(to: out)
        print("wrote \(out.path): \(cacheFile.scales.count) tensors over \(merged.samples) samples, \(cacheFile.algorithm)")
    }
}

/// The method and cache-header options that `calibrate` and `calibrate merge` share.
struct CalibrationMethodOptions: ParsableArguments {
    @Option(help: "minmax, percentile, entropy (TensorRT's EntropyCalibration2) or mse.")
    var method: String = "entropy"

    @Option(help: "The percentile for --method percentile.")
    var percentile: Double = 99.99

    @Option(help: "TensorRT version number for the cache header.")
    var trtVersion: String = "8601"

    func calibrationMethod() throws -> CalibrationMethod {
        guard let m = CalibrationMethod(rawValue: method) else { throw UsageError("--method '\(method)' is not one of minmax, percentile, entropy, mse") }
        guard percentile > 0, percentile <= 100 else { throw UsageError("--percentile \(percentile) must be in (0, 100]") }
        guard (1...9).contains(trtVersion.count), trtVersion.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw UsageError("--trt-version '\(trtVersion)' must be a TensorRT version number such as 8601")
        }
        return m
    }

    /// The cache of the chosen method from collected statistics.
    func cache(_ part: CalibrationPart) throws -> CalibrationCache {
        let m = try calibrationMethod()
        return CalibrationCache(method: m, ranges: try part.ranges(method: m, percentile: percentile), version: trtVersion)
    }
}

/// Warns of NaN and ±inf values that pass 1 left out of the ranges (a sample that overflows).
func warnNonFinite(_ part: CalibrationPart) {
    guard !part.nonFinite.isEmpty else { return }
    let shown = part.nonFinite.sorted { $0.key < $1.key }.prefix(5).map { "'\(Oracle.printable($0.key))' (\($0.value))" }
    warn("warning: NaN or ±inf values were left out of the ranges of \(part.nonFinite.count) tensors: \(shown.joined(separator: ", "))\(part.nonFinite.count > 5 ? ", …" : "")")
}
