import Layers
import TensorCore

/// A dimension of a declared input or output: a number, or a name for one given at run time.
public enum DeclaredDimension: Sendable, Equatable, CustomStringConvertible {
    case fixed(Int)
    case symbolic(String)

    public var description: String {
        switch self {
        case .fixed(let n): return "\(n)"
        case .symbolic(let s): return s.isEmpty ? "?" : s
        }
    }

    /// The size, when fixed.
    public var value: Int? {
        if case .fixed(let n) = self { return n }
        return nil
    }
}

/// What a declared value is: a tensor, an ONNX sequence or optional, or not said (a subgraph's
/// input that takes whatever its node passes).
public enum DeclaredKind: Sendable, Equatable, CustomStringConvertible {
    case tensor, sequence, optional, any

    /// Whether a value of this kind may be given where this is declared: an optional takes its
    /// value (a tensor or a sequence) as well as an optional.
    public func admits(_ kind: ValueKind) -> Bool {
        switch (self, kind) {
        case (.any, _), (.optional, _), (.tensor, .tensor), (.sequence, .sequence): return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .tensor: "tensor"
        case .sequence: "sequence"
        case .optional: "optional"
        case .any: "value"
        }
    }
}

/// A graph input or output as the model file declares it.
public struct ValueDeclaration: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    /// The element type (a sequence's or optional's tensors' for those).
    public let dtype: DType
    /// nil when the file does not declare a shape (a sequence's items have shapes of their own).
    public let dimensions: [DeclaredDimension]?
    public let kind: DeclaredKind

    public init(name: String, dtype: DType, dimensions: [DeclaredDimension]?, kind: DeclaredKind = .tensor) {
        self.name = name
        self.dtype = dtype
        self.dimensions = dimensions
        self.kind = kind
    }

    public var description: String {
        let tensor = "\(dtype)[\(dimensions.map { $0.map(\.description).joined(separator: ", ") } ?? "?")]"
        switch kind {
        case .tensor, .any: return "\(name): \(tensor)"
        case .sequence: return "\(name): sequence<\(dtype)>"
        case .optional: return "\(name): optional<\(tensor)>"
        }
    }

    /// The shape when every dimension is fixed.
    public var fixedShape: [Int]? {
        guard let d = dimensions else { return nil }
        let v = d.compactMap(\.value)
        return v.count == d.count ? v : nil
    }
}

/// One operation of a graph: a typed layer reading and writing numbered values.
public struct Node: Sendable {
    /// The node's name in the model file (or a generated one when the file has none).
    public let name: String
    public let layer: any Layer
    /// Value ids of the inputs; nil for an absent optional input.
    public let inputs: [Int?]
    /// Value ids of the outputs.
    public let outputs: [Int]

    public init(name: String, layer: any Layer, inputs: [Int?], outputs: [Int]) {
        self.name = name
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Whether the node sums products of an activation and a weight (Conv, ConvTranspose, Gemm,
    /// MatMul): the ops whose operands the precision policies quantize or round.
    public var isProduct: Bool { layer.productAxes(activationRank: 2, weightRank: 2) != nil }
}

/// A model's computation: values by id, constants, and nodes in topological order.
public struct Graph: Sendable {
    /// Value names by id.
    public let valueNames: [String]
    /// Values known before running (initializers and constant nodes), by id.
    public let constants: [Int: Tensor]
    /// Nodes in an order where every input is produced before it is read.
    public let nodes: [Node]
    /// Graph inputs (not constants) with their value ids.
    public let inputs: [(id: Int, declaration: ValueDeclaration)]
    /// Graph outputs with their value ids.
    public let outputs: [(id: Int, declaration: ValueDeclaration)]

    /// The names of the values the nodes compute, in the nodes' order (not inputs or constants);
    /// a control-flow node's subgraphs' values (at any depth) come before its own outputs.
    public var computedNames: [String] {
        nodes.flatMap { node in
            ((node.layer as? SubgraphHolder)?.subgraphs.flatMap(\.graph.computedNames) ?? []) + node.outputs.map { valueNames[$0] }
        }
    }

    public init(valueNames: [String], constants: [Int: Tensor], nodes: [Node], inputs: [(Int, ValueDeclaration)], outputs: [(Int, ValueDeclaration)]) {
        self.valueNames = valueNames
        self.constants = constants
        self.nodes = nodes
        self.inputs = inputs.map { (id: $0.0, declaration: $0.1) }
        self.outputs = outputs.map { (id: $0.0, declaration: $0.1) }
    }

    /// Number of elements in all constants.
    public var parameterCount: Int { constants.values.reduce(0) { $0 + $1.count } }
}
