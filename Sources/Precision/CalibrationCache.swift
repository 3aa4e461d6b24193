import Foundation
import JSONC
import Runtime

/// Calibrated INT8 ranges of activation tensors, read from and written to TensorRT's calibration
/// cache text format or Touchstone's JSON form.
///
/// TensorRT's text form: a first line `TRT-<version>-<algorithm>`, then one line per tensor,
/// `<name>: <hex>`, the hex being the IEEE-754 float32 bit pattern of the scale (amax/127), most
/// significant byte first. Names may contain spaces, brackets and colons, so a line is split at
/// its last `": "`.
public struct CalibrationCache: Sendable, Equatable {
    /// The algorithm of the header (`EntropyCalibration2`, `MinMaxCalibration`…).
    public var algorithm: String
    /// TensorRT's version number in the header (8601 for 8.6.1).
    public var version: String
    /// The method that made the ranges, when Touchstone made them.
    public var method: CalibrationMethod?
    /// Scale (amax/127) per tensor name: what TensorRT stores.
    public var scales: [String: Float]

    public init(algorithm: String, version: String = "8601", method: CalibrationMethod? = nil, scales: [String: Float]) {
        self.algorithm = algorithm
        self.version = version
        self.method = method
        self.scales = scales
    }

    /// A cache of the given ranges (amax per tensor).
    public init(method: CalibrationMethod, ranges: [String: Float], version: String = "8601") {
        self.init(algorithm: method.tensorRTAlgorithm, version: version, method: method, scales: ranges.mapValues { $0 / 127 })
    }

    /// amax per tensor (scale × 127), as the INT8 policy takes it.
    public var ranges: [String: Float] { scales.mapValues { $0 * 127 } }

    // MARK: TensorRT text

    /// Parses TensorRT's text form; `source` names the file in errors.
    public init(tensorRTText text: String, source: String = "calibration cache") throws {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let header = lines.first else { throw CalibrationError("\(source): empty; expected a first line TRT-<version>-<algorithm>") }
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "-", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "TRT", !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber), !parts[2].isEmpty else {
            throw CalibrationError("\(source):1: '\(header)' is not a TensorRT cache header (TRT-<version>-<algorithm>, e.g. TRT-8601-EntropyCalibration2)")
        }
        var scales: [String: Float] = [:]
        for (index, line) in lines.enumerated().dropFirst() {
            guard let split = line.range(of: ": ", options: .backwards) else {
                throw CalibrationError("\(source):\(index + 1): '\(line)' is not '<tensor name>: <hex scale>'")
            }
            let name = String(line[..<split.lowerBound])
            let hex = line[split.upperBound...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, hex.count == 8, let bits = UInt32(hex, radix: 16) else {
                throw CalibrationError("\(source):\(index + 1): '\(hex)' is not 8 hex digits of a float32 scale (line '\(line)')")
            }
            let scale = Float(bitPattern: bits)
            guard scale.isFinite, scale >= 0 else {
                throw CalibrationError("\(source):\(index + 1): the scale of '\(name)' is \(scale); it must be finite and not negative")
            }
            guard scales[name] == nil else { throw CalibrationError("\(source):\(index + 1): '\(name)' appears twice") }
            scales[name] = scale
        }
        self.init(algorithm: parts[2], version: parts[1], scales: scales)
    }

    /// TensorRT's text form, tensors in name order.
    public var tensorRTText: String {
        var s = "TRT-\(version)-\(algorithm)\n"
        for name in scales.keys.sorted() {
            s += "\(name): \(String(format: "%08x", scales[name]?.bitPattern ?? 0))\n"
        }
        return s
    }

    // MARK: JSON

    /// Touchstone's JSON form: `{"format": "touchstone-calibration", "method", "algorithm",
    /// "version", "tensors": {name: {"amax", "scale"}}}`.
    public var json: JSONValue {
        var tensors: [String: JSONValue] = [:]
        for (name, scale) in scales {
            tensors[name] = .object(["scale": .number(Double(scale)), "amax": .number(Double(scale * 127))])
        }
        var o: [String: JSONValue] = [
            "format": .string("touchstone-calibration"), "algorithm": .string(algorithm), "version": .string(version),
            "tensors": .object(tensors),
        ]
        if let method { o["method"] = .string(method.rawValue) }
        return .object(o)
    }

    public init(json: JSONValue, source: String) throws {
        guard json["format"]?.string == "touchstone-calibration", let tensors = json["tensors"]?.object else {
            throw CalibrationError("\(source): not a Touchstone calibration file (expected \"format\": \"touchstone-calibration\" and \"tensors\")")
        }
        var scales: [String: Float] = [:]
        for (name, v) in tensors {
            // The scale is what round-trips exactly; amax alone is accepted for hand-written files.
            if let s = v["scale"]?.number { scales[name] = Float(s) } else if let a = v["amax"]?.number { scales[name] = Float(a) / 127 } else {
                throw CalibrationError("\(source): tensor '\(name)' has neither \"scale\" nor \"amax\"")
            }
            guard let s = scales[name], s.isFinite, s >= 0 else { throw CalibrationError("\(source): tensor '\(name)' has a scale that is not finite and ≥ 0") }
        }
        let method = json["method"]?.string.flatMap(CalibrationMethod.init(rawValue:))
        self.init(
            algorithm: json["algorithm"]?.string ?? method?.tensorRTAlgorithm ?? "MinMaxCalibration",
            version: json["version"]?.string ?? "8601", method: method, scales: scales)
    }

    // MARK: Files

    /// Reads a cache: JSON when the file starts with `{`, else TensorRT's text form.
    public init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CalibrationError("\(url.path): cannot be read")
        }
        if data.first == UInt8(ascii: "{") {
            try self.init(json: try JSON.parse(data, path: url.path), source: url.path)
        } else {
            guard let text = String(data: data, encoding: .utf8) else { throw CalibrationError("\(url.path): not UTF-8 text") }
            try self.init(tensorRTText: text, source: url.path)
        }
    }

    /// Writes the cache: the JSON form when the path ends in `.json`, else TensorRT's text form.
    public func write(to url: URL) throws {
        let text = url.pathExtension.lowercased() == "json" ? json.serialized() + "\n" : tensorRTText
        try Data(text.utf8).write(to: url)
    }

    /// Checks that every tensor of the cache is a value of `model`; throws naming those that are not.
    public func validate(against model: Model, source: String) throws {
        let names = Set(model.graph.valueNames)
        let unknown = scales.keys.filter { !names.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw CalibrationError("\(source): \(unknown.count) tensor\(unknown.count == 1 ? " is" : "s are") not in the model: \(unknown.prefix(10).map { "'\($0)'" }.joined(separator: ", "))\(unknown.count > 10 ? ", …" : "")")
        }
    }
}
