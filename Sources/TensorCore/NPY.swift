import Foundation

/// An error reading or writing a tensor file (.npy, .npz, TensorProto).
public struct TensorFileError: Error, CustomStringConvertible, Equatable {
    /// The file involved.
    public let path: String
    /// What was wrong, as one sentence fragment.
    public let reason: String

    public init(path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// The `.npy` format (versions 1.0–3.0): little-endian, C order, dtypes
/// float32/float64/float16/int64/int32/int16/int8/uint8/uint16/bool.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// Reads a `.npy` file.
    public static func read(contentsOf url: URL) throws -> Tensor {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TensorFileError(path: url.path, "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: url.path)
    }

    /// Decodes `.npy` bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String) throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw TensorFileError(path: path, "is not a .npy file (the magic string \\x93NUMPY is missing)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw TensorFileError(path: path, "is truncated inside the .npy preamble") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw TensorFileError(path: path, "has .npy format version \(major), expected 1, 2 or 3")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw TensorFileError(path: path, "is truncated: the header says \(headerLength) bytes, the file ends before")
        }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw TensorFileError(path: path, "has a header that is not text")
        }
        let (dtype, fortran, shape) = try parseHeader(header, path: path)
        if fortran { throw TensorFileError(path: path, "is in Fortran order; only C order is supported (save with np.ascontiguousarray)") }
        let count = try checkedCount(shape, path: path)
        let dataStart = headerStart + headerLength
        let width = dtype == .string ? header.components(separatedBy: "'").first(where: { unicodeWidth($0) != nil }).flatMap(unicodeWidth) ?? 1 : 0
        let (need, overflow) = count.multipliedReportingOverflow(by: dtype == .string ? 4 * width : dtype.byteSize)
        guard !overflow else { throw TensorFileError(path: path, "has shape \(shape), too large to allocate") }
        guard bytes.count - dataStart >= need else {
            throw TensorFileError(path: path, "is truncated: shape \(shape) of \(dtype) needs \(need) bytes of data, found \(bytes.count - dataStart)")
        }
        // numpy never writes bytes after the data; a file that has them is not what its header says.
        guard bytes.count - dataStart == need else {
            throw TensorFileError(path: path, "holds \(bytes.count - dataStart - need) bytes after the data its header describes (shape \(shape) of \(dtype))")
        }
        do { try MemoryBudget.check(need, "shape \(shape) of \(dtype)") } catch let e as MemoryBudgetError { throw TensorFileError(path: path, e.description) }
        if dtype == .string { return try decodeStrings(bytes[dataStart...], count: count, width: width, shape: shape, path: path) }
        return bytes.withUnsafeBytes { raw in
            Tensor(shape: shape, dtype: dtype, bytes: UnsafeRawBufferPointer(rebasing: raw[dataStart..<(dataStart + need)]))
        }
    }

    /// The element count of a shape, refusing negative or overflowing dimensions.
    public static func checkedCount(_ shape: [Int], path: String, limit: Int = 1 << 40) throws -> Int {
        var count = 1
        for d in shape {
            guard d >= 0 else { throw TensorFileError(path: path, "has a negative dimension \(d) in shape \(shape)") }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= limit else { throw TensorFileError(path: path, "has shape \(shape), too large to allocate") }
            count = p
        }
        return count
    }

    static func dtype(descr: String, path: String) throws -> DType {
        let table: [String: DType] = [
            "f4": .float32, "f8": .float64, "f2": .float16, "i8": .int64, "i4": .int32, "i2": .int16,
            "i1": .int8, "u1": .uint8, "u2": .uint16, "u4": .uint32, "u8": .uint64, "b1": .bool,
        ]
        var d = Substring(descr)
        let order = d.first
        if order == "<" || order == "|" || order == "=" {
            d = d.dropFirst()
        } else if order == ">" {
            if descr.hasSuffix("1") { d = d.dropFirst() } else {
                throw TensorFileError(path: path, "is big-endian (\(descr)); only little-endian data is supported")
            }
        }
        if d.first == "U", unicodeWidth(descr) != nil { return .string }
        guard let t = table[String(d)] else {
            throw TensorFileError(path: path, "has dtype '\(descr)', expected one of float32, float64, float16, int64, int32, int16, int8, uint8, uint16, bool, or unicode strings (<U)")
        }
        return t
    }

    /// The width in characters of a little-endian unicode dtype (`<U12`), 1…2^20.
    static func unicodeWidth(_ descr: String) -> Int? {
        guard descr.hasPrefix("<U") || descr.hasPrefix("=U") || descr.hasPrefix("U"), let n = Int(descr.drop { $0 != "U" }.dropFirst()),
              n >= 1, n <= 1 << 20 else { return nil }
        return n
    }

    /// Unicode strings of `width` UTF-32 code units each (zero-padded), as numpy writes `<U` arrays.
    static func decodeStrings(_ bytes: ArraySlice<UInt8>, count: Int, width: Int, shape: [Int], path: String) throws -> Tensor {
        var strings: [String] = []
        strings.reserveCapacity(count)
        var at = bytes.startIndex
        for k in 0..<count {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<width {
                let v = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
                at += 4
                if v == 0 { continue }
                guard let u = Unicode.Scalar(v) else { throw TensorFileError(path: path, "holds string \(k) with code point \(v), which is not Unicode") }
                scalars.append(u)
            }
            strings.append(String(scalars))
        }
        return Tensor(strings: strings, shape: shape)
    }

    static func descr(_ dtype: DType) -> String {
        switch dtype {
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .float16: return "<f2"
        // numpy has no bfloat16, FP8 or FP4: written as float32 (exact), see encode
        case .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float4e2m1, .float8e8m0: return "<f4"
        // 4- and 2-bit integers: one byte each in memory, as int8 (sign-extended) or uint8
        case .int4, .int2: return "|i1"
        case .uint4, .uint2: return "|u1"
        case .int64: return "<i8"
        case .int32: return "<i4"
        case .int16: return "<i2"
        case .uint16: return "<u2"
        case .uint32: return "<u4"
        case .uint64: return "<u8"
        case .int8: return "|i1"
        case .uint8: return "|u1"
        case .bool: return "|b1"
        case .string: return "<U1"  // the width is the longest string's (see encode)
        }
    }

    /// Parses the Python-literal header `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    static func parseHeader(_ header: String, path: String) throws -> (DType, Bool, [Int]) {
        func value(of key: String) throws -> Substring {
            guard let r = header.range(of: "'\(key)'") else {
                throw TensorFileError(path: path, "has a header without '\(key)': \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            var rest = header[r.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { throw TensorFileError(path: path, "has a malformed header near '\(key)'") }
            rest = rest.dropFirst().drop { $0 == " " }
            return rest
        }
        let descrRest = try value(of: "descr")
        guard let q = descrRest.first, q == "'" || q == "\"", let end = descrRest.dropFirst().firstIndex(of: q) else {
            throw TensorFileError(path: path, "has a header whose 'descr' is not a string")
        }
        let descr = String(descrRest[descrRest.index(after: descrRest.startIndex)..<end])
        let order = try value(of: "fortran_order")
        guard order.hasPrefix("True") || order.hasPrefix("False") else {
            throw TensorFileError(path: path, "has a header whose 'fortran_order' is neither True nor False")
        }
        let fortran = order.hasPrefix("True")
        let shapeRest = try value(of: "shape")
        guard shapeRest.first == "(", let close = shapeRest.firstIndex(of: ")") else {
            throw TensorFileError(path: path, "has a header whose 'shape' is not a tuple")
        }
        let inside = shapeRest[shapeRest.index(after: shapeRest.startIndex)..<close]
        var shape: [Int] = []
        for part in inside.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if t.isEmpty { continue }
            guard let v = Int(t) else { throw TensorFileError(path: path, "has a non-integer dimension '\(t)' in its shape") }
            shape.append(v)
        }
        return (try dtype(descr: descr, path: path), fortran, shape)
    }

    /// Encodes a tensor as `.npy`: version 1.0, or 2.0 when the header exceeds 1.0's 65,535 bytes
    /// (a shape of very high rank).
    public static func encode(_ tensor: Tensor) -> Data {
        if tensor.dtype == .bfloat16 || tensor.dtype.miniFloatFormat != nil { return encode(tensor.converted(to: .float32)) }
        let shapeText = tensor.shape.isEmpty ? "()" : tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        // Strings as numpy's fixed-width unicode: UTF-32 code points, zero-padded to the longest.
        let strings = tensor.strings?.map { Array($0.unicodeScalars).map(\.value) }
        let width = max(1, strings?.map(\.count).max() ?? 1)
        let dtypeText = strings == nil ? descr(tensor.dtype) : "<U\(width)"
        var header = "{'descr': '\(dtypeText)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad so that the data starts on a 64-byte boundary, with a final newline.
        let wide = 10 + header.utf8.count + 1 > 65535
        let preamble = wide ? 12 : 10
        let unpadded = preamble + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(magic + [wide ? 2 : 1, 0])
        let n = header.utf8.count
        data.append(contentsOf: [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF)])
        if wide { data.append(contentsOf: [UInt8((n >> 16) & 0xFF), UInt8((n >> 24) & 0xFF)]) }
        data.append(contentsOf: Array(header.utf8))
        if let strings {
            for s in strings {
                for v in s + Array(repeating: 0, count: width - s.count) {
                    data.append(contentsOf: [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)])
                }
            }
            return data
        }
        tensor.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// Writes a tensor to a `.npy` file.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        do { try encode(tensor).write(to: url) } catch {
            throw TensorFileError(path: url.path, "cannot be written (\(error.localizedDescription))")
        }
    }
}
