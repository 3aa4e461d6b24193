import Foundation
import Layers
import Runtime
import TensorCore

/// A bound on a report metric, as `--fail-if` and `--target` take it: `[precision.]metric OP value`
/// with OP one of `>`, `>=`, `<`, `<=` (e.g. `top1_drop>0.01`, `int8.sqnr_db<20`).
public struct MetricBound: Sendable, Equatable, CustomStringConvertible {
    public let precision: NumericFormat?
    public let metric: String
    public let comparison: String
    public let value: Double

    public static let metrics = ["top1_drop", "top1_agreement", "flip_rate", "kl", "max_abs_error", "max_rel_error", "sqnr_db", "cosine", "accuracy"]

    public init(_ text: String) throws {
        let s = text.replacingOccurrences(of: " ", with: "")
        guard let op = [">=", "<=", ">", "<"].first(where: { s.contains($0) }), let r = s.range(of: op) else {
            throw CalibrationError("'\(text)' is not a bound like top1_drop>0.01 (operators >, >=, <, <=)")
        }
        var lhs = String(s[..<r.lowerBound])
        guard let v = Double(s[r.upperBound...]) else { throw CalibrationError("'\(text)': '\(s[r.upperBound...])' is not a number") }
        var p: NumericFormat? = nil
        if let dot = lhs.firstIndex(of: ".") {
            guard let f = NumericFormat(rawValue: String(lhs[..<dot])) else {
                throw CalibrationError("'\(text)': '\(lhs[..<dot])' is not a precision (\(NumericFormat.names))")
            }
            p = f
            lhs = String(lhs[lhs.index(after: dot)...])
        }
        guard MetricBound.metrics.contains(lhs) else {
            throw CalibrationError("'\(text)': unknown metric '\(lhs)'; known: \(MetricBound.metrics.joined(separator: ", "))")
        }
        precision = p
        metric = lhs
        comparison = op
        value = v
    }

    /// Whether `x` satisfies the comparison.
    public func holds(_ x: Double) -> Bool {
        switch comparison {
        case ">": return x > value
        case ">=": return x >= value
        case "<": return x < value
        default: return x <= value
        }
    }

    public var description: String { (precision.map { "\($0)." } ?? "") + metric + comparison + "\(value)" }
}

/// Settings of a precision report.
public struct ReportOptions: Sendable {
    /// The reduced precisions compared with FP32 (FP32 is always compared with FP64).
    public var precisions: [NumericFormat] = [.fp16, .int8]
    public var method: CalibrationMethod = .entropy
    public var percentile: Double = 99.99
    /// INT8 ranges to use instead of calibrating on the data.
    public var calibration: CalibrationCache?
    public var labels: [Int]?
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Samples used for the per-layer sensitivity runs (0 skips them).
    public var sensitivitySamples = 64
    /// The quality to reach by keeping layers in FP32 (greedy), e.g. `top1_drop<=0.005`.
    public var target: MetricBound?
    /// Use at most this many samples (all when nil).
    public var limit: Int?
    /// Where the FP16 runs sum the products of Conv, Gemm and MatMul.
    public var accumulation: ExecutionPolicy.Accumulation = .fp32
    /// The options of the FP8 and INT4 formats (accumulator, weight scales, blocks) for the
    /// reduced runs; its precision and ranges are set per run.
    public var formats = ExecutionPolicy()
    /// Run shard `index` of `count`: the samples i with i mod count = index (`PrecisionReport.merge`
    /// of every shard's report gives the report of one process). Calibrated formats then need
    /// `calibration`; the sensitivity analysis runs in shard 0.
    public var shard: (index: Int, count: Int)?
    /// The output the summary, the sensitivity analysis and `--fail-if` judge (a transformer's
    /// pooled output or token logits rather than its hidden states); the model's first by default.
    public var headline: String?
    public init() {}
}

/// Per layer and precision: local error (the node alone in reduced precision, on the reference's
/// own inputs) and accumulated error (the whole reduced-precision run up to the node).
public struct LayerReport: Sendable {
    public let node: String
    public let op: String
    public let output: String
    public var local: [NumericFormat: ErrorStatistics] = [:]
    public var accumulated: [NumericFormat: ErrorStatistics] = [:]
    /// FP16/BF16: what rounding this node's outputs did (whole run).
    public var rounding: [NumericFormat: RoundingCounts] = [:]
    /// INT8, quantized nodes: the activation input's quantization on the FP32 values.
    public var activation: String?
    public var quantization: QuantizationStatistics?
}

/// INT8 quantization of an activation tensor with its calibrated scale, on reference values.
public struct QuantizationStatistics: Sendable, Equatable {
    public var amax: Float
    public var count = 0
    public var clipped = 0
    /// Σ (quantized − x)²: each sample's sum added exactly.
    var squaredErrorSum = ExactSum()
    public var squaredError: Double { squaredErrorSum.value }
    /// rmse / scale: 1/√12 ≈ 0.289 when values are spread over the range and none is clipped.
    public var rmseOverScale: Double {
        count == 0 ? .nan : (squaredError / Double(count)).squareRoot() / Double(amax / 127)
    }
    public var clippedFraction: Double { count == 0 ? 0 : Double(clipped) / Double(count) }

    mutating func add(_ t: Tensor) {
        let q = Tensor(zeros: t.shape)
        clipped += Simulate.fakeQuantize(t, into: q, scale: amax > 0 ? amax / 127 : 1)
        var squaredError = 0.0
        for (x, y) in zip(t.scalars(as: Float.self), q.scalars(as: Float.self)) {
            let d = Double(y) - Double(x)
            squaredError += d * d
        }
        squaredErrorSum.add(squaredError)
        count += t.count
    }

    mutating func merge(_ o: QuantizationStatistics) {
        count += o.count
        clipped += o.clipped
        squaredErrorSum.add(o.squaredErrorSum)
    }
}

/// Output quality of one policy for the sensitivity analysis.
public struct PolicyQuality: Sendable, Equatable {
    public var top1Agreement: Double
    public var accuracy: Double?
    public var sqnr: Double
}

/// The sensitivity of one quantized layer.
public struct LayerSensitivity: Sendable {
    public let node: String
    /// Everything INT8 but this layer (kept in FP32).
    public let allButThis: PolicyQuality
    /// Only this layer INT8, the rest FP32.
    public let onlyThis: PolicyQuality
}

/// A quantization-error report: per layer, per output, sensitivity, with JSON, CSV and HTML forms.
public struct PrecisionReport: Sendable {
    public let modelName: String
    public let samples: Int
    public let precisions: [NumericFormat]
    public var layers: [LayerReport]
    /// Per output name and precision.
    public var outputs: [String: [NumericFormat: OutputStatistics]]
    public let outputOrder: [String]
    /// FP32's accuracy when labels were given (and FP64's, its reference).
    public var referenceAccuracy: [NumericFormat: Double] = [:]
    public var method: CalibrationMethod?
    /// Where the FP16 runs summed the products of Conv, Gemm and MatMul.
    public var accumulation: ExecutionPolicy.Accumulation = .fp32
    public var ranges: [String: Float] = [:]
    /// The data's histograms and each method's amax, per quantized activation.
    public var histograms: [String: MagnitudeHistogram] = [:]
    public var methodRanges: [CalibrationMethod: [String: Float]] = [:]
    public var sensitivity: [LayerSensitivity] = []
    public var sensitivityBaseline: PolicyQuality?
    public var sensitivityReference: PolicyQuality?
    public var target: MetricBound?
    /// The greedy list of layers to keep in FP32 to meet the target, and the quality reached.
    public var keepInFP32: [String]?
    public var keptQuality: PolicyQuality?
    public var seconds = 0.0
    /// FP64's own output statistics (its accuracy with labels).
    public var reference64 = OutputStatistics()
    /// The shard this report covers, when it is one (see `ReportOptions.shard`).
    public var shard: (index: Int, count: Int)?

    /// The outputs with the headline first.
    static func headlineFirst(_ names: [String], _ headline: String?) throws -> [String] {
        guard let headline else { return names }
        guard names.contains(headline) else { throw CalibrationError("--output '\(headline)' is not an output of the model (outputs: \(names.joined(separator: ", ")))") }
        return [headline] + names.filter { $0 != headline }
    }

    /// Derived figures from the gathered statistics.
    mutating func finish() {
        if let a = reference64.accuracy { referenceAccuracy[.fp64] = a } else { referenceAccuracy[.fp64] = nil }
    }

    // MARK: Building

    /// Runs the model on the data in FP64, FP32 and each reduced precision and gathers the report.
    /// `progress(stage, done, total)` is called after each sample.
    public static func make(model: Model, name: String, data: SampleSet, options: ReportOptions, progress: ((String, Int, Int) -> Void)? = nil) throws -> PrecisionReport {
        let start = Date()
        let all = Array(0..<min(data.count, options.limit ?? data.count))
        let indices = options.shard.map { sh in all.filter { $0 % sh.count == sh.index } } ?? all
        let graph = model.graph
        let reduced = options.precisions.filter { $0 != .fp32 && $0 != .fp64 }
        var report = PrecisionReport(
            modelName: name, samples: indices.count, precisions: [.fp32] + reduced, layers: [], outputs: [:],
            outputOrder: try headlineFirst(model.outputs.map(\.name), options.headline))
        report.accumulation = options.accumulation
        report.shard = options.shard
        // Layers: every node's first float output.
        let planTypes = try model.valueTypes(for: try data.sample(0).mapValues(\.shape))
        for node in graph.nodes {
            guard let id = node.outputs.first else { continue }
            let name = graph.valueNames[id]
            guard let t = planTypes[name], t.dtype.isFloatingPoint else { continue }
            var layer = LayerReport(node: node.name, op: node.layer.opType, output: name)
            if node.isProduct, let a = node.inputs.first ?? nil, graph.constants[a] == nil {
                layer.activation = graph.valueNames[a]
            }
            report.layers.append(layer)
        }
        let layerNames = Set(report.layers.map(\.output)).union(report.layers.compactMap(\.activation))

        // Ranges: a given cache's, else calibrated on the data (both passes, for the histograms).
        var ranges: [String: Float] = [:]
        if reduced.contains(where: \.needsCalibration), let cache = options.calibration {
            try cache.validate(against: model, source: "the calibration cache")
            ranges = cache.ranges
            report.method = cache.method
            report.ranges = ranges
        } else if reduced.contains(where: \.needsCalibration) {
            if options.shard != nil {
                throw CalibrationError("a sharded report takes its ranges from a calibration cache (--calibration; sharded `touchstone calibrate` makes one)")
            }
            let calibrator = Calibrator(model: model, threads: options.threads)
            let first = try calibrator.maxima(data, indices: indices) { progress?("calibration pass 1", $0, $1) }
            let second = try calibrator.histograms(data, indices: indices, ranges: first.maxima) { progress?("calibration pass 2", $0, $1) }
            for m in CalibrationMethod.allCases { report.methodRanges[m] = try second.ranges(method: m, percentile: options.percentile) }
            report.histograms = second.histograms ?? [:]
            ranges = report.methodRanges[options.method] ?? [:]
            report.method = options.method
            report.ranges = ranges
        }

        func session(_ f: NumericFormat, ranges: [String: Float] = [:]) -> Session {
            Session(model: model, options: SessionOptions(
                threads: options.threads, fuseActivations: false, taps: .names(layerNames),
                policy: policy(f, ranges: ranges)))
        }
        func policy(_ f: NumericFormat, ranges: [String: Float]) -> ExecutionPolicy {
            var p = options.formats
            p.precision = f
            p.nodePrecision = [:]
            p.activationRanges = ranges
            p.accumulation = options.accumulation
            return p
        }
        let s64 = session(.fp64), s32 = session(.fp32), s32Local = session(.fp32)
        var sessions: [NumericFormat: (run: Session, local: Session)] = [:]
        for f in reduced {
            // FP8 and NVFP4 scales come from the largest magnitudes (Model Optimizer's max
            // calibration) unless a cache is given; INT8 takes the chosen method's ranges.
            let r = f == .int8 || options.calibration != nil ? ranges : report.methodRanges[.minmax] ?? ranges
            sessions[f] = (session(f, ranges: r), session(f, ranges: r))
        }
        var quantization: [String: QuantizationStatistics] = [:]
        for a in report.layers.compactMap(\.activation) { if let r = ranges[a] { quantization[a] = QuantizationStatistics(amax: r) } }
        var reference64 = OutputStatistics()
        // The sensitivity analysis runs on the first samples of the whole set, in shard 0.
        let sensitivityCount = reduced.contains(.int8) && (options.shard?.index ?? 0) == 0 ? min(options.sensitivitySamples, all.count) : 0

        for (n, i) in indices.enumerated() {
            let feeds = try data.sample(i)
            let label = options.labels?[i]
            let out64 = try s64.run(feeds)
            let taps64 = s64.tapped
            let out32 = try s32.run(feeds)
            let taps32 = s32.tapped
            _ = try s32Local.run(feeds, substitutes: taps64)
            let local32 = s32Local.tapped
            report.accumulate(.fp32, reference: taps64, run: taps32, local: local32)
            for name in report.outputOrder {
                guard let r = out64[name], let c = out32[name] else { continue }
                report.outputs[name, default: [:]][.fp32, default: OutputStatistics()].add(reference: r, candidate: c, label: label)
                if name == report.outputOrder.first { reference64.add(reference: r, candidate: r, label: label) }
            }
            for a in quantization.keys { if let t = taps32[a] { quantization[a]?.add(t) } }
            for f in reduced {
                guard let (run, local) = sessions[f] else { continue }
                let outF = try run.run(feeds)
                let tapsF = run.tapped
                _ = try local.run(feeds, substitutes: taps32)
                report.accumulate(f, reference: taps32, run: tapsF, local: local.tapped)
                for name in report.outputOrder {
                    guard let r = out32[name], let c = outF[name] else { continue }
                    report.outputs[name, default: [:]][f, default: OutputStatistics()].add(reference: r, candidate: c, label: label)
                }
            }
            progress?("FP64, FP32, " + reduced.map { $0.rawValue.uppercased() }.joined(separator: ", ") + " runs", n + 1, indices.count)
        }
        report.reference64 = reference64
        report.finish()
        for f in reduced {
            guard let run = sessions[f]?.run else { continue }
            for i in report.layers.indices { if let c = run.roundingCounts[report.layers[i].node] { report.layers[i].rounding[f] = c } }
        }
        for i in report.layers.indices { if let a = report.layers[i].activation { report.layers[i].quantization = quantization[a] } }

        if sensitivityCount > 0 {
            let samples = Array(all.prefix(sensitivityCount))
            let s32 = Session(model: model, options: SessionOptions(threads: options.threads))
            var fp32: [Int: [String: Tensor]] = [:]
            for i in samples { fp32[i] = try s32.run(try data.sample(i)) }
            try report.analyzeSensitivity(model: model, data: data, samples: samples, fp32: fp32, ranges: ranges, options: options, progress: progress)
        }
        report.target = options.target
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    mutating func accumulate(_ f: NumericFormat, reference: [String: Tensor], run: [String: Tensor], local: [String: Tensor]) {
        for i in layers.indices {
            let name = layers[i].output
            guard let r = reference[name] else { continue }
            if let c = run[name], c.count == r.count { layers[i].accumulated[f, default: ErrorStatistics()].add(reference: r, candidate: c) }
            if let c = local[name], c.count == r.count { layers[i].local[f, default: ErrorStatistics()].add(reference: r, candidate: c) }
        }
    }

    /// The output quality of an INT8 policy over the samples, against the stored FP32 outputs.
    static func quality(model: Model, policy: ExecutionPolicy, samples: [Int], data: SampleSet, fp32: [Int: [String: Tensor]], output: String, labels: [Int]?, threads: Int) throws -> PolicyQuality {
        let session = Session(model: model, options: SessionOptions(threads: threads, policy: policy))
        var stats = OutputStatistics()
        for i in samples {
            let out = try session.run(try data.sample(i))
            guard let r = fp32[i]?[output], let c = out[output] else { continue }
            stats.add(reference: r, candidate: c, label: labels?[i])
        }
        return PolicyQuality(top1Agreement: stats.top1Agreement, accuracy: stats.accuracy, sqnr: stats.errors.sqnr)
    }

    /// Drop of top-1 quality from the FP32 reference: accuracy lost when labelled, else the flip rate.
    func top1Drop(_ q: PolicyQuality) -> Double {
        if let a = q.accuracy, let r = sensitivityReference?.accuracy { return r - a }
        return 1 - q.top1Agreement
    }

    mutating func analyzeSensitivity(model: Model, data: SampleSet, samples: [Int], fp32: [Int: [String: Tensor]], ranges: [String: Float], options: ReportOptions, progress: ((String, Int, Int) -> Void)?) throws {
        guard let output = outputOrder.first else { return }
        let quantized = layers.filter { $0.activation != nil }.map(\.node)
        func q(_ p: ExecutionPolicy) throws -> PolicyQuality {
            try PrecisionReport.quality(model: model, policy: p, samples: samples, data: data, fp32: fp32, output: output, labels: options.labels, threads: options.threads)
        }
        // FP32 against itself gives the labelled accuracy of the reference on these samples.
        sensitivityReference = try q(ExecutionPolicy(precision: .fp32))
        sensitivityBaseline = try q(ExecutionPolicy(precision: .int8, activationRanges: ranges))
        for (k, node) in quantized.enumerated() {
            let allBut = try q(ExecutionPolicy(precision: .int8, nodePrecision: [node: .fp32], activationRanges: ranges))
            let only = try q(ExecutionPolicy(precision: .fp32, nodePrecision: [node: .int8], activationRanges: ranges))
            sensitivity.append(LayerSensitivity(node: node, allButThis: allBut, onlyThis: only))
            progress?("sensitivity (\(samples.count) samples per layer)", k + 1, quantized.count)
        }
        guard let target = options.target, let base = sensitivityBaseline else { return }
        func meets(_ quality: PolicyQuality) -> Bool { !PrecisionReport.breaks(target, quality: quality, drop: top1Drop(quality)) }
        // Greedy: keep in FP32 first the layers whose FP32 copy helps most, until the target holds.
        let order = sensitivity.sorted {
            let a = top1Drop($0.allButThis), b = top1Drop($1.allButThis)
            return a != b ? a < b : $0.allButThis.sqnr > $1.allButThis.sqnr
        }.map(\.node)
        var kept: [String] = []
        var current = base
        for node in order where !meets(current) {
            kept.append(node)
            current = try q(ExecutionPolicy(precision: .int8, nodePrecision: Dictionary(uniqueKeysWithValues: kept.map { ($0, .fp32) }), activationRanges: ranges))
        }
        keepInFP32 = kept
        keptQuality = current
    }

    /// Whether a quality breaks a target bound (the bound states what must hold).
    static func breaks(_ bound: MetricBound, quality: PolicyQuality, drop: Double) -> Bool {
        let v: Double
        switch bound.metric {
        case "top1_drop": v = drop
        case "top1_agreement": v = quality.top1Agreement
        case "flip_rate": v = 1 - quality.top1Agreement
        case "sqnr_db": v = quality.sqnr
        case "accuracy": v = quality.accuracy ?? quality.top1Agreement
        default: return false
        }
        return !bound.holds(v)
    }

    // MARK: Summary metrics

    /// One precision's summary metric for `--fail-if`: over the first output (top-1 metrics) or
    /// the worst over all outputs (error metrics).
    public func metric(_ name: String, _ f: NumericFormat) -> Double? {
        guard let first = outputOrder.first, let s = outputs[first]?[f] else { return nil }
        let all = outputOrder.compactMap { outputs[$0]?[f] }
        switch name {
        case "top1_drop":
            if let a = s.accuracy, let r = f == .fp32 ? referenceAccuracy[.fp64] : outputs[first]?[.fp32]?.accuracy { return r - a }
            return s.flipRate
        case "top1_agreement": return s.top1Agreement
        case "flip_rate": return s.flipRate
        case "kl": return s.meanKL
        case "max_abs_error": return all.map(\.errors.maxAbsError).max()
        case "max_rel_error": return all.map(\.errors.maxRelativeError).max()
        case "sqnr_db": return all.map(\.errors.sqnr).min()
        case "cosine": return all.map(\.errors.cosine).min()
        case "accuracy": return s.accuracy
        default: return nil
        }
    }

    /// The `--fail-if` bounds that hold (each names a failure), with the value that broke it.
    public func failures(_ bounds: [MetricBound]) -> [(MetricBound, NumericFormat, Double)] {
        var out: [(MetricBound, NumericFormat, Double)] = []
        for b in bounds {
            for f in precisions where b.precision == nil || b.precision == f {
                if let v = metric(b.metric, f), !v.isNaN, b.holds(v) { out.append((b, f, v)) }
            }
        }
        return out
    }
}
