import Foundation
import JSONC
import TensorCore

/// Named tensors in a fixed order (a feed dict, or one iteration's outputs).
public struct NamedTensors: Sendable {
    public var names: [String]
    public var tensors: [String: Tensor]

    public init(_ pairs: [(String, Tensor)] = []) {
        names = []
        tensors = [:]
        for (n, t) in pairs { self[n] = t }
    }

    public subscript(name: String) -> Tensor? {
        get { tensors[name] }
        set {
            if tensors[name] == nil, newValue != nil { names.append(name) }
            if newValue == nil { names.removeAll { $0 == name } }
            tensors[name] = newValue
        }
    }

    public var pairs: [(String, Tensor)] { names.compactMap { n in tensors[n].map { (n, $0) } } }
}

/// Polygraphy's `RunResults` (`polygraphy run --save-outputs`): per runner, one entry per
/// iteration, each mapping output names to arrays.
public struct RunResults: Sendable {
    public struct Iteration: Sendable {
        public var outputs: NamedTensors
        /// Seconds the iteration took, when recorded.
        public var runtime: Double?
        public init(outputs: NamedTensors, runtime: Double? = nil) {
            self.outputs = outputs
            self.runtime = runtime
        }
    }

    public struct Run: Sendable {
        public var runner: String
        public var iterations: [Iteration]
        public init(runner: String, iterations: [Iteration]) {
            self.runner = runner
            self.iterations = iterations
        }
    }

    public var runs: [Run]
    public init(runs: [Run]) { self.runs = runs }
}

/// Reading and writing Polygraphy's JSON files: `RunResults` (`--save-outputs`) and input
/// feeds (`--save-inputs`: a list of `{name: array}`), arrays as Polygraphy serializes them
/// (`{"array": base64 of the .npy bytes, "polygraphy_class": "ndarray"}`, inside
/// `{"values": …, "polygraphy_class": "LazyArray"}` in results).
public enum PolygraphyJSON {
    static let typeMarker = "polygraphy_class"
    static let legacyTypeMarker = "polygraphy_serialized_json_type"

    /// Reads a `RunResults` file.
    public static func readRunResults(contentsOf url: URL) throws -> RunResults {
        let root = try parse(url)
        return try runResults(root, path: url.path)
    }

    /// Reads an inputs file: one feed dict per iteration.
    public static func readInputs(contentsOf url: URL) throws -> [NamedTensors] {
        let root = try parse(url)
        return try inputs(root, path: url.path)
    }

    /// Whether the parsed file is a list of feeds (inputs) rather than run results.
    static func parse(_ url: URL) throws -> JSONValue {
        do { return try JSON.parse(contentsOf: url) } catch let e as JSONError {
            throw OracleError.file(path: url.path, array: nil, reason: e.message)
        }
    }

    static func className(_ v: JSONValue) -> String? {
        guard let o = v.object else { return nil }
        if let s = o[typeMarker]?.string { return s }
        for (k, value) in o where value.string == legacyTypeMarker { return k }
        return nil
    }

    /// Reads `RunResults` from parsed JSON; `path` names the source in errors.
    public static func runResults(_ root: JSONValue, path: String) throws -> RunResults {
        guard className(root) == "RunResults", let list = root["lst"]?.array else {
            throw OracleError.file(path: path, array: nil, reason: "is not a Polygraphy RunResults file (expected an object with \"lst\" and polygraphy_class \"RunResults\")")
        }
        var runs: [RunResults.Run] = []
        for (k, entry) in list.enumerated() {
            guard let pair = entry.array, pair.count == 2, let runner = pair[0].string, let iters = pair[1].array else {
                throw OracleError.file(path: path, array: nil, reason: "entry \(k) of \"lst\" is not [runner name, [iteration results]]")
            }
            var iterations: [RunResults.Iteration] = []
            for (i, it) in iters.enumerated() {
                guard className(it) == "IterationResult", let outs = it["outputs"]?.object else {
                    throw OracleError.file(path: path, array: nil, reason: "iteration \(i) of runner '\(Oracle.printable(runner))' is not an IterationResult with \"outputs\"")
                }
                var named = NamedTensors()
                for name in outs.keys.sorted() {
                    guard let v = outs[name] else { continue }
                    named[name] = try array(v, path: path, name: name)
                }
                iterations.append(.init(outputs: named, runtime: it["runtime"]?.number))
            }
            runs.append(.init(runner: runner, iterations: iterations))
        }
        return RunResults(runs: runs)
    }

    /// Reads an inputs list from parsed JSON; `path` names the source in errors.
    public static func inputs(_ root: JSONValue, path: String) throws -> [NamedTensors] {
        guard let list = root.array else {
            throw OracleError.file(path: path, array: nil, reason: "is not a Polygraphy inputs file (expected a list of {name: array} feeds)")
        }
        return try list.enumerated().map { k, feed in
            guard let o = feed.object else {
                throw OracleError.file(path: path, array: nil, reason: "feed \(k) is not an object of named arrays")
            }
            var named = NamedTensors()
            for name in o.keys.sorted() {
                guard let v = o[name] else { continue }
                named[name] = try array(v, path: path, name: name)
            }
            return named
        }
    }

    /// Decodes one serialized array: an ndarray, or a LazyArray holding one.
    static func array(_ v: JSONValue, path: String, name: String) throws -> Tensor {
        switch className(v) {
        case "LazyArray", "LazyNumpyArray":
            guard let inner = v["values"] else {
                throw OracleError.file(path: path, array: name, reason: "is a LazyArray without \"values\"")
            }
            return try array(inner, path: path, name: name)
        case "ndarray":
            guard let text = v["array"]?.string else {
                throw OracleError.file(path: path, array: name, reason: "is an ndarray without an \"array\" string")
            }
            guard let bytes = Data(base64Encoded: text) else {
                throw OracleError.file(path: path, array: name, reason: "holds an \"array\" that is not base64 (Polygraphy's latin-1 form of old versions is not read)")
            }
            do { return try NPY.decode(bytes, path: "\(path), array '\(Oracle.printable(name))'") } catch let e as TensorFileError {
                throw OracleError.file(path: path, array: name, reason: e.reason)
            }
        case "Tensor":
            throw OracleError.file(path: path, array: name, reason: "is a serialized torch.Tensor; save numpy arrays instead (tensor.cpu().numpy())")
        case let other?:
            throw OracleError.file(path: path, array: name, reason: "is a '\(Oracle.printable(other))', expected an ndarray")
        case nil:
            throw OracleError.file(path: path, array: name, reason: "is not a serialized array (no polygraphy_class)")
        }
    }

    // MARK: - Writing

    /// `RunResults` as Polygraphy writes them (4-space indentation).
    public static func encode(_ results: RunResults) -> Data {
        var w = Writer()
        w.open("{")
        w.key("lst"); w.open("[")
        for (r, run) in results.runs.enumerated() {
            w.open("[")
            w.line(JSONValue.quoted(run.runner) + ",")
            w.open("[")
            for (i, it) in run.iterations.enumerated() {
                w.open("{")
                w.key("outputs"); w.open("{")
                for (k, (name, t)) in it.outputs.pairs.enumerated() {
                    w.key(name); w.open("{")
                    w.key("values"); ndarray(t, into: &w, comma: true)
                    w.line("\"\(typeMarker)\": \"LazyArray\"")
                    w.close("}", comma: k + 1 < it.outputs.names.count)
                }
                w.close("}", comma: true)
                w.line("\"runtime\": " + (it.runtime.map { $0.isFinite ? "\($0)" : "null" } ?? "null") + ",")
                w.line("\"runner_name\": " + JSONValue.quoted(run.runner) + ",")
                w.line("\"\(typeMarker)\": \"IterationResult\"")
                w.close("}", comma: i + 1 < run.iterations.count)
            }
            w.close("]", comma: false)
            w.close("]", comma: r + 1 < results.runs.count)
        }
        w.close("]", comma: true)
        w.line("\"\(typeMarker)\": \"RunResults\"")
        w.close("}", comma: false)
        return Data(w.text.utf8)
    }

    /// An inputs file: a list of feeds.
    public static func encode(inputs feeds: [NamedTensors]) -> Data {
        var w = Writer()
        w.open("[")
        for (f, feed) in feeds.enumerated() {
            w.open("{")
            for (k, (name, t)) in feed.pairs.enumerated() {
                w.key(name)
                ndarray(t, into: &w, comma: k + 1 < feed.names.count)
            }
            w.close("}", comma: f + 1 < feeds.count)
        }
        w.close("]", comma: false)
        return Data(w.text.utf8)
    }

    static func ndarray(_ t: Tensor, into w: inout Writer, comma: Bool) {
        w.open("{")
        w.line("\"array\": \"" + NPY.encode(t).base64EncodedString() + "\",")
        w.line("\"\(typeMarker)\": \"ndarray\"")
        w.close("}", comma: comma)
    }

    /// Writes run results or inputs to a file.
    public static func write(_ data: Data, to url: URL) throws {
        do { try data.write(to: url) } catch {
            throw OracleError.file(path: url.path, array: nil, reason: "cannot be written (\(error.localizedDescription))")
        }
    }

    /// Indented JSON text built line by line.
    struct Writer {
        var text = ""
        var level = 0
        var pendingKey: String?

        mutating func line(_ s: String) {
            text += String(repeating: "    ", count: level) + s + "\n"
        }
        mutating func key(_ k: String) { pendingKey = JSONValue.quoted(k) + ": " }
        mutating func open(_ bracket: String) {
            line((pendingKey ?? "") + bracket)
            pendingKey = nil
            level += 1
        }
        mutating func close(_ bracket: String, comma: Bool) {
            level -= 1
            line(bracket + (comma ? "," : ""))
        }
    }
}
