import ArgumentParser
import Foundation
import Touchstone

/// The options that choose an execution policy (`run`, `bench`).
struct PrecisionOptions: ParsableArguments {
    @Option(help: "Numeric format of every node: fp32, fp64 (ground truth), or simulated: fp16, bf16, int8, tf32, fp8 (E4M3), fp8-e5m2, nvfp4, mxfp8, mxfp4, int4w (INT4 weight-only). int8, fp8, fp8-e5m2 and nvfp4 need --calibration.")
    var precision: String = "fp32"

    @Option(help: ArgumentHelp("Per-node formats as NODE=FORMAT, comma-separated or repeated (e.g. conv1=fp32 to keep a layer out of INT8).", valueName: "NODE=FORMAT"))
    var nodePrecision: [String] = []

    @Option(help: "INT8 ranges: a TensorRT calibration cache or a Touchstone calibration JSON.")
    var calibration: String?

    @Option(help: "Where FP16 nodes sum the products of Conv, Gemm and MatMul: fp32 or fp16 (each multiply-add rounded).")
    var accumulation: String = "fp32"

    @OptionGroup var formats: FormatOptions

    /// The policy for `model`; reads and validates the calibration file.
    func policy(for model: Model) throws -> ExecutionPolicy {
        guard let p = NumericFormat(rawValue: precision.lowercased()) else {
            throw UsageError("--precision '\(precision)' is not one of \(NumericFormat.names)")
        }
        var nodes: [String: NumericFormat] = [:]
        let known = Set(model.graph.nodes.map(\.name))
        for item in nodePrecision.flatMap({ $0.split(separator: ",").map(String.init) }) {
            guard let eq = item.lastIndex(of: "="), let f = NumericFormat(rawValue: String(item[item.index(after: eq)...]).lowercased()) else {
                throw UsageError("--node-precision '\(item)' is not NODE=FORMAT with FORMAT one of \(NumericFormat.names)")
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
        var policy = ExecutionPolicy(precision: p, nodePrecision: nodes, activationRanges: ranges, accumulation: try parseAccumulation(accumulation))
        try formats.apply(to: &policy)
        return policy
    }
}

/// The options of the FP8 and INT4 weight-only formats (`run`, `bench`, `report`).
struct FormatOptions: ParsableArguments {
    @Option(help: "How FP8 products are summed: hopper (an H200's tensor cores, cuBLAS's default), hopper-fast (cuBLAS's fast accumulation, no promotion) or fp32.")
    var fp8Accumulation: String = "hopper"

    @Option(help: "FP8 weight scales: per-tensor (Model Optimizer's default) or per-channel.")
    var fp8Weights: String = "per-tensor"

    @Option(help: "INT4 weight-only: values per block along the reduction axis (32, 64 or 128).")
    var int4Block: Int = 128

    @Flag(help: "INT4 weight-only: asymmetric blocks (a zero point per block) instead of symmetric.")
    var int4Asymmetric = false

    @Option(help: "INT4 weight-only: the format of everything but the weights, fp16 or bf16.")
    var int4Activations: String = "fp16"

    @Option(help: "FP16, BF16 and INT4 weight-only runs: where a convolution's bias is added: in-sum (rounded once with the sum, as TensorRT and onnxruntime do) or after-rounding (to the sum already rounded, as PyTorch's CUDA convolutions do).")
    var biasAddition: String = "in-sum"

    @Option(help: "FP16, BF16 and INT4 weight-only runs: how x·Sigmoid(x) (SiLU, exported as Sigmoid then Mul) is rounded: per-node (each node's output, as the graph says) or once (as PyTorch's SiLU and fused kernels do).")
    var siluRounding: String = "per-node"

    /// Sets the FP8 and INT4 options of `policy`, checked.
    func apply(to policy: inout ExecutionPolicy) throws {
        guard let a = FP8Accumulator(name: fp8Accumulation.lowercased()) else {
            throw UsageError("--fp8-accumulation '\(fp8Accumulation)' is not one of hopper, hopper-fast, fp32")
        }
        guard let w = ExecutionPolicy.WeightScales(rawValue: fp8Weights.lowercased()) else {
            throw UsageError("--fp8-weights '\(fp8Weights)' is not one of per-tensor, per-channel")
        }
        guard let bias = ExecutionPolicy.BiasAddition(rawValue: biasAddition.lowercased()) else {
            throw UsageError("--bias-addition '\(biasAddition)' is not one of in-sum, after-rounding")
        }
        guard let silu = ExecutionPolicy.SiLURounding(rawValue: siluRounding.lowercased()) else {
            throw UsageError("--silu-rounding '\(siluRounding)' is not one of per-node, once")
        }
        guard [32, 64, 128].contains(int4Block) else { throw UsageError("--int4-block \(int4Block) is not one of 32, 64, 128") }
        let activations: ReducedFormat
        switch int4Activations.lowercased() {
        case "fp16": activations = .float16
        case "bf16": activations = .bfloat16
        default: throw UsageError("--int4-activations '\(int4Activations)' is not one of fp16, bf16")
        }
        policy.fp8Accumulator = a
        policy.fp8WeightScales = w
        policy.int4Block = int4Block
        policy.int4Symmetric = !int4Asymmetric
        policy.weightOnlyActivations = activations
        policy.biasAddition = bias
        policy.siluRounding = silu
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
