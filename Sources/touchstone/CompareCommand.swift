import ArgumentParser
import Foundation
import JSONC
import Touchstone

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Judge another backend's outputs and intermediate tensors against Touchstone's run on the same inputs.",
        discussion: """
            Reads the candidate's tensors (Polygraphy RunResults from `polygraphy run --save-outputs`, an .npz, a \
            folder of .npy/.pb files), runs the model in FP32 on the same inputs (--load-inputs, or the candidate's \
            own values of the graph inputs) and compares every tensor the candidate holds that the model computes, \
            by name, with Polygraphy's rules: an element fails only when |candidate − reference| > atol and \
            |candidate − reference| / |reference| > rtol; a NaN difference fails; equal infinities fail unless \
            --infinities-compare-equal. Defaults as Polygraphy's (atol = rtol = 1e-5, elemwise). Tolerances may be \
            given per tensor as NAME:VALUE beside a default value. Exit code 0 when every tensor passes, 1 when one \
            does not, 2 on bad usage or input.
            """)

    @Argument(help: "The model file (.onnx or Keras JSON).")
    var model: String

    @Option(help: ArgumentHelp("The candidate's tensors: Polygraphy RunResults (.json), .npz, a .npy/.pb file or a folder of them (repeatable).", valueName: "FILE"))
    var candidate: [String] = []

    @Option(help: "The inputs the candidate ran on: a Polygraphy inputs JSON (one feed per iteration), an .npz, or a folder of .npy/.pb files.")
    var loadInputs: String?

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Absolute tolerance: a default value and/or NAME:VALUE per tensor.", valueName: "[NAME:]ATOL"))
    var atol: [String] = []

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Relative tolerance: a default value and/or NAME:VALUE per tensor.", valueName: "[NAME:]RTOL"))
    var rtol: [String] = []

    @Option(parsing: .upToNextOption, help: ArgumentHelp("The error statistic checked: elemwise, max, mean, median or quantile (default and/or NAME:STAT).", valueName: "[NAME:]STAT"))
    var checkErrorStat: [String] = []

    @Option(parsing: .upToNextOption, help: ArgumentHelp("The quantile (0 to 1) for --check-error-stat quantile (default 0.99).", valueName: "[NAME:]Q"))
    var errorQuantile: [String] = []

    @Flag(help: "Equal infinities of the same sign are no difference (otherwise their difference is NaN and fails).")
    var infinitiesCompareEqual = false

    @Flag(help: "Compare tensors of different shapes but the same element count.")
    var noShapeCheck = false

    @Option(help: ArgumentHelp("Also compare the indices of the K largest values along the last axis of each graph output (classifiers); NAME:K per output.", valueName: "[NAME:]K"))
    var topK: [String] = []

    @Option(help: "With --top-k: how many positions an index may move (Polygraphy's --index-tolerance).")
    var indexTolerance: Int = 0

    @Option(help: "fixed: the tolerances given (Polygraphy's defaults otherwise); derived: per tensor, what a correct backend of --candidate-precision makes on these inputs, from Touchstone's FP64 and simulated runs (NAME:VALUE tolerances still override one tensor).")
    var tolerance: String = "fixed"

    @Option(help: "The candidate's arithmetic, for derived tolerances: fp32, tf32, fp16, bf16, int8, fp8, fp8-e5m2, nvfp4, mxfp8, mxfp4 or int4w (int8, fp8, fp8-e5m2 and nvfp4 need --calibration).")
    var candidatePrecision: String = "fp32"

    @Option(help: "For --candidate-precision fp16, bf16 or int4w: where the candidate adds a convolution's bias: in-sum (TensorRT, onnxruntime) or after-rounding (PyTorch on CUDA, whose cuDNN convolutions round the sum before a separate kernel adds the bias).")
    var biasAddition: String = "in-sum"

    @Option(help: "For --candidate-precision fp16, bf16 or int4w: how the candidate rounds x·Sigmoid(x): per-node (onnxruntime) or once (PyTorch's SiLU, fused kernels).")
    var siluRounding: String = "per-node"

    @Option(help: "The safety factor of derived tolerances (see the README).")
    var derivedFactor: Double = Oracle.defaultDerivedFactor

    @Option(help: "Activation ranges for --candidate-precision int8, fp8, fp8-e5m2 or nvfp4: a TensorRT calibration cache or a Touchstone calibration JSON.")
    var calibration: String?

    @Flag(help: "Replay each segment of the graph between the candidate's tensors from the candidate's own inputs to that segment, split each tensor's error into the part the segment made and the part it inherited, and name the first segment (or node) that makes more than its tolerance.")
    var localize = false

    @Option(help: "Write the verdicts as JSON to this file.")
    var json: String?

    @Option(help: "Write a self-contained HTML report (compare.html: error along depth, local against inherited error, histograms) into this folder.")
    var html: String?

    @Flag(help: "Print the statistics and histograms of every tensor, not only of those that fail.")
    var showStats = false

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var memory: MemoryOptions

    func validate() throws { try validateThreads(threads) }

    /// One candidate iteration, matched to the model.
    struct Candidate {
        let file: String
        let label: String
        /// Candidate tensors the model computes, by the model's names, in the candidate's order.
        let tensors: NamedTensors
        /// Which feed it ran on (an index into `feeds`).
        let feed: Int
        /// Without --load-inputs: the graph inputs the candidate's file holds.
        let ownFeed: [String: Tensor]
    }

    func run() throws {
        guard !candidate.isEmpty else { throw UsageError("give the candidate's tensors with --candidate FILE") }
        guard indexTolerance >= 0 else { throw UsageError("--index-tolerance must not be negative") }
        guard tolerance == "fixed" || tolerance == "derived" else { throw UsageError("--tolerance must be fixed or derived, not '\(tolerance)'") }
        guard let precision = CandidatePrecision(rawValue: candidatePrecision.lowercased()) else {
            throw UsageError("--candidate-precision '\(candidatePrecision)' is not one of \(CandidatePrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let bias = ExecutionPolicy.BiasAddition(rawValue: biasAddition.lowercased()) else {
            throw UsageError("--bias-addition '\(biasAddition)' is not one of in-sum, after-rounding")
        }
        guard let silu = ExecutionPolicy.SiLURounding(rawValue: siluRounding.lowercased()) else {
            throw UsageError("--silu-rounding '\(siluRounding)' is not one of per-node, once")
        }
        guard derivedFactor.isFinite, derivedFactor >= 1 else { throw UsageError("--derived-factor must be a finite number ≥ 1") }
        let derived = tolerance == "derived"
        let m = try Model(contentsOf: URL(fileURLWithPath: model))
        let table = try toleranceTable()
        if derived && (!table.atol.keys.allSatisfy { !$0.isEmpty } || !table.rtol.keys.allSatisfy { !$0.isEmpty }) {
            throw UsageError("--tolerance derived replaces the default tolerances: give --atol/--rtol only as NAME:VALUE for the tensors to override")
        }
        var ranges: [String: Float] = [:]
        if derived && precision.needsCalibration {
            guard let calibration else { throw UsageError("--candidate-precision \(precision.rawValue) needs calibrated ranges: --calibration FILE") }
            let cache = try CalibrationCache(contentsOf: URL(fileURLWithPath: calibration))
            try cache.validate(against: m, source: calibration)
            ranges = cache.ranges
        }
        let topKs = try ToleranceTable.parse(topK, option: "--top-k") { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
        let files = try candidate.map { try TensorFiles.readResults($0) }
        let loaded: [NamedTensors]? = try loadInputs.map { try TensorFiles.readInputs($0) }
        let candidates = try match(files, loaded, model: m, table: table)
        var feeds: [[String: Tensor]] = []
        if let loaded { feeds = try loaded.map { try checkedFeed($0, model: m, source: loadInputs ?? "") } }
        else { feeds = candidates.map(\.ownFeed) }
        let graphOutputs = Set(m.outputs.map(\.name))

        let comparator = Comparator(
            model: m,
            options: ComparatorOptions(
                threads: threads, tolerances: table, derivedFor: derived ? precision : nil, derivedFactor: derivedFactor,
                activationRanges: ranges, checkShapes: !noShapeCheck, localize: localize, biasAddition: bias, siluRounding: silu))
        var report = CompareReport(precision: derived ? precision : nil)
        report.graph = m.graph
        for c in candidates {
            let verdict = try comparator.judge(c.tensors, feed: feeds[c.feed], feedKey: c.feed)
            var topKResults: [String: IndexComparison] = [:]
            for (name, t) in c.tensors.pairs where graphOutputs.contains(name) {
                if let k = topKs[name] ?? topKs[""], let ref = comparator.reference(name, feedKey: c.feed) {
                    topKResults[name] = Oracle.compareTopK(t, ref, k: k, indexTolerance: indexTolerance)
                }
            }
            report.runs.append(
                .init(
                    file: c.file, label: c.label, comparisons: verdict.comparisons, topK: topKResults, derived: verdict.derived,
                    localization: verdict.localization, stepFlips: verdict.stepFlips))
        }
        print(report.text(showStats: showStats))
        if let html {
            // Comparisons are in graph order already (see `match`).
            let runs = report.runs.map { r in
                ComparedRun(
                    label: r.label == URL(fileURLWithPath: r.file).lastPathComponent ? r.file : "\(r.file) (\(r.label))", comparisons: r.comparisons,
                    derived: r.derived, localization: r.localization)
            }
            let page = CompareHTML.render(model: model, precision: derived ? precision.rawValue : nil, runs: runs)
            do {
                try FileManager.default.createDirectory(atPath: html, withIntermediateDirectories: true)
                try Data(page.utf8).write(to: URL(fileURLWithPath: html).appendingPathComponent("compare.html"))
            } catch {
                throw UsageError("\(html)/compare.html cannot be written (\(error.localizedDescription))")
            }
            print("wrote \(html)/compare.html")
        }
        if let json {
            do { try Data(report.json().serialized().utf8).write(to: URL(fileURLWithPath: json)) } catch {
                throw UsageError("\(json) cannot be written (\(error.localizedDescription))")
            }
        }
        if !report.passed {
            throw CheckFailed(message: "\(report.failedCount) of \(report.comparedCount) tensor comparisons failed")
        }
    }

    /// The candidate files' iterations matched to the model's tensors and to their feeds.
    func match(_ files: [TensorFile], _ loaded: [NamedTensors]?, model m: Model, table: ToleranceTable) throws -> [Candidate] {
        let graph = m.graph
        let inputNames = Set(m.inputs.map(\.name))
        let order = graph.computedNames
        let computed = Set(order)
        // Constants (initializers, and Constant nodes, which the loaders fold): nothing to judge.
        let constants = Set(graph.valueNames).subtracting(computed).subtracting(inputNames)
        var byFileName: [String: String] = [:]  // safe file name -> tensor name, for folders of .npy
        var ambiguous = Set<String>()
        for name in computed {
            let safe = safeFileName(name)
            if byFileName[safe] != nil { ambiguous.insert(safe) } else { byFileName[safe] = name }
        }
        let unknownTolerances = table.unknownNames(among: computed)
        if !unknownTolerances.isEmpty {
            warn("tolerances name tensors the model does not compute: \(unknownTolerances.map { "'\(Oracle.printable($0))'" }.joined(separator: ", "))")
        }
        var out: [Candidate] = []
        for file in files {
            for run in file.runs {
                for (i, iteration) in run.iterations.enumerated() {
                    let label = file.runs.count > 1 || run.iterations.count > 1 ? "\(run.runner) iteration \(i)" : run.runner
                    var tensors = NamedTensors()
                    var notInModel: [String] = []
                    for (name, t) in iteration.outputs.pairs {
                        if computed.contains(name) { tensors[name] = t }
                        else if inputNames.contains(name) { if loaded == nil { tensors[name] = t } }
                        else if constants.contains(name) { continue }
                        else if let real = byFileName[safeFileName(name)], !ambiguous.contains(safeFileName(name)) { tensors[real] = t }
                        else { notInModel.append(name) }
                    }
                    if !notInModel.isEmpty {
                        let shown = notInModel.prefix(10).map { "'\(Oracle.printable($0))'" }.joined(separator: ", ")
                        warn("\(file.path) (\(label)): \(notInModel.count) tensor\(notInModel.count == 1 ? " is" : "s are") not computed by the model and not compared: \(shown)\(notInModel.count > 10 ? ", …" : "")")
                    }
                    guard tensors.names.contains(where: computed.contains) else {
                        throw UsageError("\(file.path) (\(label)) holds no tensor that the model computes; its names are \(iteration.outputs.names.prefix(10).map { "'\(Oracle.printable($0))'" }.joined(separator: ", "))")
                    }
                    let feed: Int
                    if let loaded {
                        guard loaded.count == 1 || i < loaded.count else {
                            throw UsageError("\(file.path) (\(label)): --load-inputs holds \(loaded.count) feeds, too few for iteration \(i)")
                        }
                        feed = loaded.count == 1 ? 0 : i
                    } else {
                        let missing = m.inputs.map(\.name).filter { tensors[$0] == nil }
                        guard missing.isEmpty else {
                            throw UsageError("the inputs \(missing.map { "'\(Oracle.printable($0))'" }.joined(separator: ", ")) are not given: pass the inputs the candidate ran on with --load-inputs FILE (or save them in the candidate's file)")
                        }
                        feed = out.count
                    }
                    // Graph inputs were only kept to serve as the feed; the rest in graph order.
                    let compared = NamedTensors(order.compactMap { n in tensors[n].map { (n, $0) } })
                    let ownFeed = tensors.tensors.filter { inputNames.contains($0.key) }
                    out.append(Candidate(file: file.path, label: label, tensors: compared, feed: feed, ownFeed: ownFeed))
                }
            }
        }
        guard !out.isEmpty else { throw UsageError("\(files.map(\.path).joined(separator: ", ")) hold\(files.count == 1 ? "s" : "") no tensors to compare") }
        return out
    }

    func toleranceTable() throws -> ToleranceTable {
        let stats = try ToleranceTable.parse(checkErrorStat, option: "--check-error-stat") { ErrorStatistic(rawValue: $0) }
        let quantiles = try ToleranceTable.parse(errorQuantile, option: "--error-quantile") { Double($0).flatMap { (0...1).contains($0) ? $0 : nil } }
        return ToleranceTable(
            atol: try ToleranceTable.parse(atol, option: "--atol", ToleranceTable.toleranceValue),
            rtol: try ToleranceTable.parse(rtol, option: "--rtol", ToleranceTable.toleranceValue),
            errorStatistic: stats, quantile: quantiles, infinitiesCompareEqual: infinitiesCompareEqual)
    }
}

/// What `compare` found, per candidate run.
struct CompareReport {
    struct Run {
        let file: String
        let label: String
        let comparisons: [TensorComparison]
        let topK: [String: IndexComparison]
        let derived: [String: DerivedTolerance]
        let localization: Localization?
        let stepFlips: [String: StepFlips]
        var passed: Bool { comparisons.allSatisfy(\.passed) && topK.values.allSatisfy(\.passed) }
    }
    /// The candidate precision of derived tolerances, when derived.
    let precision: CandidatePrecision?
    /// The model's graph, for tracing quantized tensors to their inputs.
    var graph: Graph?
    var runs: [Run] = []

    init(precision: CandidatePrecision?) { self.precision = precision }

    var passed: Bool { runs.allSatisfy(\.passed) }
    var comparedCount: Int { runs.reduce(0) { $0 + $1.comparisons.count } }
    var failedCount: Int {
        runs.reduce(0) { total, run in total + run.comparisons.filter { !$0.passed || run.topK[$0.name]?.passed == false }.count }
    }

    func text(showStats: Bool) -> String {
        func g(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.3g", x) }
        var out = ""
        for run in runs {
            let title = run.label == URL(fileURLWithPath: run.file).lastPathComponent ? run.file : "\(run.file) (\(run.label))"
            out += "\(title) against touchstone (fp32):\n"
            let width = min(48, max(6, run.comparisons.map { Oracle.printable($0.name).count }.max() ?? 6))
            out += "  " + "tensor".padding(toLength: width, withPad: " ", startingAt: 0)
                + "  verdict  max abs     max rel     mean abs    need atol@rtol  tolerance\n"
            for c in run.comparisons {
                let name = Oracle.printable(c.name)
                let shown = name.count > width ? String(name.prefix(width - 1)) + "…" : name.padding(toLength: width, withPad: " ", startingAt: 0)
                let ok = c.passed && run.topK[c.name]?.passed != false
                var line = "  \(shown)  \(ok ? "PASS   " : "FAIL   ")"
                if let why = c.shapeMismatch {
                    out += line + "  " + why + "\n"
                    continue
                }
                line += "  " + g(c.absolute.max).padding(toLength: 10, withPad: " ", startingAt: 0)
                line += "  " + g(c.relative.max).padding(toLength: 10, withPad: " ", startingAt: 0)
                line += "  " + g(c.absolute.mean).padding(toLength: 10, withPad: " ", startingAt: 0)
                line += "  " + g(c.requiredAtolAtRtol).padding(toLength: 14, withPad: " ", startingAt: 0)
                line += "  atol \(g(c.tolerance.atol)), rtol \(g(c.tolerance.rtol)), \(c.tolerance.errorStatistic.rawValue)"
                if c.tolerance.errorStatistic == .quantile { line += " \(g(c.tolerance.quantile))" }
                out += line + "\n"
            }
            for c in run.comparisons {
                let ok = c.passed && run.topK[c.name]?.passed != false
                guard (!ok || showStats), c.shapeMismatch == nil else { continue }
                out += "\n  \(Oracle.printable(c.name)) \(c.shape): \(c.failingElements) of \(c.absoluteDifferences.count) elements outside the tolerance"
                if let w = c.worst {
                    out += "; largest difference at \(w.index): candidate \(w.candidate), reference \(w.reference) (abs \(g(w.absolute)), rel \(g(w.relative)))"
                }
                out += "\n"
                out += "    minimum tolerance to pass: atol \(g(c.requiredAtolAtRtol)) at rtol \(g(c.tolerance.rtol)), or rtol \(g(c.requiredRtolAtAtol)) at atol \(g(c.tolerance.atol));"
                out += " \(c.tolerance.errorStatistic.rawValue) error alone: abs \(g(c.requiredAtol)) or rel \(g(c.requiredRtol))\n"
                out += "    reference:  " + c.referenceStatistics.line + "\n"
                out += "    candidate:  " + c.candidateStatistics.line + "\n"
                out += "    abs diff:   " + c.absoluteStatistics.line + "\n"
                out += "    rel diff:   " + c.relativeStatistics.line + "\n"
                out += textHistogram(c.absoluteDifferences).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
            }
            for name in run.topK.keys.sorted() {
                guard let t = run.topK[name] else { continue }
                out += "  top-\(t.k) of \(Oracle.printable(name)): \(t.passed ? "PASS" : "FAIL"), \(t.rowsAgreeing) of \(t.rows) rows with the same indices"
                if let first = t.firstMismatch { out += "; first differing row \(first.row): candidate \(first.candidate), reference \(first.reference)" }
                out += "\n"
            }
            if !run.stepFlips.isEmpty {
                out += stepFlipText(run)
            }
            if let p = precision, !run.derived.isEmpty {
                out += "  tolerances derived for a correct \(p.rawValue) backend on these inputs:\n"
                for c in run.comparisons {
                    guard let d = run.derived[c.name] else { continue }
                    out += "    \(Oracle.printable(c.name)): \(d.explanation)\n"
                }
            }
            if let loc = run.localization {
                out += localizationText(loc)
            }
            let failed = run.comparisons.filter { !$0.passed || run.topK[$0.name]?.passed == false }.count
            out += "  \(run.passed ? "PASSED" : "FAILED"): \(run.comparisons.count - failed) of \(run.comparisons.count) tensors within tolerance\n"
        }
        return out
    }

    /// The quantized tensors' differences in whole steps, and where flips first appear.
    func stepFlipText(_ run: Run) -> String {
        var out = "  quantized tensors (QDQ): differences in whole quantization steps\n"
        let ordered = run.comparisons.filter { run.stepFlips[$0.name] != nil }
        for c in ordered {
            guard let f = run.stepFlips[c.name], f.flips + f.other > 0 else { continue }
            out += "    \(Oracle.printable(c.name)): \(f.summary)\n"
        }
        let flipped = ordered.filter { run.stepFlips[$0.name]?.flips ?? 0 > 0 }
        if let first = flipped.first, let f = run.stepFlips[first.name] {
            out += "  the first quantized tensor that differs is '\(Oracle.printable(first.name))' (\(f.flips) element\(f.flips == 1 ? "" : "s") by whole steps)"
            if let graph, let input = Oracle.quantizerInput(of: first.name, in: graph), let x = run.comparisons.first(where: { $0.name == input }),
                let scale = Oracle.quantizationScales(of: graph)[first.name]?.scale
            {
                out += ": the float tensor it is rounded from, '\(Oracle.printable(input))', differs from Touchstone's by at most \(String(format: "%.3g", x.absolute.max)) (the step is \(String(format: "%.3g", scale)))"
                if f.onlyFlips && x.absolute.max < scale / 2 {
                    out += "; a difference far below one step that moves values across rounding boundaries: rounding-boundary flips, as two correct evaluations give"
                }
            }
            if let loc = run.localization, let e = loc.entries.first(where: { $0.tensor == first.name }), e.local.absolute.max == 0 {
                out += "; its quantization is exact given its inputs (local error 0)"
            }
            out += "\n"
        }
        return out
    }

    func localizationText(_ loc: Localization) -> String {
        func g(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.3g", x) }
        var out = "  localization (teacher forcing from the candidate's own tensors): error made by each segment (local) and inherited from before it\n"
        let width = min(48, max(6, loc.entries.map { Oracle.printable($0.tensor).count }.max() ?? 6))
        out += "    " + "tensor".padding(toLength: width, withPad: " ", startingAt: 0) + "  local max   local atol  inherited   total max   nodes\n"
        for e in loc.entries {
            let name = Oracle.printable(e.tensor)
            let shown = name.count > width ? String(name.prefix(width - 1)) + "…" : name.padding(toLength: width, withPad: " ", startingAt: 0)
            out += "    \(shown)  " + [g(e.local.absolute.max), g(e.local.tolerance.atol), g(e.inherited.absolute.max), g(e.total.absolute.max)].map { $0.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            out += "  \(e.segment.count)\(e.local.passed ? "" : "  ← exceeds its tolerance")\n"
        }
        if let first = loc.firstDivergent {
            let nodes = first.segment.map { "'\(Oracle.printable($0))'" }
            if first.segment.count == 1 {
                out += "  first divergent node: \(nodes[0]), computing '\(Oracle.printable(first.tensor))' (local max error \(g(first.local.absolute.max)), tolerance \(g(first.local.tolerance.atol)))\n"
            } else {
                out += "  first divergent segment: the \(first.segment.count) nodes computing '\(Oracle.printable(first.tensor))': \(nodes.prefix(12).joined(separator: ", "))\(nodes.count > 12 ? ", …" : "") (local max error \(g(first.local.absolute.max)), tolerance \(g(first.local.tolerance.atol)))\n"
            }
        } else {
            out += "  no segment makes more error than its tolerance\n"
        }
        return out
    }

    func localizationJSON(_ loc: Localization) -> JSONValue {
        var tensors: [String: JSONValue] = [:]
        for e in loc.entries {
            var o: [String: JSONValue] = [
                "local": num(e.local.absolute.max), "accumulated": num(e.inherited.absolute.max), "total": num(e.total.absolute.max),
                "local_atol": num(e.local.tolerance.atol), "local_rtol": num(e.local.tolerance.rtol), "local_passed": .bool(e.local.passed),
                "segment": .array(e.segment.map { .string($0) }),
            ]
            if let d = e.derivation { o["local_tolerance_derivation"] = .string(d) }
            tensors[e.tensor] = .object(o)
        }
        var out: [String: JSONValue] = ["tensors": .object(tensors), "order": .array(loc.entries.map { .string($0.tensor) })]
        if let first = loc.firstDivergent {
            out["first_divergent"] = .string(first.segment.last ?? "")
            out["segment"] = .array(first.segment.map { .string($0) })
            out["tensor"] = .string(first.tensor)
        } else {
            out["first_divergent"] = .null
        }
        return .object(out)
    }

    func json() -> JSONValue {
        func entry(_ c: TensorComparison, _ topK: IndexComparison?, _ flips: [String: StepFlips]) -> JSONValue {
            var o: [String: JSONValue] = [
                "passed": .bool(c.passed && topK?.passed != false),
                "shape": .array(c.shape.map { .number(Double($0)) }),
                "max_abs": num(c.absolute.max), "max_rel": num(c.relative.max),
                "mean_abs": num(c.absolute.mean), "mean_rel": num(c.relative.mean),
                "median_abs": num(c.absolute.median), "median_rel": num(c.relative.median),
                "required_atol": num(c.requiredAtolAtRtol), "required_rtol": num(c.requiredRtolAtAtol),
                "required_atol_alone": num(c.requiredAtol), "required_rtol_alone": num(c.requiredRtol),
                "atol": num(c.tolerance.atol), "rtol": num(c.tolerance.rtol),
                "error_stat": .string(c.tolerance.errorStatistic.rawValue),
                "failing_elements": .number(Double(c.failingElements)),
            ]
            if c.tolerance.errorStatistic == .quantile {
                o["error_quantile"] = num(c.tolerance.quantile)
                o["quantile_abs"] = num(c.absolute.quantile)
                o["quantile_rel"] = num(c.relative.quantile)
            }
            if let why = c.shapeMismatch { o["shape_mismatch"] = .string(why) }
            if let f = flips[c.name] {
                o["quantization"] = .object([
                    "step": num(f.step), "step_flips": .number(Double(f.flips)), "other_differences": .number(Double(f.other)),
                    "by_step": .object(Dictionary(uniqueKeysWithValues: f.byStep.map { (String($0.key), JSONValue.number(Double($0.value))) })),
                ])
            }
            if let w = c.worst {
                o["worst"] = .object([
                    "index": .array(w.index.map { .number(Double($0)) }), "candidate": num(w.candidate), "reference": num(w.reference),
                ])
            }
            if let t = topK {
                o["top_k"] = .object(["k": .number(Double(t.k)), "passed": .bool(t.passed), "rows": .number(Double(t.rows)), "rows_agreeing": .number(Double(t.rowsAgreeing))])
            }
            return .object(o)
        }
        // "tensors": each tensor's verdict over every run (the worst run's figures), then per run.
        var tensors: [String: JSONValue] = [:]
        var worstAbs: [String: Double] = [:]
        for run in runs {
            for c in run.comparisons {
                let failedBefore = tensors[c.name]?["passed"]?.bool == false
                let fails = !c.passed || run.topK[c.name]?.passed == false
                let worse = (c.absolute.max.isNaN || c.absolute.max > worstAbs[c.name, default: -1])
                if tensors[c.name] == nil || (fails && !failedBefore) || (fails == !failedBefore && worse) {
                    tensors[c.name] = entry(c, run.topK[c.name], run.stepFlips)
                    worstAbs[c.name] = c.absolute.max.isNaN ? .infinity : c.absolute.max
                }
            }
        }
        var top: [String: JSONValue] = [
            "passed": .bool(passed),
            "tensors": .object(tensors),
            "runs": .array(runs.map { run in
                var o: [String: JSONValue] = [
                    "file": .string(run.file), "runner": .string(run.label), "passed": .bool(run.passed),
                    "tensors": .object(Dictionary(run.comparisons.map { ($0.name, entry($0, run.topK[$0.name], run.stepFlips)) }, uniquingKeysWith: { a, _ in a })),
                ]
                if let loc = run.localization { o["localization"] = localizationJSON(loc) }
                return .object(o)
            }),
        ]
        if let p = precision {
            top["tolerance"] = .object(["kind": .string("derived"), "candidate_precision": .string(p.rawValue)])
            var how: [String: JSONValue] = [:]
            for run in runs { for (k, d) in run.derived where how[k] == nil { how[k] = .string(d.explanation) } }
            top["derivations"] = .object(how)
        }
        // The first run with a divergent segment (else the first run) gives the top-level localization.
        if let run = runs.first(where: { $0.localization?.firstDivergent != nil }) ?? runs.first(where: { $0.localization != nil }), let loc = run.localization {
            top["localization"] = localizationJSON(loc)
        }
        return .object(top)
    }
}

/// A number in the JSON report: non-finite values as the strings "nan", "inf", "-inf".
private func num(_ x: Double) -> JSONValue { x.isFinite ? .number(x) : .string(x.isNaN ? "nan" : x > 0 ? "inf" : "-inf") }
