import Foundation

/// One judged candidate run, as the HTML report shows it.
public struct ComparedRun: Sendable {
    public let label: String
    /// In graph order.
    public let comparisons: [TensorComparison]
    public let derived: [String: DerivedTolerance]
    public let localization: Localization?

    public init(label: String, comparisons: [TensorComparison], derived: [String: DerivedTolerance], localization: Localization?) {
        self.label = label
        self.comparisons = comparisons
        self.derived = derived
        self.localization = localization
    }
}

/// The self-contained HTML report of `touchstone compare --html`: a verdict table, the error
/// along depth against the tolerance, local against inherited error when localized, and a
/// histogram of each tensor's differences (inline SVG, no external resources).
public enum CompareHTML {
    static func escape(_ s: String) -> String {
        Oracle.printable(s).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    /// log10 of a positive error, floored (exact values are drawn at the floor).
    static func logError(_ x: Double, floor: Double) -> Double {
        if x.isNaN || x.isInfinite { return 38 }
        return x > 0 ? Swift.max(log10(x), floor) : floor
    }

    /// Lines of log10 error along the tensors' order, with a legend.
    static func depthPlot(title: String, cssClass: String, names: [String], series: [(label: String, color: String, values: [Double], dashed: Bool)]) -> String {
        let w = 820.0, h = 280.0, left = 52.0, bottom = 28.0, top = 12.0
        let finite = series.flatMap(\.values).filter { $0.isFinite && $0 > 0 }
        let lo = (log10(finite.min() ?? 1e-9) - 0.5).rounded(.down), hi = Swift.min(38, (log10(finite.max() ?? 1) + 0.5).rounded(.up))
        let span = Swift.max(hi - lo, 1)
        func y(_ v: Double) -> Double { h - bottom - (Swift.min(logError(v, floor: lo), hi) - lo) / span * (h - bottom - top) }
        let n = Swift.max(names.count - 1, 1)
        func x(_ i: Int) -> Double { left + Double(i) / Double(n) * (w - left - 12) }
        var s = "<svg class=\"plot \(cssClass)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\"><title>\(escape(title))</title>"
        var e = lo
        while e <= hi {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y(pow(10, e))))\" x2=\"\(f(w - 10))\" y2=\"\(f(y(pow(10, e))))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(f(left - 4))\" y=\"\(f(y(pow(10, e)) + 3))\" font-size=\"10\" text-anchor=\"end\">1e\(Int(e))</text>"
            e += span > 12 ? 2 : 1
        }
        s += "<text x=\"\(f(w / 2))\" y=\"\(f(h - 6))\" font-size=\"10\" text-anchor=\"middle\">tensor (graph order); y: largest absolute difference</text>"
        for (k, line) in series.enumerated() {
            let pts = line.values.enumerated().map { i, v in f(x(i)) + "," + f(y(v)) }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"5,3\"" : "") points=\"\(pts)\"><title>\(escape(line.label))</title></polyline>"
            for (i, v) in line.values.enumerated() where !line.dashed {
                s += "<circle cx=\"\(f(x(i)))\" cy=\"\(f(y(v)))\" r=\"2.5\" fill=\"\(line.color)\"><title>\(escape(names[i])): \(format(v))</title></circle>"
            }
            s += "<text x=\"\(f(w - 230))\" y=\"\(14 + 13 * k)\" font-size=\"11\" fill=\"\(line.color)\">\(escape(line.label))</text>"
        }
        return s + "</svg>"
    }

    /// A histogram of log10 |difference| (zeros counted apart).
    static func histogram(_ c: TensorComparison) -> String {
        let w = 380.0, h = 130.0, bins = 40
        let d = c.absoluteDifferences
        let positive = d.filter { $0 > 0 && $0.isFinite }.map(log10)
        let zeros = d.filter { $0 == 0 }.count, bad = d.count - positive.count - zeros
        var s = "<svg class=\"plot plot-histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\"><title>\(escape(c.name))</title>"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(w))\" height=\"\(Int(h))\" fill=\"none\" stroke=\"#ccc\"/>"
        if let lo = positive.min(), let hi = positive.max() {
            let span = Swift.max(hi - lo, 1e-9)
            var counts = [Int](repeating: 0, count: bins)
            for v in positive { counts[Swift.min(bins - 1, Int((v - lo) / span * Double(bins)))] += 1 }
            let most = Double(counts.max() ?? 1)
            let bw = (w - 20) / Double(bins)
            for (i, cnt) in counts.enumerated() where cnt > 0 {
                let bh = log1p(Double(cnt)) / log1p(most) * (h - 34)
                s += "<rect x=\"\(f(10 + Double(i) * bw))\" y=\"\(f(h - 20 - bh))\" width=\"\(f(bw - 1))\" height=\"\(f(bh))\" fill=\"\(c.passed ? "#4a6fa5" : "#c23b3b")\"><title>\(cnt)</title></rect>"
            }
            if c.tolerance.atol > 0 {
                let ax = 10 + (log10(c.tolerance.atol) - lo) / span * (w - 20)
                if ax >= 10 && ax <= w - 10 {
                    s += "<line x1=\"\(f(ax))\" y1=\"8\" x2=\"\(f(ax))\" y2=\"\(f(h - 20))\" stroke=\"#000\" stroke-dasharray=\"3,2\"><title>atol \(format(c.tolerance.atol))</title></line>"
                }
            }
            s += "<text x=\"10\" y=\"\(f(h - 6))\" font-size=\"10\">1e\(String(format: "%.1f", lo))</text><text x=\"\(f(w - 10))\" y=\"\(f(h - 6))\" font-size=\"10\" text-anchor=\"end\">1e\(String(format: "%.1f", hi))</text>"
        }
        s += "<text x=\"\(f(w / 2))\" y=\"14\" font-size=\"10\" text-anchor=\"middle\">|difference| (log scale, log counts); \(zeros) exact, \(bad) NaN/inf</text>"
        return s + "</svg>"
    }

    public static func render(model: String, precision: String?, runs: [ComparedRun]) -> String {
        var s = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>touchstone compare: \(escape(model))</title>"
        s += "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}.fail{color:#c23b3b;font-weight:bold}.hist{display:inline-block;margin:6px;vertical-align:top;font-size:11px}</style></head><body>"
        let passed = runs.allSatisfy { $0.comparisons.allSatisfy(\.passed) }
        s += "<h1>touchstone compare: \(escape(model))</h1><p>Verdict: <b class=\"\(passed ? "" : "fail")\">\(passed ? "PASSED" : "FAILED")</b>. "
        s += precision.map { "Tolerances derived for a correct \(escape($0)) backend from Touchstone's FP64 and simulated runs on these inputs." } ?? "Fixed tolerances (Polygraphy's rule)."
        s += " An element fails only when |candidate − reference| &gt; atol and |candidate − reference|/|reference| &gt; rtol.</p>"
        for run in runs {
            s += "<h2>\(escape(run.label))</h2><table><tr><th>tensor</th><th>shape</th><th>verdict</th><th>max abs</th><th>max rel</th><th>atol</th><th>rtol</th><th>error / atol</th><th>failing</th></tr>"
            for c in run.comparisons {
                let ratio = c.tolerance.atol > 0 ? format(c.absolute.max / c.tolerance.atol) : "–"
                s += "<tr><td>\(escape(c.name))</td><td>\(c.shape)</td><td class=\"\(c.passed ? "" : "fail")\">\(c.passed ? "pass" : "FAIL")</td><td>\(format(c.absolute.max))</td><td>\(format(c.relative.max))</td><td>\(format(c.tolerance.atol))</td><td>\(format(c.tolerance.rtol))</td><td>\(ratio)</td><td>\(c.failingElements)</td></tr>"
            }
            s += "</table>"
            let names = run.comparisons.map(\.name)
            s += "<h3>Error along depth</h3>"
            s += depthPlot(title: "Error along depth", cssClass: "plot-depth", names: names, series: [
                ("max |candidate − touchstone|", "#c23b3b", run.comparisons.map(\.absolute.max), false),
                ("atol", "#555", run.comparisons.map(\.tolerance.atol), true),
            ])
            if let loc = run.localization {
                s += "<h3>Local against inherited error (teacher forcing)</h3><p>Local: the candidate against Touchstone's replay of the segment from the candidate's own inputs to it; inherited: the replay against Touchstone's own run.</p>"
                s += depthPlot(title: "Local against inherited error", cssClass: "plot-local", names: loc.entries.map(\.tensor), series: [
                    ("local (made by the segment)", "#c23b3b", loc.entries.map(\.local.absolute.max), false),
                    ("inherited (from before it)", "#4a6fa5", loc.entries.map(\.inherited.absolute.max), false),
                    ("local tolerance (atol)", "#555", loc.entries.map(\.local.tolerance.atol), true),
                ])
                if let first = loc.firstDivergent {
                    s += "<p class=\"fail\">First segment making more error than its tolerance: the \(first.segment.count) node\(first.segment.count == 1 ? "" : "s") computing '\(escape(first.tensor))': \(first.segment.map { escape($0) }.joined(separator: ", "))</p>"
                } else {
                    s += "<p>No segment makes more error than its tolerance.</p>"
                }
            }
            s += "<h3>Differences per tensor</h3>"
            let shown = run.comparisons.filter { !$0.passed } + run.comparisons.filter(\.passed)
            for c in shown.prefix(48) {
                s += "<div class=\"hist\">\(escape(c.name)) — \(c.passed ? "pass" : "<span class=\"fail\">FAIL</span>")<br>" + histogram(c) + "</div>"
            }
            if shown.count > 48 { s += "<p>\(shown.count - 48) more tensors not drawn.</p>" }
            if !run.derived.isEmpty {
                s += "<h3>How the tolerances were derived</h3><ul>"
                for c in run.comparisons { if let d = run.derived[c.name] { s += "<li>\(escape(c.name)): \(escape(d.explanation))</li>" } }
                s += "</ul>"
            }
        }
        // A check a browser runs: it marks the page with how many plots have a drawn size.
        s += "<script>addEventListener('load',function(){var n=0;document.querySelectorAll('svg.plot').forEach(function(e){var b=e.getBBox();if(b.width>0&&b.height>0)n++});document.body.setAttribute('data-plots-drawn',n)})</script>"
        return s + "</body></html>\n"
    }
}
