import Foundation
import JSONC
import Runtime
import TensorCore

/// Sharded reports: each shard writes its statistics exactly (`partialJSON`, `part.json`), and
/// `merge` adds them into the report one process makes. Sums are `ExactSum`s and every other
/// statistic is a count, a maximum or a per-shard constant, so the merged report is the same bit
/// for bit (timing aside).
extension PrecisionReport {
    static let partFormat = "touchstone-report-part"

    /// Doubles as their bit patterns (hex): exact, and infinities and NaN survive.
    static func exact(_ d: Double) -> JSONValue { .string(String(d.bitPattern, radix: 16)) }
    static func exact(_ v: JSONValue?) -> Double? { v?.string.flatMap { UInt64($0, radix: 16) }.map(Double.init(bitPattern:)) }

    static func errorPart(_ e: ErrorStatistics) -> JSONValue {
        .object([
            "count": .number(Double(e.count)), "reference": .string(e.referenceSum.serialized), "candidate": .string(e.candidateSum.serialized),
            "error": .string(e.errorSum.serialized), "dot": .string(e.dotSum.serialized), "max_abs_error": exact(e.maxAbsError),
            "max_abs_reference": exact(e.maxAbsReference), "non_finite": .number(Double(e.nonFinite)),
        ])
    }

    static func outputPart(_ o: OutputStatistics) -> JSONValue {
        .object([
            "errors": errorPart(o.errors), "samples": .number(Double(o.samples)), "rows": .number(Double(o.rows)),
            "top1": .number(Double(o.top1Agreements)), "kl": .string(o.klTotal.serialized), "correct": .number(Double(o.correct)),
            "labelled": .number(Double(o.labelled)),
        ])
    }

    static func qualityPart(_ q: PolicyQuality) -> JSONValue {
        var o: [String: JSONValue] = ["top1": exact(q.top1Agreement), "sqnr": exact(q.sqnr)]
        if let a = q.accuracy { o["accuracy"] = exact(a) }
        return .object(o)
    }

    /// Everything `merge` needs from this shard.
    public var partialJSON: JSONValue {
        var layersJSON: [JSONValue] = []
        for l in layers {
            var o: [String: JSONValue] = ["node": .string(l.node), "op": .string(l.op), "output": .string(l.output)]
            if let a = l.activation { o["activation"] = .string(a) }
            o["local"] = .object(Dictionary(uniqueKeysWithValues: l.local.map { ($0.key.rawValue, Self.errorPart($0.value)) }))
            o["accumulated"] = .object(Dictionary(uniqueKeysWithValues: l.accumulated.map { ($0.key.rawValue, Self.errorPart($0.value)) }))
            o["rounding"] = .object(Dictionary(uniqueKeysWithValues: l.rounding.map { f, c in
                (f.rawValue, JSONValue.array([c.total, c.overflows, c.flushedToZero, c.subnormals, c.nonFinite].map { .number(Double($0)) }))
            }))
            if let q = l.quantization {
                o["quantization"] = .object([
                    "amax": Self.exact(Double(q.amax)), "count": .number(Double(q.count)), "clipped": .number(Double(q.clipped)),
                    "squared_error": .string(q.squaredErrorSum.serialized),
                ])
            }
            layersJSON.append(.object(o))
        }
        var root: [String: JSONValue] = [
            "format": .string(Self.partFormat), "version": .number(1), "model": .string(modelName), "samples": .number(Double(samples)),
            "precisions": .array(precisions.map { .string($0.rawValue) }), "output_order": .array(outputOrder.map { .string($0) }),
            "accumulation": .string(accumulation.rawValue), "layers": .array(layersJSON),
            "outputs": .object(outputs.mapValues { per in .object(Dictionary(uniqueKeysWithValues: per.map { ($0.key.rawValue, Self.outputPart($0.value)) })) }),
            "reference64": Self.outputPart(reference64), "seconds": .number(seconds),
            "ranges": .object(ranges.mapValues { Self.exact(Double($0)) }),
        ]
        if let shard { root["shard"] = .array([.number(Double(shard.index)), .number(Double(shard.count))]) }
        if let method { root["method"] = .string(method.rawValue) }
        if !sensitivity.isEmpty || sensitivityBaseline != nil {
            var s: [String: JSONValue] = [
                "layers": .array(sensitivity.map { .object(["node": .string($0.node), "all_but": Self.qualityPart($0.allButThis), "only": Self.qualityPart($0.onlyThis)]) }),
            ]
            if let b = sensitivityBaseline { s["baseline"] = Self.qualityPart(b) }
            if let r = sensitivityReference { s["reference"] = Self.qualityPart(r) }
            if let k = keepInFP32 { s["keep_in_fp32"] = .array(k.map { .string($0) }) }
            if let q = keptQuality { s["kept_quality"] = Self.qualityPart(q) }
            root["sensitivity"] = .object(s)
        }
        if let target { root["target"] = .string(target.description) }
        return .object(root)
    }

    /// Reads a shard's `part.json`.
    public init(partialContentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw CalibrationError("\(url.path): cannot be read (\(error.localizedDescription))") }
        try self.init(partial: try JSON.parse(data, path: url.path), source: url.path)
    }

    /// Reads a shard's `partialJSON`; `source` names the file in errors.
    public init(partial json: JSONValue, source: String) throws {
        func fail(_ what: String) -> CalibrationError { CalibrationError("\(source): \(what)") }
        guard json["format"]?.string == Self.partFormat else { throw fail("not a partial report (expected \"format\": \"\(Self.partFormat)\")") }
        func int(_ v: JSONValue?, _ what: String) throws -> Int {
            guard let i = v?.integer, i >= 0 else { throw fail("\(what) is not a non-negative integer") }
            return i
        }
        func sum(_ v: JSONValue?, _ what: String) throws -> ExactSum {
            guard let t = v?.string, let s = ExactSum(serialized: t) else { throw fail("\(what) is not an exact sum") }
            return s
        }
        func double(_ v: JSONValue?, _ what: String) throws -> Double {
            guard let d = Self.exact(v) else { throw fail("\(what) is not an exact number") }
            return d
        }
        func format(_ s: String?) throws -> NumericFormat {
            guard let s, let f = NumericFormat(rawValue: s) else { throw fail("'\(s ?? "")' is not a precision") }
            return f
        }
        func errors(_ v: JSONValue?, _ what: String) throws -> ErrorStatistics {
            var e = ErrorStatistics()
            e.count = try int(v?["count"], what + " count")
            e.referenceSum = try sum(v?["reference"], what)
            e.candidateSum = try sum(v?["candidate"], what)
            e.errorSum = try sum(v?["error"], what)
            e.dotSum = try sum(v?["dot"], what)
            e.maxAbsError = try double(v?["max_abs_error"], what)
            e.maxAbsReference = try double(v?["max_abs_reference"], what)
            e.nonFinite = try int(v?["non_finite"], what)
            return e
        }
        func output(_ v: JSONValue?, _ what: String) throws -> OutputStatistics {
            var o = OutputStatistics()
            o.errors = try errors(v?["errors"], what)
            o.samples = try int(v?["samples"], what)
            o.rows = try int(v?["rows"], what)
            o.top1Agreements = try int(v?["top1"], what)
            o.klTotal = try sum(v?["kl"], what)
            o.correct = try int(v?["correct"], what)
            o.labelled = try int(v?["labelled"], what)
            return o
        }
        func quality(_ v: JSONValue?, _ what: String) throws -> PolicyQuality {
            PolicyQuality(top1Agreement: try double(v?["top1"], what), accuracy: try v?["accuracy"].map { try double($0, what) }, sqnr: try double(v?["sqnr"], what))
        }
        guard let model = json["model"]?.string, let precisionsJSON = json["precisions"]?.array, let order = json["output_order"]?.array,
              let layersJSON = json["layers"]?.array, let outputsJSON = json["outputs"]?.object
        else { throw fail("lacks model, precisions, output_order, layers or outputs") }
        var layers: [LayerReport] = []
        for (i, l) in layersJSON.enumerated() {
            guard let node = l["node"]?.string, let op = l["op"]?.string, let out = l["output"]?.string else { throw fail("layer \(i) lacks node, op or output") }
            var layer = LayerReport(node: node, op: op, output: out)
            layer.activation = l["activation"]?.string
            for (k, v) in l["local"]?.object ?? [:] { layer.local[try format(k)] = try errors(v, "layer \(node) local") }
            for (k, v) in l["accumulated"]?.object ?? [:] { layer.accumulated[try format(k)] = try errors(v, "layer \(node) accumulated") }
            for (k, v) in l["rounding"]?.object ?? [:] {
                guard let a = v.array, a.count == 5 else { throw fail("layer \(node) rounding is not five counts") }
                let n = try a.map { try int($0, "layer \(node) rounding") }
                var c = RoundingCounts()
                (c.total, c.overflows, c.flushedToZero, c.subnormals, c.nonFinite) = (n[0], n[1], n[2], n[3], n[4])
                layer.rounding[try format(k)] = c
            }
            if let q = l["quantization"] {
                var s = QuantizationStatistics(amax: Float(try double(q["amax"], "layer \(node) amax")))
                s.count = try int(q["count"], "layer \(node) quantization")
                s.clipped = try int(q["clipped"], "layer \(node) quantization")
                s.squaredErrorSum = try sum(q["squared_error"], "layer \(node) quantization")
                layer.quantization = s
            }
            layers.append(layer)
        }
        var outputs: [String: [NumericFormat: OutputStatistics]] = [:]
        for (name, per) in outputsJSON {
            for (k, v) in per.object ?? [:] { outputs[name, default: [:]][try format(k)] = try output(v, "output \(name)") }
        }
        self.init(
            modelName: model, samples: try int(json["samples"], "samples"), precisions: try precisionsJSON.map { try format($0.string) },
            layers: layers, outputs: outputs, outputOrder: order.compactMap(\.string))
        guard let acc = json["accumulation"]?.string.flatMap(ExecutionPolicy.Accumulation.init(rawValue:)) else { throw fail("accumulation is missing") }
        accumulation = acc
        reference64 = try output(json["reference64"], "reference64")
        seconds = json["seconds"]?.number ?? 0
        for (k, v) in json["ranges"]?.object ?? [:] { ranges[k] = Float(try double(v, "range of \(k)")) }
        method = json["method"]?.string.flatMap(CalibrationMethod.init(rawValue:))
        if let sh = json["shard"]?.array, sh.count == 2 {
            let i = try int(sh[0], "shard index"), n = try int(sh[1], "shard count")
            guard n >= 1, i < n else { throw fail("shard \(i)/\(n) is not i/n with 0 ≤ i < n") }
            shard = (i, n)
        }
        if let s = json["sensitivity"] {
            sensitivity = try (s["layers"]?.array ?? []).map { v in
                guard let node = v["node"]?.string else { throw fail("a sensitivity layer lacks its node") }
                return LayerSensitivity(node: node, allButThis: try quality(v["all_but"], node), onlyThis: try quality(v["only"], node))
            }
            sensitivityBaseline = try s["baseline"].map { try quality($0, "sensitivity baseline") }
            sensitivityReference = try s["reference"].map { try quality($0, "sensitivity reference") }
            keepInFP32 = s["keep_in_fp32"]?.array?.compactMap(\.string)
            keptQuality = try s["kept_quality"].map { try quality($0, "kept quality") }
        }
        if let t = json["target"]?.string { target = try MetricBound(t) }
        finish()
    }

    /// The report of all the shards together: they must be the n shards of one run (the same
    /// model, precisions, layers, ranges and options), each once.
    public static func merge(_ parts: [PrecisionReport]) throws -> PrecisionReport {
        guard let first = parts.first else { throw CalibrationError("no partial reports to merge") }
        guard let n = first.shard?.count else { throw CalibrationError("the partial reports were not made with --shard") }
        let indices = parts.compactMap { $0.shard?.index }.sorted()
        guard parts.allSatisfy({ $0.shard?.count == n }), indices.count == n, indices == Array(0..<n) else {
            throw CalibrationError("the parts are shards \(parts.map { $0.shard.map { "\($0.index)/\($0.count)" } ?? "none" }); expected each of 0…\(n - 1) of \(n) once")
        }
        for p in parts.dropFirst() {
            guard p.modelName == first.modelName, p.precisions == first.precisions, p.outputOrder == first.outputOrder,
                  p.layers.map(\.output) == first.layers.map(\.output), p.ranges == first.ranges, p.accumulation == first.accumulation,
                  p.method == first.method
            else { throw CalibrationError("the partial reports differ in model, precisions, layers, ranges or options: they are not shards of one run") }
        }
        var merged = PrecisionReport(
            modelName: first.modelName, samples: parts.reduce(0) { $0 + $1.samples }, precisions: first.precisions, layers: first.layers.map {
                var l = LayerReport(node: $0.node, op: $0.op, output: $0.output)
                l.activation = $0.activation
                return l
            }, outputs: [:], outputOrder: first.outputOrder)
        merged.accumulation = first.accumulation
        merged.ranges = first.ranges
        merged.method = first.method
        for p in parts.sorted(by: { ($0.shard?.index ?? 0) < ($1.shard?.index ?? 0) }) {
            for (i, l) in p.layers.enumerated() {
                for (f, e) in l.local { merged.layers[i].local[f, default: ErrorStatistics()].merge(e) }
                for (f, e) in l.accumulated { merged.layers[i].accumulated[f, default: ErrorStatistics()].merge(e) }
                for (f, c) in l.rounding { merged.layers[i].rounding[f, default: RoundingCounts()] += c }
                if let q = l.quantization {
                    if merged.layers[i].quantization == nil { merged.layers[i].quantization = QuantizationStatistics(amax: q.amax) }
                    merged.layers[i].quantization?.merge(q)
                }
            }
            for (name, per) in p.outputs { for (f, o) in per { merged.outputs[name, default: [:]][f, default: OutputStatistics()].merge(o) } }
            merged.reference64.merge(p.reference64)
            merged.seconds += p.seconds
            if p.shard?.index == 0 {
                merged.sensitivity = p.sensitivity
                merged.sensitivityBaseline = p.sensitivityBaseline
                merged.sensitivityReference = p.sensitivityReference
                merged.keepInFP32 = p.keepInFP32
                merged.keptQuality = p.keptQuality
                merged.target = p.target
            }
        }
        merged.finish()
        return merged
    }
}
