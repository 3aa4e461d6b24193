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

    @Option(help: "Write the verdicts as JSON to this file.")
    var json: String?

    @Flag(help: "Print the statistics and histograms of every tensor, not only of those that fail.")
    var showStats = false

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        guard !candidate.isEmpty else { throw UsageError("give the candidate's tensors with --candidate FILE") }
        guard threads >= 1 else { throw UsageError("--threads must be at least 1") }
        guard indexTolerance >= 0 else { throw UsageError("--index-tolerance must not be negative") }
        let m = try Model(contentsOf: URL(fileURLWithPath: model))
        let table = try toleranceTable()
        let topKs = try ToleranceTable.parse(topK, option: "--top-k") { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
        let files = try candidate.map { try TensorFiles.readResults($0) }
        let feeds: [NamedTensors]? = try loadInputs.map { try TensorFiles.readInputs($0) }

        let graph = m.graph
        let inputNames = Set(m.inputs.map(\.name))
        let computed = Set(graph.nodes.flatMap { $0.outputs.map { graph.valueNames[$0] } })
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

        var report = CompareReport()
        var referenceCache: [Int: (outputs: [String: Tensor], tapped: [String: Tensor])] = [:]
        for file in files {
            for run in file.runs {
                for (i, iteration) in run.iterations.enumerated() {
                    let label = file.runs.count > 1 || run.iterations.count > 1 ? "\(run.runner) iteration \(i)" : run.runner
                    // Which candidate tensors are tensors of the model.
                    var pairs: [(name: String, tensor: Tensor)] = []
                    var notInModel: [String] = []
                    for (name, t) in iteration.outputs.pairs {
                        if computed.contains(name) { pairs.append((name, t)) }
                        else if inputNames.contains(name) { continue }
                        else if let real = byFileName[safeFileName(name)], !ambiguous.contains(safeFileName(name)) { pairs.append((real, t)) }
                        else { notInModel.append(name) }
                    }
                    if !notInModel.isEmpty {
                        let shown = notInModel.prefix(10).map { "'\(Oracle.printable($0))'" }.joined(separator: ", ")
                        warn("\(file.path) (\(label)): \(notInModel.count) tensor\(notInModel.count == 1 ? " is" : "s are") not computed by the model and not compared: \(shown)\(notInModel.count > 10 ? ", …" : "")")
                    }
                    guard !pairs.isEmpty else {
                        throw UsageError("\(file.path) (\(label)) holds no tensor that the model computes; its names are \(iteration.outputs.names.prefix(10).map { "'\(Oracle.printable($0))'" }.joined(separator: ", "))")
                    }
                    // The inputs: the i-th feed of --load-inputs (or its only one), else the candidate's own.
                    let feedIndex: Int
                    let feed: [String: Tensor]
                    if let feeds {
                        guard feeds.count == 1 || i < feeds.count else {
                            throw UsageError("\(file.path) (\(label)): --load-inputs holds \(feeds.count) feeds, too few for iteration \(i)")
                        }
                        feedIndex = feeds.count == 1 ? 0 : i
                        feed = try checkedFeed(feeds[feedIndex], model: m, source: loadInputs ?? "")
                    } else {
                        feedIndex = -1 - report.runs.count
                        feed = iteration.outputs.tensors.filter { inputNames.contains($0.key) }
                    }
                    let missing = m.inputs.map(\.name).filter { feed[$0] == nil }
                    guard missing.isEmpty else {
                        throw UsageError("the inputs \(missing.map { "'\($0)'" }.joined(separator: ", ")) are not given: pass the inputs the candidate ran on with --load-inputs FILE (or save them in the candidate's file)")
                    }
                    let reference: (outputs: [String: Tensor], tapped: [String: Tensor])
                    if let cached = referenceCache[feedIndex] { reference = cached } else {
                        let session = Session(model: m, options: SessionOptions(threads: threads, taps: .names(Set(pairs.map(\.name)))))
                        let outs = try session.run(feed)
                        reference = (outs, session.tapped)
                        if feedIndex >= 0 { referenceCache[feedIndex] = reference }
                    }
                    var comparisons: [TensorComparison] = []
                    var topKResults: [String: IndexComparison] = [:]
                    for (name, t) in pairs {
                        guard let ref = reference.outputs[name] ?? reference.tapped[name] else {
                            // A tap added after the cached run: run again for it.
                            let session = Session(model: m, options: SessionOptions(threads: threads, taps: .names([name])))
                            _ = try session.run(feed)
                            guard let r = session.tapped[name] else { throw UsageError("Touchstone could not capture '\(Oracle.printable(name))'") }
                            comparisons.append(Oracle.compare(t, r, name: name, tolerance: table.tolerance(for: name), checkShapes: !noShapeCheck))
                            continue
                        }
                        comparisons.append(Oracle.compare(t, ref, name: name, tolerance: table.tolerance(for: name), checkShapes: !noShapeCheck))
                        if let k = topKs[name] ?? topKs[""], m.outputs.contains(where: { $0.name == name }) {
                            topKResults[name] = Oracle.compareTopK(t, ref, k: k, indexTolerance: indexTolerance)
                        }
                    }
                    report.runs.append(.init(file: file.path, label: label, comparisons: comparisons, topK: topKResults))
                }
            }
        }
        print(report.text(showStats: showStats))
        if let json {
            do { try Data(report.json().serialized().utf8).write(to: URL(fileURLWithPath: json)) } catch {
                throw UsageError("\(json) cannot be written (\(error.localizedDescription))")
            }
        }
        if !report.passed {
            throw CheckFailed(message: "\(report.failedCount) of \(report.comparedCount) tensor comparisons failed")
        }
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
        var passed: Bool { comparisons.allSatisfy(\.passed) && topK.values.allSatisfy(\.passed) }
    }
    var runs: [Run] = []

    var passed: Bool { runs.allSatisfy(\.passed) }
    var comparedCount: Int { runs.reduce(0) { $0 + $1.comparisons.count } }
    var failedCount: Int {
        runs.reduce(0) { total, run in total + run.comparisons.filter { !$0.passed || run.topK[$0.name]?.passed == false }.count }
    }

    func text(showStats: Bool) -> String {
        func g(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.3g", x) }
        var out = ""
        for run in runs {
            out += "\(run.file) (\(run.label)) against touchstone (fp32):\n"
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
            let failed = run.comparisons.filter { !$0.passed || run.topK[$0.name]?.passed == false }.count
            out += "  \(run.passed ? "PASSED" : "FAILED"): \(run.comparisons.count - failed) of \(run.comparisons.count) tensors within tolerance\n"
        }
        return out
    }

    func json() -> JSONValue {
        func num(_ x: Double) -> JSONValue { x.isFinite ? .number(x) : .string(x.isNaN ? "nan" : x > 0 ? "inf" : "-inf") }
        func entry(_ c: TensorComparison, _ topK: IndexComparison?) -> JSONValue {
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
                    tensors[c.name] = entry(c, run.topK[c.name])
                    worstAbs[c.name] = c.absolute.max.isNaN ? .infinity : c.absolute.max
                }
            }
        }
        return .object([
            "passed": .bool(passed),
            "tensors": .object(tensors),
            "runs": .array(runs.map { run in
                .object([
                    "file": .string(run.file), "runner": .string(run.label), "passed": .bool(run.passed),
                    "tensors": .object(Dictionary(run.comparisons.map { ($0.name, entry($0, run.topK[$0.name])) }, uniquingKeysWith: { a, _ in a })),
                ])
            }),
        ])
    }
}
