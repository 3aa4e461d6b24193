import Foundation
import TensorCore

// Classic machine-learning ops: ONNX-ML's LabelEncoder and TreeEnsemble, and TfIdfVectorizer.

/// A key of a lookup table: a string, an integer, or a float (compared as a Double, NaN equal to
/// NaN and −0 to +0, as ONNX-ML's LabelEncoder asks).
public enum LookupKey: Hashable, Sendable {
    /// A string's code points (Swift's `String` equality would merge canonically equivalent ones).
    case string([UInt32])
    case integer(Int64)
    case float(UInt64)

    static func float(_ v: Double) -> LookupKey { .float(v.isNaN ? Double.nan.bitPattern : (v == 0 ? 0 : v.bitPattern)) }

    /// The elements of `t` as keys.
    static func of(_ t: Tensor) -> [LookupKey] {
        if let s = t.strings { return s.map { .string($0) } }
        if t.dtype.isFloatingPoint { return t.doubles().map { .float($0) } }
        return t.int64s().map { .integer($0) }
    }

    public static func string(_ s: String) -> LookupKey { .string(s.unicodeScalars.map(\.value)) }
}

/// ONNX-ML `LabelEncoder`: each element of X replaced by the value its key maps to, or by the
/// default; keys and values are strings, integers or floats (opset 4's `keys_tensor` and
/// `values_tensor`, or the older lists, which the loader turns into tensors).
public struct LabelEncoder: ValueLayer {
    public var opType: String { "LabelEncoder" }
    public var takesStrings: Bool { true }
    public let keys: Tensor, values: Tensor, defaultValue: Tensor
    let table: [LookupKey: Int]

    public init(keys: Tensor, values: Tensor, defaultValue: Tensor) throws {
        guard keys.count == values.count else { throw LayerError("there are \(keys.count) keys and \(values.count) values; they must pair up") }
        guard defaultValue.count == 1, defaultValue.dtype == values.dtype else {
            throw LayerError("the default must be one \(values.dtype) value, got \(defaultValue.dtype)\(defaultValue.shape)")
        }
        self.keys = keys
        self.values = values
        self.defaultValue = defaultValue
        var table: [LookupKey: Int] = [:]
        for (k, key) in LookupKey.of(keys).enumerated() where table[key] == nil { table[key] = k }
        self.table = table
    }

    func sameKind(_ a: DType, _ b: DType) -> Bool {
        (a == .string) == (b == .string) && a.isFloatingPoint == b.isFloatingPoint
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try tensorType(inputs, 0, "X")
        guard sameKind(x.dtype, keys.dtype) else { throw LayerError("X is \(x.dtype), the keys are \(keys.dtype)") }
        return [TensorType(values.dtype, x.shape)]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let x = try required(inputs, 0, "X")
        let picks = LookupKey.of(x).map { table[$0] }
        if let strings = values.strings, let fallback = defaultValue.strings?.first {
            return [Tensor(strings: picks.map { $0.map { strings[$0] } ?? fallback }, shape: x.shape)]
        }
        let v = values.doubles(), d = defaultValue.doubles()[0]
        if values.dtype.isFloatingPoint {
            return [Tensor(shape: x.shape, scalars: picks.map { $0.map { v[$0] } ?? d }).converted(to: values.dtype)]
        }
        let iv = values.int64s(), id = defaultValue.int64s()[0]
        return [Tensor(shape: x.shape, scalars: picks.map { $0.map { iv[$0] } ?? id }).converted(to: values.dtype)]
    }
}

/// ONNX `TfIdfVectorizer`: counts of the pool's n-grams in each row of X (`[N]` or `[B, N]`,
/// integers or strings), n from `minGram` to `maxGram`, the items of an n-gram `skip + 1` apart
/// for every skip up to `maxSkip` (unigrams counted once); each count written at its n-gram's
/// index and weighted by `mode` (TF: the count, IDF: the weight if it occurs, TFIDF: count ×
/// weight). Output float `[C]` or `[B, C]`, C the largest index + 1.
public struct TfIdfVectorizer: Layer {
    public enum Mode: String, Sendable { case tf = "TF", idf = "IDF", tfidf = "TFIDF" }
    public var opType: String { "TfIdfVectorizer" }
    public var takesStrings: Bool { true }
    public let minGram: Int, maxGram: Int, maxSkip: Int
    public let mode: Mode
    /// The pool's n-grams by length, each with its output index and weight.
    let grams: [[[LookupKey]: (index: Int, weight: Double)]]
    let width: Int

    public init(minGram: Int, maxGram: Int, maxSkip: Int, mode: Mode, ngramCounts: [Int], ngramIndexes: [Int], pool: [LookupKey], weights: [Double]?) throws {
        guard minGram >= 1, maxGram >= minGram, maxGram <= 64, maxSkip >= 0, maxSkip <= 1 << 20 else {
            throw LayerError("min_gram_length \(minGram), max_gram_length \(maxGram), max_skip_count \(maxSkip) are out of range")
        }
        guard !ngramCounts.isEmpty, ngramCounts.count <= maxGram, ngramCounts.first == 0,
              zip(ngramCounts, ngramCounts.dropFirst()).allSatisfy({ $0 <= $1 }), (ngramCounts.last ?? 0) <= pool.count else {
            throw LayerError("ngram_counts \(ngramCounts) must start at 0, rise, and stay within the pool's \(pool.count) items")
        }
        if let weights, weights.count != ngramIndexes.count { throw LayerError("there are \(weights.count) weights for \(ngramIndexes.count) n-grams") }
        guard ngramIndexes.allSatisfy({ $0 >= 0 && $0 < 1 << 24 }) else { throw LayerError("ngram_indexes must be in 0..<2^24") }
        var grams: [[[LookupKey]: (index: Int, weight: Double)]] = Array(repeating: [:], count: ngramCounts.count)
        var k = 0
        for (level, start) in ngramCounts.enumerated() {
            let n = level + 1
            let end = level + 1 < ngramCounts.count ? ngramCounts[level + 1] : pool.count
            guard (end - start) % n == 0 else { throw LayerError("the pool's \(n)-grams take \(end - start) items, not a multiple of \(n)") }
            for s in stride(from: start, to: end, by: n) {
                guard k < ngramIndexes.count else { throw LayerError("ngram_indexes has \(ngramIndexes.count) entries; the pool holds more n-grams") }
                grams[level][Array(pool[s..<(s + n)])] = (ngramIndexes[k], weights?[k] ?? 1)
                k += 1
            }
        }
        guard k == ngramIndexes.count else { throw LayerError("ngram_indexes has \(ngramIndexes.count) entries for the pool's \(k) n-grams") }
        self.minGram = minGram
        self.maxGram = maxGram
        self.maxSkip = maxSkip
        self.mode = mode
        self.grams = grams
        width = (ngramIndexes.max() ?? -1) + 1
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try tensorType(inputs, 0, "X")
        guard x.dtype == .string || x.dtype == .int32 || x.dtype == .int64 else { throw LayerError("X is \(x.dtype), expected string, int32 or int64") }
        switch x.shape.count {
        case 1: return [TensorType(.float32, [width])]
        case 2: return [TensorType(.float32, [x.shape[0], width])]
        default: throw LayerError("X has shape \(x.shape), expected [N] or [B, N]")
        }
    }

    /// One row's weighted counts.
    func row(_ items: ArraySlice<LookupKey>) -> [Double] {
        var counts = [Double](repeating: 0, count: width)
        let items = Array(items)
        for n in minGram...maxGram where n - 1 < grams.count && !grams[n - 1].isEmpty {
            for skip in 0...(n == 1 ? 0 : maxSkip) {
                let span = (n - 1) * (skip + 1)
                guard span < items.count else { break }
                for start in 0..<(items.count - span) {
                    let gram = (0..<n).map { items[start + $0 * (skip + 1)] }
                    if let g = grams[n - 1][gram] { counts[g.index] += 1 }
                }
            }
        }
        for level in grams {
            for (_, g) in level {
                switch mode {
                case .tf: break
                case .idf: counts[g.index] = counts[g.index] > 0 ? g.weight : 0
                case .tfidf: counts[g.index] *= g.weight
                }
            }
        }
        return counts
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let keys = LookupKey.of(x)
        let rows = x.rank == 2 ? x.shape[0] : 1, n = x.rank == 2 ? x.shape[1] : x.count
        let out = (0..<rows).flatMap { r in row(keys[(r * n)..<((r + 1) * n)]) }
        Tensor(shape: outputs[0].shape, scalars: out.map { Float($0) }).copy(into: outputs[0])
    }
}

/// ONNX-ML `TreeEnsemble` (opset 5): each tree walked from its root by its nodes' comparisons of
/// one feature (≤, <, ≥, >, =, ≠, membership in a set; NaN taking the true branch where
/// `missingTracksTrue`), its leaf adding a weight to one target; the trees' leaves aggregated per
/// target (average, sum, min, max: the reference's accumulation in X's type), then transformed
/// (none, softmax, logistic, softmax with zeros kept, probit, numbered as ONNX's specification
/// numbers them: onnxruntime 1.31 reads 1 as logistic and 2 as softmax, its issues #26596 and
/// #24862). X `[N, F]`, Y `[N, targets]`.
public struct TreeEnsemble: Layer {
    public enum Aggregate: Int, Sendable { case average = 0, sum, min, max }
    public enum PostTransform: Int, Sendable { case none = 0, softmax, logistic, softmaxZero, probit }
    public struct Node: Sendable {
        public var mode: Int, feature: Int, split: Double, members: Set<Double>?
        public var trueID: Int, trueIsLeaf: Bool, falseID: Int, falseIsLeaf: Bool, missingTracksTrue: Bool
        public init(mode: Int, feature: Int, split: Double, members: Set<Double>?, trueID: Int, trueIsLeaf: Bool, falseID: Int, falseIsLeaf: Bool, missingTracksTrue: Bool) {
            self.mode = mode
            self.feature = feature
            self.split = split
            self.members = members
            self.trueID = trueID
            self.trueIsLeaf = trueIsLeaf
            self.falseID = falseID
            self.falseIsLeaf = falseIsLeaf
            self.missingTracksTrue = missingTracksTrue
        }
    }

    public var opType: String { "TreeEnsemble" }
    public let nodes: [Node]
    public let leaves: [(target: Int, weight: Double)]
    public let roots: [Int]
    public let targets: Int
    public let aggregate: Aggregate
    public let post: PostTransform

    public init(nodes: [Node], leaves: [(target: Int, weight: Double)], roots: [Int], targets: Int, aggregate: Aggregate, post: PostTransform) throws {
        guard targets >= 1, targets <= 1 << 20 else { throw LayerError("n_targets \(targets) is out of range") }
        for (k, n) in nodes.enumerated() {
            guard (0...6).contains(n.mode) else { throw LayerError("node \(k) has mode \(n.mode), expected 0…6") }
            guard n.feature >= 0 else { throw LayerError("node \(k) reads feature \(n.feature)") }
            for (id, leaf) in [(n.trueID, n.trueIsLeaf), (n.falseID, n.falseIsLeaf)] where id < 0 || id >= (leaf ? leaves.count : nodes.count) {
                throw LayerError("node \(k) leads to \(leaf ? "leaf" : "node") \(id), which does not exist")
            }
        }
        guard leaves.allSatisfy({ $0.target >= 0 && $0.target < targets }) else { throw LayerError("a leaf names a target outside 0..<\(targets)") }
        guard roots.allSatisfy({ $0 >= 0 && $0 < nodes.count }) else { throw LayerError("a tree root is not a node") }
        self.nodes = nodes
        self.leaves = leaves
        self.roots = roots
        self.targets = targets
        self.aggregate = aggregate
        self.post = post
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try tensorType(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count == 2 else { throw LayerError("X has shape \(x.shape), expected [N, F]") }
        let features = nodes.map(\.feature).max() ?? -1
        guard features < x.shape[1] else { throw LayerError("a node reads feature \(features); X has \(x.shape[1])") }
        return [TensorType(x.dtype, [x.shape[0], targets])]
    }

    /// The leaf a tree reaches for one row (a root whose two branches are the same leaf is that
    /// leaf). Bounded by the node count: a file whose nodes loop is refused, not followed forever.
    func leaf(root: Int, _ row: ArraySlice<Double>) throws -> Int {
        let r = nodes[root]
        if r.trueIsLeaf && r.falseIsLeaf && r.trueID == r.falseID { return r.trueID }
        var id = root
        for _ in 0...nodes.count {
            let n = nodes[id]
            let v = row[row.startIndex + n.feature]
            let holds: Bool
            switch n.mode {
            case 0: holds = v <= n.split
            case 1: holds = v < n.split
            case 2: holds = v >= n.split
            case 3: holds = v > n.split
            case 4: holds = v == n.split
            case 5: holds = v != n.split
            default: holds = n.members?.contains(v) ?? false
            }
            let goesTrue = holds || (n.missingTracksTrue && v.isNaN)
            let (next, isLeaf) = goesTrue ? (n.trueID, n.trueIsLeaf) : (n.falseID, n.falseIsLeaf)
            if isLeaf { return next }
            id = next
        }
        throw LayerError("the tree from node \(root) does not reach a leaf: its nodes form a cycle")
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let rows = x.shape[0], features = x.shape[1]
        let values = x.doubles()
        let single = x.dtype == .float32
        // Accumulated in X's type, as the reference's array of X's dtype holds it.
        func store(_ v: Double) -> Double { single ? Double(Float(v)) : v }
        var out = [Double](repeating: 0, count: rows * targets)
        for r in 0..<rows {
            // Min and max start from the type's largest magnitude.
            let big = single ? Double(Float.greatestFiniteMagnitude) : Double.greatestFiniteMagnitude
            var acc = [Double](repeating: aggregate == .min ? big : aggregate == .max ? -big : 0, count: targets)
            let row = values[(r * features)..<((r + 1) * features)]
            var reached = [Bool](repeating: false, count: targets)
            for root in roots {
                let l = leaves[try leaf(root: root, row)]
                reached[l.target] = true
                switch aggregate {
                case .sum: acc[l.target] = store(acc[l.target] + l.weight)
                case .average: acc[l.target] = store(acc[l.target] + l.weight / Double(roots.count))
                case .min: acc[l.target] = Swift.min(acc[l.target], l.weight)
                case .max: acc[l.target] = Swift.max(acc[l.target], l.weight)
                }
            }
            // A target no tree's leaf reached stays 0 under min and max (onnxruntime's result;
            // onnx's reference evaluator leaves its starting ±largest value there).
            if aggregate == .min || aggregate == .max {
                for t in 0..<targets where !reached[t] { acc[t] = 0 }
            }
            for (t, v) in transformed(acc).enumerated() { out[r * targets + t] = v }
        }
        Tensor(shape: [rows, targets], scalars: out).convert(into: outputs[0])
    }

    func transformed(_ v: [Double]) -> [Double] {
        switch post {
        case .none: return v
        case .logistic: return v.map { 1 / (1 + exp(-$0)) }
        case .probit: return v.map { sqrt(2) * inverseErf(2 * $0 - 1) }
        case .softmax, .softmaxZero:
            let kept = v.map { post == .softmaxZero && $0 == 0 ? nil : $0 }
            let m = kept.compactMap { $0 }.max() ?? 0
            let e = kept.map { $0.map { exp($0 - m) } ?? 0 }
            let s = e.reduce(0, +)
            return e.map { s > 0 ? $0 / s : 0 }
        }
    }

    /// The inverse error function, by bisection on [−6, 6] (erf(6) is 1 to 2⁻⁵⁶): exact to the
    /// last bits of a Double, and no step can diverge.
    func inverseErf(_ y: Double) -> Double {
        guard y > -1 else { return -.infinity }
        guard y < 1 else { return .infinity }
        var lo = -6.0, hi = 6.0
        for _ in 0..<80 {
            let mid = (lo + hi) / 2
            if erf(mid) < y { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}
