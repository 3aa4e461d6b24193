import CJSONC
import Foundation

/// Decodes base64 text into little-endian float32 values as the bytes arrive (frugally-deep's
/// weight arrays: base64 split into chunks; white space is skipped, `=` ends a quad). The bytes
/// go straight into the memory the values end in (`FloatArray`): sixteen characters at a time
/// while they are whole quads, one at a time around string ends, white space and padding.
public struct Base64FloatDecoder: ~Copyable {
    /// Each byte's sextet value, or −1 for a byte outside the alphabet.
    static let table: [Int32] = {
        var t = [Int32](repeating: -1, count: 256)
        for (i, b) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(b)] = Int32(i) }
        return t
    }()

    /// Each pair of bytes' 12 bits (the first byte's sextet high), indexed by the pair read as a
    /// little-endian UInt16; 0xFFFF where either byte is outside the alphabet.
    static let pairs: [UInt16] = {
        var t = [UInt16](repeating: 0xFFFF, count: 65536)
        for first in 0..<256 where table[first] >= 0 {
            for second in 0..<256 where table[second] >= 0 {
                t[first | second << 8] = UInt16(table[first] << 6 | table[second])
            }
        }
        return t
    }()

    private var out = FloatArrayBuilder()
    private var quad: UInt32 = 0, sextets = 0
    /// How many bytes the whole array may reach at most (a hint for `FloatArrayBuilder`).
    var expectedBytes = 0

    public init() {}

    /// Whether the decoded bytes end on a float's boundary.
    public var isComplete: Bool { out.used % 4 == 0 && sextets == 0 }

    /// The values decoded, in memory of their exact size (a large array's pages, not a copy).
    public consuming func finish() -> FloatArray { out.finish() }

    private mutating func append(_ value: UInt32, bytes: Int) throws {
        try out.reserve(4, expected: expectedBytes)
        // The quad's bytes are its value's high bytes first: byte-swapped, they are its low bytes.
        out.base.storeBytes(of: (value << 8).byteSwapped, toByteOffset: out.used, as: UInt32.self)
        out.used += bytes
    }

    /// Decodes `count` bytes of text up to the first byte that is neither base64, white space nor
    /// `=`, and returns how many bytes it took (`count` when it took them all). Throws only when
    /// memory for the values cannot be had.
    public mutating func decode(_ p: UnsafePointer<UInt8>, count: Int) throws -> Int {
        try Self.table.withUnsafeBufferPointer { tb -> Int in
            try Self.pairs.withUnsafeBufferPointer { pb -> Int in
                guard let t = tb.baseAddress, let pt = pb.baseAddress else { return 0 }
                return try decode(p, count: count, table: t, pairs: pt)
            }
        }
    }

    private mutating func decode(_ p: UnsafePointer<UInt8>, count: Int, table t: UnsafePointer<Int32>, pairs pt: UnsafePointer<UInt16>) throws -> Int {
        var i = 0
        while true {
            // Whole quads, sixteen characters at a time, at most 4,096 characters per reservation
            // (a piece of text may hold many small arrays).
            while sextets == 0 && count - i >= 16 {
                let groups = min(count - i, 4096) / 16
                try out.reserve(groups * 12 + 4, expected: expectedBytes)
                var o = out.base + out.used
                var done = 0
                while done < groups {
                    // Two characters a lookup.
                    let q = UnsafeRawPointer(p + i)
                    @inline(__always) func pair(_ k: Int) -> UInt32 {
                        UInt32(pt[Int(UInt16(littleEndian: q.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)))])
                    }
                    let a0 = pair(0), a1 = pair(1), b0 = pair(2), b1 = pair(3)
                    let c0 = pair(4), c1 = pair(5), d0 = pair(6), d1 = pair(7)
                    guard (a0 | a1 | b0 | b1 | c0 | c1 | d0 | d1) & 0x8000 == 0 else { break }
                    // Each quad's 24 bits in the top of a word.
                    let a = a0 << 20 | a1 << 8, b = b0 << 20 | b1 << 8
                    let c = c0 << 20 | c1 << 8, d = d0 << 20 | d1 << 8
                    // Four overlapping 4-byte stores, high byte first; the last one's fourth
                    // byte is the spare byte the reservation made room for.
                    o.storeBytes(of: a.byteSwapped, as: UInt32.self)
                    o.storeBytes(of: b.byteSwapped, toByteOffset: 3, as: UInt32.self)
                    o.storeBytes(of: c.byteSwapped, toByteOffset: 6, as: UInt32.self)
                    o.storeBytes(of: d.byteSwapped, toByteOffset: 9, as: UInt32.self)
                    o += 12
                    i += 16
                    done += 1
                }
                out.used = o - out.base
                if done < groups { break }
            }
            guard i < count else { return i }
            let ch = p[i]
            if ch == 0x20 || ch == 0x0A || ch == 0x0D || ch == 0x09 { i += 1; continue }
            if ch == UInt8(ascii: "=") {
                // Padding: the bytes the partial quad holds.
                if sextets == 2 { try append(quad << 12, bytes: 1) }
                if sextets == 3 { try append(quad << 6, bytes: 2) }
                sextets = 0
                quad = 0
                i += 1
                continue
            }
            let v = t[Int(ch)]
            guard v >= 0 else { return i }
            quad = quad << 6 | UInt32(truncatingIfNeeded: v)
            sextets += 1
            if sextets == 4 {
                try append(quad, bytes: 3)
                quad = 0
                sextets = 0
            }
            i += 1
        }
    }

    /// Feeds `count` bytes of text; returns the offset of the first byte that is not base64, or
    /// nil.
    public mutating func feed(_ p: UnsafePointer<UInt8>, count: Int) throws -> Int? {
        let taken = try decode(p, count: count)
        return taken < count ? taken : nil
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
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw JSONError(path: url.path, message: "cannot be read") }
        defer { close(fd) }
        var info = stat()
        let size = fstat(fd, &info) == 0 ? Int(exactly: info.st_size) ?? 0 : 0
        return try parse(path: url.path, size: size, pieceSize: 1 << 22, decodesFloats: decodesFloats) { piece in
            guard let base = piece.baseAddress else { return 0 }
            var filled = 0
            while filled < piece.count {
                let n = read(fd, base + filled, piece.count - filled)
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { return nil }
                if n == 0 { break }
                filled += n
            }
            return filled
        }
    }

    /// Parses bytes held in memory, `pieceSize` bytes at a time as a file is read; `path` names
    /// the source in errors.
    public static func parse(_ data: Data, path: String, pieceSize: Int = 1 << 22, decodesFloats: @escaping ([String]) -> Bool) throws -> JSONValue {
        var offset = data.startIndex
        return try parse(path: path, size: data.count, pieceSize: max(1, pieceSize), decodesFloats: decodesFloats) { piece in
            guard let base = piece.baseAddress else { return 0 }
            let n = Swift.min(piece.count, data.endIndex - offset)
            data.copyBytes(to: base, from: offset..<(offset + n))
            offset += n
            return n
        }
    }

    /// Parses what `fill` puts in a piece of `pieceSize` bytes, piece by piece (0 bytes end the
    /// text, nil is a read error). `size` is the text's length in bytes, as far as known (0 if not).
    static func parse(path: String, size: Int, pieceSize: Int, decodesFloats: @escaping ([String]) -> Bool,
                      fill: @escaping (UnsafeMutableBufferPointer<UInt8>) -> Int?) throws -> JSONValue {
        let piece = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, pieceSize))
        defer { piece.deallocate() }
        var parser = Parser(fill: fill, piece: piece, size: size, path: path, decodesFloats: decodesFloats)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.peek() != nil { throw parser.error("has text after its JSON value (at byte \(parser.position))") }
        return value
    }

    struct Parser {
        let fill: (UnsafeMutableBufferPointer<UInt8>) -> Int?
        /// The piece of text read last: `filled` bytes of it are valid.
        let piece: UnsafeMutableBufferPointer<UInt8>
        let size: Int
        let path: String
        let decodesFloats: ([String]) -> Bool
        var filled = 0
        var index = 0
        var consumed = 0
        var readFailed = false
        var keys: [String] = []
        /// Float bytes decoded since the heap was last trimmed.
        var decodedSinceTrim = 0

        init(fill: @escaping (UnsafeMutableBufferPointer<UInt8>) -> Int?, piece: UnsafeMutableBufferPointer<UInt8>, size: Int,
             path: String, decodesFloats: @escaping ([String]) -> Bool) {
            self.fill = fill
            self.piece = piece
            self.size = size
            self.path = path
            self.decodesFloats = decodesFloats
        }

        var position: Int { consumed + index }

        func error(_ message: String) -> JSONError { JSONError(path: path, message: message) }
        func invalid(_ what: String) -> JSONError {
            if readFailed { return JSONError(path: path, message: "could not be read past byte \(position)") }
            return JSONError(path: path, message: "is not valid JSON (\(what) at byte \(position)); it may be truncated")
        }

        /// The next byte without consuming it; nil at the end of the file.
        @inline(__always)
        mutating func peek() -> UInt8? {
            if index < filled { return piece[index] }
            guard !readFailed else { return nil }
            consumed += filled
            index = 0
            guard let n = fill(piece) else {
                readFailed = true
                filled = 0
                return nil
            }
            filled = n
            return n == 0 ? nil : piece[0]
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
            // The text left bounds the array's bytes: a large array's memory is reserved once.
            decoder.expectedBytes = Swift.max(0, size - position) / 4 * 3 + 16
            let name = keys.joined(separator: "/")
            while true {
                skipWhitespace()
                guard next() == UInt8(ascii: "\"") else { throw error("'\(name)' holds something other than base64 strings") }
                while true {
                    if index == filled, peek() == nil { throw invalid("unterminated string") }
                    guard let base = piece.baseAddress else { throw invalid("unterminated string") }
                    let taken: Int
                    do { taken = try decoder.decode(base + index, count: filled - index) } catch {
                        throw self.error("'\(name)': memory for its values could not be had (at byte \(position))")
                    }
                    index += taken
                    if index < filled {
                        guard piece[index] == UInt8(ascii: "\"") else { throw self.error("'\(name)' is not valid base64 (at byte \(position))") }
                        index += 1
                        break
                    }
                }
                skipWhitespace()
                switch next() {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "]"):
                    guard decoder.isComplete else { throw error("'\(name)' does not hold whole float32 values") }
                    let values = decoder.finish()
                    decodedSinceTrim += values.count * 4
                    if decodedSinceTrim >= 16 << 20 {
                        // Freed heap buffers (small arrays, the tree's strings) leave holes in
                        // glibc's heap that it keeps (its mmap threshold rises after the first
                        // large free): given back every 16 MiB of weights (Benchmarks/RESULTS.md,
                        // "Loading Keras JSON").
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
