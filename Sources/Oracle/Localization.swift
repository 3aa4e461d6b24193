import Runtime

/// Where a candidate's error is made: for each tensor the candidate provides, its error split
/// into the part made by the segment of the graph that computes it from the tensors before it
/// (local: candidate against Touchstone's replay of the segment from the candidate's own input
/// tensors) and the part it inherited (Touchstone's replay against Touchstone's own run).
///
/// Segments: the nodes that compute a provided tensor from other provided tensors, graph inputs
/// and constants; with every node's outputs provided, each segment is one node.
public struct Localization: Sendable {
    public struct Entry: Sendable {
        /// The provided tensor at the end of the segment.
        public let tensor: String
        /// The segment's nodes, in graph order (the tensor's producer last).
        public let segment: [String]
        /// Candidate against Touchstone's replay of the segment from the candidate's inputs.
        public let local: TensorComparison
        /// Touchstone's replay against Touchstone's own run: the error inherited from before.
        public let inherited: TensorComparison
        /// Candidate against Touchstone's own run.
        public let total: TensorComparison
        /// How the local tolerance was derived, when it was.
        public let derivation: String?
    }

    /// In graph order.
    public let entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// The first segment whose local error exceeds its tolerance.
    public var firstDivergent: Entry? { entries.first { !$0.local.passed } }

    /// For each provided tensor, the nodes of the segment ending at it.
    public static func segments(of graph: Graph, ending names: Set<String>) -> [String: [String]] {
        var producer: [Int: Int] = [:]
        for (k, node) in graph.nodes.enumerated() { for o in node.outputs { producer[o] = k } }
        let provided = Set(graph.valueNames.indices.filter { names.contains(graph.valueNames[$0]) })
        var out: [String: [String]] = [:]
        for id in provided {
            guard let p = producer[id] else { continue }
            var seen: Set<Int> = [p]
            var stack = [p]
            while let k = stack.popLast() {
                for case let input? in graph.nodes[k].inputs where !provided.contains(input) {
                    if let q = producer[input], seen.insert(q).inserted { stack.append(q) }
                }
            }
            out[graph.valueNames[id]] = seen.sorted().map { graph.nodes[$0].name }
        }
        return out
    }

    /// The provided names in the order their producers run (graph inputs and constants first).
    public static func topologicalOrder(of graph: Graph, names: Set<String>) -> [String] {
        var order: [String] = []
        var seen = Set<String>()
        for (id, _) in graph.inputs where names.contains(graph.valueNames[id]) {
            if seen.insert(graph.valueNames[id]).inserted { order.append(graph.valueNames[id]) }
        }
        for node in graph.nodes {
            for o in node.outputs where names.contains(graph.valueNames[o]) {
                if seen.insert(graph.valueNames[o]).inserted { order.append(graph.valueNames[o]) }
            }
        }
        return order
    }
}
