import Foundation
import JSONC
import ONNXFormat
import Runtime
import TensorCore

/// A backend's tensors from one file: one or more runs (runners), each with one or more
/// iterations of named tensors.
public struct TensorFile: Sendable {
    /// The file it came from.
    public let path: String
    /// Per runner (a Polygraphy results file may hold several; other files hold one, named after
    /// the file), its iterations.
    public let runs: [RunResults.Run]
}

/// Reading and writing named tensors in the formats other tools use, chosen by the path:
/// - `.json`: Polygraphy's RunResults (`--save-outputs`) or inputs (`--save-inputs`);
/// - `.npz`: one iteration, arrays by member name (`np.savez`, `np.savez_compressed`);
/// - a `.npy` file: one array named after the file;
/// - a `.pb` file: one ONNX TensorProto, named by its `name` field (else after the file);
/// - a folder of `.npy` and `.pb` files: one iteration, each file as above.
public enum TensorFiles {
    /// Reads a file of a backend's results (outputs and intermediate tensors).
    public static func readResults(_ path: String) throws -> TensorFile {
        let url = URL(fileURLWithPath: path)
        if url.pathExtension.lowercased() == "json" {
            try requireRegularFile(url)
            let root = try PolygraphyJSON.parse(url)
            if root.array != nil {
                let feeds = try PolygraphyJSON.inputs(root, path: path)
                return TensorFile(path: path, runs: [.init(runner: url.lastPathComponent, iterations: feeds.map { .init(outputs: $0) })])
            }
            return TensorFile(path: path, runs: try PolygraphyJSON.runResults(root, path: path).runs)
        }
        let one = try readNamed(path)
        return TensorFile(path: path, runs: [.init(runner: url.lastPathComponent, iterations: [.init(outputs: one)])])
    }

    /// Reads input feeds: a Polygraphy inputs file (one feed per iteration), or one feed from any
    /// other form.
    public static func readInputs(_ path: String) throws -> [NamedTensors] {
        let url = URL(fileURLWithPath: path)
        if url.pathExtension.lowercased() == "json" {
            try requireRegularFile(url)
            let root = try PolygraphyJSON.parse(url)
            if root.array != nil { return try PolygraphyJSON.inputs(root, path: path) }
            let results = try PolygraphyJSON.runResults(root, path: path)
            guard results.runs.count == 1 else {
                throw OracleError.file(path: path, array: nil, reason: "holds the results of \(results.runs.count) runners; inputs must come from one")
            }
            return results.runs[0].iterations.map(\.outputs)
        }
        return [try readNamed(path)]
    }

    /// One set of named tensors from a `.npz`, `.npy`, `.pb` or a folder of them.
    public static func readNamed(_ path: String) throws -> NamedTensors {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw OracleError.file(path: path, array: nil, reason: "does not exist")
        }
        if isDirectory.boolValue {
            let entries: [String]
            do { entries = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
                throw OracleError.file(path: path, array: nil, reason: "cannot be listed (\(error.localizedDescription))")
            }
            var named = NamedTensors()
            for entry in entries {
                let ext = (entry as NSString).pathExtension.lowercased()
                guard ext == "npy" || ext == "pb" else { continue }
                let (name, t) = try readSingle(url.appendingPathComponent(entry))
                if named[name] != nil {
                    throw OracleError.file(path: path, array: name, reason: "is given by two files of the folder")
                }
                named[name] = t
            }
            if named.names.isEmpty {
                throw OracleError.file(path: path, array: nil, reason: "is a folder without .npy or .pb files")
            }
            return named
        }
        try requireRegularFile(url)
        switch url.pathExtension.lowercased() {
        case "npz":
            do {
                let arrays = try NPZ.read(contentsOf: url)
                return NamedTensors(arrays.keys.sorted().compactMap { k in arrays[k].map { (k, $0) } })
            } catch let e as TensorFileError {
                throw OracleError.file(path: path, array: nil, reason: e.reason)
            }
        case "npy", "pb":
            let (name, t) = try readSingle(url)
            return NamedTensors([(name, t)])
        default:
            throw OracleError.file(path: path, array: nil, reason: "has an extension Touchstone does not read as tensors (expected .json, .npz, .npy, .pb or a folder)")
        }
    }

    static func readSingle(_ url: URL) throws -> (String, Tensor) {
        try requireRegularFile(url)
        let stem = url.deletingPathExtension().lastPathComponent
        if url.pathExtension.lowercased() == "npy" {
            do { return (stem, try NPY.read(contentsOf: url)) } catch let e as TensorFileError {
                throw OracleError.file(path: url.path, array: nil, reason: e.reason)
            }
        }
        do {
            let (name, t) = try ONNXTensor.read(contentsOf: url)
            return (name.isEmpty ? stem : name, t)
        } catch let e as LoadError {
            throw OracleError.file(path: url.path, array: nil, reason: e.message)
        }
    }

    /// A FIFO or device would block a read or never end.
    static func requireRegularFile(_ url: URL) throws {
        let type = (try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path))?[.type] as? FileAttributeType
        guard type == .typeRegular else {
            throw OracleError.file(path: url.path, array: nil, reason: type == nil ? "does not exist" : "is not a regular file")
        }
    }

    /// Writes named tensors: `.json` as Polygraphy RunResults of one runner (or, with `asInputs`,
    /// as a Polygraphy inputs file), `.npz` as a numpy archive.
    public static func write(_ iterations: [NamedTensors], to path: String, runner: String = "touchstone", asInputs: Bool = false) throws {
        let url = URL(fileURLWithPath: path)
        switch url.pathExtension.lowercased() {
        case "json":
            let data = asInputs
                ? PolygraphyJSON.encode(inputs: iterations)
                : PolygraphyJSON.encode(RunResults(runs: [.init(runner: runner, iterations: iterations.map { .init(outputs: $0) })]))
            try PolygraphyJSON.write(data, to: url)
        case "npz":
            guard iterations.count == 1 else {
                throw OracleError.usage("\(path): an .npz file holds one iteration; \(iterations.count) were given (write .json instead)")
            }
            do { try NPZ.write(iterations[0].tensors, to: url) } catch let e as TensorFileError {
                throw OracleError.file(path: path, array: nil, reason: e.reason)
            }
        default:
            throw OracleError.usage("\(path): tensors are saved as .json (Polygraphy) or .npz")
        }
    }
}
