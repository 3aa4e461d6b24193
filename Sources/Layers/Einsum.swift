import TensorCore

/// ONNX `Einsum`: a sum of products over labelled axes, e.g. `"bij,bjk->bik"`.
///
/// Supports any number of operands, repeated labels within an operand (diagonals), `...` for
/// broadcast axes, and the implicit output (no `->`: the broadcast axes, then the labels used once,
/// alphabetically). Computed by direct loops over every label in Double: the reference, not a fast
/// path (exports that use Einsum for attention run it at the cost of its naive loop count).
public struct Einsum: Layer {
    public var opType: String { "Einsum" }
    public let equation: String
    let terms: [[Int]]   // per operand: labels, with ellipsis marked as -1
    let output: [Int]?  // nil: implicit

    public init(equation: String) throws {
        self.equation = equation
        let text = equation.filter { !$0.isWhitespace }
        let sides = text.components(separatedBy: "->")
        guard sides.count <= 2 else { throw LayerError("equation \"\(equation)\" has more than one '->'") }
        func parse(_ term: String) throws -> [Int] {
            var labels: [Int] = []
            var rest = Substring(term)
            while let c = rest.first {
                if rest.hasPrefix("...") {
                    guard !labels.contains(-1) else { throw LayerError("equation \"\(equation)\" has two '...' in one term") }
                    labels.append(-1)
                    rest = rest.dropFirst(3)
                    continue
                }
                guard let a = c.asciiValue, c.isLetter else { throw LayerError("equation \"\(equation)\" has '\(c)', expected letters and '...'") }
                labels.append(Int(a))
                rest = rest.dropFirst()
            }
            return labels
        }
        terms = try sides[0].components(separatedBy: ",").map(parse)
        output = sides.count == 2 ? try parse(sides[1]) : nil
    }

    /// Every axis's label (ellipsis axes become labels 1000, 1001, …), the sizes, and the output labels.
    func resolve(_ shapes: [[Int]]) throws -> (operands: [[Int]], sizes: [Int: Int], out: [Int]) {
        guard shapes.count == terms.count else { throw LayerError("equation \"\(equation)\" has \(terms.count) operands, the node \(shapes.count) inputs") }
        let ellipsisRank = try zip(terms, shapes).map { term, shape -> Int in
            let letters = term.filter { $0 >= 0 }.count
            guard term.contains(-1) ? shape.count >= letters : shape.count == letters else {
                throw LayerError("operand of shape \(shape) does not fit term \"\(equation)\"")
            }
            return term.contains(-1) ? shape.count - letters : 0
        }.max() ?? 0
        var sizes: [Int: Int] = [:]
        var operands: [[Int]] = []
        for (term, shape) in zip(terms, shapes) {
            var labels: [Int] = []
            for l in term {
                if l == -1 {
                    let here = shape.count - term.filter { $0 >= 0 }.count
                    labels += (ellipsisRank - here..<ellipsisRank).map { 1000 + $0 }
                } else {
                    labels.append(l)
                }
            }
            for (l, n) in zip(labels, shape) {
                if let known = sizes[l], known != n {
                    // Broadcast axes may be 1 on one side.
                    guard l >= 1000 && (known == 1 || n == 1) else { throw LayerError("label '\(labelName(l))' has sizes \(known) and \(n)") }
                    sizes[l] = max(known, n)
                } else {
                    sizes[l] = n
                }
            }
            operands.append(labels)
        }
        let broadcast = (0..<ellipsisRank).map { 1000 + $0 }
        var out: [Int] = []
        if let output {
            for l in output {
                if l == -1 { out += broadcast } else {
                    guard sizes[l] != nil else { throw LayerError("output label '\(labelName(l))' appears in no operand") }
                    out.append(l)
                }
            }
        } else {
            let letters = terms.flatMap { $0 }.filter { $0 >= 0 }
            out = broadcast + Set(letters).filter { l in letters.filter { $0 == l }.count == 1 }.sorted()
        }
        guard Set(out).count == out.count else { throw LayerError("equation \"\(equation)\" repeats an output label") }
        return (operands, sizes, out)
    }

    func labelName(_ l: Int) -> String { l >= 1000 ? "..." : String(UnicodeScalar(UInt8(l))) }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let types = try (0..<inputs.count).map { try required(inputs, $0, "input \($0)") }
        guard let first = types.first, types.allSatisfy({ $0.dtype == first.dtype }) else { throw LayerError("the operands must share one dtype") }
        let r = try resolve(types.map(\.shape))
        let shape = r.out.map { r.sizes[$0] ?? 1 }
        _ = try checkedProduct(shape, "output shape")
        let loops = try checkedProduct(r.sizes.values.map { $0 }, "the label space")
        guard loops <= 1 << 34 else { throw LayerError("the label space has \(loops) points, too many for the direct loops") }
        return [TensorType(first.dtype, shape)]
    }

    /// Resolves the label space once per plan (`EinsumOp`; the kernel is `Contraction.compute`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let shapes = try (0..<inputs.count).map { try required(inputs, $0, "input \($0)").shape }
        let r = try resolve(shapes)
        let summed = Array(Set(r.sizes.keys).subtracting(r.out)).sorted()
        let all = r.out + summed
        let steps: [[Int]] = zip(r.operands, shapes).map { labels, shape in
            let strides = contiguousStrides(shape)
            return all.map { l in zip(labels.indices, labels).reduce(0) { acc, p in p.1 == l && shape[p.0] != 1 ? acc + strides[p.0] : acc } }
        }
        return EinsumOp(layout: Contraction.Layout(
            outputExtents: r.out.map { r.sizes[$0] ?? 1 }, summedExtents: summed.map { r.sizes[$0] ?? 1 }, steps: steps))
    }

    /// Float operands compute in Float (sums and products; float64 in Double), integer ones in Double
    /// (exact below 2^53).
    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }
}

/// An `Einsum` ready to run: its label space resolved.
struct EinsumOp: PreparedOp {
    let layout: Contraction.Layout

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let tensors = try (0..<inputs.count).map { try required(inputs, $0, "input \($0)") }
        let dtype = outputs[0].dtype
        if dtype.isFloatingPoint && dtype != .float64 {
            let y = Contraction.compute(tensors.map { $0.scalars(as: Float.self) }, layout: layout)
            Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
        } else {
            let y = Contraction.compute(tensors.map { $0.scalars(as: Double.self) }, layout: layout)
            Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
        }
    }
}
