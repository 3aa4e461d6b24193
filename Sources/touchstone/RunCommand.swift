import ArgumentParser
import Foundation
import Touchstone

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a model on given or seeded random inputs and save its outputs.")

    @Argument(help: "The model file (.onnx).")
    var model: String

    @Option(name: .customLong("input"), help: ArgumentHelp("An input as NAME=FILE.npy (repeatable).", valueName: "NAME=FILE.npy"))
    var inputs: [String] = []

    @Option(help: "Directory to write each output to as <name>.npy.")
    var out: String?

    @Option(help: "Inputs from a file: a Polygraphy inputs JSON (--save-inputs; its first feed), a RunResults JSON, an .npz, or a folder of .npy/.pb files.")
    var loadInputs: String?

    @Option(help: "Save the inputs used (given or seeded) as a Polygraphy inputs JSON (.json) or an .npz.")
    var saveInputs: String?

    @Option(help: "Save the outputs, and the tensors of --save-tensors, as Polygraphy RunResults (.json, runner 'touchstone') or an .npz.")
    var saveOutputs: String?

    @Option(help: ArgumentHelp("Also save these intermediate tensors with --save-outputs: 'all', or names (comma-separated or repeated).", valueName: "all|NAME,…"))
    var saveTensors: [String] = []

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var memory: MemoryOptions

    func validate() throws { try validateThreads(threads) }

    @Option(help: "Batch size for seeded random inputs whose first dimension is symbolic.")
    var batch: Int = 1

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Shapes of seeded inputs, as Polygraphy writes them (e.g. input_ids:[1,128]); other symbolic dimensions are --batch when first, else 1.", valueName: "NAME:[D0,…]"))
    var inputShapes: [String] = []

    @Option(help: "Seed for random inputs.")
    var seed: UInt64 = 0

    @OptionGroup var precision: PrecisionOptions

    func run() throws {
        let url = URL(fileURLWithPath: model)
        let m = try Model(contentsOf: url)
        var feeds: [String: Tensor] = [:]
        if let loadInputs {
            feeds = try loadFeeds(loadInputs, model: m)
        }
        for (k, v) in try parseInputAssignments(inputs, model: m) { feeds[k] = v }
        let shapes = try parseInputShapes(inputShapes, model: m)
        for decl in m.inputs where feeds[decl.name] == nil {
            guard decl.dtype != .string else {
                throw UsageError("input '\(Oracle.printable(decl.name))' is a string tensor, which Touchstone does not make up: give it with --input \(Oracle.printable(decl.name))=FILE.npy (a numpy unicode array)")
            }
            guard decl.kind == .tensor || decl.kind == .optional else {
                throw UsageError("input '\(Oracle.printable(decl.name))' is a \(decl.kind), and seeded inputs are tensors: run it through the library (`Tensor(sequence:dtype:)`) or as a node test (`touchstone conformance`)")
            }
            let shape = try concreteShape(decl, batch: batch, given: shapes[decl.name])
            feeds[decl.name] = Tensor.random(shape: shape, dtype: decl.dtype, seed: seed &+ UInt64(feeds.count))
            print("input \(decl.name): not given; using seeded random \(decl.dtype)\(shape) (seed \(seed &+ UInt64(feeds.count - 1)))")
        }
        let policy = try precision.policy(for: m)
        let tapped = try tensorSelection(saveTensors, model: m)
        if tapped != .none && saveOutputs == nil { throw UsageError("--save-tensors needs --save-outputs FILE") }
        let session = Session(model: m, options: SessionOptions(threads: threads, taps: tapped, policy: policy))
        let start = Date()
        let outputs = try session.run(feeds)
        let ms = Date().timeIntervalSince(start) * 1000
        var formats = policy.nodePrecision.isEmpty ? "\(policy.precision)" : "\(policy.precision), \(policy.nodePrecision.count) node override\(policy.nodePrecision.count == 1 ? "" : "s")"
        if policy.accumulation == .fp16 { formats += ", FP16 sums" }
        if policy.biasAddition == .afterRounding { formats += ", convolution biases added after rounding" }
        if policy.siluRounding == .once { formats += ", SiLU rounded once" }
        print(String(format: "ran %@ in %.1f ms (%d thread%@, %@)", url.lastPathComponent, ms, threads, threads == 1 ? "" : "s", formats))
        let rounding = session.roundingCounts.values.reduce(into: RoundingCounts()) { $0 += $1 }
        if rounding.overflows > 0 || rounding.flushedToZero > 0 || rounding.subnormals > 0 {
            print("rounding to \(policy.precision): \(rounding.overflows) overflowed to inf, \(rounding.flushedToZero) flushed to zero, \(rounding.subnormals) subnormal, of \(rounding.total) values")
        }
        let clipped = session.clippingCounts.values.reduce(0) { $0 + $1.clipped }
        if !session.clippingCounts.isEmpty {
            let total = session.clippingCounts.values.reduce(0) { $0 + $1.total }
            print("INT8: \(clipped) of \(total) activation values beyond their calibrated range (clipped)")
        }
        if let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        }
        if let saveInputs {
            try TensorFiles.write([NamedTensors(m.inputs.compactMap { d in feeds[d.name].map { (d.name, $0) } })], to: saveInputs, asInputs: true)
            print("saved the inputs to \(saveInputs)")
        }
        if let saveOutputs {
            var saved = NamedTensors(m.outputs.flatMap { d in outputs[d.name].map { tensors(of: $0, name: d.name) } ?? [] })
            // Node outputs in graph order (as Polygraphy's `mark all` lists them), not inputs or weights.
            for name in m.graph.computedNames {
                for (n, t) in session.tapped[name].map({ tensors(of: $0, name: name) }) ?? [] where saved[n] == nil { saved[n] = t }
            }
            try TensorFiles.write([saved], to: saveOutputs)
            print("saved \(saved.names.count) tensor\(saved.names.count == 1 ? "" : "s") to \(saveOutputs)")
        }
        for decl in m.outputs {
            guard let value = outputs[decl.name] else { continue }
            if let kind = containerSummary(value) { print("\(decl.name): \(kind)") }
            for (name, t) in tensors(of: value, name: decl.name) {
                print(summary(name: name, t))
                if let top = topK(t, k: 5) { print(top) }
                if let out {
                    let file = URL(fileURLWithPath: out).appendingPathComponent(safeFileName(name) + ".npy")
                    try NPY.write(t, to: file)
                    print("  wrote \(file.path)")
                }
            }
        }
    }
}

/// The tensors a value holds, named: a tensor under its name, a sequence's items as
/// `NAME[0]`, `NAME[1]`, …, an optional's value under the optional's name (none: nothing).
func tensors(of value: Tensor, name: String) -> [(String, Tensor)] {
    switch value.container {
    case .sequence(let items)?: return items.enumerated().flatMap { k, t in tensors(of: t, name: "\(name)[\(k)]") }
    case .optional(let v)?: return v.map { tensors(of: $0, name: name) } ?? []
    case .strings?, nil: return [(name, value)]
    }
}

/// A line saying what a sequence or optional holds (nil for a tensor).
func containerSummary(_ value: Tensor) -> String? {
    switch value.container {
    case .sequence(let items)?: return "sequence of \(items.count) \(value.dtype) tensor\(items.count == 1 ? "" : "s")"
    case .optional(let v)?: return v == nil ? "optional, none" : "optional, holding:"
    case .strings?, nil: return nil
    }
}

/// Feeds from a file (`--load-inputs`): the first feed of a Polygraphy inputs file, or the named
/// tensors of any other tensor file; names must be graph inputs.
func loadFeeds(_ path: String, model: Model) throws -> [String: Tensor] {
    let feeds = try TensorFiles.readInputs(path)
    guard let first = feeds.first else { throw UsageError("\(path) holds no input feeds") }
    if feeds.count > 1 { warn("\(path) holds \(feeds.count) feeds; using the first (touchstone compare runs them all)") }
    return try checkedFeed(first, model: model, source: path)
}

/// A feed's tensors that name graph inputs; any other name is an error naming the file.
func checkedFeed(_ feed: NamedTensors, model: Model, source: String) throws -> [String: Tensor] {
    let names = Set(model.inputs.map(\.name))
    var out: [String: Tensor] = [:]
    for (name, t) in feed.pairs {
        guard names.contains(name) else {
            throw UsageError("\(source) gives '\(Oracle.printable(name))', which is not an input of the model (inputs: \(model.inputs.map { "'\($0.name)'" }.joined(separator: ", ")))")
        }
        out[name] = t
    }
    return out
}

/// `--save-tensors all|NAME,…` as a tap selection; names must be values of the graph.
func tensorSelection(_ items: [String], model: Model) throws -> TapSelection {
    let names = items.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
    if names.isEmpty { return .none }
    if names == ["all"] { return .all }
    let known = Set(model.graph.valueNames)
    for n in names where !known.contains(n) {
        throw UsageError("--save-tensors names '\(Oracle.printable(n))', which is not a tensor of the model")
    }
    return .names(Set(names))
}

/// Parses `NAME=FILE.npy` assignments and checks names against the model's inputs.
func parseInputAssignments(_ items: [String], model: Model) throws -> [String: Tensor] {
    var feeds: [String: Tensor] = [:]
    let names = model.inputs.map(\.name)
    for item in items {
        guard let eq = item.lastIndex(of: "=") else {
            throw UsageError("--input '\(item)' is not NAME=FILE.npy")
        }
        var name = String(item[..<eq])
        let file = String(item[item.index(after: eq)...])
        if name.isEmpty && names.count == 1 { name = names[0] }
        guard names.contains(name) else {
            throw UsageError("--input names '\(name)', but the model's inputs are \(names.map { "'\($0)'" }.joined(separator: ", "))")
        }
        feeds[name] = try NPY.read(contentsOf: URL(fileURLWithPath: file))
    }
    return feeds
}

/// Parses Polygraphy's `--input-shapes` values, `NAME:[D0,D1,…]` (one per input, repeatable),
/// and checks the names against the model's inputs.
func parseInputShapes(_ items: [String], model: Model) throws -> [String: [Int]] {
    var shapes: [String: [Int]] = [:]
    let names = model.inputs.map(\.name)
    for item in items {
        guard let colon = item.lastIndex(of: ":"), item.hasSuffix("]"), item[item.index(after: colon)...].hasPrefix("[") else {
            throw UsageError("--input-shapes '\(item)' is not NAME:[D0,D1,…]")
        }
        let name = String(item[..<colon])
        let body = item[item.index(colon, offsetBy: 2)..<item.index(before: item.endIndex)]
        let dims = body.isEmpty ? [] : body.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.allSatisfy({ ($0 ?? -1) >= 0 }) else { throw UsageError("--input-shapes '\(item)': dimensions must be non-negative integers") }
        guard names.contains(name) else {
            throw UsageError("--input-shapes names '\(name)', but the model's inputs are \(names.map { "'\($0)'" }.joined(separator: ", "))")
        }
        shapes[name] = dims.compactMap { $0 }
    }
    return shapes
}

/// A shape for a declared input: `given` (from --input-shapes), which must keep the declared rank
/// and fixed dimensions, or else symbolic dimensions become `batch` when first, else 1. The size
/// is checked before anything is allocated: a declared `[2^32, 2^32]` or `--batch 2^40` is refused.
func concreteShape(_ decl: ValueDeclaration, batch: Int, given: [Int]? = nil) throws -> [Int] {
    guard let dims = decl.dimensions else {
        if let given { return try checkedSeedShape(decl, given) }
        throw UsageError("input '\(Oracle.printable(decl.name))' declares no shape; give it with --input \(Oracle.printable(decl.name))=FILE.npy or --input-shapes")
    }
    if let given {
        guard given.count == dims.count, zip(dims, given).allSatisfy({ $0.value == nil || $0.value == $1 }) else {
            throw UsageError("--input-shapes gives '\(Oracle.printable(decl.name))' the shape \(given), but it is declared \(decl)")
        }
        return try checkedSeedShape(decl, given)
    }
    guard batch >= 1 else { throw UsageError("--batch must be at least 1, got \(batch)") }
    return try checkedSeedShape(decl, dims.enumerated().map { i, d in d.value ?? (i == 0 ? batch : 1) })
}

/// The input's symbolic dimensions after the first, which seeded inputs fill with 1 unless
/// --input-shapes gives them.
func symbolicInnerDimensions(_ decl: ValueDeclaration) -> [String] {
    (decl.dimensions ?? []).dropFirst().compactMap { d in d.value == nil ? d.description : nil }
}

/// `shape` after checking that a seeded tensor of it fits the memory budget.
private func checkedSeedShape(_ decl: ValueDeclaration, _ shape: [Int]) throws -> [Int] {
    var count = 1
    for d in shape {
        let (p, overflow) = count.multipliedReportingOverflow(by: max(d, 0))
        count = overflow ? Int.max : p
    }
    do {
        try MemoryBudget.check(count == Int.max ? nil : MemoryBudget.bytes(count: count, dtype: decl.dtype), "a seeded input '\(Oracle.printable(decl.name))' of shape \(shape)")
    } catch let e as MemoryBudgetError {
        throw UsageError(e.description + "; give a smaller --batch or the input as a file")
    }
    return shape
}

/// The output name made safe as a file name: characters outside [A-Za-z0-9._-] become '_'.
func safeFileName(_ name: String) -> String {
    String(name.map { c in
        c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "_"
    })
}

/// Calls `body` with each element of `range` as a Double, without copying the tensor (a float32 or
/// float64 output of gigabytes is read in place; other dtypes in converted chunks of 64 Ki elements).
func forEachDouble(_ t: Tensor, in range: Range<Int>? = nil, _ body: (Double) -> Void) {
    let r = range ?? 0..<t.count
    switch t.dtype {
    case .float32: t.withUnsafeBufferPointer(as: Float.self) { p in for i in r { body(Double(p[i])) } }
    case .float64: t.withUnsafeBufferPointer(as: Double.self) { p in for i in r { body(p[i]) } }
    default:
        let flat = t.reshaped([t.count])
        var start = r.lowerBound
        while start < r.upperBound {
            let end = min(start + 65_536, r.upperBound)
            let chunk = Tensor(zeros: [end - start], dtype: t.dtype)
            Movement.copyElements(from: flat, into: chunk) { start + $0 }
            for v in chunk.doubles() { body(v) }
            start = end
        }
    }
}

/// One line: shape, dtype, min/max/mean/std and NaN/Inf counts, in two passes over the output.
func summary(name: String, _ t: Tensor) -> String {
    if let strings = t.strings {
        let shown = strings.prefix(5).map { "\"\(Oracle.printable($0))\"" }.joined(separator: ", ")
        return "output \(name): string\(t.shape)  [\(shown)\(strings.count > 5 ? ", …" : "")]"
    }
    var count = 0, nan = 0, inf = 0, sum = 0.0, lo = Double.infinity, hi = -Double.infinity
    forEachDouble(t) { v in
        if v.isNaN { nan += 1 } else if v.isInfinite { inf += 1 } else {
            count += 1
            sum += v
            lo = min(lo, v)
            hi = max(hi, v)
        }
    }
    let mean = count == 0 ? 0 : sum / Double(count)
    var squares = 0.0
    if count > 0 { forEachDouble(t) { v in if v.isFinite { squares += (v - mean) * (v - mean) } } }
    var s = "output \(name): \(t.dtype)\(t.shape)"
    if count > 0 {
        s += String(format: "  min %.6g  max %.6g  mean %.6g  std %.6g", lo, hi, mean, (squares / Double(count)).squareRoot())
    }
    if nan + inf > 0 { s += "  (\(nan) NaN, \(inf) Inf)" }
    return s
}

/// Top-k classes of each row (up to 4 rows) for a classifier-shaped output `[N, C]`.
func topK(_ t: Tensor, k: Int) -> String? {
    let shape = t.shape.filter { $0 != 1 }
    guard t.dtype.isFloatingPoint, t.shape.count >= 2, t.shape[1] >= 2, shape.count <= 2, t.shape[2...].allSatisfy({ $0 == 1 }) else { return nil }
    let rows = t.shape[0], classes = t.shape[1]
    var lines: [String] = []
    for r in 0..<min(rows, 4) {
        var row: [Double] = []
        row.reserveCapacity(classes)
        forEachDouble(t, in: (r * classes)..<((r + 1) * classes)) { row.append($0) }
        let top = row.indices.sorted { row[$0] > row[$1] }.prefix(k)
        lines.append("  top-\(k)\(rows > 1 ? " [row \(r)]" : ""): " + top.map { String(format: "%d (%.4g)", $0, row[$0]) }.joined(separator: ", "))
    }
    return lines.joined(separator: "\n")
}
