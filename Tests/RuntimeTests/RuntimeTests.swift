import Testing
@testable import Layers
@testable import Runtime
import TensorCore

/// Builds a graph by hand: X[N, 3, 6, 6] → Conv(3→4, 3×3, pad 1) → Relu → MaxPool 2×2 → Flatten
/// → Gemm(36→5) → Sigmoid → Y, plus a second output taken before the Relu.
func smallGraph(extraOutput: Bool = false) throws -> Model {
    var g = SeededGenerator(seed: 11)
    let names = ["X", "W", "B", "C", "R", "P", "F", "GW", "GB", "G", "Y"]
    let id = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    func rnd(_ shape: [Int]) -> Tensor { Tensor(shape: shape, scalars: (0..<shape.product).map { _ in Float(g.normal()) * 0.5 }) }
    let constants: [Int: Tensor] = [id["W"]!: rnd([4, 3, 3, 3]), id["B"]!: rnd([4]), id["GW"]!: rnd([5, 36]), id["GB"]!: rnd([5])]
    let window = try WindowAttributes(kernelShape: [3, 3], strides: nil, dilations: nil, pads: [1, 1, 1, 1], autoPad: .notSet)
    let pool = try WindowAttributes(kernelShape: [2, 2], strides: [2, 2], dilations: nil, pads: nil, autoPad: .notSet)
    let nodes = [
        Node(name: "conv", layer: try Conv(window: window, group: 1), inputs: [id["X"], id["W"], id["B"]], outputs: [id["C"]!]),
        Node(name: "relu", layer: ActivationLayer(.relu), inputs: [id["C"]], outputs: [id["R"]!]),
        Node(name: "pool", layer: try Pool(kind: .max, window: pool), inputs: [id["R"]], outputs: [id["P"]!]),
        Node(name: "flat", layer: ShapeOnly(.flatten(axis: 1), opType: "Flatten"), inputs: [id["P"]], outputs: [id["F"]!]),
        Node(name: "gemm", layer: Gemm(transA: false, transB: true, alpha: 1, beta: 1), inputs: [id["F"], id["GW"], id["GB"]], outputs: [id["G"]!]),
        Node(name: "sig", layer: ActivationLayer(.sigmoid), inputs: [id["G"]], outputs: [id["Y"]!]),
    ]
    let x = ValueDeclaration(name: "X", dtype: .float32, dimensions: [.symbolic("N"), .fixed(3), .symbolic("H"), .symbolic("W")])
    var outputs = [(id["Y"]!, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))]
    if extraOutput { outputs.append((id["C"]!, ValueDeclaration(name: "C", dtype: .float32, dimensions: nil))) }
    let graph = Graph(valueNames: names, constants: constants, nodes: nodes, inputs: [(id["X"]!, x)], outputs: outputs)
    return Model(graph: graph, format: "test", source: nil, opset: nil)
}

func bits(_ t: Tensor?) -> [UInt32] { (t?.scalars(as: Float.self) ?? []).map(\.bitPattern) }

@Suite("Runtime: plans, fusion, taps, arena")
struct RuntimeTests {
    let input = Tensor.random(shape: [3, 3, 6, 6], dtype: .float32, seed: 4)

    @Test func fusionAndTapsLeaveResultsBitwiseEqual() throws {
        let model = try smallGraph()
        let fused = try Session(model: model, options: SessionOptions(threads: 1)).run(["X": input])
        let unfused = try Session(model: model, options: SessionOptions(threads: 1, fuseActivations: false)).run(["X": input])
        let tapping = Session(model: model, options: SessionOptions(threads: 1, taps: .all))
        let tapped = try tapping.run(["X": input])
        #expect(bits(fused["Y"]) == bits(unfused["Y"]))
        #expect(bits(fused["Y"]) == bits(tapped["Y"]))
        // Every intermediate is captured, with its shape, and the pre-activation value really is pre-activation.
        #expect(Set(tapping.tapped.keys).isSuperset(of: ["X", "C", "R", "P", "F", "G", "Y"]))
        #expect(tapping.tapped["C"]?.shape == [3, 4, 6, 6] && tapping.tapped["F"]?.shape == [3, 36])
        let c = tapping.tapped["C"]?.scalars(as: Float.self) ?? [], r = tapping.tapped["R"]?.scalars(as: Float.self) ?? []
        #expect(c.contains { $0 < 0 } && zip(c, r).allSatisfy { max($0, 0) == $1 })
    }

    /// NonZero's output size follows from its input's values: a 100-element float input (beyond
    /// the small-input limit) is planned by value once planning asks for it, and re-planned when
    /// the values change. Expected indices computed here by a direct scan.
    @Test func valueDependentSizesArePlannedFromInputValues() throws {
        let x = ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(10), .fixed(10)])
        let graph = Graph(
            valueNames: ["X", "Y"], constants: [:], nodes: [Node(name: "nz", layer: NonZero(), inputs: [0], outputs: [1])],
            inputs: [(0, x)], outputs: [(1, ValueDeclaration(name: "Y", dtype: .int64, dimensions: nil))])
        let session = Session(model: Model(graph: graph, format: "test", source: nil, opset: nil), options: SessionOptions(threads: 1))
        for density in [0.3, 0.7] {
            var g = SeededGenerator(seed: UInt64(density * 10))
            let values: [Float] = (0..<100).map { _ in Double(g.next() % 1000) / 1000 < density ? 1 : 0 }
            let y = try #require(try session.run(["X": Tensor(shape: [10, 10], scalars: values)])["Y"])
            let hits = values.indices.filter { values[$0] != 0 }
            #expect(y.shape == [2, hits.count])
            #expect(y.int64s() == hits.map { Int64($0 / 10) } + hits.map { Int64($0 % 10) })
        }
    }

    /// A run's own values are computed by its steps, also where an integer input is small (token
    /// ids): only what a shape needs is planned by value. Graph: ids[4] (int64) → Gather(table) →
    /// Relu → E; S[2] (int64) → Add(S, 0) → Reshape(E, ·) → Y. Each run must execute the Gather,
    /// Relu and Add steps (counted by the profile), whatever the values; the Reshape's target is
    /// planned by value after the run computed it (one continuation per distinct target).
    @Test func runValuesAreComputedByStepsAndShapesPlannedWhereNeeded() throws {
        let table = Tensor(shape: [5, 3], scalars: (0..<15).map { Float($0) - 7 })
        let names = ["ids", "S", "T", "Z", "G", "E", "S2", "Y"]
        let int = { (n: String, d: Int) in ValueDeclaration(name: n, dtype: .int64, dimensions: [.fixed(d)]) }
        let graph = Graph(
            valueNames: names, constants: [2: table, 3: Tensor(shape: [1], scalars: [Int64(0)])],
            nodes: [
                Node(name: "gather", layer: Gather(axis: 0), inputs: [2, 0], outputs: [4]),
                Node(name: "relu", layer: ActivationLayer(.relu), inputs: [4], outputs: [5]),
                Node(name: "add", layer: BinaryLayer(.add, opType: "Add"), inputs: [1, 3], outputs: [6]),
                Node(name: "reshape", layer: ShapeOnly(.reshape(allowZero: false), opType: "Reshape"), inputs: [5, 6], outputs: [7]),
            ],
            inputs: [(0, int("ids", 4)), (1, int("S", 2))], outputs: [(7, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))])
        let session = Session(model: Model(graph: graph, format: "test", source: nil, opset: nil), options: SessionOptions(threads: 1, profile: true))
        let runs: [([Int64], [Int64])] = [([0, 4, 2, 2], [3, 4]), ([1, 3, 0, 4], [3, 4]), ([4, 4, 1, 0], [2, 6]), ([0, 1, 2, 3], [3, 4])]
        for (k, (ids, shape)) in runs.enumerated() {
            let y = try #require(try session.run(["ids": Tensor(shape: [4], scalars: ids), "S": Tensor(shape: [2], scalars: shape)])["Y"])
            #expect(y.shape == shape.map { Int($0) })
            let expected: [Float] = ids.flatMap { i -> [Float] in (0..<3).map { (c: Int) -> Float in max(Float(Int(i) * 3 + c) - 7, 0) } }
            #expect(y.scalars(as: Float.self) == expected)
            for op in ["Gather", "Relu", "Add"] { #expect(session.profile[op]?.count == k + 1, "\(op) after run \(k + 1): \(session.profile)") }
        }
        let plans = session.plansMade
        #expect(plans.count == 1 && plans.first?.cut?.node == 3)
        #expect(plans.first?.continuations.count == 2)
    }

    /// Continuations are kept only for small cut values: NonZero over 5,000 computed elements is
    /// planned again on every run (a run with new data costs what it costs), over 100 once per value.
    @Test func largeCutValuesAreNotKept() throws {
        for (n, kept) in [(100, 1), (5_000, 0)] {
            let graph = Graph(
                valueNames: ["X", "R", "Y"], constants: [:],
                nodes: [Node(name: "relu", layer: ActivationLayer(.relu), inputs: [0], outputs: [1]), Node(name: "nz", layer: NonZero(), inputs: [1], outputs: [2])],
                inputs: [(0, ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(n)]))],
                outputs: [(2, ValueDeclaration(name: "Y", dtype: .int64, dimensions: nil))])
            let session = Session(model: Model(graph: graph, format: "test", source: nil, opset: nil), options: SessionOptions(threads: 1))
            let x = Tensor(shape: [n], scalars: (0..<n).map { Float($0 % 3) - 1 })
            for _ in 0..<2 {
                let y = try #require(try session.run(["X": x])["Y"])
                #expect(y.int64s() == (0..<n).filter { $0 % 3 == 2 }.map(Int64.init))
            }
            #expect(session.plansMade.first?.continuations.count == kept)
        }
    }

    @Test func tappingOneNameKeepsOtherFusions() throws {
        let model = try smallGraph()
        let s = Session(model: model, options: SessionOptions(threads: 1, taps: .names(["G"])))
        let out = try s.run(["X": input])
        #expect(Set(s.tapped.keys) == ["G"])
        let g = s.tapped["G"]?.scalars(as: Float.self) ?? []
        let y = out["Y"]?.scalars(as: Float.self) ?? []
        #expect(zip(g, y).allSatisfy { abs(Activation.sigmoid.apply($0) - $1) == 0 })
    }

    @Test func graphOutputInsideAFusableChain() throws {
        // C is a graph output, so Conv must not absorb the Relu; both outputs must be right.
        let model = try smallGraph(extraOutput: true)
        let out = try Session(model: model, options: SessionOptions(threads: 1)).run(["X": input])
        let plain = try Session(model: model, options: SessionOptions(threads: 1, fuseActivations: false)).run(["X": input])
        #expect(bits(out["C"]) == bits(plain["C"]) && bits(out["Y"]) == bits(plain["Y"]))
        #expect(out["C"]?.scalars(as: Float.self).contains { $0 < 0 } == true)
    }

    @Test func batchRowsAreIndependentAndSessionsReusable() throws {
        let model = try smallGraph()
        let session = Session(model: model, options: SessionOptions(threads: 2))
        let all = try session.run(["X": input])["Y"]?.scalars(as: Float.self) ?? []
        let x = input.scalars(as: Float.self)
        let per = 3 * 6 * 6
        for b in 0..<3 {
            let one = Tensor(shape: [1, 3, 6, 6], scalars: Array(x[(b * per)..<((b + 1) * per)]))
            let row = try session.run(["X": one])["Y"]?.scalars(as: Float.self) ?? []
            // The same arithmetic in the same order per row: equal within a few ulps (BLAS may block rows differently).
            for (a, c) in zip(row, all[(b * 5)..<((b + 1) * 5)]) { #expect(abs(a - c) <= 1e-6) }
        }
        let again = try session.run(["X": input])["Y"]?.scalars(as: Float.self) ?? []
        #expect(again == all)
    }

    /// A run copies its outputs into the buffers of the last run's outputs that the caller has let
    /// go of, and never into one the caller still holds.
    @Test func outputsReuseOnlyBuffersTheCallerLetGo() throws {
        let session = Session(model: try smallGraph(), options: SessionOptions(threads: 1))
        let other = Tensor.random(shape: [3, 3, 6, 6], dtype: .float32, seed: 5)
        let held = try session.run(["X": input])
        let heldBits = bits(held["Y"])
        var second: [String: Tensor]? = try session.run(["X": other])
        #expect(bits(held["Y"]) == heldBits, "an output still held was overwritten")
        #expect(bits(second?["Y"]) != heldBits)
        #expect(second?["Y"]?.storage !== held["Y"]?.storage)
        let secondID = try #require(second?["Y"].map { ObjectIdentifier($0.storage) })
        second = nil
        let third = try session.run(["X": input])
        #expect(bits(third["Y"]) == heldBits)
        #expect(bits(held["Y"]) == heldBits)
        #expect(third["Y"].map { ObjectIdentifier($0.storage) } == secondID, "a buffer let go of was not reused")
    }

    /// X[1,4,8,8] → Conv 1×1 (4→2) → A → Conv 1×1 (2→3) → B → Conv 1×1 (3→8) → Y: A dies before
    /// Y is written, so it is placed in Y's buffer (the arena holds B alone). A held output keeps
    /// its bits while later runs write A's values (a new buffer is taken), a buffer let go of is
    /// reused, and the values match 1×1 convolutions computed here in Double.
    @Test func outputBufferHoldsValuesThatDieBeforeIt() throws {
        var g = SeededGenerator(seed: 21)
        func rnd(_ shape: [Int]) -> Tensor { Tensor(shape: shape, scalars: (0..<shape.product).map { _ in Float(g.normal()) }) }
        let w = [rnd([2, 4, 1, 1]), rnd([3, 2, 1, 1]), rnd([8, 3, 1, 1])]
        let one = try WindowAttributes(kernelShape: [1, 1], strides: nil, dilations: nil, pads: nil, autoPad: .notSet)
        let nodes = [
            Node(name: "a", layer: try Conv(window: one, group: 1, weight: w[0]), inputs: [0, 1], outputs: [4]),
            Node(name: "b", layer: try Conv(window: one, group: 1, weight: w[1]), inputs: [4, 2], outputs: [5]),
            Node(name: "y", layer: try Conv(window: one, group: 1, weight: w[2]), inputs: [5, 3], outputs: [6]),
        ]
        let x = ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(1), .fixed(4), .fixed(8), .fixed(8)])
        let graph = Graph(valueNames: ["X", "W1", "W2", "W3", "A", "B", "Y"], constants: [1: w[0], 2: w[1], 3: w[2]], nodes: nodes,
                          inputs: [(0, x)], outputs: [(6, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))])
        let model = Model(graph: graph, format: "test", source: nil, opset: nil)
        func expected(_ input: Tensor) -> [Double] {
            var v = input.scalars(as: Float.self).map(Double.init)
            for weight in w {
                let m = weight.scalars(as: Float.self).map(Double.init), cin = weight.shape[1]
                v = (0..<(weight.shape[0] * 64)).map { i in (0..<cin).reduce(0.0) { $0 + m[i / 64 * cin + $1] * v[$1 * 64 + i % 64] } }
            }
            return v
        }
        let session = Session(model: model, options: SessionOptions(threads: 1))
        let x1 = Tensor.random(shape: [1, 4, 8, 8], dtype: .float32, seed: 1), x2 = Tensor.random(shape: [1, 4, 8, 8], dtype: .float32, seed: 2)
        let held = try session.run(["X": x1])
        #expect(session.arenaBytes == 3 * 64 * 4 && session.outputBufferBytes == 8 * 64 * 4, "arena \(session.arenaBytes), outputs \(session.outputBufferBytes)")
        let heldBits = bits(held["Y"])
        for (got, want) in zip(held["Y"]?.scalars(as: Float.self) ?? [], expected(x1)) { #expect(abs(Double(got) - want) <= 1e-5 * max(1, abs(want))) }
        #expect(held["Y"]?.count == 8 * 64)
        var second: [String: Tensor]? = try session.run(["X": x2])
        #expect(bits(held["Y"]) == heldBits, "an output still held was overwritten")
        #expect(second?["Y"]?.storage !== held["Y"]?.storage)
        for (got, want) in zip(second?["Y"]?.scalars(as: Float.self) ?? [], expected(x2)) { #expect(abs(Double(got) - want) <= 1e-5 * max(1, abs(want))) }
        let secondID = try #require(second?["Y"].map { ObjectIdentifier($0.storage) })
        second = nil
        let third = try session.run(["X": x1])
        #expect(bits(third["Y"]) == heldBits && bits(held["Y"]) == heldBits)
        #expect(third["Y"].map { ObjectIdentifier($0.storage) } == secondID, "a buffer let go of was not reused")
    }

    @Test func arenaReusesBuffers() throws {
        let model = try smallGraph()
        let s = Session(model: model, options: SessionOptions(threads: 1))
        _ = try s.run(["X": input])
        // Without reuse: C, P, G, Y = 3·(144 + 36 + 5 + 5) floats; with it the pooled output can reuse nothing
        // live, but G and Y fit into freed buffers. The plan must hold less than the sum of all values.
        let sumOfAll = 3 * (144 + 36 + 5 + 5) * 4
        #expect(s.arenaBytes < sumOfAll)
        #expect(s.arenaBytes >= 3 * (144 + 36) * 4)
    }

    @Test func shapeErrorsNameTheNode() throws {
        let model = try smallGraph()
        do {
            _ = try model.run(["X": Tensor(zeros: [1, 3, 1, 1])])
            Issue.record("a 1×1 image passed through a 2×2 pool")
        } catch let e as ExecutionError {
            #expect(e.node == "pool" && e.op == "MaxPool")
        }
    }
}

@Suite("Runtime: SiLU fusion")
struct SwishFusionTests {
    /// X → Conv → C; Sigmoid(C) → S; Mul(C, S) → Y: the SiLU pattern exporters write.
    func siluGraph() throws -> Model {
        var g = SeededGenerator(seed: 3)
        let names = ["X", "W", "C", "S", "Y"]
        let w = Tensor(shape: [4, 2, 3, 3], scalars: (0..<72).map { _ in Float(g.normal()) })
        let window = try WindowAttributes(kernelShape: [3, 3], strides: nil, dilations: nil, pads: [1, 1, 1, 1], autoPad: .notSet)
        let nodes = [
            Node(name: "conv", layer: try Conv(window: window, group: 1), inputs: [0, 1], outputs: [2]),
            Node(name: "sig", layer: ActivationLayer(.sigmoid), inputs: [2], outputs: [3]),
            Node(name: "mul", layer: BinaryLayer(.mul, opType: "Mul"), inputs: [2, 3], outputs: [4]),
        ]
        let x = ValueDeclaration(name: "X", dtype: .float32, dimensions: [.fixed(1), .fixed(2), .fixed(5), .fixed(5)])
        let graph = Graph(valueNames: names, constants: [1: w], nodes: nodes, inputs: [(0, x)], outputs: [(4, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))])
        return Model(graph: graph, format: "test", source: nil, opset: nil)
    }

    @Test func fusedSiLUIsBitwiseTheSame() throws {
        let model = try siluGraph()
        let x = Tensor.random(shape: [1, 2, 5, 5], dtype: .float32, seed: 8)
        let fusedSession = Session(model: model, options: SessionOptions(threads: 1, profile: true))
        let fused = try fusedSession.run(["X": x])
        let plain = try Session(model: model, options: SessionOptions(threads: 1, fuseActivations: false)).run(["X": x])
        #expect(Set(fusedSession.profile.keys) == ["Conv+Swish"])
        #expect(bits(fused["Y"]) == bits(plain["Y"]))
        // Tapping the sigmoid's output keeps the steps apart, with the same result.
        let tapped = Session(model: model, options: SessionOptions(threads: 1, taps: .names(["S"]), profile: true))
        let out = try tapped.run(["X": x])
        #expect(Set(tapped.profile.keys) == ["Conv", "Sigmoid", "Mul"])
        #expect(bits(out["Y"]) == bits(fused["Y"]))
    }

    /// SiLU over values no step can fuse it into: a graph input (float32 and float64), and an
    /// Add's output that another node reads too. The pair runs as one Swish step, bitwise the two
    /// steps' result; a float16 pair stays apart (its sigmoid is rounded before the product).
    @Test(arguments: [DType.float32, .float64, .float16])
    func siluOverAnInputOrASharedValueIsOneStep(dtype: DType) throws {
        // Y1 = X·Sigmoid(X); A = X + X; Y2 = A·Sigmoid(A); Y3 = A + A.
        let names = ["X", "S1", "Y1", "A", "S2", "Y2", "Y3"]
        let nodes = [
            Node(name: "sig1", layer: ActivationLayer(.sigmoid), inputs: [0], outputs: [1]),
            Node(name: "mul1", layer: BinaryLayer(.mul, opType: "Mul"), inputs: [1, 0], outputs: [2]),
            Node(name: "add", layer: BinaryLayer(.add, opType: "Add"), inputs: [0, 0], outputs: [3]),
            Node(name: "sig2", layer: ActivationLayer(.sigmoid), inputs: [3], outputs: [4]),
            Node(name: "mul2", layer: BinaryLayer(.mul, opType: "Mul"), inputs: [3, 4], outputs: [5]),
            Node(name: "add2", layer: BinaryLayer(.add, opType: "Add"), inputs: [3, 3], outputs: [6]),
        ]
        let x = ValueDeclaration(name: "X", dtype: dtype, dimensions: [.fixed(3), .fixed(37)])
        func out(_ name: String) -> ValueDeclaration { ValueDeclaration(name: name, dtype: dtype, dimensions: nil) }
        let graph = Graph(valueNames: names, constants: [:], nodes: nodes, inputs: [(0, x)], outputs: [(2, out("Y1")), (5, out("Y2")), (6, out("Y3"))])
        let model = Model(graph: graph, format: "test", source: nil, opset: nil)
        // Values from −12 to 12, where the sigmoid goes from its small tail to nearly 1.
        let values = (0..<111).map { Double($0 - 55) * 0.22 }
        let input = Tensor(shape: [3, 37], scalars: values.map { Float($0) }).converted(to: dtype)
        let fusedSession = Session(model: model, options: SessionOptions(threads: 1, profile: true))
        let fused = try fusedSession.run(["X": input])
        let plain = try Session(model: model, options: SessionOptions(threads: 1, fuseActivations: false)).run(["X": input])
        let expected: Set<String> = dtype == .float16 ? ["Sigmoid", "Mul", "Add"] : ["Swish", "Add"]
        #expect(Set(fusedSession.profile.keys) == expected, "\(dtype)")
        #expect(fusedSession.profile["Swish"]?.count ?? 0 == (dtype == .float16 ? 0 : 2), "\(dtype)")
        for name in ["Y1", "Y2", "Y3"] {
            let a = try #require(fused[name]), b = try #require(plain[name])
            #expect(a.converted(to: .float64).scalars(as: Double.self).map(\.bitPattern) == b.converted(to: .float64).scalars(as: Double.self).map(\.bitPattern),
                    "\(dtype) \(name)")
        }
    }
}

@Suite("Runtime: a Transpose of B folded into MatMul")
struct TransposedOperandTests {
    /// Y1 = MatMul(Q, Transpose(K)·s) (attention's scaled Kᵀ, as exporters write it) and
    /// Y2 = MatMul(Q, Transpose(V)), Q `[2, 3, m, 16]`, K and V `[2, 3, 20, 16]`.
    func attentionScores(m: Int) -> Model {
        let names = ["Q", "K", "V", "KT", "S", "KTS", "Y1", "VT", "Y2"]
        let swapLast = Transpose(perm: [0, 1, 3, 2])
        let nodes = [
            Node(name: "kt", layer: swapLast, inputs: [1], outputs: [3]),
            Node(name: "scale", layer: BinaryLayer(.mul, opType: "Mul"), inputs: [3, 4], outputs: [5]),
            Node(name: "scores", layer: MatMul(), inputs: [0, 5], outputs: [6]),
            Node(name: "vt", layer: swapLast, inputs: [2], outputs: [7]),
            Node(name: "plain", layer: MatMul(), inputs: [0, 7], outputs: [8]),
        ]
        func declared(_ name: String, _ dims: [Int]) -> ValueDeclaration { ValueDeclaration(name: name, dtype: .float32, dimensions: dims.map { .fixed($0) }) }
        let graph = Graph(
            valueNames: names, constants: [4: Tensor(shape: [1], scalars: [Float(0.353_553_4)])], nodes: nodes,
            inputs: [(0, declared("Q", [2, 3, m, 16])), (1, declared("K", [2, 3, 20, 16])), (2, declared("V", [2, 3, 20, 16]))],
            outputs: [(6, ValueDeclaration(name: "Y1", dtype: .float32, dimensions: nil)), (8, ValueDeclaration(name: "Y2", dtype: .float32, dimensions: nil))])
        return Model(graph: graph, format: "test", source: nil, opset: nil)
    }

    /// Folded (no Transpose step runs), the outputs are bitwise those of the separate steps (taps
    /// on the transposed values keep the steps apart; so does turning fusion off), for a one-row
    /// product (OpenBLAS) and a 16-row one (the tiles), on one and two threads; and within float32
    /// rounding of a direct sum in Double.
    @Test(arguments: [1, 16])
    func foldedTransposeIsBitwiseTheSame(m: Int) throws {
        let model = attentionScores(m: m)
        let q = Tensor.random(shape: [2, 3, m, 16], dtype: .float32, seed: 21), k = Tensor.random(shape: [2, 3, 20, 16], dtype: .float32, seed: 22)
        let v = Tensor.random(shape: [2, 3, 20, 16], dtype: .float32, seed: 23)
        let feeds = ["Q": q, "K": k, "V": v]
        for threads in [1, 2] {
            let folded = Session(model: model, options: SessionOptions(threads: threads, profile: true))
            let y = try folded.run(feeds)
            #expect(!folded.profile.keys.contains("Transpose") && folded.profile.keys.contains("MatMul"), "\(folded.profile.keys)")
            let tapped = Session(model: model, options: SessionOptions(threads: threads, taps: .names(["KT", "VT"]), profile: true))
            let yTapped = try tapped.run(feeds)
            #expect(tapped.profile.keys.contains("Transpose"))
            let yPlain = try Session(model: model, options: SessionOptions(threads: threads, fuseActivations: false)).run(feeds)
            for name in ["Y1", "Y2"] {
                #expect(bits(y[name]) == bits(yTapped[name]), "\(name) m=\(m) t\(threads): folded and tapped differ")
                #expect(bits(y[name]) == bits(yPlain[name]), "\(name) m=\(m) t\(threads): folded and unfused differ")
            }
        }
        let y = try Session(model: model, options: SessionOptions(threads: 1)).run(feeds)
        let qv = q.scalars(as: Float.self), kv = k.scalars(as: Float.self), vv = v.scalars(as: Float.self)
        let s = Float(0.353_553_4)
        var worst: Double = 0
        for (name, other, scale) in [("Y1", kv, s), ("Y2", vv, Float(1))] {
            let got = y[name]?.scalars(as: Float.self) ?? []
            #expect(got.count == 6 * m * 20)
            for bh in 0..<6 { for i in 0..<m { for j in 0..<20 {
                var sum = 0.0
                for d in 0..<16 { sum += Double(qv[(bh * m + i) * 16 + d]) * Double(other[(bh * 20 + j) * 16 + d] * scale) }
                if got.count == 6 * m * 20 { worst = max(worst, abs(Double(got[(bh * m + i) * 20 + j]) - sum)) }
            } } }
        }
        // 16 products of standard normals (sums ~4): float32 rounding moves them by ~1e-6.
        #expect(worst < 1e-4, "largest difference from the Double sum: \(worst)")
    }
}

@Suite("Runtime: residual Add fusion")
struct ResidualFusionTests {
    /// X → Conv(2→2, 3×3 or 1×1) → C; Add(C, X) or Add(X, C) → A; Relu(A) → Y: a residual block's
    /// tail. X is the residual, computed before the convolution.
    func residualGraph(kernel: Int, convFirst: Bool) throws -> Model {
        var g = SeededGenerator(seed: 5)
        let names = ["X", "W", "B", "C", "A", "Y"]
        let w = Tensor(shape: [2, 2, kernel, kernel], scalars: (0..<(4 * kernel * kernel)).map { _ in Float(g.normal()) })
        let b = Tensor(shape: [2], scalars: [Float(0.25), -0.5])
        let pad = kernel / 2
        let window = try WindowAttributes(kernelShape: [kernel, kernel], strides: nil, dilations: nil, pads: [pad, pad, pad, pad], autoPad: .notSet)
        let nodes = [
            Node(name: "conv", layer: try Conv(window: window, group: 1, weight: w), inputs: [0, 1, 2], outputs: [3]),
            Node(name: "add", layer: BinaryLayer(.add, opType: "Add"), inputs: convFirst ? [3, 0] : [0, 3], outputs: [4]),
            Node(name: "relu", layer: ActivationLayer(.relu), inputs: [4], outputs: [5]),
        ]
        let x = ValueDeclaration(name: "X", dtype: .float32, dimensions: [.symbolic("N"), .fixed(2), .fixed(9), .fixed(9)])
        let graph = Graph(valueNames: names, constants: [1: w, 2: b], nodes: nodes, inputs: [(0, x)], outputs: [(5, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))])
        return Model(graph: graph, format: "test", source: nil, opset: nil)
    }

    /// The fused step gives the separate steps' bits (the sum rounded, then R added, then the
    /// clamp), for a convolution on the extended grid (3×3) and a pointwise one, either operand
    /// order, one and two images; a tap on the convolution's output, a simulated format, or an FP64
    /// run keeps the Add apart.
    @Test(arguments: [(3, true), (3, false), (1, true), (1, false)])
    func fusedAddIsBitwiseTheSame(kernel: Int, convFirst: Bool) throws {
        let model = try residualGraph(kernel: kernel, convFirst: convFirst)
        for batch in [1, 2] {
            let x = Tensor.random(shape: [batch, 2, 9, 9], dtype: .float32, seed: UInt64(batch))
            let fusedSession = Session(model: model, options: SessionOptions(threads: 1, profile: true))
            let fused = try fusedSession.run(["X": x])
            let plain = try Session(model: model, options: SessionOptions(threads: 1, fuseActivations: false)).run(["X": x])
            #expect(Set(fusedSession.profile.keys) == ["Conv+Add+Relu"])
            #expect(bits(fused["Y"]) == bits(plain["Y"]))
            let tapped = Session(model: model, options: SessionOptions(threads: 1, taps: .names(["C"]), profile: true))
            _ = try tapped.run(["X": x])
            #expect(Set(tapped.profile.keys) == ["Conv", "Add+Relu"])
            let fp16 = Session(model: model, options: SessionOptions(threads: 1, profile: true, policy: ExecutionPolicy(precision: .fp16)))
            _ = try fp16.run(["X": x])
            #expect(!fp16.profile.keys.contains("Conv+Add+Relu"))
        }
    }
}

@Suite("Runtime: convolution weights packed on first use")
struct LazyPackingTests {
    /// A constant weight is not packed when the model is made (loading holds it once), nor by an
    /// FP64 or FP16 run (which convert the weight and pack their own copy, or none), but by the first
    /// FP32 plan; later sessions share that packing and give the same bits.
    @Test func packedByTheFirstFloat32Plan() throws {
        let model = try ResidualFusionTests().residualGraph(kernel: 3, convFirst: true)
        guard let conv = model.graph.nodes.first?.layer as? Conv, let packing = conv.packed else {
            Issue.record("the residual graph's first node is not a Conv with a constant weight")
            return
        }
        #expect(!packing.isMade)
        let x = Tensor.random(shape: [1, 2, 9, 9], dtype: .float32, seed: 11)
        _ = try Session(model: model, options: SessionOptions(threads: 1, policy: ExecutionPolicy(precision: .fp64))).run(["X": x])
        _ = try Session(model: model, options: SessionOptions(threads: 1, policy: ExecutionPolicy(precision: .fp16))).run(["X": x])
        #expect(!packing.isMade, "an FP64 or FP16 run packed the FP32 weight")
        let first = try Session(model: model, options: SessionOptions(threads: 1)).run(["X": x])
        #expect(packing.isMade)
        let made = packing.value
        let second = try Session(model: model, options: SessionOptions(threads: 2)).run(["X": x])
        #expect(packing.value === made)
        #expect(bits(first["Y"]) == bits(second["Y"]))
    }
}

@Suite("Runtime: Concat inputs written in place")
struct ConcatWindowTests {
    /// X → Conv(2→3, 1×1) → A, X → Conv(2→5, 3×3) → B, Concat(A, B, axis 1) → Y on 8×8 images
    /// (each input a multiple of 64 bytes).
    func concatGraph() throws -> Model {
        var g = SeededGenerator(seed: 9)
        let names = ["X", "WA", "WB", "A", "B", "Y"]
        let wa = Tensor(shape: [3, 2, 1, 1], scalars: (0..<6).map { _ in Float(g.normal()) })
        let wb = Tensor(shape: [5, 2, 3, 3], scalars: (0..<90).map { _ in Float(g.normal()) })
        let one = try WindowAttributes(kernelShape: [1, 1], strides: nil, dilations: nil, pads: nil, autoPad: .notSet)
        let three = try WindowAttributes(kernelShape: [3, 3], strides: nil, dilations: nil, pads: [1, 1, 1, 1], autoPad: .notSet)
        let nodes = [
            Node(name: "a", layer: try Conv(window: one, group: 1, weight: wa), inputs: [0, 1], outputs: [3]),
            Node(name: "b", layer: try Conv(window: three, group: 1, weight: wb), inputs: [0, 2], outputs: [4]),
            Node(name: "cat", layer: Concat(axis: 1), inputs: [3, 4], outputs: [5]),
        ]
        let x = ValueDeclaration(name: "X", dtype: .float32, dimensions: [.symbolic("N"), .fixed(2), .fixed(8), .fixed(8)])
        let graph = Graph(valueNames: names, constants: [1: wa, 2: wb], nodes: nodes, inputs: [(0, x)], outputs: [(5, ValueDeclaration(name: "Y", dtype: .float32, dimensions: nil))])
        return Model(graph: graph, format: "test", source: nil, opset: nil)
    }

    /// At batch 1 the convolutions write into the concatenation (the arena holds Y but no separate
    /// A and B) with the bits of the separate copy; at batch 2 (A and B interleaved in Y), with a
    /// tap on A, or without fusion, everything is copied as before; a substitute for A is copied in.
    @Test func inputsWrittenInPlace() throws {
        let model = try concatGraph()
        for batch in [1, 2] {
            let x = Tensor.random(shape: [batch, 2, 8, 8], dtype: .float32, seed: UInt64(batch))
            let placed = Session(model: model, options: SessionOptions(threads: 1))
            let y = try placed.run(["X": x])
            let plain = Session(model: model, options: SessionOptions(threads: 1, fuseActivations: false))
            let want = try plain.run(["X": x])
            #expect(bits(y["Y"]) == bits(want["Y"]))
            // Y, a graph output, has a buffer of its own; A and B are windows of it at batch 1 and
            // in the arena otherwise.
            let yBytes = batch * 8 * 64 * 4
            #expect(placed.outputBufferBytes == yBytes)
            #expect(batch == 1 ? placed.arenaBytes == 0 : placed.arenaBytes == yBytes, "arena \(placed.arenaBytes) bytes")
            let tapped = Session(model: model, options: SessionOptions(threads: 1, taps: .names(["A"])))
            #expect(bits(try tapped.run(["X": x])["Y"]) == bits(want["Y"]))
            #expect(tapped.arenaBytes == yBytes)
        }
        let x = Tensor.random(shape: [1, 2, 8, 8], dtype: .float32, seed: 3)
        let a = Tensor.random(shape: [1, 3, 8, 8], dtype: .float32, seed: 4)
        let y = try Session(model: model, options: SessionOptions(threads: 1)).run(["X": x], substitutes: ["A": a])
        #expect(Array(bits(y["Y"]).prefix(3 * 64)) == bits(a))
    }
}

@Suite("Layers: prepared forms keep the bits")
struct PreparedFormTests {
    /// Pow by a constant 2 runs as A·A: the same bits as Pow computed in Double and rounded once,
    /// on random float32 bit patterns (subnormals, huge values, infinities and NaNs included), for
    /// float32 and float16; a non-constant exponent keeps Pow.
    /// Pow by a constant 3 on float32 is (x·x)·x rounded twice: onnxruntime 1.31's CPU Pow gave
    /// exactly that on 100,000 normal values (a correctly rounded cube matched it on 74%). The
    /// expected values are Swift's scalar float products.
    @Test func powByConstantThreeIsOnnxruntimesCube() throws {
        var g = SeededGenerator(seed: 29)
        let values = (0..<10_000).map { _ in Float(g.normal()) * 3 } + [0, -0.0, .infinity, -.infinity, 1e20, -1e-20]
        let x = Tensor(shape: [values.count], scalars: values)
        let three = Tensor(shape: [], scalars: [Float(3)])
        let layer = BinaryLayer(.pow, opType: "Pow")
        let op = try layer.prepare([TensorType(.float32, x.shape), TensorType(.float32, [])], constants: [nil, three], format: .standard)
        #expect((op as? SmallPowerOp)?.cube == true)
        let y = Tensor(zeros: x.shape)
        try op.run([x, three], outputs: [y], context: ExecutionContext(threads: 1))
        let want = values.map { ($0 * $0) * $0 }
        #expect(y.scalars(as: Float.self).map(\.bitPattern) == want.map(\.bitPattern))
    }

    @Test func powByConstantTwoIsTheSquare() throws {
        var g = SeededGenerator(seed: 23)
        let bits = (0..<20_000).map { _ in UInt32(truncatingIfNeeded: g.next()) } + [0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 1, 0x8000_0001, 0x7F7F_FFFF]
        for dtype in [DType.float32, .float16] {
            let x = Tensor(shape: [bits.count], scalars: bits.map { Float(bitPattern: $0) }).converted(to: dtype)
            let two = Tensor(shape: [1], scalars: [Float(2)])
            let layer = BinaryLayer(.pow, opType: "Pow")
            let types: [TensorType?] = [TensorType(dtype, x.shape), TensorType(.float32, [1])]
            let op = try layer.prepare(types, constants: [nil, two], format: .standard)
            let y = Tensor(zeros: [bits.count], dtype: dtype), want = Tensor(zeros: [bits.count], dtype: dtype)
            try op.run([x, two], outputs: [y], context: ExecutionContext(threads: 1))
            Elementwise.binary(.pow, x, two.converted(to: dtype), into: want)
            let (a, b) = (y.converted(to: .float32).scalars(as: Float.self), want.converted(to: .float32).scalars(as: Float.self))
            let differing = zip(a, b).filter { !($0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN)) }.count
            #expect(differing == 0, "\(dtype): \(differing) values differ")
            #expect((op as? SmallPowerOp)?.cube == false)
            let general = try layer.prepare(types, constants: [nil, nil], format: .standard)
            #expect(String(describing: type(of: general)) == "BroadcastBinaryOp")
        }
    }
}

@Suite("Layers: float32 products on the register tiles")
struct TiledProductTests {
    /// MLAS's depth block for `n` output columns and depth `k` (its stride heuristic as a table).
    static func depthBlock(columns n: Int, depth k: Int) -> Int {
        n >= k ? 128 : n <= 16 ? 1024 : n <= 32 ? 512 : n <= 64 ? 256 : 128
    }

    /// One output: a fused multiply-add chain from zero per depth block, the blocks added in turn.
    static func blockedSum(_ a: (Int) -> Float, _ b: (Int) -> Float, k: Int, block: Int) -> Float {
        var total: Float? = nil
        for p0 in stride(from: 0, to: k, by: block) {
            var acc: Float = 0
            for p in p0..<min(k, p0 + block) { acc.addProduct(a(p), b(p)) }
            total = total.map { $0 + acc } ?? acc
        }
        return total ?? 0
    }

    func random(_ count: Int, _ g: inout SeededGenerator) -> [Float] { (0..<count).map { _ in Float(g.normal()) } }

    /// MatMul with a shared 2-D B (rows of all batches in one product) and a fused Relu, MatMul with
    /// a B per batch (attention's shape), and Gemm plus a row of C: where the build has the tiles,
    /// bitwise the scalar emulation of MLAS's order (then C, then the clamp), on one and two
    /// threads; on OpenBLAS builds within 1e-5 of the emulation's magnitude (the emulation is then
    /// only a reference: OpenBLAS sums in its own blocks).
    @Test(arguments: [(2, 13, 300, 70, true), (3, 16, 64, 40, false), (1, 24, 700, 20, true)])
    func matmulSumsInMLASOrder(batch: Int, m: Int, k: Int, n: Int, sharedB: Bool) throws {
        var g = SeededGenerator(seed: UInt64(batch * 1000 + m * 10 + n))
        let a = random(batch * m * k, &g), b = random((sharedB ? 1 : batch) * k * n, &g)
        let block = Self.depthBlock(columns: n, depth: k)
        var want = [Float]()
        for i in 0..<batch { for r in 0..<m { for c in 0..<n {
            let bb = sharedB ? 0 : i
            let v = Self.blockedSum({ a[(i * m + r) * k + $0] }, { b[(bb * k + $0) * n + c] }, k: k, block: block)
            want.append(max(v, 0))
        } } }
        let at = TensorType(.float32, [batch, m, k]), bt = TensorType(.float32, sharedB ? [k, n] : [batch, k, n])
        let ta = Tensor(shape: at.shape, scalars: a), tb = Tensor(shape: bt.shape, scalars: b)
        for threads in [1, 2] {
            let op = try MatMul(activation: .relu).prepare([at, bt], constants: [nil, nil], format: .standard)
            let y = Tensor(zeros: [batch, m, n])
            try op.run([ta, tb], outputs: [y], context: ExecutionContext(threads: threads))
            check(y.scalars(as: Float.self), want, tiles: Linear.usesTiles(rows: sharedB ? batch * m : m), "MatMul \(batch)×\(m)×\(k)×\(n) t\(threads)")
        }
    }

    /// Many small per-batch products with a broadcast B (`[4, 3, m, k]` by `[1, 3, k, n]`, B given
    /// as is or transposed, `[1, 3, n, k]`, as attention's folded Kᵀ): on two and three threads the
    /// products go to the threads whole (each thread turning its own Bᵀ), and every output is
    /// bitwise the scalar emulation of MLAS's order, as on one thread.
    @Test(arguments: [false, true])
    func smallProductsSplitOverThreadsKeepTheirBits(transposedB: Bool) throws {
        let (m, k, n) = (9, 20, 12)
        var g = SeededGenerator(seed: transposedB ? 5 : 6)
        let a = random(12 * m * k, &g), b = random(3 * k * n, &g)
        // b as [3, k, n]; given transposed it is stored as [3, n, k].
        let stored = transposedB ? (0..<3).flatMap { h in (0..<n).flatMap { c in (0..<k).map { p in b[(h * k + p) * n + c] } } } : b
        let block = Self.depthBlock(columns: n, depth: k)
        var want = [Float]()
        for i in 0..<12 { for r in 0..<m { for c in 0..<n {
            want.append(Self.blockedSum({ a[(i * m + r) * k + $0] }, { b[((i % 3) * k + $0) * n + c] }, k: k, block: block))
        } } }
        let at = TensorType(.float32, [4, 3, m, k]), bt = TensorType(.float32, transposedB ? [1, 3, n, k] : [1, 3, k, n])
        for threads in [1, 2, 3] {
            let layer = transposedB ? MatMul().readingTransposedB : MatMul()
            let op = try layer.prepare([at, bt], constants: [nil, nil], format: .standard)
            let y = Tensor(zeros: [4, 3, m, n])
            try op.run([Tensor(shape: at.shape, scalars: a), Tensor(shape: bt.shape, scalars: stored)], outputs: [y],
                       context: ExecutionContext(threads: threads))
            check(y.scalars(as: Float.self), want, tiles: Linear.usesTiles(rows: m), "MatMul 12×\(m)×\(k)×\(n) transposed \(transposedB) t\(threads)")
        }
    }

    @Test func gemmAddsItsRowAfterTheProduct() throws {
        var g = SeededGenerator(seed: 77)
        let (m, k, n) = (24, 130, 50)
        let a = random(m * k, &g), b = random(k * n, &g), c = random(n, &g)
        let block = Self.depthBlock(columns: n, depth: k)
        var want = [Float]()
        for r in 0..<m { for j in 0..<n { want.append(Self.blockedSum({ a[r * k + $0] }, { b[$0 * n + j] }, k: k, block: block) + c[j]) } }
        let types = [TensorType(.float32, [m, k]), TensorType(.float32, [k, n]), TensorType(.float32, [n])]
        for threads in [1, 2] {
            let op = try Gemm(transA: false, transB: false, alpha: 1, beta: 1).prepare(types, constants: [nil, nil, nil], format: .standard)
            let y = Tensor(zeros: [m, n])
            try op.run([Tensor(shape: [m, k], scalars: a), Tensor(shape: [k, n], scalars: b), Tensor(shape: [n], scalars: c)], outputs: [y],
                       context: ExecutionContext(threads: threads))
            check(y.scalars(as: Float.self), want, tiles: Linear.usesTiles(rows: m), "Gemm t\(threads)")
        }
    }

    /// A Gemm whose B is a constant runs on the weight laid out once: with fewer than 8 rows on
    /// B′ packed as the tiles' A operand (Yᵀ = B′ᵀ·Aᵀ: the depth block is the one for m output
    /// columns), with 8 to 64 on Bᵀ made once and multiplied as an untransposed B (the block for
    /// n columns); C's row added after the product, then the clamp. Bitwise the emulation on one
    /// and two threads where the build has the tiles. The layer is made from another weight and
    /// then given B's value (`replacingConstants`, as the precision policies do), so a layout
    /// left from the first weight would be off by O(1).
    @Test(arguments: [(1, 300, 100, true), (3, 200, 70, true), (5, 1100, 40, false), (8, 130, 50, true), (13, 700, 300, true), (2, 64, 1, true)])
    func gemmWithAConstantWeightRunsOnItLaidOutOnce(m: Int, k: Int, n: Int, transB: Bool) throws {
        var g = SeededGenerator(seed: UInt64(m * 1009 + k * 17 + n))
        let a = random(m * k, &g), b = random(k * n, &g), c = random(n, &g), other = random(k * n, &g)
        // B′[p, j]: B is [K, N], or [N, K] with transB.
        func bPrime(_ p: Int, _ j: Int) -> Float { transB ? b[j * k + p] : b[p * n + j] }
        let rows = m < PackedGEMM.rowTile
        let block = Self.depthBlock(columns: rows ? m : n, depth: k)
        var want = [Float]()
        for r in 0..<m { for j in 0..<n { want.append(max(0, Self.blockedSum({ a[r * k + $0] }, { bPrime($0, j) }, k: k, block: block) + c[j])) } }
        let bShape = transB ? [n, k] : [k, n]
        let weight = Tensor(shape: bShape, scalars: b)
        let first = Gemm(transA: false, transB: transB, alpha: 1, beta: 1, weight: Tensor(shape: bShape, scalars: other))
        let layer = try #require(try first.replacingConstants([nil, weight, nil]).fusing(.relu))
        let types = [TensorType(.float32, [m, k]), TensorType(.float32, bShape), TensorType(.float32, [n])]
        for threads in [1, 2] {
            let op = try layer.prepare(types, constants: [nil, weight, nil], format: .standard)
            let y = Tensor(zeros: [m, n])
            try op.run([Tensor(shape: [m, k], scalars: a), weight, Tensor(shape: [n], scalars: c)], outputs: [y], context: ExecutionContext(threads: threads))
            check(y.scalars(as: Float.self), want, tiles: PackedGEMM.selected.isTiles, "Gemm \(m)×\(k)×\(n) transB \(transB) t\(threads)")
        }
    }

    func check(_ got: [Float], _ want: [Float], tiles: Bool, _ what: String) {
        if tiles {
            let wrong = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(wrong == 0, "\(what): \(wrong) of \(want.count) outputs differ from the emulation")
        } else {
            // Sums of up to 700 standard-normal products (magnitude ~26): OpenBLAS's own order
            // moves them by a few float ulps; a misplaced term moves them by O(1).
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4, "\(what): largest difference \(worst)")
        }
    }
}

@Suite("Layers: dilated convolutions cut to the taps that read the image")
struct DilatedTapTests {
    func conv(_ x: Tensor, _ w: Tensor, _ b: Tensor, dilation: Int, pad: Int, threads: Int = 1) throws -> Tensor {
        let window = try WindowAttributes(kernelShape: [w.shape[2], w.shape[3]], strides: nil, dilations: [dilation, dilation],
                                          pads: [pad, pad, pad, pad], autoPad: .notSet)
        let layer = try Conv(window: window, group: 1, weight: w)
        let types = [TensorType(.float32, x.shape), TensorType(.float32, w.shape), TensorType(.float32, b.shape)]
        let out = try layer.outputTypes(types, constants: [nil, w, b])[0]
        let y = Tensor(zeros: out.shape)
        try layer.prepare(types, constants: [nil, w, b], format: .standard).run([x, w, b], outputs: [y], context: ExecutionContext(threads: threads))
        return y
    }

    /// Dilation 4 and padding 4 on a 3×3 map: only the centre tap reads the image, so the 3×3
    /// convolution is the 1×1 convolution with the centre weights, bit for bit (the other taps'
    /// products are exact zeros); and both agree with the naive Double twin over all nine taps.
    /// Dilation 3, padding 3 on 5×5 (rows and columns 0 and 2 read the image for some outputs):
    /// nothing is cut, and the result matches the naive twin.
    @Test func centreTapAloneIsThePointwiseConvolution() throws {
        var g = SeededGenerator(seed: 91)
        let x = Tensor(shape: [2, 40, 3, 3], scalars: (0..<720).map { _ in Float(g.normal()) })
        let w = Tensor(shape: [24, 40, 3, 3], scalars: (0..<8640).map { _ in Float(g.normal()) })
        let b = Tensor(shape: [24], scalars: (0..<24).map { _ in Float(g.normal()) })
        let centre = Tensor(shape: [24, 40, 1, 1], scalars: (0..<960).map { w.scalars(as: Float.self)[$0 * 9 + 4] })
        let y = try conv(x, w, b, dilation: 4, pad: 4)
        let pointwise = try conv(x, centre, b, dilation: 1, pad: 0)
        #expect(y.shape == [2, 24, 3, 3])
        #expect(bits(y) == bits(pointwise))
        #expect(bits(try conv(x, w, b, dilation: 4, pad: 4, threads: 2)) == bits(y))
        for (x, dilation, pad) in [(x, 4, 4), (Tensor(shape: [1, 40, 5, 5], scalars: (0..<1000).map { _ in Float(g.normal()) }), 3, 3)] {
            let got = try conv(x, w, b, dilation: dilation, pad: pad)
            let geometry = Conv2DGeometry(
                batch: x.shape[0], inChannels: 40, inHeight: x.shape[2], inWidth: x.shape[3], outChannels: 24, outHeight: got.shape[2],
                outWidth: got.shape[3], kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 1, dilationH: dilation, dilationW: dilation,
                padTop: pad, padLeft: pad, groups: 1)
            let want = Tensor(zeros: got.shape)
            Conv2D.reference(input: x, weight: w, bias: b, output: want, geometry: geometry, activation: nil)
            // Sums of up to 360 normal products (magnitude ~19): float rounding moves them by a few
            // 1e-6; a wrong tap moves them by O(1).
            let worst = zip(got.scalars(as: Float.self), want.scalars(as: Float.self)).map { abs($0 - $1) }.max() ?? .nan
            #expect(worst <= 1e-4, "dilation \(dilation) on \(x.shape): largest difference \(worst)")
        }
        #expect(try #require(Conv2DGeometry(
            batch: 1, inChannels: 1, inHeight: 33, inWidth: 33, outChannels: 1, outHeight: 33, outWidth: 33, kernelHeight: 3, kernelWidth: 3,
            strideH: 1, strideW: 1, dilationH: 36, dilationW: 36, padTop: 36, padLeft: 36, groups: 1).liveTaps).ky == 1...1)
        #expect(try #require(Conv2DGeometry(
            batch: 1, inChannels: 1, inHeight: 33, inWidth: 33, outChannels: 1, outHeight: 33, outWidth: 33, kernelHeight: 3, kernelWidth: 3,
            strideH: 1, strideW: 1, dilationH: 24, dilationW: 24, padTop: 24, padLeft: 24, groups: 1).liveTaps).ky == 0...2)
    }
}
