import Foundation
import Runtime
import TensorCore

/// A node's attributes with typed, checked accessors; errors name the attribute.
struct Attributes {
    let node: Onnx_NodeProto
    let byName: [String: Onnx_AttributeProto]
    let file: String

    init(_ node: Onnx_NodeProto, file: String) {
        self.node = node
        self.file = file
        var d: [String: Onnx_AttributeProto] = [:]
        for a in node.attribute { d[a.name] = a }
        byName = d
    }

    func error(_ message: String) -> LoadError {
        LoadError(file: file, node: node.name, op: node.opType, message)
    }

    func has(_ name: String) -> Bool { byName[name] != nil }

    private func get(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws -> Onnx_AttributeProto? {
        guard let a = byName[name] else { return nil }
        // Old exporters leave `type` unset (UNDEFINED); accept whatever field is filled then.
        if a.type != .undefined && a.type != type {
            throw error("attribute '\(name)' has type \(a.type), expected \(type)")
        }
        return a
    }

    /// A type attribute (`Optional`'s `type`).
    func type(_ name: String) throws -> Onnx_TypeProto? {
        try get(name, .typeProto).map(\.tp)
    }

    func int(_ name: String) throws -> Int? {
        guard let a = try get(name, .int) else { return nil }
        return Int(a.i)
    }

    func int(_ name: String, default d: Int) throws -> Int { try int(name) ?? d }

    /// A boolean attribute, stored as an int that must be 0 or 1.
    func flag(_ name: String, default d: Bool) throws -> Bool {
        guard let v = try int(name) else { return d }
        guard v == 0 || v == 1 else { throw error("attribute '\(name)' is \(v), expected 0 or 1") }
        return v == 1
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = try get(name, .ints) else { return nil }
        return a.ints.map { Int($0) }
    }

    func float(_ name: String) throws -> Float? {
        guard let a = try get(name, .float) else { return nil }
        return a.f
    }

    func float(_ name: String, default d: Float) throws -> Float { try float(name) ?? d }

    func floats(_ name: String) throws -> [Float]? {
        guard let a = try get(name, .floats) else { return nil }
        return a.floats
    }

    func string(_ name: String) throws -> String? {
        guard let a = try get(name, .string) else { return nil }
        return String(decoding: a.s, as: UTF8.self)
    }

    func string(_ name: String, default d: String) throws -> String { try string(name) ?? d }

    func strings(_ name: String) throws -> [String]? {
        guard let a = try get(name, .strings) else { return nil }
        return a.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    func tensor(_ name: String, baseDirectory: URL?) throws -> Tensor? {
        guard let a = try get(name, .tensor) else { return nil }
        return try ONNXTensor.decode(a.t, file: file, baseDirectory: baseDirectory)
    }

    /// An attribute that must be present.
    func require<T>(_ value: T?, _ name: String) throws -> T {
        guard let v = value else { throw error("required attribute '\(name)' is missing") }
        return v
    }
}
