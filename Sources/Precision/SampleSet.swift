import Foundation
import Runtime
import TensorCore

/// A data set on disk: one `.npy` per sample (single-input models) or one `.npz` per sample keyed
/// by input name, taken in file-name order. Samples are read one at a time, when asked for.
public struct SampleSet: Sendable {
    public let directory: URL
    public let files: [URL]
    let inputs: [ValueDeclaration]

    public init(directory: URL, model: Model) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CalibrationError("\(directory.path): not a directory of .npy or .npz samples")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let files = names.filter { $0.hasSuffix(".npy") || $0.hasSuffix(".npz") }.sorted()
            .map { directory.appendingPathComponent($0) }
        guard !files.isEmpty else { throw CalibrationError("\(directory.path): has no .npy or .npz files") }
        if files.contains(where: { $0.pathExtension == "npy" }) && model.inputs.count != 1 {
            throw CalibrationError("\(directory.path): .npy samples need a model with one input; this one has \(model.inputs.count) (\(model.inputs.map(\.name).joined(separator: ", "))): use .npz files keyed by input name")
        }
        self.directory = directory
        self.files = files
        inputs = model.inputs
    }

    public var count: Int { files.count }

    /// The indices of shard `index` of `count` (every count-th sample from `index`).
    public func shard(_ index: Int, of count: Int) -> [Int] {
        Array(stride(from: index, to: files.count, by: count))
    }

    /// The feeds of sample `i`. A sample one rank short of the declared input gets a leading
    /// batch dimension of 1.
    public func sample(_ i: Int) throws -> [String: Tensor] {
        let url = files[i]
        var raw: [String: Tensor]
        if url.pathExtension == "npz" {
            raw = try NPZ.read(contentsOf: url)
        } else {
            raw = [inputs[0].name: try NPY.read(contentsOf: url)]
        }
        var feeds: [String: Tensor] = [:]
        for decl in inputs {
            guard var t = raw[decl.name] else {
                throw CalibrationError("\(url.path): has no array named '\(decl.name)' (it has \(raw.keys.sorted().joined(separator: ", ")))")
            }
            if let dims = decl.dimensions, t.rank == dims.count - 1 { t = t.reshaped([1] + t.shape) }
            if t.dtype != decl.dtype, t.dtype.isFloatingPoint, decl.dtype.isFloatingPoint { t = t.converted(to: decl.dtype) }
            feeds[decl.name] = t
        }
        return feeds
    }

    /// Reads labels for the samples: a `.npy` of integers, or a text file with one integer per
    /// line, in sample order.
    public func labels(from url: URL) throws -> [Int] {
        var labels: [Int]
        if url.pathExtension == "npy" {
            let t = try NPY.read(contentsOf: url)
            guard !t.dtype.isFloatingPoint || t.doubles().allSatisfy({ $0 == $0.rounded() }) else {
                throw CalibrationError("\(url.path): labels must be integers")
            }
            labels = t.int64s().map { Int($0) }
        } else {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw CalibrationError("\(url.path): cannot be read") }
            labels = []
            for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
                let s = line.trimmingCharacters(in: .whitespaces)
                if s.isEmpty { continue }
                guard let v = Int(s) else { throw CalibrationError("\(url.path):\(n + 1): '\(s)' is not an integer label") }
                labels.append(v)
            }
        }
        guard labels.count == files.count else {
            throw CalibrationError("\(url.path): has \(labels.count) labels for \(files.count) samples in \(directory.path)")
        }
        return labels
    }
}
