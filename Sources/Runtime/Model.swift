import Foundation
import Layers
import TensorCore

/// A loaded model: an immutable graph of typed layers plus what the file said about itself.
///
/// `Model` is `Sendable`: share one between threads and give each caller its own `Session`.
public struct Model: Sendable {
    /// The computation.
    public let graph: Graph
    /// The format the model came from (`"onnx"`, `"keras"`).
    public let format: String
    /// Where it was loaded from, when it came from a file.
    public let source: String?
    /// The default-domain opset (ONNX), or nil.
    public let opset: Int?
    /// Free-form facts from the file (producer name and version, IR version…).
    public let metadata: [String: String]
    /// The test case the file carries (Keras JSON files embed one), if any.
    public let embeddedTest: EmbeddedTest?

    public init(graph: Graph, format: String, source: String?, opset: Int?, metadata: [String: String] = [:], embeddedTest: EmbeddedTest? = nil) {
        self.graph = graph
        self.format = format
        self.source = source
        self.opset = opset
        self.metadata = metadata
        self.embeddedTest = embeddedTest
    }

    /// The graph's inputs as declared.
    public var inputs: [ValueDeclaration] { graph.inputs.map(\.declaration) }
    /// The graph's outputs as declared.
    public var outputs: [ValueDeclaration] { graph.outputs.map(\.declaration) }

    /// Runs the model once in a fresh session.
    public func run(_ inputs: [String: Tensor], options: SessionOptions = SessionOptions()) throws -> [String: Tensor] {
        try Session(model: self, options: options).run(inputs)
    }

    /// How many times each op type occurs.
    public var opHistogram: [String: Int] {
        var h: [String: Int] = [:]
        for n in graph.nodes { h[n.layer.opType, default: 0] += 1 }
        return h
    }

    /// Types of every value for the given input shapes (nil where a value is not reached), by
    /// building a plan. Throws what running with those shapes would throw before computing.
    public func valueTypes(for inputShapes: [String: [Int]]) throws -> [String: TensorType] {
        let session = Session(model: self, options: SessionOptions(threads: 1, fuseActivations: false))
        let plan = try session.plan(for: try session.inputTypes(inputShapes.mapValues { ($0, nil) }), preparesSteps: false)
        var out: [String: TensorType] = [:]
        for (id, t) in plan.types.enumerated() { if let t { out[graph.valueNames[id]] = t } }
        return out
    }

    /// Multiply-adds of one run with the given input shapes.
    public func multiplyAdds(for inputShapes: [String: [Int]]) throws -> Int {
        let types = try valueTypes(for: inputShapes)
        var total = 0
        for node in graph.nodes {
            let inTypes = node.inputs.map { $0.flatMap { types[graph.valueNames[$0]] } }
            total += node.layer.multiplyAdds(inTypes)
        }
        return total
    }
}

/// Inputs and the outputs the producing framework computed for them, stored in a model file.
public struct EmbeddedTest: Sendable {
    public let inputs: [String: Tensor]
    public let outputs: [String: Tensor]
    public init(inputs: [String: Tensor], outputs: [String: Tensor]) {
        self.inputs = inputs
        self.outputs = outputs
    }
}
