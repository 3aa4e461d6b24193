import TensorCore

/// Ops that only change a tensor's shape: Reshape, Flatten, Squeeze, Unsqueeze, Identity,
/// Dropout (inference). The runtime lets the output share the input's storage.
public struct ShapeOnly: Layer {
    public enum Kind: Sendable, Equatable {
        /// `shape` from input 1; 0 copies the input dimension unless `allowZero`; -1 is inferred.
        case reshape(allowZero: Bool)
        /// `[∏dims[..<axis], ∏dims[axis...]]`.
        case flatten(axis: Int)
        /// Removes the given axes (attribute, or input 1 when nil), or every 1 when empty.
        case squeeze(axes: [Int]?)
        /// Inserts 1s at the given axes of the output (attribute, or input 1 when nil).
        case unsqueeze(axes: [Int]?)
        /// `[a·b, rest…] → [a, b, rest…]` for a given b (Keras's TimeDistributed folds steps into
        /// the batch and splits them out again this way).
        case splitLeading(Int)
        case identity
    }

    public let kind: Kind
    public let opType: String

    public init(_ kind: Kind, opType: String) {
        self.kind = kind
        self.opType = opType
    }

    public var isReshape: Bool { true }
    /// Identity passes sequences and optionals through as they are.
    public var takesContainers: Bool { opType == "Identity" }
    /// The reshapes keep a string tensor's strings (the runtime reshapes them).
    public var takesStrings: Bool { opType != "Dropout" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "data")
        if !x.isTensor { return [x] }
        if kind != .identity { try requireKnownIfPresent(inputs, constants, 1, "shape or axes") }
        let shape = try outputShape(x.shape, constants)
        var types = [TensorType(x.dtype, shape)]
        // Dropout's optional mask output: all true in inference.
        if opType == "Dropout" { types.append(TensorType(.bool, shape)) }
        return types
    }

    func outputShape(_ s: [Int], _ constants: [Tensor?]) throws -> [Int] {
        switch kind {
        case .identity:
            return s
        case .splitLeading(let b):
            guard let first = s.first, b > 0, first % b == 0 else { throw LayerError("shape \(s) does not split its first axis by \(b)") }
            return [first / b, b] + s.dropFirst()
        case .flatten(let axis):
            let a = axis < 0 ? axis + s.count : axis
            guard a >= 0 && a <= s.count else { throw LayerError("axis \(axis) is out of range for rank \(s.count)") }
            return [s[..<a].product, s[a...].product]
        case .reshape(let allowZero):
            let target = try constantInts(constants, 1, "shape")
            var out: [Int] = []
            var inferred: Int?
            for (i, d) in target.enumerated() {
                if d == 0 && !allowZero {
                    guard i < s.count else { throw LayerError("shape \(target) copies dimension \(i), which data \(s) lacks") }
                    out.append(s[i])
                } else if d == -1 {
                    guard inferred == nil else { throw LayerError("shape \(target) has more than one -1") }
                    inferred = i
                    out.append(1)
                } else {
                    guard d >= 0 else { throw LayerError("shape \(target) has a negative dimension \(d)") }
                    out.append(d)
                }
            }
            let total = s.product
            if let i = inferred {
                let known = try checkedProduct(out, "shape")
                guard known > 0, total % known == 0 else {
                    throw LayerError("cannot reshape \(s) (\(total) elements) to \(target)")
                }
                out[i] = total / known
            }
            guard try checkedProduct(out, "shape") == total else { throw LayerError("cannot reshape \(s) (\(total) elements) to \(target)") }
            return out
        case .squeeze(let attr):
            let axes = try attr ?? (constants.count > 1 && constants[1] != nil ? constantInts(constants, 1, "axes") : [])
            if axes.isEmpty { return s.filter { $0 != 1 } }
            let norm = try Set(axes.map { try normalizedAxis($0, rank: s.count) })
            for a in norm where s[a] != 1 { throw LayerError("cannot squeeze axis \(a) of \(s): its size is \(s[a]), not 1") }
            return s.enumerated().filter { !norm.contains($0.offset) }.map(\.element)
        case .unsqueeze(let attr):
            let axes = try attr ?? constantInts(constants, 1, "axes")
            let rank = s.count + axes.count
            let norm = try axes.map { try normalizedAxis($0, rank: rank) }
            guard Set(norm).count == norm.count else { throw LayerError("axes \(axes) repeat an axis") }
            var out: [Int] = []
            var it = s.makeIterator()
            for i in 0..<rank {
                if norm.contains(i) { out.append(1) } else if let d = it.next() { out.append(d) }
            }
            return out
        }
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        // Reached only when the runtime could not alias (e.g. the output is a graph output).
        try required(inputs, 0, "data").copy(into: outputs[0].reshaped(try required(inputs, 0, "data").shape))
        if outputs.count > 1 {
            outputs[1].withUnsafeMutableBufferPointer(as: UInt8.self) { $0.update(repeating: 1) }
        }
    }
}
