import Foundation
import Runtime
import SwiftProtobuf
import TensorCore

/// Reads ONNX `TensorProto`s: initializers, constant attributes and the node tests' `.pb` files.
public enum ONNXTensor {
    /// The largest tensor a file may declare, in elements (16 Gi).
    static let elementLimit = 1 << 34

    /// Reads one serialized `TensorProto` file (the node tests' `input_0.pb` format).
    public static func read(contentsOf url: URL) throws -> (name: String, tensor: Tensor) {
        try requireRegularFile(url)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LoadError(file: url.path, "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: url.path, baseDirectory: url.deletingLastPathComponent())
    }

    /// Decodes one serialized `TensorProto`; `path` names the source in errors, `baseDirectory`
    /// holds its external data (nil: external data is refused).
    public static func decode(_ data: Data, path: String, baseDirectory: URL?) throws -> (name: String, tensor: Tensor) {
        let proto: Onnx_TensorProto
        do { proto = try Onnx_TensorProto(serializedBytes: data) } catch {
            throw LoadError(file: path, "is not a valid TensorProto (\(error))")
        }
        return (proto.name, try decode(proto, file: path, baseDirectory: baseDirectory))
    }

    /// Encodes a tensor as a serialized `TensorProto` with raw data.
    public static func encode(_ tensor: Tensor, name: String) throws -> Data {
        var p = Onnx_TensorProto()
        p.name = name
        p.dataType = Int32(tensor.dtype.rawValue)
        p.dims = tensor.shape.map { Int64($0) }
        if let strings = tensor.strings {
            p.stringData = strings.map { Data($0.utf8) }
        } else {
            p.rawData = tensor.dtype.bitWidth < 8 ? Data(tensor.packedBytes()) : tensor.withUnsafeBytes { Data($0) }
        }
        return try p.serializedData()
    }

    /// Decodes a `TensorProto`, checking its declared size before allocating.
    /// - raw: the tensor's `raw_data` in a mapped file, when the protobuf was decoded without it.
    static func decode(_ p: Onnx_TensorProto, file: String, baseDirectory: URL?, raw: RawData? = nil) throws -> Tensor {
        let what = p.name.isEmpty ? "a tensor" : "tensor '\(p.name)'"
        guard let dtype = DType(rawValue: Int(p.dataType)) else {
            throw LoadError(file: file, "\(what) has ONNX data type \(p.dataType), which is not supported (float, double, float16, bfloat16, int8/16/32/64, uint8/16/32/64, bool)")
        }
        var count = 1
        var shape: [Int] = []
        for d in p.dims {
            guard d >= 0 else { throw LoadError(file: file, "\(what) has a negative dimension \(d) in \(p.dims)") }
            let (c, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, c <= elementLimit else { throw LoadError(file: file, "\(what) declares dims \(p.dims), too many elements") }
            count = c
            shape.append(Int(d))
        }
        if dtype == .string {
            // Strings are in string_data only (UTF-8 bytes); their size is what the file holds.
            guard !p.hasRawData, p.dataLocation != .external else { throw LoadError(file: file, "\(what) is a string tensor outside string_data, which ONNX does not allow") }
            guard p.stringData.count == count else { throw LoadError(file: file, "\(what) declares dims \(p.dims) (\(count) strings) but holds \(p.stringData.count)") }
            let strings = try p.stringData.enumerated().map { k, bytes -> String in
                guard let s = String(bytes: bytes, encoding: .utf8) else { throw LoadError(file: file, "\(what) holds string \(k), which is not valid UTF-8") }
                return s
            }
            return Tensor(strings: strings, shape: shape)
        }
        // The 4- and 2-bit types are packed in files and take a byte each in memory.
        let packed = dtype.bitWidth < 8
        let bytes = packed ? dtype.packedByteCount(count) : count * dtype.byteSize
        do { try MemoryBudget.check(count * dtype.byteSize, "\(what) (dims \(p.dims), \(dtype))") } catch let e as MemoryBudgetError { throw LoadError(file: file, e.description) }
        func mismatch(_ have: Int, _ unit: String) -> LoadError {
            LoadError(file: file, "\(what) declares dims \(p.dims) (\(count) elements of \(dtype)) but holds \(have) \(unit)")
        }
        func unpacked(_ data: [UInt8]) throws -> Tensor {
            guard let t = Tensor.unpacking(data, shape: shape, dtype: dtype) else { throw mismatch(data.count, "packed bytes") }
            return t
        }
        if p.dataLocation == .external {
            let t = try readExternal(p, shape: packed ? [bytes] : shape, dtype: packed ? .uint8 : dtype, bytes: bytes, file: file, baseDirectory: baseDirectory, what: what)
            return packed ? try unpacked(t.scalars(as: UInt8.self)) : t
        }
        if let (mapped, range) = raw {
            guard range.count == bytes else { throw mismatch(range.count, "bytes of raw_data") }
            if packed { return try unpacked([UInt8](mapped.bytes[range])) }
            let t = Tensor(zeros: shape, dtype: dtype)
            t.withUnsafeMutableBytes { if let dst = $0.baseAddress { mapped.copy(range, to: dst) } }
            return t
        }
        if p.hasRawData {
            guard p.rawData.count == bytes else { throw mismatch(p.rawData.count, "bytes of raw_data") }
            return packed ? try unpacked([UInt8](p.rawData)) : p.rawData.withUnsafeBytes { Tensor(shape: shape, dtype: dtype, bytes: $0) }
        }
        if packed {
            // int32_data holds one packed byte per entry.
            guard p.int32Data.count == bytes else { throw mismatch(p.int32Data.count, "int32_data values (packed bytes)") }
            return try unpacked(p.int32Data.map { UInt8(truncatingIfNeeded: $0) })
        }
        func typed<T: TensorScalar>(_ values: [T], _ field: String) throws -> Tensor {
            guard values.count == count else { throw mismatch(values.count, "\(field) values") }
            return Tensor(shape: shape, scalars: values)
        }
        switch dtype {
        case .float32: return try typed(p.floatData, "float_data")
        case .float64: return try typed(p.doubleData, "double_data")
        case .int64: return try typed(p.int64Data, "int64_data")
        case .int32: return try typed(p.int32Data, "int32_data")
        case .uint64: return try typed(p.uint64Data, "uint64_data")
        case .uint32:
            guard p.uint64Data.count == count else { throw mismatch(p.uint64Data.count, "uint64_data values") }
            return Tensor(shape: shape, scalars: p.uint64Data.map { UInt32(truncatingIfNeeded: $0) })
        case .bfloat16:
            guard p.int32Data.count == count else { throw mismatch(p.int32Data.count, "int32_data values") }
            return Tensor(shape: shape, scalars: p.int32Data.map { BFloat16(bitPattern: UInt16(truncatingIfNeeded: $0)) })
        case .float16:
            guard p.int32Data.count == count else { throw mismatch(p.int32Data.count, "int32_data values") }
            return Tensor(shape: shape, scalars: p.int32Data.map { Float16(bitPattern: UInt16(truncatingIfNeeded: $0)) })
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0, .float4e2m1, .int4, .uint4, .int2, .uint2:
            // ONNX keeps FP8 values' bit patterns in int32_data (the packed types returned above).
            guard p.int32Data.count == count else { throw mismatch(p.int32Data.count, "int32_data values") }
            let bytes = p.int32Data.map { UInt8(truncatingIfNeeded: $0) }
            return bytes.withUnsafeBytes { Tensor(shape: shape, dtype: dtype, bytes: $0) }
        case .int8, .uint8, .int16, .uint16, .bool:
            guard p.int32Data.count == count else { throw mismatch(p.int32Data.count, "int32_data values") }
            let t = Tensor(shape: shape, scalars: p.int32Data.map { Int64($0) })
            return t.converted(to: dtype)
        case .string: throw LoadError(file: file, "\(what): internal error, strings are read above")
        }
    }

    static func readExternal(_ p: Onnx_TensorProto, shape: [Int], dtype: DType, bytes: Int, file: String, baseDirectory: URL?, what: String) throws -> Tensor {
        var location: String?
        var offset = 0
        var length: Int?
        func count(_ text: String, _ key: String) throws -> Int {
            guard let v = Int(text), v >= 0 else { throw LoadError(file: file, "\(what) has external-data \(key) '\(text)', expected a non-negative integer") }
            return v
        }
        for entry in p.externalData {
            switch entry.key {
            case "location": location = entry.value
            case "offset": offset = try count(entry.value, "offset")
            case "length": length = try count(entry.value, "length")
            default: break
            }
        }
        guard let location, !location.isEmpty else { throw LoadError(file: file, "\(what) is stored externally but names no location") }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw LoadError(file: file, "\(what) names external data '\(location)' outside the model's directory")
        }
        if let length, length != bytes {
            throw LoadError(file: file, "\(what) declares \(bytes) bytes (dims \(p.dims)) but its external-data length is \(length)")
        }
        guard let base = baseDirectory else { throw LoadError(file: file, "\(what) is stored externally, but the model was not loaded from a file") }
        // Confinement, as onnxruntime: the file must resolve (symbolic links followed) to a regular
        // file inside the model's directory; a FIFO or device would block or never end.
        let root = base.standardizedFileURL.resolvingSymlinksInPath().path
        let url = base.appendingPathComponent(location).standardizedFileURL.resolvingSymlinksInPath()
        guard url.path.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            throw LoadError(file: file, "\(what) names external data '\(location)', which leads outside the model's directory")
        }
        let type = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.type] as? FileAttributeType
        guard type == .typeRegular else {
            throw LoadError(file: file, "\(what) needs external data file '\(location)' beside the model; \(type == nil ? "it cannot be opened" : "it is not a regular file")")
        }
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw LoadError(file: file, "\(what) needs external data file '\(location)' beside the model; it cannot be opened")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map { Int($0) } ?? 0
        let (end, overflow) = offset.addingReportingOverflow(bytes)
        guard !overflow, end <= size else {
            throw LoadError(file: file, "\(what) needs \(bytes) bytes at offset \(offset) of '\(location)', which has \(size)")
        }
        try? handle.seek(toOffset: UInt64(offset))
        guard let data = try? handle.read(upToCount: bytes), data.count == bytes else {
            throw LoadError(file: file, "\(what): reading \(bytes) bytes of '\(location)' failed")
        }
        return data.withUnsafeBytes { Tensor(shape: shape, dtype: dtype, bytes: $0) }
    }
}
