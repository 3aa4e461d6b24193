import Foundation
import Runtime

/// The self-contained HTML report: tables and inline SVG plots, no external resources.
extension PrecisionReport {
    static let colors: [NumericFormat: String] = [.fp32: "#4a6fa5", .fp16: "#e08a2c", .bf16: "#8a5cc2", .int8: "#c23b3b", .fp64: "#555"]
    static let methodColors: [CalibrationMethod: String] = [.minmax: "#333", .percentile: "#2c8a4a", .entropy: "#c23b3b", .mse: "#2c6fc2"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    /// SQNR for plotting: infinite (exact) values drawn at the cap.
    static func plotted(_ x: Double?, cap: Double) -> Double {
        guard let x, !x.isNaN else { return 0 }
        return x.isInfinite ? (x > 0 ? cap : 0) : Swift.max(0, Swift.min(x, cap))
    }

    var sqnrCap: Double {
        var m = 10.0
        for l in layers { for f in precisions { for e in [l.local[f], l.accumulated[f]] { if let v = e?.sqnr, v.isFinite { m = Swift.max(m, v) } } } }
        return (m / 10).rounded(.up) * 10 + 10
    }

    /// Horizontal bars: one row per layer, per precision a bar of accumulated SQNR with the local
    /// SQNR as a tick.
    var sqnrBars: String {
        let cap = sqnrCap
        let rowH = 6 + 8 * precisions.count, left = 240.0, width = 520.0
        let height = 30 + rowH * layers.count
        var s = "<svg class=\"plot plot-sqnr\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + width + 20))\" height=\(quoted(height)) role=\"img\"><title>SQNR per layer</title>"
        for tick in stride(from: 0.0, through: cap, by: cap > 80 ? 20 : 10) {
            let x = left + tick / cap * width
            s += "<line x1=\(quoted(x)) y1=\"18\" x2=\(quoted(x)) y2=\(quoted(height)) stroke=\"#ddd\"/><text x=\(quoted(x)) y=\"12\" font-size=\"10\" text-anchor=\"middle\">\(Int(tick))</text>"
        }
        for (i, l) in layers.enumerated() {
            let y0 = 22 + i * rowH
            s += "<text x=\(quoted(left - 6)) y=\(quoted(y0 + rowH / 2 + 3)) font-size=\"10\" text-anchor=\"end\">\(Self.escape(String(l.node.prefix(38))))</text>"
            for (k, f) in precisions.enumerated() {
                let y = y0 + 2 + k * 8
                let acc = Self.plotted(l.accumulated[f]?.sqnr, cap: cap), loc = Self.plotted(l.local[f]?.sqnr, cap: cap)
                s += "<rect x=\(quoted(left)) y=\(quoted(y)) width=\(quoted(acc / cap * width)) height=\"6\" fill=\"\(Self.colors[f] ?? "#999")\"><title>\(Self.escape(l.node)) \(f): accumulated \(Self.db(l.accumulated[f]?.sqnr)) dB, local \(Self.db(l.local[f]?.sqnr)) dB</title></rect>"
                s += "<line x1=\(quoted(left + loc / cap * width)) y1=\(quoted(y - 1)) x2=\(quoted(left + loc / cap * width)) y2=\(quoted(y + 7)) stroke=\"#000\" stroke-width=\"1.5\"/>"
            }
        }
        return s + "</svg>"
    }

    /// Accumulated SQNR along depth, one line per precision.
    var depthPlot: String {
        let cap = sqnrCap, w = 760.0, h = 260.0, left = 40.0, bottom = 24.0
        let n = Swift.max(layers.count - 1, 1)
        var s = "<svg class=\"plot plot-depth\" xmlns=\"http://www.w3.org/2000/svg\" width=\(quoted(w)) height=\(quoted(h)) role=\"img\"><title>Error growth along depth</title>"
        for tick in stride(from: 0.0, through: cap, by: cap > 80 ? 20 : 10) {
            let y = h - bottom - tick / cap * (h - bottom - 10)
            s += "<line x1=\(quoted(left)) y1=\(quoted(y)) x2=\(quoted(w - 10)) y2=\(quoted(y)) stroke=\"#eee\"/><text x=\(quoted(left - 4)) y=\(quoted(y + 3)) font-size=\"10\" text-anchor=\"end\">\(Int(tick))</text>"
        }
        s += "<text x=\(quoted(w / 2)) y=\(quoted(h - 6)) font-size=\"10\" text-anchor=\"middle\">layer (execution order); y: accumulated SQNR, dB</text>"
        for (k, f) in precisions.enumerated() {
            let points = layers.enumerated().map { i, l -> String in
                let x = left + Double(i) / Double(n) * (w - left - 10)
                let y = h - bottom - Self.plotted(l.accumulated[f]?.sqnr, cap: cap) / cap * (h - bottom - 10)
                return Self.f(x) + "," + Self.f(y)
            }
            s += "<polyline fill=\"none\" stroke=\"\(Self.colors[f] ?? "#999")\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"><title>\(f) vs \(Self.referenceName(f))</title></polyline>"
            s += "<text x=\(quoted(w - 120)) y=\(quoted(14 + 12 * k)) font-size=\"11\" fill=\"\(Self.colors[f] ?? "#999")\">\(f) vs \(Self.referenceName(f))</text>"
        }
        return s + "</svg>"
    }

    /// One activation's |x| histogram (log counts) with each method's amax marked.
    func histogramPlot(_ name: String) -> String {
        guard let h = histograms[name] else { return "" }
        let w = 360.0, ht = 150.0, columns = 128
        let per = Swift.max(1, h.counts.count / columns)
        var merged = [Double](repeating: 0, count: (h.counts.count + per - 1) / per)
        for (i, c) in h.counts.enumerated() { merged[i / per] += Double(c) }
        let top = Foundation.log10((merged.max() ?? 1) + 1)
        let barW = w / Double(merged.count)
        var s = "<svg class=\"plot plot-histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\(quoted(w)) height=\(quoted(ht + 16)) role=\"img\"><title>\(Self.escape(name))</title>"
        for (i, c) in merged.enumerated() where c > 0 {
            let bh = Foundation.log10(c + 1) / Swift.max(top, 1e-9) * ht
            s += "<rect x=\(quoted(Double(i) * barW)) y=\(quoted(ht - bh)) width=\(quoted(Swift.max(barW - 0.5, 0.5))) height=\(quoted(bh)) fill=\"#9aa\"/>"
        }
        for m in CalibrationMethod.allCases {
            guard let a = methodRanges[m]?[name], h.range > 0 else { continue }
            let x = Double(a / h.range) * w
            s += "<line x1=\(quoted(x)) y1=\"0\" x2=\(quoted(x)) y2=\(quoted(ht)) stroke=\"\(Self.methodColors[m] ?? "#000")\" stroke-width=\"1.5\" stroke-dasharray=\"\(m == method ? "none" : "4 2")\"><title>\(m): amax \(a)</title></line>"
        }
        s += "<text x=\"0\" y=\(quoted(ht + 12)) font-size=\"10\">0</text><text x=\(quoted(w)) y=\(quoted(ht + 12)) font-size=\"10\" text-anchor=\"end\">\(String(format: "%.4g", h.range))</text>"
        return s + "</svg>"
    }

    func quoted(_ x: Double) -> String { "\"" + Self.f(x) + "\"" }
    func quoted(_ x: Int) -> String { "\"\(x)\"" }

    public var html: String {
        var s = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Touchstone precision report: \(Self.escape(modelName))</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
            table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
            th{background:#f3f3f3}td.l,th.l{text-align:left}.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
            .hist{display:inline-block;margin:6px 12px 6px 0;vertical-align:top}.hist div{font-size:12px;max-width:360px;overflow-wrap:anywhere}
            </style></head><body>
            <h1>Precision report: \(Self.escape(modelName))</h1>
            <p>\(samples) samples. FP32 is measured against FP64 (the ground truth), every reduced precision against FP32.
            Local error: the layer alone in reduced precision on the reference's own inputs. Accumulated error: the whole reduced-precision run up to the layer.</p>

            """
        s += "<h2>Outputs</h2><table><tr><th class=l>precision</th><th class=l>vs</th><th>accuracy</th><th>top-1 drop</th><th>top-1 agreement</th><th>KL</th><th>SQNR dB</th><th>max |err|</th><th>max rel err</th></tr>"
        for f in precisions {
            guard let first = outputOrder.first, let o = outputs[first]?[f] else { continue }
            s += "<tr><td class=l>\(f)</td><td class=l>\(Self.referenceName(f))</td><td>\(Self.percent(o.accuracy))</td><td>\(Self.percent(metric("top1_drop", f)))</td><td>\(Self.percent(o.top1Agreement))</td>"
            s += "<td>\(String(format: "%.3g", o.meanKL))</td><td>\(Self.db(metric("sqnr_db", f)))</td><td>\(String(format: "%.3g", metric("max_abs_error", f) ?? 0))</td><td>\(String(format: "%.3g", metric("max_rel_error", f) ?? 0))</td></tr>"
        }
        s += "</table>"
        if let a = referenceAccuracy[.fp64] { s += "<p>FP64 accuracy: \(Self.percent(a)).</p>" }
        if precisions.contains(.fp16) {
            s += "<p>FP16 runs sum the products of Conv, Gemm and MatMul in \(accumulation == .fp16 ? "FP16, each multiply-add rounded" : "FP32").</p>"
        }
        s += "<p class=key>" + precisions.map { "<span style=\"background:\(Self.colors[$0] ?? "#999")\"></span>\($0)" }.joined() + "</p>"
        s += "<h2>SQNR per layer</h2><p>Bars: accumulated SQNR (dB, longer is better); black ticks: local SQNR. Exact layers are drawn at the right edge.</p>" + sqnrBars
        s += "<h2>Error growth along depth</h2>" + depthPlot
        if !histograms.isEmpty {
            s += "<h2>Activation histograms</h2><p>|x| of each INT8-quantized activation over the data (log counts), with each method's amax: "
            s += CalibrationMethod.allCases.map { "<span style=\"color:\(Self.methodColors[$0] ?? "#000")\">\($0)</span>" }.joined(separator: ", ")
            s += " (solid: the one used\(method.map { ", \($0)" } ?? "")).</p>"
            for l in layers {
                guard let a = l.activation, histograms[a] != nil else { continue }
                s += "<div class=hist><div>\(Self.escape(a)) → \(Self.escape(l.node))</div>\(histogramPlot(a))</div>"
            }
        }
        if !sensitivity.isEmpty {
            s += "<h2>Sensitivity (INT8)</h2><table><tr><th class=l>layer</th><th>all INT8 but this: top-1 drop</th><th>SQNR dB</th><th>only this INT8: top-1 drop</th><th>SQNR dB</th></tr>"
            for x in sensitivity {
                s += "<tr><td class=l>\(Self.escape(x.node))</td><td>\(Self.percent(top1Drop(x.allButThis)))</td><td>\(Self.db(x.allButThis.sqnr))</td><td>\(Self.percent(top1Drop(x.onlyThis)))</td><td>\(Self.db(x.onlyThis.sqnr))</td></tr>"
            }
            s += "</table>"
            if let b = sensitivityBaseline { s += "<p>Every layer INT8: top-1 drop \(Self.percent(top1Drop(b))), SQNR \(Self.db(b.sqnr)) dB.</p>" }
            if let k = keepInFP32, let t = target {
                s += k.isEmpty ? "<p>Target \(Self.escape(t.description)) is met with every layer in INT8.</p>"
                    : "<p>To meet \(Self.escape(t.description)), keep in FP32: <code>--node-precision \(Self.escape(k.map { "\($0)=fp32" }.joined(separator: ",")))</code>\(keptQuality.map { " (top-1 drop then \(Self.percent(top1Drop($0))))" } ?? "").</p>"
            }
        }
        s += "<h2>Layers</h2><table><tr><th class=l>#</th><th class=l>node</th><th class=l>op</th>"
        for f in precisions { s += "<th>\(f) local dB</th><th>\(f) accum. dB</th>" }
        s += "<th>INT8 rmse/scale</th><th>INT8 clipped</th></tr>"
        for (i, l) in layers.enumerated() {
            s += "<tr><td class=l>\(i)</td><td class=l>\(Self.escape(l.node))</td><td class=l>\(l.op)</td>"
            for f in precisions { s += "<td>\(Self.db(l.local[f]?.sqnr))</td><td>\(Self.db(l.accumulated[f]?.sqnr))</td>" }
            s += "<td>\(l.quantization.map { String(format: "%.3f", $0.rmseOverScale) } ?? "")</td><td>\(l.quantization.map { Self.percent($0.clippedFraction) } ?? "")</td></tr>"
        }
        s += "</table><p>rmse/scale near 1/√12 ≈ 0.289 means an activation's values use the INT8 range well with little clipping.</p>"
        // A check a browser runs: it marks the page with how many plots have a drawn size.
        s += "<script>addEventListener('load',function(){var n=0;document.querySelectorAll('svg.plot').forEach(function(e){var b=e.getBBox();if(b.width>0&&b.height>0)n++});document.body.setAttribute('data-plots-drawn',n)})</script>"
        return s + "</body></html>\n"
    }
}
