import Foundation
import Layers
import Runtime
import SwiftProtobuf
import TensorCore

/// Reads the node tests' value files that are not tensors: ONNX's `SequenceProto` and
/// `OptionalProto` (onnx-data.proto), which hold `TensorProto`s.
extension ONNXTensor {
    /// Reads one `.pb` value file as a graph input or output of this declaration declares it: a
    /// `TensorProto`, or a `SequenceProto` or `OptionalProto` of tensors. `dtype` is the element
    /// type an empty sequence or optional takes.
    public static func readValue(contentsOf url: URL, kind: DeclaredKind, dtype: DType) throws -> Tensor {
        switch kind {
        case .tensor, .any: return try read(contentsOf: url).tensor
        case .sequence, .optional:
            try requireRegularFile(url)
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw LoadError(file: url.path, "cannot be read (\(error.localizedDescription))")
            }
            let reader = ValueProtoReader(path: url.path, baseDirectory: url.deletingLastPathComponent())
            return kind == .sequence ? try reader.sequence([UInt8](data)[...], dtype: dtype, depth: 0)
                : try reader.optional([UInt8](data)[...], dtype: dtype, depth: 0)
        }
    }
}

/// A reader of the protobuf wire format for `SequenceProto` and `OptionalProto`, which the
/// generated code does not cover. Every length is checked against what is left.
struct ValueProtoReader {
    let path: String
    let baseDirectory: URL?
    /// Sequences inside optionals inside sequences… a file may nest this deep.
    static let depthLimit = 8

    /// The `elem_type` codes of onnx-data.proto.
    enum ElementKind: UInt64 { case undefined = 0, tensor = 1, sparseTensor = 2, sequence = 3, map = 4, optional = 5 }

    func error(_ message: String) -> LoadError { LoadError(file: path, message) }

    /// One field: its number, and its bytes (length-delimited) or varint value.
    struct Field {
        let number: Int
        let bytes: ArraySlice<UInt8>?
        let value: UInt64
    }

    /// The fields of one message, in order.
    func fields(_ data: ArraySlice<UInt8>, _ what: String) throws -> [Field] {
        var at = data.startIndex
        func varint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard at < data.endIndex, shift < 64 else { throw error("is not a valid \(what): a varint runs past its end") }
                let b = data[at]
                at += 1
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
        }
        var out: [Field] = []
        while at < data.endIndex {
            let key = try varint()
            let number = Int(truncatingIfNeeded: key >> 3)
            switch key & 7 {
            case 0: out.append(Field(number: number, bytes: nil, value: try varint()))
            case 1, 5:
                let n = key & 7 == 1 ? 8 : 4
                guard data.endIndex - at >= n else { throw error("is not a valid \(what): a fixed-size field runs past its end") }
                at += n
            case 2:
                let length = try varint()
                guard length <= UInt64(data.endIndex - at) else {
                    throw error("is not a valid \(what): field \(number) claims \(length) bytes, \(data.endIndex - at) are left")
                }
                let end = at + Int(length)
                out.append(Field(number: number, bytes: data[at..<end], value: 0))
                at = end
            default: throw error("is not a valid \(what): wire type \(key & 7) (groups are not used by ONNX)")
            }
        }
        return out
    }

    func tensor(_ bytes: ArraySlice<UInt8>) throws -> Tensor {
        let proto: Onnx_TensorProto
        do { proto = try Onnx_TensorProto(serializedBytes: Data(bytes)) } catch { throw self.error("holds a tensor that is not a valid TensorProto (\(error))") }
        return try ONNXTensor.decode(proto, file: path, baseDirectory: baseDirectory)
    }

    func elementKind(_ fields: [Field], _ what: String) throws -> ElementKind {
        let code = fields.last(where: { $0.number == 2 && $0.bytes == nil })?.value ?? 0
        guard let kind = ElementKind(rawValue: code) else { throw error("is a \(what) of element type \(code), which ONNX does not define") }
        return kind
    }

    /// A `SequenceProto` of tensors.
    func sequence(_ data: ArraySlice<UInt8>, dtype: DType, depth: Int) throws -> Tensor {
        guard depth < Self.depthLimit else { throw error("nests sequences and optionals more than \(Self.depthLimit) deep") }
        let fields = try fields(data, "SequenceProto")
        let kind = try elementKind(fields, "SequenceProto")
        guard kind == .tensor || kind == .undefined else { throw error("is a sequence of \(kind) values; only sequences of tensors are supported") }
        if let f = fields.first(where: { (4...7).contains($0.number) && $0.bytes != nil }) {
            throw error("is a sequence holding field \(f.number) values (sparse tensors, sequences, maps or optionals); only tensors are supported")
        }
        let itemFields = fields.filter { $0.number == 3 }.compactMap { $0.bytes }
        guard itemFields.count <= sequenceItemLimit else { throw error("is a sequence of \(itemFields.count) items; a sequence holds at most \(sequenceItemLimit)") }
        let items = try itemFields.map { try tensor($0) }
        let itemType = items.first?.dtype ?? dtype
        if let other = items.first(where: { $0.dtype != itemType }) { throw error("is a sequence of \(itemType) and \(other.dtype) items; a sequence has one element type") }
        return Tensor(sequence: items, dtype: itemType)
    }

    /// An `OptionalProto` holding a tensor, a sequence of tensors, or nothing.
    func optional(_ data: ArraySlice<UInt8>, dtype: DType, depth: Int) throws -> Tensor {
        guard depth < Self.depthLimit else { throw error("nests sequences and optionals more than \(Self.depthLimit) deep") }
        let fields = try fields(data, "OptionalProto")
        let kind = try elementKind(fields, "OptionalProto")
        switch kind {
        case .undefined: return Tensor(optional: nil, dtype: dtype)
        case .tensor:
            guard let b = fields.last(where: { $0.number == 3 })?.bytes else { return Tensor(optional: nil, dtype: dtype) }
            let t = try tensor(b)
            return Tensor(optional: t, dtype: t.dtype)
        case .sequence:
            guard let b = fields.last(where: { $0.number == 5 })?.bytes else { return Tensor(optional: nil, dtype: dtype) }
            let s = try sequence(b, dtype: dtype, depth: depth + 1)
            return Tensor(optional: s, dtype: s.dtype)
        default: throw error("is an optional of \(kind) values; only tensors and sequences of tensors are supported")
        }
    }
}
