import Foundation
import Layers
import Runtime
import TensorCore

/// The import table: ONNX op type → a builder of the typed layer, aware of the opset.
enum ONNXOps {
    typealias Builder = @Sendable (OpContext) throws -> any Layer

    static let table: [String: Builder] = {
        var t: [String: Builder] = [:]
        for (k, v) in convolutionOps { t[k] = v }
        for (k, v) in elementwiseOps { t[k] = v }
        for (k, v) in shapeOps { t[k] = v }
        for (k, v) in reductionOps { t[k] = v }
        for (k, v) in resizeOps { t[k] = v }
        for (k, v) in quantizationOps { t[k] = v }
        for (k, v) in extendedOps { t[k] = v }
        return t
    }()

    /// Every op type the importer knows (besides Constant).
    static var supportedOps: [String] { (Array(table.keys) + ["Constant"]).sorted() }

    /// The value of a `Constant` node (value, value_float(s), value_int(s)).
    static func constantValue(_ a: Attributes, baseDirectory: URL?) throws -> Tensor {
        let kinds = ["value", "value_float", "value_floats", "value_int", "value_ints", "sparse_value", "value_string", "value_strings"]
        let given = kinds.filter { a.has($0) }
        guard given.count <= 1 else { throw a.error("has \(given.count) values (\(given.joined(separator: ", "))); ONNX allows exactly one") }
        if let t = try a.tensor("value", baseDirectory: baseDirectory) { return t }
        if let f = try a.float("value_float") { return Tensor(scalar: f) }
        if let f = try a.floats("value_floats") { return Tensor(shape: [f.count], scalars: f) }
        if let i = try a.int("value_int") { return Tensor(scalar: Int64(i)) }
        if let i = try a.ints("value_ints") { return Tensor(shape: [i.count], scalars: i.map { Int64($0) }) }
        if a.has("sparse_value") || a.has("value_string") || a.has("value_strings") {
            throw a.error("sparse and string constants are not supported")
        }
        throw a.error("has none of the attributes value, value_float(s), value_int(s)")
    }
}

/// Reads a float scalar from a constant input (Clip's min/max before they become an activation).
func scalarDouble(_ t: Tensor?) -> Double? {
    guard let t, t.count == 1 else { return nil }
    return t.doubles()[0]
}
