import CJSONC
import Foundation

/// A JSON value read with json-c.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    /// An array of base64 strings decoded as float32 values while it was read (`JSONStream`).
    case floats(FloatArray)

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var number: Double? { if case .number(let n) = self { return n }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }

    /// The number as an Int when it is an integer that a double holds exactly (|n| ≤ 2^53): nil for
    /// 2.5, 1e300, NaN, ±Infinity and anything not a number, so that no conversion can trap.
    public var integer: Int? {
        guard case .number(let n) = self, n.isFinite, n == n.rounded(), n.magnitude <= 9_007_199_254_740_992 else { return nil }
        return Int(n)
    }

    /// The value as short JSON text for messages (at most 80 characters).
    public var brief: String {
        let s = serialized(indent: 0)
        return s.count > 80 ? String(s.prefix(77)) + "…" : s
    }
}

/// An error parsing JSON: the file and json-c's description.
public struct JSONError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

/// Parses JSON text with json-c.
public enum JSON {
    /// Parses a whole file.
    public static func parse(contentsOf url: URL) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw JSONError(path: url.path, message: "cannot be read")
        }
        return try parse(data, path: url.path)
    }

    /// Parses bytes; `path` names the source in errors.
    public static func parse(_ data: Data, path: String) throws -> JSONValue {
        guard let tok = json_tokener_new() else { throw JSONError(path: path, message: "json-c could not allocate a tokener") }
        defer { json_tokener_free(tok) }
        // json-c takes at most Int32.max bytes a call: larger files are fed in chunks (json-c
        // tokenizes incrementally), and the parse end counts from the start of the last chunk.
        var obj: OpaquePointer?
        var offset = 0
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            repeat {
                let n = min(raw.count - offset, 1 << 30)
                obj = json_tokener_parse_ex(tok, (base + offset).assumingMemoryBound(to: CChar.self), Int32(n))
                offset += n
            } while obj == nil && json_tokener_get_error(tok) == json_tokener_continue && offset < raw.count
        }
        let err = json_tokener_get_error(tok)
        // Where json-c stopped, counted from the start of the data (its parse end is within the last chunk).
        let end = max(0, offset - 1) / (1 << 30) * (1 << 30) + json_tokener_get_parse_end(tok)
        if err != json_tokener_success {
            let text = json_tokener_error_desc(err).map { String(cString: $0) } ?? "error \(err)"
            throw JSONError(path: path, message: "is not valid JSON (\(text) at byte \(end)); it may be truncated")
        }
        defer { json_object_put(obj) }
        // One value per file: anything but white space after it is garbage.
        if let extra = data.dropFirst(end).firstIndex(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) {
            throw JSONError(path: path, message: "has text after its JSON value (at byte \(extra - data.startIndex))")
        }
        return convert(obj)
    }

    private static func convert(_ o: OpaquePointer?) -> JSONValue {
        guard let o else { return .null }
        switch json_object_get_type(o) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(o) != 0)
        case json_type_double, json_type_int: return .number(json_object_get_double(o))
        case json_type_string: return .string(String(cString: json_object_get_string(o)))
        case json_type_array:
            let n = json_object_array_length(o)
            return .array((0..<n).map { convert(json_object_array_get_idx(o, $0)) })
        case json_type_object:
            var dict: [String: JSONValue] = [:]
            var it = json_object_iter_begin(o)
            let end = json_object_iter_end(o)
            var endIt = end
            while json_object_iter_equal(&it, &endIt) == 0 {
                let key = String(cString: json_object_iter_peek_name(&it))
                dict[key] = convert(json_object_iter_peek_value(&it))
                json_object_iter_next(&it)
            }
            return .object(dict)
        default: return .null
        }
    }
}

extension JSONValue {
    /// The value as JSON text: object keys sorted, numbers in Swift's shortest round-tripping
    /// form (integers without a fraction), non-finite numbers as null; `indent` spaces per level
    /// (0 for one line).
    public func serialized(indent: Int = 2) -> String {
        var out = ""
        write(into: &out, indent: indent, level: 0)
        return out
    }

    private func write(into out: inout String, indent: Int, level: Int) {
        let newline = indent > 0 ? "\n" : ""
        func pad(_ l: Int) -> String { String(repeating: " ", count: indent * l) }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            if !d.isFinite { out += "null" } else if d == d.rounded(), d.magnitude < 1e15 { out += String(Int64(d)) } else { out += "\(d)" }
        case .string(let s): out += JSONValue.quoted(s)
        case .floats(let f): JSONValue.array(f.map { .number(Double($0)) }).write(into: &out, indent: indent, level: level)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            // Arrays of numbers stay on one line.
            let flat = a.allSatisfy { if case .number = $0 { return true }; return false }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += flat || indent == 0 ? "," : ",\n" } else if !flat { out += newline }
                if !flat { out += pad(level + 1) }
                v.write(into: &out, indent: indent, level: level + 1)
            }
            out += flat ? "]" : newline + pad(level) + "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{" + newline
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," + newline }
                out += pad(level + 1) + JSONValue.quoted(k) + (indent > 0 ? ": " : ":")
                o[k]?.write(into: &out, indent: indent, level: level + 1)
            }
            out += newline + pad(level) + "}"
        }
    }

    /// A string as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            default:
                if u.value < 0x20 { r += String(format: "\\u%04x", u.value) } else { r.unicodeScalars.append(u) }
            }
        }
        return r + "\""
    }
}
