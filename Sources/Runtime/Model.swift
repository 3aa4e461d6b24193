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

    /// Runs the embedded test case and compares every output with the stored one:
    /// `|got − expected| ≤ tolerance · max(1, max|expected|)` (frugally-deep's default: 1e-4).
    /// Nil when the file carries no test case.
    public func verify(tolerance: Double = 1e-4, options: SessionOptions = SessionOptions()) throws -> Verification? {
        guard let test = embeddedTest else { return nil }
        let got = try run(test.inputs, options: options)
        var outputs: [Verification.Output] = []
        for decl in self.outputs {
            guard let expected = test.outputs[decl.name] else { continue }
            guard let g = got[decl.name], g.count == expected.count else {
                outputs.append(.init(name: decl.name, largestError: .infinity, bound: 0))
                continue
            }
            let e = expected.doubles(), v = g.doubles()
            let bound = tolerance * max(1, e.map(\.magnitude).max() ?? 0)
            var worst = 0.0
            for i in 0..<e.count {
                let d = (v[i] - e[i]).magnitude
                worst = max(worst, d.isNaN ? .infinity : d)
            }
            outputs.append(.init(name: decl.name, largestError: worst, bound: bound))
        }
        return Verification(outputs: outputs)
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
        let plan = try session.plan(for: try session.inputTypes(inputShapes.mapValues { ($0, nil) }))
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

/// The result of `Model.verify()`: per output, the largest absolute error and the bound it is held to.
public struct Verification: Sendable {
    public struct Output: Sendable {
        public let name: String
        public let largestError: Double
        public let bound: Double
        public var passed: Bool { largestError <= bound }
    }
    public let outputs: [Output]
    public var passed: Bool { !outputs.isEmpty && outputs.allSatisfy(\.passed) }
}
