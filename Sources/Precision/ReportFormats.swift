import Foundation
import JSONC
import Runtime
import TensorCore

/// The report's files: `report.json`, `layers.csv`, a self-contained `report.html` (inline SVG) and
/// a short table for the terminal.
extension PrecisionReport {
    /// Each precision's reference: FP32 is measured against FP64, the others against FP32.
    static func referenceName(_ f: NumericFormat) -> String { f == .fp32 ? "fp64" : "fp32" }

    func number(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .number($0) : .string("\($0)") } ?? .null }

    func errorJSON(_ e: ErrorStatistics) -> JSONValue {
        .object([
            "sqnr_db": number(e.sqnr), "cosine": number(e.cosine), "max_abs_error": number(e.maxAbsError),
            "max_rel_error": number(e.maxRelativeError), "relative_l2": number(e.relativeL2), "non_finite": .number(Double(e.nonFinite)),
        ])
    }

    func qualityJSON(_ q: PolicyQuality) -> JSONValue {
        .object(["top1_agreement": number(q.top1Agreement), "accuracy": number(q.accuracy), "sqnr_db": number(q.sqnr)])
    }

    public var json: JSONValue {
        var precisionsJSON: [String: JSONValue] = [:]
        for f in precisions {
            var o: [String: JSONValue] = ["reference": .string(Self.referenceName(f))]
            for m in MetricBound.metrics { o[m] = number(metric(m, f)) }
            var outs: [String: JSONValue] = [:]
            for name in outputOrder {
                guard let s = outputs[name]?[f] else { continue }
                var so = errorJSON(s.errors).object ?? [:]
                so["top1_agreement"] = number(s.top1Agreement)
                so["flip_rate"] = number(s.flipRate)
                so["kl_divergence"] = number(s.meanKL)
                so["accuracy"] = number(s.accuracy)
                outs[name] = .object(so)
            }
            o["outputs"] = .object(outs)
            precisionsJSON[f.rawValue] = .object(o)
        }
        let layersJSON: [JSONValue] = layers.enumerated().map { index, l in
            var o: [String: JSONValue] = ["index": .number(Double(index)), "node": .string(l.node), "op": .string(l.op), "output": .string(l.output)]
            for f in precisions {
                var p: [String: JSONValue] = [:]
                if let e = l.local[f] { p["local"] = errorJSON(e) }
                if let e = l.accumulated[f] { p["accumulated"] = errorJSON(e) }
                if let c = l.rounding[f] {
                    p["rounding"] = .object([
                        "values": .number(Double(c.total)), "overflows": .number(Double(c.overflows)),
                        "flushed_to_zero": .number(Double(c.flushedToZero)), "subnormal_fraction": number(c.total == 0 ? 0 : Double(c.subnormals) / Double(c.total)),
                        "non_finite": .number(Double(c.nonFinite)),
                    ])
                    if let e = l.accumulated[.fp32] ?? l.local[f] { p["max_abs_reference"] = number(e.maxAbsReference); p["fp16_max"] = .number(65504) }
                }
                if f == .int8, let q = l.quantization, let a = l.activation {
                    p["activation"] = .object([
                        "tensor": .string(a), "amax": number(Double(q.amax)), "rmse_over_scale": number(q.rmseOverScale),
                        "clipped_fraction": number(q.clippedFraction),
                    ])
                }
                o[f.rawValue] = .object(p)
            }
            return .object(o)
        }
        var root: [String: JSONValue] = [
            "format": .string("touchstone-precision-report"), "model": .string(modelName), "samples": .number(Double(samples)),
            "precisions": .object(precisionsJSON), "layers": .array(layersJSON), "seconds": number(seconds),
        ]
        if let a = referenceAccuracy[.fp64] { root["fp64_accuracy"] = .number(a) }
        if precisions.contains(.fp16) { root["fp16_accumulation"] = .string(accumulation.rawValue) }
        if let method {
            var cal: [String: JSONValue] = ["method": .string(method.rawValue)]
            var tensors: [String: JSONValue] = [:]
            for (name, amax) in ranges {
                var t: [String: JSONValue] = ["amax": number(Double(amax))]
                for m in CalibrationMethod.allCases { if let v = methodRanges[m]?[name] { t[m.rawValue] = number(Double(v)) } }
                tensors[name] = .object(t)
            }
            cal["tensors"] = .object(tensors)
            root["calibration"] = .object(cal)
        }
        if !sensitivity.isEmpty {
            var s: [String: JSONValue] = [
                "layers": .array(sensitivity.map { .object(["node": .string($0.node), "all_but_this_int8": qualityJSON($0.allButThis), "only_this_int8": qualityJSON($0.onlyThis)]) }),
            ]
            if let b = sensitivityBaseline { s["all_int8"] = qualityJSON(b) }
            if let r = sensitivityReference { s["fp32"] = qualityJSON(r) }
            if let t = target { s["target"] = .string(t.description) }
            if let k = keepInFP32 {
                s["keep_in_fp32"] = .array(k.map { .string($0) })
                s["node_precision"] = .string(k.map { "\($0)=fp32" }.joined(separator: ","))
                if let q = keptQuality { s["quality_with_kept"] = qualityJSON(q) }
            }
            root["sensitivity"] = .object(s)
        }
        return .object(root)
    }

    // MARK: CSV

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func csvNumber(_ x: Double?) -> String {
        guard let x else { return "" }
        return x.isFinite ? String(format: "%.6g", x) : "\(x)"
    }

    /// One row per layer and precision.
    public var csv: String {
        var s = "index,node,op,output,precision,reference,local_sqnr_db,local_cosine,local_max_abs_error,accumulated_sqnr_db,accumulated_cosine,accumulated_max_abs_error,max_abs_reference,non_finite,subnormal_fraction,int8_amax,int8_rmse_over_scale,int8_clipped_fraction\n"
        for (i, l) in layers.enumerated() {
            for f in precisions {
                let lo = l.local[f], ac = l.accumulated[f], r = l.rounding[f]
                let q = f == .int8 ? l.quantization : nil
                let fields: [String] = [
                    "\(i)", Self.csvField(l.node), l.op, Self.csvField(l.output), f.rawValue, Self.referenceName(f),
                    Self.csvNumber(lo?.sqnr), Self.csvNumber(lo?.cosine), Self.csvNumber(lo?.maxAbsError),
                    Self.csvNumber(ac?.sqnr), Self.csvNumber(ac?.cosine), Self.csvNumber(ac?.maxAbsError),
                    Self.csvNumber(ac?.maxAbsReference), ac.map { "\($0.nonFinite)" } ?? "",
                    Self.csvNumber(r.map { $0.total == 0 ? 0 : Double($0.subnormals) / Double($0.total) }),
                    Self.csvNumber(q.map { Double($0.amax) }), Self.csvNumber(q?.rmseOverScale), Self.csvNumber(q?.clippedFraction),
                ]
                s += fields.joined(separator: ",") + "\n"
            }
        }
        return s
    }

    // MARK: Terminal

    static func percent(_ x: Double?) -> String { x.map { $0.isNaN ? "-" : String(format: "%.2f%%", $0 * 100) } ?? "-" }
    static func db(_ x: Double?) -> String { x.map { $0.isInfinite ? ($0 > 0 ? "inf" : "-inf") : String(format: "%.1f", $0) } ?? "-" }

    /// A short table: per precision the output metrics, then the worst layers.
    public func table(worst: Int = 5) -> String {
        func row(_ cells: [String]) -> String {
            zip(cells, [-8, -6, 9, 10, 10, 9, 10, 11]).map { c, w in
                let pad = String(repeating: " ", count: Swift.max(0, abs(w) - c.count))
                return w < 0 ? c + pad : pad + c
            }.joined(separator: " ") + "\n"
        }
        var s = row(["prec", "vs", "accuracy", "top1 drop", "top1 agr", "SQNR dB", "KL", "max |err|"])
        for f in precisions {
            guard let first = outputOrder.first, let o = outputs[first]?[f] else { continue }
            s += row([
                f.rawValue, Self.referenceName(f), Self.percent(o.accuracy), Self.percent(metric("top1_drop", f)), Self.percent(o.top1Agreement),
                Self.db(metric("sqnr_db", f)), String(format: "%.2e", o.meanKL.isNaN ? 0 : o.meanKL), String(format: "%.3e", metric("max_abs_error", f) ?? 0),
            ])
        }
        if let a = referenceAccuracy[.fp64] { s += "fp64 accuracy (the reference of fp32): \(Self.percent(a))\n" }
        if accumulation == .fp16 && precisions.contains(.fp16) { s += "fp16 runs sum the products of Conv, Gemm and MatMul in fp16\n" }
        for f in precisions where f != .fp32 {
            let ranked = layers.filter { $0.local[f] != nil }.sorted { ($0.local[f]?.sqnr ?? .infinity) < ($1.local[f]?.sqnr ?? .infinity) }.prefix(worst)
            guard !ranked.isEmpty else { continue }
            s += "worst layers in \(f) (local SQNR dB, accumulated SQNR dB):\n"
            for l in ranked {
                s += "  \(l.node) [\(l.op)]: \(Self.db(l.local[f]?.sqnr)), \(Self.db(l.accumulated[f]?.sqnr))"
                if f == .int8, let q = l.quantization { s += String(format: ", rmse/scale %.3f, clipped %@", q.rmseOverScale, Self.percent(q.clippedFraction)) }
                s += "\n"
            }
        }
        if let k = keepInFP32, let t = target {
            s += k.isEmpty ? "target \(t): met with every layer in INT8\n" : "target \(t): keep in FP32 \(k.count) layer\(k.count == 1 ? "" : "s"): --node-precision \(k.map { "\($0)=fp32" }.joined(separator: ","))\n"
        }
        return s
    }

    /// Writes report.json, layers.csv and report.html into `directory`.
    public func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data((json.serialized() + "\n").utf8).write(to: directory.appendingPathComponent("report.json"))
        try Data(csv.utf8).write(to: directory.appendingPathComponent("layers.csv"))
        try Data(html.utf8).write(to: directory.appendingPathComponent("report.html"))
    }
}
