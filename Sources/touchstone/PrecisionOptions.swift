import ArgumentParser
import Foundation
import Touchstone

/// The options that choose an execution policy (`run`, `bench`).
struct PrecisionOptions: ParsableArguments {
    @Option(help: "Numeric format of every node: fp32, fp64 (ground truth), fp16, bf16, int8 or tf32 (simulated).")
    var precision: String = "fp32"

    @Option(help: ArgumentHelp("Per-node formats as NODE=FORMAT, comma-separated or repeated (e.g. conv1=fp32 to keep a layer out of INT8).", valueName: "NODE=FORMAT"))
    var nodePrecision: [String] = []

    @Option(help: "INT8 ranges: a TensorRT calibration cache or a Touchstone calibration JSON.")
    var calibration: String?

    @Option(help: "Where FP16 nodes sum the products of Conv, Gemm and MatMul: fp32 or fp16 (each multiply-add rounded).")
    var accumulation: String = "fp32"

    /// The policy for `model`; reads and validates the calibration file.
    func policy(for model: Model) throws -> ExecutionPolicy {
        guard let p = NumericFormat(rawValue: precision.lowercased()) else {
            throw UsageError("--precision '\(precision)' is not one of fp32, fp64, fp16, bf16, int8, tf32")
        }
        var nodes: [String: NumericFormat] = [:]
        let known = Set(model.graph.nodes.map(\.name))
        for item in nodePrecision.flatMap({ $0.split(separator: ",").map(String.init) }) {
            guard let eq = item.lastIndex(of: "="), let f = NumericFormat(rawValue: String(item[item.index(after: eq)...]).lowercased()) else {
                throw UsageError("--node-precision '\(item)' is not NODE=FORMAT with FORMAT one of fp32, fp16, bf16, int8")
            }
            let name = String(item[..<eq])
            guard known.contains(name) else { throw UsageError("--node-precision names '\(name)', which is not a node of the model") }
            nodes[name] = f
        }
        var ranges: [String: Float] = [:]
        if let calibration {
            let cache = try CalibrationCache(contentsOf: URL(fileURLWithPath: calibration))
            try cache.validate(against: model, source: calibration)
            ranges = cache.ranges
        }
        return ExecutionPolicy(precision: p, nodePrecision: nodes, activationRanges: ranges, accumulation: try parseAccumulation(accumulation))
    }
}

/// `--accumulation fp32|fp16`.
func parseAccumulation(_ s: String) throws -> ExecutionPolicy.Accumulation {
    guard let a = ExecutionPolicy.Accumulation(rawValue: s.lowercased()) else {
        throw UsageError("--accumulation '\(s)' is not one of fp32, fp16")
    }
    return a
}

/// `--shard i/n`.
func parseShard(_ s: String?) throws -> (index: Int, count: Int)? {
    guard let s else { return nil }
    let parts = s.split(separator: "/")
    guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
        throw UsageError("--shard '\(s)' is not i/n with 0 ≤ i < n")
    }
    return (i, n)
}

/// A progress bar on standard error, redrawn in place when it is a terminal.
final class ProgressBar {
    private var last = ""
    private let tty = isatty(2) != 0
    private var lastDrawn = Date.distantPast

    func update(_ stage: String, _ done: Int, _ total: Int) {
        let width = 30
        let filled = total == 0 ? width : done * width / total
        let line = "\(stage) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total)"
        if tty {
            if done == total || Date().timeIntervalSince(lastDrawn) > 0.1 {
                FileHandle.standardError.write(Data("\r\(line)\u{1B}[K".utf8))
                lastDrawn = Date()
            }
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if done == total || (stage != last) {
            // Not a terminal (a log): one line per stage when it ends.
            if done == total { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        last = stage
    }
}
