import CJSONC
import Foundation

/// Decodes base64 text into little-endian float32 values as the bytes arrive (frugally-deep's
/// weight arrays: base64 split into chunks; white space is skipped, `=` ends a quad).
public struct Base64FloatDecoder {
    /// Each byte's sextet value, or −1 for a byte outside the alphabet.
    static let table: [Int16] = {
        var t = [Int16](repeating: -1, count: 256)
        for (i, b) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(b)] = Int16(i) }
        return t
    }()

    private var values: [Float] = []
    private var word: UInt32 = 0, bytesInWord = 0
    private var quad: UInt32 = 0, sextets = 0

    public init() {}

    /// The values decoded so far (whole float32s), in an array of their exact size: the growing
    /// buffer's spare capacity (up to half) is not kept.
    public var floats: [Float] {
        [Float](unsafeUninitializedCapacity: values.count) { out, n in
            _ = out.initialize(from: values)
            n = values.count
        }
    }

    /// Whether the decoded bytes end on a float's boundary.
    public var isComplete: Bool { bytesInWord == 0 && sextets == 0 }

    @inline(__always)
    private mutating func emit(_ byte: UInt32) {
        word |= (byte & 0xFF) << (8 * UInt32(bytesInWord))
        bytesInWord += 1
        if bytesInWord == 4 {
            values.append(Float(bitPattern: word))
            word = 0
            bytesInWord = 0
        }
    }

    /// Feeds `count` bytes of text; returns the offset of the first byte that is not base64, or
    /// nil. Whole quads go four characters at a time.
    public mutating func feed(_ p: UnsafePointer<UInt8>, count: Int) -> Int? {
        Self.table.withUnsafeBufferPointer { t -> Int? in
            var i = 0
            while i < count {
                if sextets == 0 && i + 4 <= count {
                    let a = t[Int(p[i])], b = t[Int(p[i + 1])], c = t[Int(p[i + 2])], d = t[Int(p[i + 3])]
                    if (a | b | c | d) >= 0 {
                        let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                        emit(v >> 16)
                        emit(v >> 8)
                        emit(v)
                        i += 4
                        continue
                    }
                }
                let ch = p[i]
                i += 1
                if ch == 0x20 || ch == 0x0A || ch == 0x0D || ch == 0x09 { continue }
                if ch == UInt8(ascii: "=") {
                    // Padding: flush the bytes the partial quad holds.
                    if sextets == 2 { emit(quad >> 4) }
                    if sextets == 3 { emit(quad >> 10); emit(quad >> 2) }
                    sextets = 0
                    quad = 0
                    continue
                }
                let v = t[Int(ch)]
                guard v >= 0 else { return i - 1 }
                quad = quad << 6 | UInt32(v)
                sextets += 1
                if sextets == 4 {
                    emit(quad >> 16)
                    emit(quad >> 8)
                    emit(quad)
                    quad = 0
                    sextets = 0
                }
            }
            return nil
        }
    }
}

/// A JSON parser that reads a file in pieces, for files too large to hold twice (frugally-deep's
/// Keras models: hundreds of megabytes, almost all of it base64 weights). Arrays of strings at
/// the key paths `decodesFloats` accepts are decoded as base64 float32 while they are read and
/// come back as `.floats`: the text is never held, only the values.
public enum JSONStream {
    /// Nesting deeper than this is refused (a hostile file cannot exhaust the stack).
    public static let maxDepth = 512

    /// Parses a whole file. `decodesFloats(path)` gets the object keys from the root to an array
    /// (array positions are not part of the path).
    public static func parse(contentsOf url: URL, decodesFloats: @escaping ([String]) -> Bool) throws -> JSONValue {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw JSONError(path: url.path, message: "cannot be read") }
        defer { try? handle.close() }
        return try parse(path: url.path, decodesFloats: decodesFloats) { [UInt8](handle.readData(ofLength: 1 << 22)) }
    }

    /// Parses bytes held in memory; `path` names the source in errors.
    public static func parse(_ data: Data, path: String, decodesFloats: @escaping ([String]) -> Bool) throws -> JSONValue {
        var offset = data.startIndex
        return try parse(path: path, decodesFloats: decodesFloats) {
            let end = Swift.min(data.endIndex, offset + (1 << 22))
            defer { offset = end }
            return [UInt8](data[offset..<end])
        }
    }

    /// Parses what `read` returns, piece by piece (an empty piece ends the text).
    static func parse(path: String, decodesFloats: @escaping ([String]) -> Bool, read: @escaping () -> [UInt8]) throws -> JSONValue {
        var parser = Parser(read: read, path: path, decodesFloats: decodesFloats)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.peek() != nil { throw parser.error("has text after its JSON value (at byte \(parser.position))") }
        return value
    }

    struct Parser {
        let read: () -> [UInt8]
        let path: String
        let decodesFloats: ([String]) -> Bool
        var buffer: [UInt8] = []
        var index = 0
        var consumed = 0
        var keys: [String] = []
        /// Float bytes decoded since the heap was last trimmed.
        var decodedSinceTrim = 0

        init(read: @escaping () -> [UInt8], path: String, decodesFloats: @escaping ([String]) -> Bool) {
            self.read = read
            self.path = path
            self.decodesFloats = decodesFloats
        }

        var position: Int { consumed + index }

        func error(_ message: String) -> JSONError { JSONError(path: path, message: message) }
        func invalid(_ what: String) -> JSONError {
            JSONError(path: path, message: "is not valid JSON (\(what) at byte \(position)); it may be truncated")
        }

        /// The next byte without consuming it; nil at the end of the file.
        @inline(__always)
        mutating func peek() -> UInt8? {
            if index < buffer.count { return buffer[index] }
            consumed += buffer.count
            buffer = read()
            index = 0
            return buffer.isEmpty ? nil : buffer[0]
        }

        @inline(__always)
        mutating func next() -> UInt8? {
            guard let b = peek() else { return nil }
            index += 1
            return b
        }

        mutating func skipWhitespace() {
            while let b = peek(), b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 }
        }

        mutating func expect(_ text: String) throws {
            for c in text.utf8 { guard next() == c else { throw invalid("unexpected text") } }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < JSONStream.maxDepth else { throw error("nests deeper than \(JSONStream.maxDepth) levels") }
            skipWhitespace()
            guard let b = peek() else { throw invalid("unexpected end") }
            switch b {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            // Python's json module writes these for non-finite floats (json-c reads them too).
            case UInt8(ascii: "N"): try expect("NaN"); return .number(.nan)
            case UInt8(ascii: "I"): try expect("Infinity"); return .number(.infinity)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw invalid("unexpected character")
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            index += 1
            var dict: [String: JSONValue] = [:]
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { index += 1; return .object(dict) }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw invalid("expected a key") }
                let key = try string()
                skipWhitespace()
                guard next() == UInt8(ascii: ":") else { throw invalid("expected ':'") }
                keys.append(key)
                dict[key] = try value(depth: depth + 1)
                keys.removeLast()
                skipWhitespace()
                switch next() {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "}"): return .object(dict)
                default: throw invalid("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { index += 1; return .array([]) }
            if peek() == UInt8(ascii: "\""), decodesFloats(keys) { return try floats() }
            var items: [JSONValue] = []
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                switch next() {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "]"): return .array(items)
                default: throw invalid("expected ',' or ']'")
                }
            }
        }

        /// An array of base64 strings, decoded as they are read.
        mutating func floats() throws -> JSONValue {
            var decoder = Base64FloatDecoder()
            while true {
                skipWhitespace()
                guard next() == UInt8(ascii: "\"") else { throw error("'\(keys.joined(separator: "/"))' holds something other than base64 strings") }
                while true {
                    if index == buffer.count, peek() == nil { throw invalid("unterminated string") }
                    // One piece of the buffer at a time: the text up to the closing quote.
                    let piece = buffer
                    let (end, closed) = piece.withUnsafeBufferPointer { p -> (Int, Bool) in
                        var k = index
                        while k < p.count && p[k] != UInt8(ascii: "\"") { k += 1 }
                        return (k, k < p.count)
                    }
                    let failed = piece.withUnsafeBufferPointer { p in
                        p.baseAddress.flatMap { decoder.feed($0 + index, count: end - index) }
                    }
                    if let bad = failed { throw error("'\(keys.joined(separator: "/"))' is not valid base64 (at byte \(consumed + index + bad))") }
                    index = closed ? end + 1 : end
                    if closed { break }
                }
                skipWhitespace()
                switch next() {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "]"):
                    guard decoder.isComplete else { throw error("'\(keys.joined(separator: "/"))' does not hold whole float32 values") }
                    let values = decoder.floats
                    decoder = Base64FloatDecoder()
                    decodedSinceTrim += values.count * 4
                    if decodedSinceTrim >= 16 << 20 {
                        // The decoders' growing buffers and the 4 MiB read pieces, freed, leave
                        // holes in glibc's heap that it keeps (its mmap threshold rises after the
                        // first large free): given back every 16 MiB of weights. With the weight
                        // store's trimming, Keras's ResNet50 (138 MB) peaks at 152–172 MiB instead
                        // of 189–204 (Benchmarks/RESULTS.md, "Loading Keras JSON").
                        decodedSinceTrim = 0
                        Heap.trim()
                    }
                    return .floats(values)
                default: throw invalid("expected ',' or ']'")
                }
            }
        }

        mutating func string() throws -> String {
            index += 1
            var bytes: [UInt8] = []
            while true {
                guard let b = next() else { throw invalid("unterminated string") }
                if b == UInt8(ascii: "\"") { return String(decoding: bytes, as: UTF8.self) }
                if b < 0x20 { throw invalid("control character in a string") }
                guard b == UInt8(ascii: "\\") else { bytes.append(b); continue }
                guard let e = next() else { throw invalid("unterminated string") }
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A surrogate pair: the low half must follow.
                        guard next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u") else { throw invalid("unpaired surrogate") }
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw invalid("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw invalid("invalid \\u escape") }
                    bytes.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw invalid("invalid escape")
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let b = next(), let d = Character(Unicode.Scalar(b)).hexDigitValue else { throw invalid("invalid \\u escape") }
                v = v << 4 | UInt32(d)
            }
            return v
        }

        mutating func number() throws -> Double {
            var text: [UInt8] = []
            if peek() == UInt8(ascii: "-") {
                index += 1
                if peek() == UInt8(ascii: "I") { try expect("Infinity"); return -.infinity }
                text.append(UInt8(ascii: "-"))
            }
            while let b = peek(), b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: "e")
                || b == UInt8(ascii: "E") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
            {
                guard text.count < 64 else { throw invalid("number too long") }
                text.append(b)
                index += 1
            }
            guard let v = Double(String(decoding: text, as: UTF8.self)) else { throw invalid("invalid number") }
            return v
        }
    }
}

/// The C heap, for code that frees many large buffers in turn.
public enum Heap {
    /// Gives the heap's free pages back to the system (glibc's `malloc_trim`; nothing elsewhere).
    public static func trim() { touchstone_trim_heap() }
}
