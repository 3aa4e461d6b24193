import Foundation
import Layers
import TensorCore

/// A graph attribute of a control-flow node (`If`'s branches, `Loop`'s and `Scan`'s body).
///
/// Its inputs are the formal ones the file declares, then one for each value it reads from the
/// enclosing scopes (`outerNames`; the loader adds those values to the node's inputs, after its
/// own). Each run re-declares the inputs with the types they arrive with, so loop-carried values
/// may change shape from one iteration to the next.
public struct Subgraph: Sendable {
    public let graph: Graph
    public let opset: Int?
    /// How many of the graph's inputs are formal (the rest read enclosing scopes' values).
    public let formalCount: Int
    /// The numeric formats its nodes run in: the enclosing session's policy, which names the
    /// subgraph's nodes and values as it names the main graph's (set when a session prepares the
    /// graph holding it; FP32 before).
    public internal(set) var policy: ExecutionPolicy = .fp32
    /// The enclosing scopes' values the graph reads, in the order of its inputs after the formal ones.
    public var outerNames: [String] { graph.inputs.dropFirst(formalCount).map(\.declaration.name) }

    public init(graph: Graph, opset: Int?, formalCount: Int) {
        self.graph = graph
        self.opset = opset
        self.formalCount = formalCount
    }

    /// The graph with every input (formal inputs, then outer values) declared of these element
    /// types and, when given, shapes (else of any shape).
    func declaring(_ dtypes: [DType], shapes: [[Int]?]? = nil) -> Graph {
        let inputs = graph.inputs.enumerated().map { k, input in
            (input.id, ValueDeclaration(name: input.declaration.name, dtype: dtypes[k], dimensions: shapes?[k]?.map { .fixed($0) }, kind: .any))
        }
        return Graph(valueNames: graph.valueNames, constants: graph.constants, nodes: graph.nodes, inputs: inputs,
                     outputs: graph.outputs.map { ($0.id, $0.declaration) })
    }

    /// The values of the enclosing scopes, by name, from a node's inputs after its first `own`.
    static func outerValues<T>(_ names: [String], _ inputs: [T?], own: Int) -> [String: T] {
        var out: [String: T] = [:]
        for (k, name) in names.enumerated() where own + k < inputs.count { if let v = inputs[own + k] { out[name] = v } }
        return out
    }

    /// Output types for formal input types and the outer values' types, with whatever values
    /// are known (a plan of the graph, folding what it can).
    func outputTypes(formal: [TensorType], formalValues: [Tensor?], outer: [String: TensorType], outerValues: [String: Tensor]) throws -> [TensorType] {
        let names = outerNames
        var types = formal
        for name in names {
            guard let t = outer[name] else { throw LayerError("the subgraph reads '\(name)', which has no value here") }
            types.append(t)
        }
        let g = declaring(types.map(\.dtype), shapes: types.map { $0.isTensor ? $0.shape : nil })
        let session = Session(model: Model(graph: g, format: "onnx", source: nil, opset: opset), options: SessionOptions(threads: 1, policy: policy))
        var typeByID: [Int: TensorType] = [:], values: [Int: Tensor] = [:]
        for (k, input) in g.inputs.enumerated() {
            typeByID[input.id] = types[k]
            let v = k < formal.count ? formalValues[k] : outerValues[names[k - formal.count]]
            if let v { values[input.id] = v }
        }
        let plan: Plan
        do { plan = try session.plan(for: typeByID, values: values, preparesSteps: false) } catch let e as ExecutionError {
            throw LayerError("in the subgraph: \(e.description)", needsValues: e.needsValues, neededInputs: [])
        }
        if let cut = plan.cut { throw LayerError("in the subgraph: \(cut.error.description)", needsValues: true, neededInputs: []) }
        return try g.outputs.map { o in
            guard let t = plan.types[o.id] else { throw LayerError("the subgraph's output '\(o.declaration.name)' has no type") }
            return t
        }
    }
}

/// Runs a subgraph again and again (a loop's iterations, a scan's steps) through one session, so
/// that a shape it has seen is planned once; the inputs are declared of any shape.
final class SubgraphRunner {
    let subgraph: Subgraph
    let context: ExecutionContext
    private var session: Session?
    private var dtypes: [DType] = []

    init(_ subgraph: Subgraph, context: ExecutionContext) {
        self.subgraph = subgraph
        self.context = context
    }

    /// Runs the graph on formal inputs and outer values; returns its outputs in order.
    func run(formal: [Tensor], outer: [String: Tensor]) throws -> [Tensor] {
        var values = formal
        for name in subgraph.outerNames {
            guard let t = outer[name] else { throw LayerError("the subgraph reads '\(name)', which has no value here") }
            values.append(t)
        }
        let g = subgraph.graph
        var feeds: [String: Tensor] = [:]
        for (input, t) in zip(g.inputs, values) { feeds[input.declaration.name] = t }
        // With the enclosing session capturing values, the subgraph captures its own (nested
        // subgraphs' included) and hands over those wanted.
        let taps = context.subgraphTaps
        if session == nil || values.map(\.dtype) != dtypes {
            dtypes = values.map(\.dtype)
            session = Session(model: Model(graph: subgraph.declaring(dtypes), format: "onnx", source: nil, opset: subgraph.opset),
                              options: SessionOptions(threads: context.threads, taps: taps == nil ? .none : .all, policy: subgraph.policy))
        }
        guard let session else { return [] }
        let result: [String: Tensor]
        do { result = try session.run(feeds) } catch let e as ExecutionError { throw LayerError("in the subgraph: \(e.description)") }
        taps?.record(session.tapped.filter { feeds[$0.key] == nil })
        return try g.outputs.map { o in
            guard let t = result[o.declaration.name] else { throw LayerError("the subgraph's output '\(o.declaration.name)' has no value") }
            return t
        }
    }
}

/// A layer that runs graphs of its own (If, Loop, Scan, SequenceMap): their values are the
/// session's to capture, and its policy is theirs.
protocol SubgraphHolder {
    var subgraphs: [Subgraph] { get }
    /// This layer with each subgraph replaced by `transform` of it.
    func mappingSubgraphs(_ transform: (Subgraph) -> Subgraph) -> any Layer
}

extension Subgraph {
    /// The subgraph with its nodes (and its subgraphs', at any depth) run under `policy`.
    func running(under policy: ExecutionPolicy) -> Subgraph {
        var s = self
        s.policy = policy
        return s
    }
}

extension IfLayer: SubgraphHolder {
    var subgraphs: [Subgraph] { [thenBranch, elseBranch] }
    func mappingSubgraphs(_ transform: (Subgraph) -> Subgraph) -> any Layer {
        IfLayer(thenBranch: transform(thenBranch), elseBranch: transform(elseBranch), outerNames: outerNames)
    }
}
extension LoopLayer: SubgraphHolder {
    var subgraphs: [Subgraph] { [body] }
    func mappingSubgraphs(_ transform: (Subgraph) -> Subgraph) -> any Layer { LoopLayer(body: transform(body), carried: carried, outerNames: outerNames) }
}
extension ScanLayer: SubgraphHolder {
    var subgraphs: [Subgraph] { [body] }
    func mappingSubgraphs(_ transform: (Subgraph) -> Subgraph) -> any Layer {
        ScanLayer(body: transform(body), scanInputs: scanInputs, inputAxes: inputAxes, inputDirections: inputDirections, outputAxes: outputAxes,
                  outputDirections: outputDirections, batched: batched, outerNames: outerNames)
    }
}

/// ONNX `If`: runs `thenBranch` or `elseBranch` by the condition, which must be known when the
/// run is planned (a constant or a value computed from shapes or known inputs), since the
/// branches may give outputs of different shapes. Inputs: the condition, then the enclosing
/// values both branches read (`outerNames`).
public struct IfLayer: ValueLayer {
    public var opType: String { "If" }
    public let thenBranch: Subgraph, elseBranch: Subgraph
    public let outerNames: [String]

    public init(thenBranch: Subgraph, elseBranch: Subgraph, outerNames: [String]) {
        self.thenBranch = thenBranch
        self.elseBranch = elseBranch
        self.outerNames = outerNames
    }

    func branch(_ condition: Tensor) throws -> Subgraph {
        guard condition.count == 1 else { throw LayerError("the condition has \(condition.count) values, expected one") }
        return condition.doubles()[0] != 0 ? thenBranch : elseBranch
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        guard let condition = constants.first ?? nil else {
            throw LayerError.needs([0], "If's outputs depend on the condition's value, which must be known before running")
        }
        let outerTypes = Subgraph.outerValues(outerNames, inputs, own: 1)
        let outerValues = Subgraph.outerValues(outerNames, constants, own: 1)
        return try branch(condition).outputTypes(formal: [], formalValues: [], outer: outerTypes, outerValues: outerValues)
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let b = try branch(try required(inputs, 0, "cond"))
        return try SubgraphRunner(b, context: context).run(formal: [], outer: Subgraph.outerValues(outerNames, inputs, own: 1))
    }
}

/// ONNX `Loop`: the body runs while the iteration count is below M (when given) and the condition
/// holds; loop-carried values pass from one iteration to the next, and each iteration's scan
/// outputs are stacked along a new first axis. Its outputs' sizes depend on the values, so every
/// input must be known when the run is planned; the loop then runs once while planning.
/// Inputs: M, cond, the N initial values, then the enclosing values the body reads.
public struct LoopLayer: ValueLayer {
    public var opType: String { "Loop" }
    public let body: Subgraph
    public let carried: Int
    public let outerNames: [String]
    /// Iterations allowed before the loop is refused (a bound on what a file can ask for).
    public static let iterationLimit = 1 << 20

    public init(body: Subgraph, carried: Int, outerNames: [String]) {
        self.body = body
        self.carried = carried
        self.outerNames = outerNames
    }

    func iterate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let own = 2 + carried
        let m = try (inputs.first ?? nil).map { t -> Int64 in
            guard t.count == 1 else { throw LayerError("M has \(t.count) values, expected one") }
            return t.int64s()[0]
        }
        var condition = try (inputs.count > 1 ? inputs[1] : nil).map { t -> Bool in
            guard t.count == 1 else { throw LayerError("cond has \(t.count) values, expected one") }
            return t.doubles()[0] != 0
        } ?? true
        var state = try (0..<carried).map { try required(inputs, 2 + $0, "v_initial \($0)") }
        let outer = Subgraph.outerValues(outerNames, inputs, own: own)
        let scanCount = body.graph.outputs.count - 1 - carried
        guard scanCount >= 0 else { throw LayerError("the body has \(body.graph.outputs.count) outputs, expected at least \(1 + carried)") }
        var scans = [[Tensor]](repeating: [], count: scanCount)
        let runner = SubgraphRunner(body, context: context)
        var i: Int64 = 0
        while condition && (m.map { i < $0 } ?? true) {
            guard i < Int64(Self.iterationLimit) else { throw LayerError("the loop runs past \(Self.iterationLimit) iterations") }
            let results = try runner.run(formal: [Tensor(scalar: i), Tensor(scalar: true)] + state, outer: outer)
            guard results[0].count == 1 else { throw LayerError("the body's condition has \(results[0].count) values, expected one") }
            condition = results[0].doubles()[0] != 0
            state = Array(results[1...carried])
            for k in 0..<scanCount {
                let s = results[1 + carried + k]
                guard s.container == nil else { throw LayerError("scan output \(k) is \(TensorType(of: s)); scan outputs are tensors") }
                if let first = scans[k].first, first.shape != s.shape || first.dtype != s.dtype {
                    throw LayerError("scan output \(k) changes from \(first.dtype)\(first.shape) to \(s.dtype)\(s.shape) between iterations")
                }
                scans[k].append(s)
            }
            i += 1
        }
        let stacked = try (0..<scanCount).map { k -> Tensor in
            let declared = body.graph.outputs[1 + carried + k].declaration.dtype
            guard let first = scans[k].first else { return Tensor(zeros: [0], dtype: declared) }
            return try stack(scans[k], first)
        }
        return state + stacked
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let unknown = inputs.indices.filter { inputs[$0] != nil && ($0 >= constants.count || constants[$0] == nil) }
        if let k = unknown.first {
            throw LayerError.needs(unknown, "Loop's outputs depend on its inputs' values (input \(k)), which must be known before running")
        }
        return try iterate(constants, context: ExecutionContext(threads: 1)).map { TensorType(of: $0) }
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        try iterate(inputs, context: context)
    }
}

/// Tensors of one type and shape stacked along a new first axis.
func stack(_ parts: [Tensor], _ first: Tensor) throws -> Tensor {
    let shape = [parts.count] + first.shape
    _ = try checkedProduct(shape, "a stacked output")
    let out = Tensor(zeros: shape, dtype: first.dtype)
    let bytes = first.byteCount
    out.withUnsafeMutableBytes { o in
        for (k, p) in parts.enumerated() {
            p.withUnsafeBytes { src in
                if bytes > 0, let base = o.baseAddress, let s = src.baseAddress { (base + k * bytes).copyMemory(from: s, byteCount: bytes) }
            }
        }
    }
    return out
}

/// ONNX `Scan` (opsets 9 and later; opset 8's form, with a batch axis and sequence lengths, as
/// one scan per batch entry): the body runs once per position along each scan input's axis
/// (backwards where its direction is 1), states passing from step to step; each step's scan
/// outputs are stacked along their axis. Every input must be known when the run is planned.
/// Inputs: (opset 8: sequence_lens,) the N initial states, the M scan inputs, then the enclosing
/// values the body reads.
public struct ScanLayer: ValueLayer {
    public var opType: String { "Scan" }
    public let body: Subgraph
    public let scanInputs: Int
    public let inputAxes: [Int]?, inputDirections: [Int]?, outputAxes: [Int]?, outputDirections: [Int]?
    /// Opset 8: a batch axis first and a `sequence_lens` input.
    public let batched: Bool
    public let outerNames: [String]

    public init(body: Subgraph, scanInputs: Int, inputAxes: [Int]?, inputDirections: [Int]?, outputAxes: [Int]?, outputDirections: [Int]?,
                batched: Bool, outerNames: [String]) {
        self.body = body
        self.scanInputs = scanInputs
        self.inputAxes = inputAxes
        self.inputDirections = inputDirections
        self.outputAxes = outputAxes
        self.outputDirections = outputDirections
        self.batched = batched
        self.outerNames = outerNames
    }

    var ownInputs: Int { body.formalCount + (batched ? 1 : 0) }

    /// One scan over states and scan inputs (no batch axis).
    func scan(states initial: [Tensor], inputs: [Tensor], outer: [String: Tensor], runner: SubgraphRunner) throws -> [Tensor] {
        let m = inputs.count
        let axes = try (inputAxes ?? Array(repeating: 0, count: m)).enumerated().map { k, a in
            try normalizedAxis(a, rank: inputs[k].rank, "scan_input_axes")
        }
        let directions = inputDirections ?? Array(repeating: 0, count: m)
        guard axes.count == m, directions.count == m, m > 0 else { throw LayerError("scan_input_axes and scan_input_directions need \(m) entries") }
        let steps = inputs[0].shape[axes[0]]
        for (k, x) in inputs.enumerated() where x.shape[axes[k]] != steps {
            throw LayerError("scan input \(k) has \(x.shape[axes[k]]) steps along axis \(axes[k]), input 0 has \(steps)")
        }
        var state = initial
        let k = body.graph.outputs.count - state.count
        var collected = [[Tensor]](repeating: [], count: k)
        for s in 0..<steps {
            let slices = inputs.enumerated().map { j, x in
                Self.slice(x, axis: axes[j], at: directions[j] == 1 ? steps - 1 - s : s)
            }
            let results = try runner.run(formal: state + slices, outer: outer)
            state = Array(results.prefix(state.count))
            for j in 0..<k { collected[j].append(results[state.count + j]) }
        }
        let outAxes = outputAxes ?? Array(repeating: 0, count: k), outDirections = outputDirections ?? Array(repeating: 0, count: k)
        guard outAxes.count == k, outDirections.count == k else { throw LayerError("scan_output_axes and scan_output_directions need \(k) entries") }
        let outputs = try (0..<k).map { j -> Tensor in
            let declared = body.graph.outputs[state.count + j].declaration.dtype
            guard let first = collected[j].first else { return Tensor(zeros: [0], dtype: declared) }
            let parts = outDirections[j] == 1 ? collected[j].reversed() : collected[j]
            let stacked = try stack(Array(parts), first)
            let axis = try normalizedAxis(outAxes[j], rank: stacked.rank, "scan_output_axes")
            guard axis > 0 else { return stacked }
            // Move the new axis 0 to `axis`.
            var perm = Array(1..<stacked.rank)
            perm.insert(0, at: axis)
            let moved = Tensor(zeros: perm.map { stacked.shape[$0] }, dtype: stacked.dtype)
            Movement.transpose(stacked, perm: perm, into: moved)
            return moved
        }
        return state + outputs
    }

    /// Position `i` of `x` along `axis`, the axis removed.
    static func slice(_ x: Tensor, axis: Int, at i: Int) -> Tensor {
        var shape = x.shape
        let length = shape.remove(at: axis)
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        let out = Tensor(zeros: shape, dtype: x.dtype)
        Movement.copyElements(from: x, into: out) { j in ((j / inner) * length + i) * inner + j % inner }
        return out
    }

    func run(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let n = body.formalCount - scanInputs
        guard n >= 0 else { throw LayerError("num_scan_inputs \(scanInputs) is more than the body's \(body.formalCount) inputs") }
        let first = batched ? 1 : 0
        let values = try (0..<body.formalCount).map { try required(inputs, first + $0, "input \(first + $0)") }
        let outer = Subgraph.outerValues(outerNames, inputs, own: ownInputs)
        let states = Array(values.prefix(n)), scanned = Array(values.dropFirst(n))
        let runner = SubgraphRunner(body, context: context)
        guard batched else { return try scan(states: states, inputs: scanned, outer: outer, runner: runner) }
        // Opset 8: each batch entry scanned alone along axis 1 of the full tensors.
        guard let batch = values.first?.shape.first, values.allSatisfy({ $0.shape.first == batch }) else {
            throw LayerError("every state and scan input needs the same batch axis first")
        }
        if let lens = inputs.first ?? nil, lens.int64s().contains(where: { $0 != Int64(scanned.first?.shape.dropFirst().first ?? 0) }) {
            throw LayerError("sequence_lens shorter than the scan inputs is not supported")
        }
        var perBatch: [[Tensor]] = []
        for b in 0..<batch {
            perBatch.append(try scan(states: states.map { Self.slice($0, axis: 0, at: b) }, inputs: scanned.map { Self.slice($0, axis: 0, at: b) },
                                     outer: outer, runner: runner))
        }
        return try (0..<(perBatch.first?.count ?? 0)).map { j in try stack(perBatch.map { $0[j] }, perBatch[0][j]) }
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let unknown = inputs.indices.filter { inputs[$0] != nil && ($0 >= constants.count || constants[$0] == nil) }
        if let k = unknown.first {
            throw LayerError.needs(unknown, "Scan's outputs are computed when its inputs' values are known, so input \(k)'s values must be known first")
        }
        return try run(constants, context: ExecutionContext(threads: 1)).map { TensorType(of: $0) }
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        try run(inputs, context: context)
    }
}

/// ONNX `SequenceMap`: the body runs once per position of the input sequence, reading that
/// position's item of every sequence input and each tensor input whole; its outputs at each
/// position make the output sequences. Inputs: the sequence, the additional inputs (sequences of
/// the same length, or tensors), then the enclosing values the body reads.
public struct SequenceMap: ValueLayer, SubgraphHolder {
    public var opType: String { "SequenceMap" }
    public let body: Subgraph
    public let outerNames: [String]
    var subgraphs: [Subgraph] { [body] }
    func mappingSubgraphs(_ transform: (Subgraph) -> Subgraph) -> any Layer { SequenceMap(body: transform(body), outerNames: outerNames) }

    public init(body: Subgraph, outerNames: [String]) {
        self.body = body
        self.outerNames = outerNames
    }

    /// The number of positions: the sequence inputs' common length. `lengths[k]`: input k's
    /// number of items when it is a sequence, nil when it is a tensor; missing inputs are refused.
    func positions(_ lengths: [Int?], present: [Bool]) throws -> Int {
        guard let n = lengths.first ?? nil else { throw LayerError("input 0 (input_sequence) must be a sequence") }
        for k in 1..<max(1, body.formalCount) {
            guard k < present.count, present[k] else { throw LayerError("input \(k) is missing") }
            if let m = lengths[k], m != n { throw LayerError("input \(k) is a sequence of \(m) items, input 0 has \(n)") }
        }
        return n
    }

    /// Position `i`'s value of input `x`: its item when a sequence, else itself.
    static func item<T>(_ x: T, _ i: Int, items: (T) -> [T]?) -> T { items(x)?[i] ?? x }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let itemsOf: (TensorType) -> [TensorType]? = { if case .sequence(let s) = $0.kind { s } else { nil } }
        let formalInputs = inputs.prefix(body.formalCount)
        let n = try positions(formalInputs.map { $0.flatMap(itemsOf)?.count }, present: formalInputs.map { $0 != nil })
        let outerTypes = Subgraph.outerValues(outerNames, inputs, own: body.formalCount)
        let outerValues = Subgraph.outerValues(outerNames, constants, own: body.formalCount)
        var collected = [[TensorType]](repeating: [], count: body.graph.outputs.count)
        for i in 0..<n {
            var formal: [TensorType] = [], values: [Tensor?] = []
            for k in 0..<body.formalCount {
                guard let x = inputs[k] else { continue }
                formal.append(Self.item(x, i, items: itemsOf))
                let v = k < constants.count ? constants[k] : nil
                values.append(v.map { Self.item($0, i, items: { $0.sequenceItems }) })
            }
            let types = try body.outputTypes(formal: formal, formalValues: values, outer: outerTypes, outerValues: outerValues)
            for (j, t) in types.enumerated() where j < collected.count {
                guard t.isTensor else { throw LayerError("the body's output \(j) is a \(t.kind.name); SequenceMap's items are tensors") }
                collected[j].append(t)
            }
        }
        return collected.enumerated().map { j, items in
            .sequence(items, dtype: items.first?.dtype ?? body.graph.outputs[j].declaration.dtype)
        }
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let formalInputs = inputs.prefix(body.formalCount)
        let n = try positions(formalInputs.map { $0?.sequenceItems?.count }, present: formalInputs.map { $0 != nil })
        let outer = Subgraph.outerValues(outerNames, inputs, own: body.formalCount)
        let runner = SubgraphRunner(body, context: context)
        var collected = [[Tensor]](repeating: [], count: body.graph.outputs.count)
        for i in 0..<n {
            let formal = try (0..<body.formalCount).map { k in Self.item(try required(inputs, k, "input \(k)"), i, items: { $0.sequenceItems }) }
            for (j, t) in try runner.run(formal: formal, outer: outer).enumerated() where j < collected.count { collected[j].append(t) }
        }
        return collected.enumerated().map { j, items in
            Tensor(sequence: items, dtype: items.first?.dtype ?? body.graph.outputs[j].declaration.dtype)
        }
    }
}

/// ONNX `FlexAttention` (the ai.onnx.preview domain): `Y = prob_mod(Softmax(score_mod(QKᵀ·scale))) V`
/// over rank-4 `(batch, heads, sequence, head size)` inputs, each K/V head shared by
/// `q_heads / kv_heads` consecutive query heads. As ONNX's reference computes it: Q and K each
/// scaled by √scale and multiplied in their own type (16-bit products summed in float32 and
/// rounded), the scores then in the softmax precision (float32, or float64 for float64 inputs,
/// unless `softmax_precision` says), the modifier subgraphs run on the whole score tensor, and
/// the product with V in the softmax precision, rounded to V's type. Inputs: Q, K, V, then the
/// enclosing values the modifiers read.
public struct FlexAttention: ValueLayer, SubgraphHolder {
    public var opType: String { "FlexAttention" }
    public let scale: Float?
    public let softmaxType: DType?
    public let scoreMod: Subgraph?, probMod: Subgraph?
    public let outerNames: [String]
    var subgraphs: [Subgraph] { [scoreMod, probMod].compactMap { $0 } }

    public init(scale: Float?, softmaxType: DType?, scoreMod: Subgraph?, probMod: Subgraph?, outerNames: [String]) {
        self.scale = scale
        self.softmaxType = softmaxType
        self.scoreMod = scoreMod
        self.probMod = probMod
        self.outerNames = outerNames
    }

    func mappingSubgraphs(_ transform: (Subgraph) -> Subgraph) -> any Layer {
        FlexAttention(scale: scale, softmaxType: softmaxType, scoreMod: scoreMod.map(transform), probMod: probMod.map(transform), outerNames: outerNames)
    }

    /// The softmax's type: the attribute's, else float64 for float64 inputs, else float32.
    func computeType(_ q: DType) -> DType { softmaxType ?? (q == .float64 ? .float64 : .float32) }

    func dimensions(_ inputs: [TensorType?]) throws -> (b: Int, hq: Int, hkv: Int, l: Int, s: Int, e: Int, ev: Int) {
        let q = try required(inputs, 0, "Q"), k = try required(inputs, 1, "K"), v = try required(inputs, 2, "V")
        try requireFloat(q, "Q")
        guard q.isTensor, k.isTensor, v.isTensor, q.shape.count == 4, k.shape.count == 4, v.shape.count == 4, k.dtype == q.dtype, v.dtype == q.dtype else {
            throw LayerError("Q, K, V must be rank-4 tensors of one floating-point type, got \(q), \(k), \(v)")
        }
        let (b, hq, l, e) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hkv, s) = (k.shape[1], k.shape[2])
        guard k.shape[0] == b, k.shape[3] == e, v.shape[0] == b, v.shape[1] == hkv, v.shape[2] == s else {
            throw LayerError("K \(k.shape) and V \(v.shape) do not fit Q \(q.shape)")
        }
        guard hkv > 0, hq % hkv == 0 else { throw LayerError("Q's \(hq) heads are not a multiple of K's \(hkv)") }
        // The scores and probabilities are held in Double: refused before they are made when
        // small inputs ask for more than the budget (long sequences with one-wide heads).
        let scores = try checkedProduct([b, hq, l, s], "the scores")
        do { try MemoryBudget.check(MemoryBudget.bytes(count: scores, dtype: .float64).map { MemoryBudget.sum($0, $0) }, "a score tensor of shape \([b, hq, l, s])") } catch let e as MemoryBudgetError {
            throw LayerError(e.description)
        }
        return (b, hq, hkv, l, s, e, v.shape[3])
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let d = try dimensions(inputs)
        let q = try required(inputs, 0, "Q")
        guard [.float32, .float64, .float16, .bfloat16].contains(computeType(q.dtype)) else { throw LayerError("softmax_precision must be a float type") }
        return [TensorType(q.dtype, [d.b, d.hq, d.l, d.ev])]
    }

    /// Runs a modifier on the score or probability tensor; its result must keep the shape.
    func modify(_ x: Tensor, with sub: Subgraph?, inputs: [Tensor?], context: ExecutionContext) throws -> Tensor {
        guard let sub else { return x }
        let results = try SubgraphRunner(sub, context: context).run(formal: [x], outer: Subgraph.outerValues(outerNames, inputs, own: 3))
        guard results.count == 1, results[0].shape == x.shape, results[0].isFloat else {
            throw LayerError("a modifier must give one tensor of shape \(x.shape), got \(results.map { TensorType(of: $0) })")
        }
        return results[0]
    }

    public func evaluate(_ inputs: [Tensor?], context: ExecutionContext) throws -> [Tensor] {
        let d = try dimensions(types(of: inputs))
        let q = try required(inputs, 0, "Q"), k = try required(inputs, 1, "K"), v = try required(inputs, 2, "V")
        let compute = computeType(q.dtype)
        let scaleValue = scale ?? 1 / Float(d.e).squareRoot()
        // √scale in float32, in the inputs' type; Q and K each scaled and rounded to that type.
        let root = Tensor(scalar: scaleValue.squareRoot()).converted(to: q.dtype).doubles()[0]
        func scaled(_ t: Tensor) -> [Double] {
            Tensor(shape: t.shape, scalars: t.doubles().map { $0 * root }).converted(to: t.dtype).doubles()
        }
        let qs = scaled(q), ks = scaled(k), vs = v.converted(to: compute).doubles()
        let group = d.hq / d.hkv
        var scores = [Double](repeating: 0, count: d.b * d.hq * d.l * d.s)
        for bi in 0..<d.b { for h in 0..<d.hq { for i in 0..<d.l { for j in 0..<d.s {
            let qo = ((bi * d.hq + h) * d.l + i) * d.e, ko = ((bi * d.hkv + h / group) * d.s + j) * d.e
            var acc = 0.0
            if q.dtype == .float64 {
                for x in 0..<d.e { acc += qs[qo + x] * ks[ko + x] }
            } else {
                var f: Float = 0
                for x in 0..<d.e { f += Float(qs[qo + x]) * Float(ks[ko + x]) }
                acc = Double(f)
            }
            scores[((bi * d.hq + h) * d.l + i) * d.s + j] = acc
        } } } }
        let shape = [d.b, d.hq, d.l, d.s]
        // The product in the inputs' type, then the softmax precision.
        var s = try modify(Tensor(shape: shape, scalars: scores).converted(to: q.dtype).converted(to: compute), with: scoreMod, inputs: inputs, context: context)
        s = s.converted(to: compute)
        var probs = s.doubles()
        let single = compute != .float64
        for r in 0..<(d.b * d.hq * d.l) {
            let row = (r * d.s)..<((r + 1) * d.s)
            let m = probs[row].max() ?? 0
            var total = 0.0
            for j in row {
                let e = single ? Double(Foundation.exp(Float(probs[j] - m))) : Foundation.exp(probs[j] - m)
                probs[j] = e
                total = single ? Double(Float(total + e)) : total + e
            }
            for j in row { probs[j] = single ? Double(Float(probs[j] / total)) : probs[j] / total }
        }
        let p = try modify(Tensor(shape: shape, scalars: probs).converted(to: compute), with: probMod, inputs: inputs, context: context).converted(to: compute).doubles()
        var y = [Double](repeating: 0, count: d.b * d.hq * d.l * d.ev)
        for bi in 0..<d.b { for h in 0..<d.hq { for i in 0..<d.l { for m in 0..<d.ev {
            var acc = 0.0
            var f: Float = 0
            for j in 0..<d.s {
                let term = p[((bi * d.hq + h) * d.l + i) * d.s + j] * vs[((bi * d.hkv + h / group) * d.s + j) * d.ev + m]
                if single { f += Float(term) } else { acc += term }
            }
            y[((bi * d.hq + h) * d.l + i) * d.ev + m] = single ? Double(f) : acc
        } } } }
        return [Tensor(shape: [d.b, d.hq, d.l, d.ev], scalars: y).converted(to: compute).converted(to: v.dtype)]
    }
}

extension Tensor {
    var isFloat: Bool { container == nil && dtype.isFloatingPoint }
}
