import Foundation
import TensorCore

// String tensors: their elements are Swift strings (`Tensor.strings`), never in the arena, so the
// ops that make strings are value layers; those that read strings and write numbers (Equal,
// RegexFullMatch) write into planned storage as any op does.

/// Input `i`, checked to be a string tensor.
func stringType(_ inputs: [TensorType?], _ i: Int, _ what: String) throws -> TensorType {
    let t = try tensorType(inputs, i, what)
    guard t.dtype == .string else { throw LayerError("input \(i) (\(what)) is \(t.dtype), expected string") }
    return t
}

/// Input `i`'s strings.
func stringValues(_ inputs: [Tensor?], _ i: Int, _ what: String) throws -> [String] {
    let t = try required(inputs, i, what)
    guard let s = t.strings else { throw LayerError("input \(i) (\(what)) is \(t.dtype), expected string") }
    return s
}

/// For each element of `out` (a broadcast of `shape`), the offset of its source in a tensor of
/// `shape` (numpy's broadcasting: dimensions aligned from the right, 1s repeated).
func broadcastOffsets(_ shape: [Int], to out: [Int]) -> [Int] {
    let rank = out.count
    let padded = Array(repeating: 1, count: rank - shape.count) + shape
    let strides = contiguousStrides(padded).enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
    let outStrides = contiguousStrides(out)
    return (0..<out.product).map { j in
        var offset = 0
        for d in 0..<rank { offset += (j / outStrides[d]) % out[d] * strides[d] }
        return offset
    }
}

/// The broadcast shape of two string inputs.
func broadcastStrings(_ inputs: [TensorType?]) throws -> [Int] {
    let a = try stringType(inputs, 0, "X"), b = try stringType(inputs, 1, "Y")
    guard let shape = Broadcast.shape([a.shape, b.shape]) else { throw LayerError("shapes \(a.shape) and \(b.shape) do not broadcast") }
    return shape
}

/// ONNX `Equal` on strings: elementwise, with broadcasting, by code points (the numeric Equal is
/// `BinaryLayer`).
struct StringEqualOp: PreparedOp {
    let a: [Int], b: [Int], out: [Int]
    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try stringValues(inputs, 0, "A"), y = try stringValues(inputs, 1, "B")
        let ia = broadcastOffsets(a, to: out), ib = broadcastOffsets(b, to: out)
        outputs[0].withUnsafeMutableBufferPointer(as: Bool.self) { o in
            for j in o.indices { o[j] = x[ia[j]].unicodeScalars.elementsEqual(y[ib[j]].unicodeScalars) }
        }
    }
}

/// ONNX `StringConcat`: X and Y joined elementwise, with broadcasting.
public struct StringConcat: ValueLayer {
    public var opType: String { "StringConcat" }
    public var takesStrings: Bool { true }
    public init() {}

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(.string, try broadcastStrings(inputs))]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X"), y = try required(inputs, 1, "Y")
        let shape = try broadcastStrings(types(of: inputs))
        let xs = try stringValues(inputs, 0, "X"), ys = try stringValues(inputs, 1, "Y")
        let ix = broadcastOffsets(x.shape, to: shape), iy = broadcastOffsets(y.shape, to: shape)
        return [Tensor(strings: zip(ix, iy).map { xs[$0] + ys[$1] }, shape: shape)]
    }
}

/// ONNX `RegexFullMatch`: whether each string matches the RE2 pattern as a whole (`Regex`).
public struct RegexFullMatch: Layer {
    public var opType: String { "RegexFullMatch" }
    public var takesStrings: Bool { true }
    public let regex: Regex
    public init(pattern: String) throws { regex = try Regex(pattern) }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(.bool, try stringType(inputs, 0, "X").shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try stringValues(inputs, 0, "X")
        outputs[0].withUnsafeMutableBufferPointer(as: Bool.self) { o in
            for j in o.indices { o[j] = regex.fullMatch(x[j]) }
        }
    }
}

/// ONNX `StringSplit`: each string split at `delimiter` (at runs of whitespace, leading and
/// trailing ones ignored, when the delimiter is empty or absent), at most `maxSplit` times, as
/// Python's `str.split`; Y `[X…, most pieces]` padded with empty strings, Z `[X…]` the counts.
/// Y's last dimension depends on the strings, so X's values must be known when it is planned.
public struct StringSplit: ValueLayer {
    public var opType: String { "StringSplit" }
    public var takesStrings: Bool { true }
    public let delimiter: String?
    public let maxSplit: Int?
    public init(delimiter: String?, maxSplit: Int?) {
        self.delimiter = delimiter?.isEmpty == true ? nil : delimiter
        self.maxSplit = maxSplit.flatMap { $0 < 0 ? nil : $0 }
    }

    /// Python's `str.isspace` for one code point: Unicode's White_Space, and the separators
    /// U+001C…U+001F that Python counts too.
    static func isSpace(_ u: Unicode.Scalar) -> Bool { u.properties.isWhitespace || (0x1C...0x1F).contains(u.value) }

    /// The pieces of one string, cut by code points (as Python cuts; Swift's `==` and searches
    /// would treat canonically equivalent sequences as equal, which ONNX's strings are not).
    func split(_ s: String) -> [String] {
        let limit = maxSplit ?? Int.max
        let u = Array(s.unicodeScalars)
        func text(_ r: Range<Int>) -> String { String(String.UnicodeScalarView(u[r])) }
        var pieces: [String] = []
        guard let delimiter else {
            // Runs of whitespace; after the last split the rest is kept as it is.
            var i = 0
            while i < u.count && Self.isSpace(u[i]) { i += 1 }
            while i < u.count {
                if pieces.count == limit {
                    pieces.append(text(i..<u.count))
                    break
                }
                var j = i
                while j < u.count && !Self.isSpace(u[j]) { j += 1 }
                pieces.append(text(i..<j))
                i = j
                while i < u.count && Self.isSpace(u[i]) { i += 1 }
            }
            return pieces
        }
        let d = Array(delimiter.unicodeScalars)
        var start = 0, i = 0
        while pieces.count < limit, i + d.count <= u.count {
            if u[i..<(i + d.count)].elementsEqual(d) {
                pieces.append(text(start..<i))
                i += d.count
                start = i
            } else {
                i += 1
            }
        }
        pieces.append(text(start..<u.count))
        return pieces
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try stringType(inputs, 0, "X")
        guard let values = constants.first ?? nil, let strings = values.strings else {
            throw LayerError.needs([0], "Y's last dimension is the most pieces any string splits into, so X's strings must be known")
        }
        let most = strings.map { split($0).count }.max() ?? 0
        return [TensorType(.string, try checkedShape(x.shape + [most])), TensorType(.int64, x.shape)]
    }

    func checkedShape(_ shape: [Int]) throws -> [Int] {
        let n = try checkedProduct(shape, "Y")
        try MemoryBudget.check(MemoryBudget.bytes(count: n, dtype: .int64), "the split strings (\(n))")
        return shape
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let pieces = try stringValues(inputs, 0, "X").map(split)
        let most = pieces.map(\.count).max() ?? 0
        let y = pieces.flatMap { $0 + Array(repeating: "", count: most - $0.count) }
        return [Tensor(strings: y, shape: try checkedShape(x.shape + [most])), Tensor(shape: x.shape, scalars: pieces.map { Int64($0.count) })]
    }
}

/// ONNX `StringNormalizer`: X `[C]` or `[1, C]` without its stopwords (compared with or without
/// case), then lowercased or uppercased; when every string is removed, one empty string. Its
/// output's length depends on the strings, so X's values must be known when it is planned.
public struct StringNormalizer: ValueLayer {
    public enum CaseChange: String, Sendable { case none = "NONE", lower = "LOWER", upper = "UPPER" }
    public var opType: String { "StringNormalizer" }
    public var takesStrings: Bool { true }
    public let caseChange: CaseChange
    public let caseSensitive: Bool
    public let stopwords: [String]
    public init(caseChange: CaseChange, caseSensitive: Bool, stopwords: [String]) {
        self.caseChange = caseChange
        self.caseSensitive = caseSensitive
        self.stopwords = stopwords
    }

    func normalized(_ strings: [String]) -> [String] {
        // Compared by code points (Swift's `==` would equate canonically equivalent strings).
        func key(_ s: String) -> [UInt32] { (caseSensitive ? s : s.lowercased()).unicodeScalars.map(\.value) }
        let stops = Set(stopwords.map(key))
        let kept = strings.filter { !stops.contains(key($0)) }.map { s -> String in
            switch caseChange {
            case .none: s
            case .lower: s.lowercased()
            case .upper: s.uppercased()
            }
        }
        return kept.isEmpty ? [""] : kept
    }

    func shape(_ x: [Int], count: Int) throws -> [Int] {
        switch x.count {
        case 1: return [count]
        case 2 where x[0] == 1: return [1, count]
        default: throw LayerError("X has shape \(x), expected [C] or [1, C]")
        }
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try stringType(inputs, 0, "X")
        _ = try shape(x.shape, count: 0)
        guard let values = constants.first ?? nil, let strings = values.strings else {
            throw LayerError.needs([0], "the output's length depends on which strings are stopwords, so X's strings must be known")
        }
        return [TensorType(.string, try shape(x.shape, count: normalized(strings).count))]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let out = normalized(try stringValues(inputs, 0, "X"))
        return [Tensor(strings: out, shape: try shape(x.shape, count: out.count))]
    }
}
