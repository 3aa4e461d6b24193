import Testing
@testable import Layers
@testable import Runtime
import TensorCore

/// Sequences and optionals in a run: items whose types the plan knows, positions the run computes
/// (planned by value after a cut), and what a tensor op says when it is handed a sequence. The
/// expected values are indexed out of the input directly (the ONNX node tests, which CI runs,
/// check each op against onnx's reference as well).
@Suite struct SequenceTests {
    /// X [4, 3] split into its rows; a position computed by the run (ArgMax of V) picks one row
    /// (SequenceAt, then Relu), another copy of the sequence loses that row (SequenceErase) and is
    /// joined again (ConcatFromSequence); SequenceLength comes from the type.
    func model() -> Model {
        let names = ["X", "V", "seq", "pos", "item", "Y", "erased", "E", "L", "S"]
        let graph = Graph(
            valueNames: names, constants: [:],
            nodes: [
                Node(name: "split", layer: SplitToSequence(axis: 0, keepDims: false), inputs: [0], outputs: [2]),
                Node(name: "argmax", layer: ArgExtreme(isMax: true, axis: 0, keepDims: false, selectLast: false), inputs: [1], outputs: [3]),
                Node(name: "at", layer: SequenceAt(), inputs: [2, 3], outputs: [4]),
                Node(name: "relu", layer: ActivationLayer(.relu), inputs: [4], outputs: [5]),
                Node(name: "erase", layer: SequenceErase(), inputs: [2, 3], outputs: [6]),
                Node(name: "concat", layer: ConcatFromSequence(axis: 0, newAxis: false), inputs: [6], outputs: [7]),
                Node(name: "length", layer: SequenceLength(), inputs: [2], outputs: [8]),
                Node(name: "stack", layer: ConcatFromSequence(axis: 1, newAxis: true), inputs: [2], outputs: [9]),
            ],
            inputs: [(0, ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(4), .fixed(3)])),
                     (1, ValueDeclaration(name: "V", dtype: .float32, dimensions: [.fixed(4)]))],
            outputs: [5, 7, 8, 9].map { ($0, ValueDeclaration(name: names[$0], dtype: .float32, dimensions: nil)) })
        return Model(graph: graph, format: "test", source: nil, opset: nil)
    }

    @Test func positionsComputedByTheRunPickItems() throws {
        let session = Session(model: model(), options: SessionOptions(threads: 1, profile: true))
        let rows: [[Float]] = (0..<4).map { r in (0..<3).map { c in Float(r * 3 + c) - 5 } }
        let x = Tensor(shape: [4, 3], scalars: rows.flatMap { $0 })
        for (k, picked) in [2, 0, 3, 2].enumerated() {
            let v = Tensor(shape: [4], scalars: (0..<4).map { Float($0 == picked ? 9 : $0) })
            let out = try session.run(["X": x, "V": v])
            #expect(out["Y"]?.scalars(as: Float.self) == rows[picked].map { max($0, 0) })
            let rest = rows.enumerated().filter { $0.offset != picked }.flatMap(\.element)
            #expect(out["E"]?.shape == [9] && out["E"]?.scalars(as: Float.self) == rest)
            #expect(out["L"]?.int64s() == [4])
            // Stacked along a new axis 1: S[c][r] = X[r][c].
            #expect(out["S"]?.shape == [3, 4])
            #expect(out["S"]?.scalars(as: Float.self) == (0..<3).flatMap { c in (0..<4).map { r in rows[r][c] } })
            for op in ["SplitToSequence", "SequenceAt", "Relu"] { #expect(session.profile[op]?.count == k + 1, "\(op) after run \(k + 1)") }
        }
        // Planned up to SequenceAt, then once per position seen (2, 0, 3).
        #expect(session.plansMade.count == 1 && session.plansMade.first?.cut?.node == 2)
        #expect(session.plansMade.first?.continuations.count == 3)
    }

    @Test func sequencesGivenAndReturnedKeepTheirItems() throws {
        let graph = Graph(
            valueNames: ["in", "t", "out"], constants: [:],
            nodes: [Node(name: "insert", layer: SequenceInsert(), inputs: [0, 1], outputs: [2])],
            inputs: [(0, ValueDeclaration(name: "in", dtype: .int32, dimensions: nil, kind: .sequence)),
                     (1, ValueDeclaration(name: "t", dtype: .int32, dimensions: nil))],
            outputs: [(2, ValueDeclaration(name: "out", dtype: .int32, dimensions: nil, kind: .sequence))])
        let session = Session(model: Model(graph: graph, format: "test", source: nil, opset: nil), options: SessionOptions(threads: 1))
        let a = Tensor(shape: [2], scalars: [Int32(1), 2]), b = Tensor(shape: [1, 3], scalars: [Int32(3), 4, 5])
        let out = try session.run(["in": Tensor(sequence: [a, b], dtype: .int32), "t": Tensor(shape: [], scalars: [Int32(7)])])
        let items = try #require(out["out"]?.sequenceItems)
        #expect(items.map(\.shape) == [[2], [1, 3], []])
        #expect(items.map { $0.scalars(as: Int32.self) } == [[1, 2], [3, 4, 5], [7]])
        // A tensor where a sequence is declared, and a mismatched item type, are refused by name.
        #expect(throws: ExecutionError.self) { try session.run(["in": a, "t": a]) }
        let e = #expect(throws: ExecutionError.self) { try session.run(["in": Tensor(sequence: [a], dtype: .int32), "t": Tensor(scalar: Float(1))]) }
        #expect(e?.description.contains("'t'") == true)
    }

    /// An FP64 run widens a sequence's items as it widens tensor inputs (and FP16 rounds them).
    @Test func policiesReachSequenceItems() throws {
        let graph = Graph(
            valueNames: ["in", "p", "out"], constants: [1: Tensor(scalar: Int64(1))],
            nodes: [Node(name: "at", layer: SequenceAt(), inputs: [0, 1], outputs: [2])],
            inputs: [(0, ValueDeclaration(name: "in", dtype: .float32, dimensions: nil, kind: .sequence))],
            outputs: [(2, ValueDeclaration(name: "out", dtype: .float32, dimensions: nil))])
        let model = Model(graph: graph, format: "test", source: nil, opset: 17)
        let item = Tensor(shape: [3], scalars: [Float(1) / 3, 1e-3, 65519])
        let feed = ["in": Tensor(sequence: [Tensor(zeros: [2]), item], dtype: .float32)]
        let wide = try #require(try Session(model: model, options: SessionOptions(threads: 1, policy: ExecutionPolicy(precision: .fp64))).run(feed)["out"])
        #expect(wide.dtype == .float64 && wide.doubles() == item.doubles())
        let half = try #require(try Session(model: model, options: SessionOptions(threads: 1, policy: ExecutionPolicy(precision: .fp16))).run(feed)["out"])
        #expect(half.scalars(as: Float.self) == item.scalars(as: Float.self).map { Float(Float16($0)) })
    }

    @Test func tensorOpsRefuseSequencesByName() throws {
        let graph = Graph(
            valueNames: ["X", "seq", "Y"], constants: [:],
            nodes: [Node(name: "split", layer: SplitToSequence(axis: 0, keepDims: true), inputs: [0], outputs: [1]),
                    Node(name: "relu", layer: ActivationLayer(.relu), inputs: [1], outputs: [2])],
            inputs: [(0, ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(2)]))],
            outputs: [(2, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))])
        let session = Session(model: Model(graph: graph, format: "test", source: nil, opset: nil), options: SessionOptions(threads: 1))
        let e = #expect(throws: ExecutionError.self) { try session.run(["X": Tensor(shape: [2], scalars: [Float(1), 2])]) }
        #expect(e?.description.contains("relu") == true && e?.description.contains("sequence") == true)
    }

    @Test func emptyOptionalsAndPositionsOutOfRangeAreErrors() throws {
        #expect(throws: LayerError.self) { _ = try OptionalGetElement().outputTypes([.optional(nil, dtype: .float32)], constants: [nil]) }
        let seq = TensorType.sequence([TensorType(.float32, [2])], dtype: .float32)
        for p: Int64 in [1, -2, 5] {
            #expect(throws: LayerError.self) { _ = try SequenceAt().outputTypes([seq, TensorType(.int64, [])], constants: [nil, Tensor(scalar: p)]) }
        }
        #expect(try SequenceAt().outputTypes([seq, TensorType(.int64, [])], constants: [nil, Tensor(scalar: Int64(-1))]) == [TensorType(.float32, [2])])
        #expect(throws: LayerError.self) { _ = try SequenceErase().outputTypes([.sequence([], dtype: .float32)], constants: [nil]) }
        #expect(throws: LayerError.self) { _ = try ConcatFromSequence(axis: 0, newAxis: false).outputTypes([.sequence([], dtype: .float32)], constants: [nil]) }
        // Items whose shapes differ off the axis cannot be joined.
        let uneven = TensorType.sequence([TensorType(.float32, [2, 3]), TensorType(.float32, [2, 4])], dtype: .float32)
        #expect(throws: LayerError.self) { _ = try ConcatFromSequence(axis: 0, newAxis: false).outputTypes([uneven], constants: [nil]) }
        #expect(try ConcatFromSequence(axis: 1, newAxis: false).outputTypes([uneven], constants: [nil]) == [TensorType(.float32, [2, 7])])
        // A split into more items than a sequence holds is refused before the items are made.
        let long = TensorType(.float32, [sequenceItemLimit + 1])
        #expect(throws: LayerError.self) { _ = try SplitToSequence(axis: 0, keepDims: true).outputTypes([long], constants: [nil]) }
        #expect(try SplitToSequence(axis: 0, keepDims: true).outputTypes([long], constants: [nil, Tensor(scalar: Int64(2))]).first.map {
            if case .sequence(let items) = $0.kind { items.count } else { 0 }
        } == sequenceItemLimit / 2 + 1)
    }
}

/// A session's precision policy reaches into control-flow subgraphs: an If whose branch holds
/// MatMul then Sigmoid gives, under every format, the same bits as the same two nodes in the
/// main graph (the reference: the policy on a graph without control flow); a per-node override
/// names the branch's node as it names a main-graph node.
@Suite struct SubgraphPolicyTests {
    let w = Tensor.random(shape: [8, 5], dtype: .float32, seed: 3)
    let x = Tensor.random(shape: [4, 8], dtype: .float32, seed: 4)

    func branchGraph(_ w: Tensor, prefix: String) -> Graph {
        Graph(
            valueNames: ["X", "W", prefix + "_mm", prefix + "_out"], constants: [1: w],
            nodes: [Node(name: prefix + "_mm", layer: MatMul(), inputs: [0, 1], outputs: [2]),
                    Node(name: prefix + "_sig", layer: ActivationLayer(.sigmoid), inputs: [2], outputs: [3])],
            inputs: [(0, ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(4), .fixed(8)]))],
            outputs: [(3, ValueDeclaration(name: prefix + "_out", dtype: .float32, dimensions: nil))])
    }

    func ifModel() -> Model {
        let then = Subgraph(graph: branchGraph(w, prefix: "then"), opset: 17, formalCount: 0)
        let other = Subgraph(graph: branchGraph(Tensor(zeros: [8, 5]), prefix: "else"), opset: 17, formalCount: 0)
        let graph = Graph(
            valueNames: ["cond", "X", "Y"], constants: [:],
            nodes: [Node(name: "if", layer: IfLayer(thenBranch: then, elseBranch: other, outerNames: ["X"]), inputs: [0, 1], outputs: [2])],
            inputs: [(0, ValueDeclaration(name: "cond", dtype: .bool, dimensions: [])),
                     (1, ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(4), .fixed(8)]))],
            outputs: [(2, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))])
        return Model(graph: graph, format: "test", source: nil, opset: 17)
    }

    @Test func subgraphsRunUnderTheSessionsPolicy() throws {
        let flat = Model(graph: branchGraph(w, prefix: "then"), format: "test", source: nil, opset: 17)
        var overridden = ExecutionPolicy(precision: .fp16)
        overridden.nodePrecision = ["then_mm": .fp32]
        var outputs: [String: Tensor] = [:]
        for (label, policy) in [("fp32", ExecutionPolicy.fp32), ("fp16", ExecutionPolicy(precision: .fp16)), ("bf16", ExecutionPolicy(precision: .bf16)),
                                ("tf32", ExecutionPolicy(precision: .tf32)), ("fp64", ExecutionPolicy(precision: .fp64)), ("fp16, mm in fp32", overridden)] {
            let options = SessionOptions(threads: 1, policy: policy)
            let branched = try #require(try Session(model: ifModel(), options: options).run(["cond": Tensor(scalar: true), "X": x])["Y"])
            let reference = try #require(try Session(model: flat, options: options).run(["X": x])["then_out"])
            #expect(branched.dtype == reference.dtype && branched.shape == reference.shape, "\(label)")
            #expect(branched.doubles().map(\.bitPattern) == reference.doubles().map(\.bitPattern), "\(label): the branch differs from the same nodes in the main graph")
            outputs[label] = branched
        }
        // The formats did something: each rounds differently from FP32.
        let fp32 = outputs["fp32"]?.doubles() ?? []
        for label in ["fp16", "bf16", "fp64", "fp16, mm in fp32"] { #expect(outputs[label]?.doubles() != fp32, "\(label) equals FP32") }
        #expect(outputs["fp64"]?.dtype == .float64)
        #expect(ExecutionPolicy.quantizedActivations(of: ifModel().graph) == ["X"])
    }
}
