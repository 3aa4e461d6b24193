import Foundation
import JSONC
import Runtime
import TensorCore

/// Which tensors a calibration covers.
public enum CalibrationTensors: String, Sendable, CaseIterable {
    /// Every float tensor computed from the inputs (graph inputs and node outputs), as TensorRT's
    /// calibrators cover them: a cache TensorRT can use for every layer.
    case all
    /// Only the activations an INT8 run quantizes (the inputs of Conv, ConvTranspose, Gemm and
    /// MatMul): all that Touchstone's INT8 simulation reads.
    case quantized
}

/// Collects activation statistics over a data set in two streaming passes: the largest |x| of
/// each tensor, then a histogram of |x| over [0, that maximum]. Nothing but the current sample's
/// values and the histograms (2048 counts per tensor) is held, and counts are integers, so the
/// result depends neither on batch size nor on sample order, and shards merge exactly.
public struct Calibrator {
    public let model: Model
    /// The tensors calibrated (by default the activations an INT8 run quantizes).
    public let tensors: [String]
    public let threads: Int
    public let bins: Int

    public init(model: Model, tensors: [String]? = nil, threads: Int = ProcessInfo.processInfo.activeProcessorCount, bins: Int = MagnitudeHistogram.defaultBins) {
        self.model = model
        self.tensors = tensors ?? ExecutionPolicy.quantizedActivations(of: model.graph)
        self.threads = threads
        self.bins = bins
    }

    /// The tensors of `model` that `which` names, in order: graph inputs first, then node outputs
    /// in node order. `inputShapes` (one sample's) decide which values are float.
    public static func tensors(_ which: CalibrationTensors, of model: Model, inputShapes: [String: [Int]]) throws -> [String] {
        let graph = model.graph
        guard which == .all else { return ExecutionPolicy.quantizedActivations(of: graph) }
        let types = try model.valueTypes(for: inputShapes)
        // Values computed from the inputs (not folded from constants alone).
        var dynamic = Set(graph.inputs.map(\.id))
        var names: [String] = []
        var seen = Set<String>()
        func add(_ id: Int) {
            let name = graph.valueNames[id]
            if types[name]?.dtype.isFloatingPoint == true, seen.insert(name).inserted { names.append(name) }
        }
        for (id, _) in graph.inputs { add(id) }
        for node in graph.nodes where node.inputs.contains(where: { $0.map(dynamic.contains) ?? false }) {
            for id in node.outputs {
                dynamic.insert(id)
                add(id)
            }
        }
        return names
    }

    /// Runs `body` with each sample's tapped tensors.
    func forEachSample(_ data: SampleSet, _ indices: [Int], progress: ((Int, Int) -> Void)?, _ body: ([String: Tensor]) throws -> Void) throws {
        let session = Session(model: model, options: SessionOptions(threads: threads, taps: .names(Set(tensors))))
        for (n, i) in indices.enumerated() {
            let feeds = try data.sample(i)
            do { _ = try session.run(feeds) } catch { throw CalibrationError("\(data.files[i].lastPathComponent): \(error)") }
            try body(session.tapped)
            progress?(n + 1, indices.count)
        }
    }

    /// Pass 1: the largest |x| of each tensor over the given samples.
    public func maxima(_ data: SampleSet, indices: [Int], progress: ((Int, Int) -> Void)? = nil) throws -> CalibrationPart {
        var amax = [String: Float](uniqueKeysWithValues: tensors.map { ($0, 0) })
        var nonFinite: [String: Int] = [:]
        try forEachSample(data, indices, progress: progress) { tapped in
            for name in tensors {
                guard let t = tapped[name] else { throw CalibrationError("tensor '\(name)' was not computed") }
                let x = t.dtype == .float32 ? t : t.converted(to: .float32)
                var m = amax[name] ?? 0, skipped = 0
                // NaN and ±inf have no place in a range: they are left out and counted.
                x.withUnsafeBufferPointer(as: Float.self) { p in
                    for v in p {
                        if !v.isFinite { skipped += 1 } else if v.magnitude > m { m = v.magnitude }
                    }
                }
                amax[name] = m
                if skipped > 0 { nonFinite[name, default: 0] += skipped }
            }
        }
        return CalibrationPart(samples: indices.count, maxima: amax, histograms: nil, nonFinite: nonFinite)
    }

    /// Pass 2: histograms of |x| over [0, range] with the ranges of pass 1 (of the whole data set).
    public func histograms(_ data: SampleSet, indices: [Int], ranges: [String: Float], progress: ((Int, Int) -> Void)? = nil) throws -> CalibrationPart {
        var hist: [String: MagnitudeHistogram] = [:]
        for name in tensors {
            guard let r = ranges[name] else { throw CalibrationError("the ranges have no entry for tensor '\(name)'") }
            hist[name] = MagnitudeHistogram(range: r, bins: bins)
        }
        try forEachSample(data, indices, progress: progress) { tapped in
            for name in tensors {
                guard let t = tapped[name] else { throw CalibrationError("tensor '\(name)' was not computed") }
                let x = t.dtype == .float32 ? t : t.converted(to: .float32)
                x.withUnsafeBufferPointer(as: Float.self) { p in hist[name]?.add(p) }
            }
        }
        return CalibrationPart(samples: indices.count, maxima: ranges, histograms: hist)
    }
}

/// What calibration collected: per tensor the largest |x| (pass 1) and, after pass 2, the
/// histograms. Parts of shards merge into what one process over all samples would collect.
public struct CalibrationPart: Sendable, Equatable {
    public var samples: Int
    public var maxima: [String: Float]
    public var histograms: [String: MagnitudeHistogram]?
    /// Per tensor, how many NaN or ±inf values pass 1 left out of the range (absent: none).
    public var nonFinite: [String: Int]

    public init(samples: Int, maxima: [String: Float], histograms: [String: MagnitudeHistogram]?, nonFinite: [String: Int] = [:]) {
        self.samples = samples
        self.maxima = maxima
        self.histograms = histograms
        self.nonFinite = nonFinite
    }

    /// The ranges (amax) of `method`; `percentile` for the percentile method.
    public func ranges(method: CalibrationMethod, percentile: Double = 99.99) throws -> [String: Float] {
        if method == .minmax { return maxima }
        guard let histograms else {
            throw CalibrationError("\(method) needs histograms (the second pass); these statistics have maxima only")
        }
        var out: [String: Float] = [:]
        for (name, h) in histograms {
            switch method {
            case .minmax: out[name] = h.range
            case .percentile: out[name] = h.percentile(percentile)
            case .entropy: out[name] = h.entropyThreshold()
            case .mse: out[name] = h.mseThreshold()
            }
        }
        return out
    }

    /// Combines parts: maxima by maximum, histograms (which must share ranges) by adding counts.
    public static func merge(_ parts: [CalibrationPart]) throws -> CalibrationPart {
        guard let first = parts.first else { throw CalibrationError("nothing to merge") }
        let withHistograms = parts.filter { $0.histograms != nil }.count
        guard withHistograms == 0 || withHistograms == parts.count else {
            throw CalibrationError("some parts have histograms (pass 2) and some only maxima (pass 1); merge parts of one pass")
        }
        var merged = first
        for part in parts.dropFirst() {
            guard Set(part.maxima.keys) == Set(merged.maxima.keys) else {
                throw CalibrationError("the parts calibrate different tensors (different models?)")
            }
            let (samples, overflow) = merged.samples.addingReportingOverflow(part.samples)
            guard !overflow, samples <= 1 << 53 else { throw CalibrationError("the parts' sample counts add up to more than 2^53") }
            merged.samples = samples
            if var h = merged.histograms, let other = part.histograms {
                guard part.maxima == merged.maxima else {
                    throw CalibrationError("histogram parts were made with different ranges; run every shard's second pass with the same --ranges file")
                }
                for (name, hist) in other {
                    guard var mine = h[name] else { throw CalibrationError("tensor '\(name)' is missing from a part") }
                    try mine.merge(hist)
                    h[name] = mine
                }
                merged.histograms = h
            } else {
                for (name, m) in part.maxima { merged.maxima[name] = Swift.max(merged.maxima[name] ?? 0, m) }
                for (name, n) in part.nonFinite { merged.nonFinite[name] = MemoryBudget.sum(merged.nonFinite[name] ?? 0, n) }
            }
        }
        return merged
    }

    // MARK: Files

    public var json: JSONValue {
        var tensors: [String: JSONValue] = [:]
        for (name, m) in maxima {
            var o: [String: JSONValue] = ["max": .number(Double(m))]
            if let n = nonFinite[name] { o["non_finite"] = .number(Double(n)) }
            if let h = histograms?[name] { o["counts"] = .array(h.counts.map { .number(Double($0)) }) }
            tensors[name] = .object(o)
        }
        return .object([
            "format": .string("touchstone-calibration-part"), "pass": .number(histograms == nil ? 1 : 2),
            "samples": .number(Double(samples)), "tensors": .object(tensors),
        ])
    }

    public init(json: JSONValue, source: String) throws {
        guard json["format"]?.string == "touchstone-calibration-part", let tensors = json["tensors"]?.object,
              let pass = json["pass"]?.integer, pass == 1 || pass == 2, let samples = json["samples"]?.integer, samples >= 0
        else { throw CalibrationError("\(source): not a calibration part (expected \"format\": \"touchstone-calibration-part\", \"pass\", \"samples\", \"tensors\")") }
        var maxima: [String: Float] = [:]
        var histograms: [String: MagnitudeHistogram]? = pass == 2 ? [:] : nil
        var nonFinite: [String: Int] = [:]
        for (name, v) in tensors {
            if let n = v["non_finite"] {
                guard let count = n.integer, count >= 0 else { throw CalibrationError("\(source): tensor '\(name)' has a \"non_finite\" count that is no integer ≥ 0") }
                nonFinite[name] = count
            }
            guard let m = v["max"]?.number, m.isFinite, m >= 0, Float(m).isFinite else { throw CalibrationError("\(source): tensor '\(name)' has no finite \"max\" ≥ 0") }
            maxima[name] = Float(m)
            if pass == 2 {
                guard let counts = v["counts"]?.array?.compactMap({ $0.number }), !counts.isEmpty, counts.count <= 1 << 20,
                      counts.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 9e15 })
                else { throw CalibrationError("\(source): tensor '\(name)' has no valid \"counts\" (non-negative integers)") }
                histograms?[name] = MagnitudeHistogram(range: Float(m), counts: counts.map { Int($0) })
            }
        }
        self.init(samples: samples, maxima: maxima, histograms: histograms, nonFinite: nonFinite)
    }

    public init(contentsOf url: URL) throws {
        try self.init(json: try JSON.parse(contentsOf: url), source: url.path)
    }

    public func write(to url: URL) throws {
        try Data((json.serialized(indent: 1) + "\n").utf8).write(to: url)
    }
}
