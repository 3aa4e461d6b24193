import Foundation
import Layers
import TensorCore

/// An execution plan for one set of input shapes: folded constants, the steps left to run (with
/// activations fused), and every intermediate value's place in a shared arena.
final class Plan: @unchecked Sendable {
    /// `compute`: the op writes into planned storage; `alias`: the output is the input reshaped;
    /// `value`: a `ValueLayer` makes its outputs (sequences, optionals, subgraph results).
    enum StepKind { case compute, alias, value }

    struct Step {
        let node: Int
        var layer: any Layer
        var inputs: [Int?]
        var outputs: [Int]
        let kind: StepKind
        /// The layer prepared for its input types and the node's compute format (made once the
        /// fusions have settled which layer the step runs).
        var op: any PreparedOp
    }

    let steps: [Step]
    /// Per value id: constants and arena views; graph inputs and aliases are bound at run time.
    let tensors: [Tensor?]
    /// Types of every value reached.
    let types: [TensorType?]
    /// Total bytes of arena storage.
    let arenaBytes: Int
    /// Graph outputs this plan's steps compute, kept out of the arena: each run writes them into a
    /// buffer of their own (`bindOutputs`), which the run returns as it is.
    let outputBuffers: [OutputBuffer]
    /// Each output buffer's storage from the last run, by root value id: reused when the caller
    /// has let go of the outputs it was returned in.
    private var outputStorage: [Int: TensorStorage] = [:]

    /// The buffer of a graph output computed by a step: `root` (the value the step computes; the
    /// graph output itself or the value it reshapes), its size (the root's bytes), and the values
    /// that are windows of it: the root at offset 0, values that die before the root is written
    /// (placed there instead of the arena), and inputs written into a concatenation that is one
    /// of those.
    struct OutputBuffer {
        let root: Int
        let bytes: Int
        let views: [(id: Int, byteOffset: Int)]
        /// The graph outputs it holds (the root or reshapes of it).
        let outputs: [Int]
    }
    /// Values computed at plan time (by id), for taps.
    let folded: [Int: Tensor]
    /// Where this plan stops, when a node's output types depend on values that only the run
    /// computes (`Cut`); nil when the plan reaches the end of the graph.
    let cut: Cut?
    /// Every value known while planning, constants aside (folded here or by earlier parts).
    let knownValues: [Int: Tensor]
    /// Values known while planning because a run computed them (not from constants alone).
    let runtimeKnown: Set<Int>
    /// Plans of the rest of the graph, by the cut's values (`Cut.key`); made as runs need them.
    var continuations: [[[Int64]]: Plan] = [:]
    /// Subgraph values captured while planning (control flow run then), by name.
    var plannedTaps: [String: Tensor] = [:]

    /// A plan's end before the graph's end: node `node` needs the values of `needed` (computed by
    /// this plan's steps, or graph inputs) to know its output types. The run computes them and
    /// plans the rest with their values (`Session.plan(continuing:values:)`), so that only what depends
    /// on them is planned by value and every step before runs as planned.
    struct Cut {
        let node: Int
        let needed: [Int]
        /// What the node said it needs (for the error when no run can give it).
        let error: ExecutionError

        /// The key of a continuation: the needed values' contents (floats by bit pattern; a
        /// sequence's or optional's items in turn, after their count).
        static func key(_ values: [Tensor]) -> [[Int64]] {
            values.flatMap { t -> [[Int64]] in
                switch t.container {
                case .sequence(let items)?: return [[Int64(items.count)]] + key(items)
                case .optional(let v)?: return [[v == nil ? 0 : 1]] + key(v.map { [$0] } ?? [])
                case .strings(let strings)?: return strings.map { Array($0.utf8).map(Int64.init) }
                case nil: return [t.dtype.isFloatingPoint ? t.doubles().map { Int64(bitPattern: $0.bitPattern) } : t.int64s()]
                }
            }
        }

        /// Elements in the values, a sequence's or optional's items included.
        static func elementCount(_ values: [Tensor]) -> Int {
            values.reduce(0) { total, t in
                switch t.container {
                case .sequence(let items)?: return total + 1 + elementCount(items)
                case .optional(let v)?: return total + 1 + elementCount(v.map { [$0] } ?? [])
                case .strings(let strings)?: return strings.reduce(total) { $0 + 1 + $1.utf8.count }
                case nil: return total + t.count
                }
            }
        }
    }

    /// Where planning starts: node `node`, with earlier parts' types and known values (a
    /// continuation after a cut).
    struct Resume {
        let node: Int
        let types: [TensorType?]
        let known: [Int: Tensor]
        let runtimeKnown: Set<Int>
    }

    /// Builds a plan for the given input types.
    /// - inputValues: values known for some inputs. With `foldsGivenValues` (type inference,
    ///   subgraphs' types) every node whose inputs are known is folded; without it (a run's plan,
    ///   whose values were computed by the run) a node reading them is folded only when its output
    ///   types need their values or its outputs are shape-like (`isShapeLike`), so that the steps
    ///   still do the run's arithmetic.
    /// - resume: continue an earlier plan after its cut (nil: start at the first node).
    /// - fuse: fold activations into their producers.
    /// - fuseResiduals: also fold a residual `Add` (with its activation) into the convolution that
    ///   feeds it; only where every node runs in FP32, since a simulated format would round the
    ///   convolution's output before the Add.
    /// - computeFormats: per node, how its products are summed (`NodeFormat.compute`).
    /// - perRunWork: per node, whether the policy transforms its inputs or outputs on each run
    ///   (quantized activations, rounded outputs); such a node is folded only when its inputs
    ///   come from constants alone, never from values a run computed, so that the run does that work.
    /// - outputRoundings: per node, the format its outputs are rounded to after it runs (nil: none).
    ///   An activation is fused into its producer only where that loses no rounding (`fusable`).
    init(
        graph: Graph, computeFormats: [ComputeFormat], perRunWork: [Bool] = [], outputRoundings: [ReducedFormat?] = [],
        inputTypes: [Int: TensorType], inputValues: [Int: Tensor], foldsGivenValues: Bool = true, resume: Resume? = nil,
        fuse: Bool, fuseResiduals: Bool = false, keep: @escaping (Int) -> Bool, context: ExecutionContext, preparesSteps: Bool = true
    ) throws {
        let n = graph.valueNames.count
        var types = resume?.types ?? [TensorType?](repeating: nil, count: n)
        var known = [Tensor?](repeating: nil, count: n)
        for (id, t) in graph.constants {
            known[id] = t
            types[id] = TensorType(t.dtype, t.shape)
        }
        for (id, t) in resume?.known ?? [:] { known[id] = t }
        for (id, t) in inputTypes { types[id] = t }
        for (id, t) in inputValues { known[id] = t }
        // Values known because a run computed them or graph inputs' values were given (not from
        // constants alone).
        var fromInputValues = (resume?.runtimeKnown ?? []).union(inputValues.keys)
        var folded: [Int: Tensor] = [:]
        var foldedBytes = 0
        var steps: [Step] = []
        var cut: Cut?

        nodes: for index in (resume?.node ?? 0)..<graph.nodes.count {
            let node = graph.nodes[index]
            let layer = node.layer
            func fail(_ message: String) -> ExecutionError { ExecutionError(node: node.name, op: layer.opType, message) }
            var inTypes: [TensorType?] = []
            var inValues: [Tensor?] = []
            for input in node.inputs {
                guard let id = input else { inTypes.append(nil); inValues.append(nil); continue }
                guard let t = types[id] else { throw fail("input '\(graph.valueNames[id])' has no value before this node") }
                inTypes.append(t)
                inValues.append(known[id])
            }
            if !layer.takesContainers, let k = inTypes.firstIndex(where: { $0.map { !$0.isTensor } ?? false }), let t = inTypes[k] {
                throw fail("input \(k) is a \(t.kind.name) (\(t)); \(layer.opType) takes tensors")
            }
            if !layer.takesStrings, let k = inTypes.firstIndex(where: { $0?.dtype == .string }) {
                throw fail("input \(k) is a string tensor; \(layer.opType) does not take strings")
            }
            let readsInputValues = node.inputs.contains { $0.map { fromInputValues.contains($0) } ?? false }
            // A run's values are shown to the layer only when its types need them.
            let hides = !foldsGivenValues && readsInputValues
            var neededValues = false
            let outTypes: [TensorType]
            do {
                do {
                    let visible = hides ? node.inputs.map { id in id.flatMap { fromInputValues.contains($0) ? nil : known[$0] } } : inValues
                    outTypes = try layer.outputTypes(inTypes, constants: visible)
                } catch let e as LayerError where e.needsValues && hides {
                    outTypes = try layer.outputTypes(inTypes, constants: inValues)
                    neededValues = true
                }
            } catch let e as LayerError {
                let message = e.message + " (inputs: " + inTypes.map { $0?.description ?? "absent" }.joined(separator: ", ") + ")"
                let error = ExecutionError(node: node.name, op: layer.opType, message, needsValues: e.needsValues)
                // Values a run computes: plan up to here, and the rest once the run has them.
                // Small integer inputs (shape-like) go with the ones named, since layers ask one at a time.
                if e.needsValues {
                    let named = e.neededInputs.isEmpty ? Array(node.inputs.indices) : e.neededInputs
                    let needed = node.inputs.indices.compactMap { i -> Int? in
                        guard let id = node.inputs[i], known[id] == nil, let t = types[id] else { return nil }
                        return named.contains(i) || Plan.isShapeLike(t) ? id : nil
                    }
                    if named.contains(where: { $0 < node.inputs.count && node.inputs[$0].map { known[$0] == nil } == true }) {
                        cut = Cut(node: index, needed: needed, error: error)
                        break nodes
                    }
                }
                throw error
            }
            guard outTypes.count >= node.outputs.count else {
                throw fail("the node names \(node.outputs.count) outputs, the op produces \(outTypes.count)")
            }
            // Shapes can come from a file's values: refuse sizes over the memory budget before
            // anything is allocated.
            var outBytes = 0
            for t in outTypes {
                let count: Int
                do { count = try checkedProduct(t.shape, "output shape") } catch let e as LayerError { throw fail(e.message) }
                let bytes = MemoryBudget.bytes(count: count, dtype: t.dtype)
                do { try MemoryBudget.check(bytes, "an output of shape \(t.shape) (\(t.dtype))") } catch let e as MemoryBudgetError { throw fail(e.description) }
                outBytes = MemoryBudget.sum(outBytes, bytes ?? Int.max)
            }
            for (i, id) in node.outputs.enumerated() { types[id] = outTypes[i] }
            // Strings are never written into the arena: only layers that make their values (and
            // reshapes, which pass them on) may produce them.
            if !(layer is any ValueLayer), !layer.isReshape, outTypes.contains(where: { $0.dtype == .string }) {
                throw fail("\(layer.opType) does not produce string tensors")
            }

            // Constant folding: outputs that depend on constants alone, or on input shapes alone;
            // in a run's plan, also those whose types needed a run's values, and shape-like ones.
            var outs: [Tensor]? = layer.valuesFromTypes(inTypes)
            let transformed = index < perRunWork.count && perRunWork[index]
            let wanted = !hides || neededValues || outTypes.prefix(node.outputs.count).allSatisfy(Plan.isShapeLike)
            if outs == nil, wanted, !(transformed && readsInputValues), node.inputs.allSatisfy({ id in id.map { known[$0] != nil } ?? true }) {
                if readsInputValues { fromInputValues.formUnion(node.outputs) }
                // Folded values live as long as the plan: they count against the budget together.
                foldedBytes = MemoryBudget.sum(foldedBytes, outBytes)
                do { try MemoryBudget.check(foldedBytes, "folding constants up to this node") } catch let e as MemoryBudgetError { throw fail(e.description) }
                do {
                    if let valueLayer = layer as? any ValueLayer {
                        let made = try valueLayer.evaluate(inValues, context: context)
                        try Plan.check(made, against: Array(outTypes.prefix(node.outputs.count)))
                        outs = made
                    } else if layer.isReshape, let v = inValues.first ?? nil, v.container != nil, let t = outTypes.first {
                        outs = [v.reshaped(t.shape)]
                    } else {
                        let fresh = outTypes.prefix(node.outputs.count).map { Tensor(zeros: $0.shape, dtype: $0.dtype) }
                        try layer.prepare(inTypes, constants: inValues, format: computeFormats[index]).run(inValues, outputs: Array(fresh), context: context)
                        outs = Array(fresh)
                    }
                } catch let e as LayerError { throw fail(e.message) }
            }
            if let outs {
                for (i, id) in node.outputs.enumerated() {
                    known[id] = outs[i]
                    folded[id] = outs[i]
                }
                continue
            }
            let alias = layer.isReshape && node.outputs.count == 1
            let kind: StepKind = layer is any ValueLayer ? .value : alias ? .alias : .compute
            steps.append(Step(node: index, layer: layer, inputs: node.inputs, outputs: node.outputs, kind: kind, op: ForwardingOp(layer)))
        }

        // Values the nodes after a cut read stay as they are (no fusion writes over them) and
        // alive to the end of this plan.
        var laterReads = Set<Int>()
        if let cut {
            for node in graph.nodes[cut.node...] { for case let id? in node.inputs { laterReads.insert(id) } }
        } else {
            for (id, d) in graph.outputs.map({ ($0.id, $0.declaration) }) where types[id] == nil {
                throw ExecutionError("graph output '\(d.name)' is never computed")
            }
        }
        let keeps: (Int) -> Bool = laterReads.isEmpty ? keep : { keep($0) || laterReads.contains($0) }

        let rounding = { (node: Int) in node < outputRoundings.count ? outputRoundings[node] : nil }
        if fuse { steps = Plan.fuseActivations(steps, graph: graph, keep: keeps, rounding: rounding, types: types) }
        if fuse && fuseResiduals { steps = Plan.fuseResidualAdds(steps, graph: graph, types: types, keep: keeps) }
        if fuse && fuseResiduals {
            steps = Plan.foldTransposesIntoMatMul(steps, graph: graph, types: &types, keep: keeps) { node in
                rounding(node) == nil && computeFormats[node] == .standard
            }
        }
        let windows = fuse && fuseResiduals ? Plan.concatWindows(steps, graph: graph, types: types, keep: keeps) : [:]
        // Each compute step prepared once, for its (possibly fused) layer and the node's format.
        for i in steps.indices where preparesSteps && steps[i].kind == .compute {
            let s = steps[i], node = graph.nodes[s.node]
            let inTypes = s.inputs.map { $0.flatMap { types[$0] } }
            let inValues = s.inputs.map { $0.flatMap { known[$0] } }
            do { steps[i].op = try s.layer.prepare(inTypes, constants: inValues, format: computeFormats[s.node]) } catch let e as LayerError {
                throw ExecutionError(node: node.name, op: s.layer.opType, e.message)
            }
        }
        self.steps = steps
        self.types = types
        self.folded = folded
        self.cut = cut
        var knownValues: [Int: Tensor] = [:]
        for (id, t) in known.enumerated() where graph.constants[id] == nil { if let t { knownValues[id] = t } }
        self.knownValues = knownValues
        self.runtimeKnown = fromInputValues
        (tensors, arenaBytes, outputBuffers) = try Plan.assignStorage(
            steps: steps, types: types, known: known, graph: graph, windows: windows, alsoHeld: foldedBytes, liveToEnd: laterReads)
    }

    /// Binds this plan's output buffers into `tensors` for a run: the last run's storage when
    /// nothing but the plan holds it (the caller let go of those outputs), else new storage.
    /// Returns, for each graph output in such a buffer, the buffer's root value id.
    func bindOutputs(_ tensors: inout [Tensor?]) -> [Int: Int] {
        var roots: [Int: Int] = [:]
        for buffer in outputBuffers {
            var storage = outputStorage.removeValue(forKey: buffer.root) ?? TensorStorage(byteCount: buffer.bytes)
            if !isKnownUniquelyReferenced(&storage) { storage = TensorStorage(byteCount: buffer.bytes) }
            outputStorage[buffer.root] = storage
            for view in buffer.views {
                guard let t = types[view.id] else { continue }
                let bytes = t.count * t.dtype.byteSize
                let s = view.byteOffset == 0 && bytes == storage.byteCount ? storage
                    : TensorStorage(window: storage, byteOffset: view.byteOffset, byteCount: bytes)
                tensors[view.id] = Tensor(shape: t.shape, dtype: t.dtype, storage: s)
            }
            for id in buffer.outputs { roots[id] = buffer.root }
        }
        return roots
    }

    /// A small integer tensor, as shapes, axes, counts and indices for them are: such values are
    /// planned by value when a node's types need a run's values.
    static func isShapeLike(_ t: TensorType) -> Bool {
        t.isTensor && !t.dtype.isFloatingPoint && t.dtype != .bool && t.count <= 64
    }

    /// Checks values a `ValueLayer` made against the types planned for them.
    static func check(_ values: [Tensor], against types: [TensorType]) throws {
        guard values.count >= types.count else { throw LayerError("the op made \(values.count) outputs, the node names \(types.count)") }
        for (k, (v, t)) in zip(values, types).enumerated() where TensorType(of: v) != t {
            throw LayerError("output \(k) is \(TensorType(of: v)), planned \(t)")
        }
    }

    /// Inputs of a `Concat` that their producers can write straight into the concatenation: value
    /// id → (the Concat's output, byte offset). Only where the concatenation is one contiguous run
    /// per input (every dimension before the axis is 1), each input is computed by a step other than
    /// a Concat, read by nothing but this Concat, not kept, appears once, and starts at a multiple
    /// of 64 bytes (the arena's alignment). The Concat step stays and copies nothing for them; an
    /// input substituted at run time is a different tensor and is copied as usual. Only when every
    /// node runs in FP32 (as for residual fusion), since a simulated format may treat the
    /// Concat's output apart from its inputs.
    static func concatWindows(_ steps: [Step], graph: Graph, types: [TensorType?], keep: (Int) -> Bool) -> [Int: (root: Int, byteOffset: Int)] {
        let readers = Plan.readers(steps, graph: graph)
        var producer = [Int: Step]()
        for s in steps where s.kind == .compute { for id in s.outputs { producer[id] = s } }
        var windows = [Int: (root: Int, byteOffset: Int)]()
        for s in steps {
            guard s.kind == .compute, let concat = s.layer as? Concat, s.outputs.count == 1, let out = types[s.outputs[0]],
                  let axis = try? normalizedAxis(concat.axis, rank: out.shape.count), out.shape[..<axis].allSatisfy({ $0 == 1 })
            else { continue }
            let ids = s.inputs.compactMap { $0 }
            guard Set(ids).count == ids.count else { continue }
            var placed = [(Int, Int)]()
            var offset = 0
            for id in ids {
                guard let t = types[id], offset % 64 == 0, readers[id] == 1, !keep(id), windows[id] == nil,
                      let p = producer[id], !(p.layer is Concat)
                else { placed = []; break }
                placed.append((id, offset))
                offset += t.count * t.dtype.byteSize
            }
            for (id, at) in placed { windows[id] = (s.outputs[0], at) }
        }
        return windows
    }

    /// How many times each value is read: as a step's input, or as a graph output.
    static func readers(_ steps: [Step], graph: Graph) -> [Int: Int] {
        var readers = [Int: Int]()
        for s in steps { for case let id? in s.inputs { readers[id, default: 0] += 1 } }
        for o in graph.outputs { readers[o.id, default: 0] += 1 }
        return readers
    }

    /// Whether an activation node may run inside its producer's output pass without changing the
    /// result: when neither node's output is rounded (FP32, FP64, INT8), or both are rounded to the
    /// same format and the activation commutes with that rounding (Relu; Clip with bounds the
    /// format holds exactly), so that rounding once after it equals rounding before and after.
    /// Otherwise an FP16 run would skip the rounding of the producer's output that a backend
    /// running the nodes one by one (PyTorch's eager FP16) makes: a Conv followed by HardSwish
    /// then reads its sum in float32, and the simulation comes out optimistic.
    static func fusable(_ activation: Activation, producer: ReducedFormat?, consumer: ReducedFormat?) -> Bool {
        guard producer != nil || consumer != nil else { return true }
        guard let format = producer, producer == consumer else { return false }
        switch activation {
        case .relu: return true
        case .clip(let low, let high):
            let bounds = Tensor(shape: [2], scalars: [low, high])
            _ = Simulate.round(bounds, to: format)
            return bounds.scalars(as: Float.self) == [low, high]
        default: return false
        }
    }

    /// Folds an activation step into its producer when the producer's output has no other reader
    /// and the fusion loses no rounding (`fusable`; `rounding(node)` is a node's output format).
    static func fuseActivations(
        _ steps: [Step], graph: Graph, keep: (Int) -> Bool, rounding: (Int) -> ReducedFormat? = { _ in nil }, types: [TensorType?] = []
    ) -> [Step] {
        let readers = Plan.readers(steps, graph: graph)
        var producer = [Int: Int]()
        for (i, s) in steps.enumerated() where s.kind == .compute { for id in s.outputs { producer[id] = i } }
        var result = steps
        var removed = Set<Int>()
        for (i, s) in steps.enumerated() {
            guard s.kind == .compute, let act = (s.layer as? ActivationLayer)?.activation,
                  let first = s.inputs.first, let v = first, readers[v] == 1, !keep(v),
                  let p = producer[v], !removed.contains(p), result[p].outputs.count == 1,
                  fusable(act, producer: rounding(result[p].node), consumer: rounding(s.node)),
                  let fusedLayer = result[p].layer.fusing(act)
            else { continue }
            result[p].layer = fusedLayer
            result[p].outputs = s.outputs
            producer[s.outputs[0]] = p
            removed.insert(i)
        }
        result = result.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return fuseSwish(result, graph: graph, keep: keep, rounding: rounding, types: types)
    }

    /// Folds `y = x · Sigmoid(x)` (Sigmoid then Mul, as exporters write SiLU) into x's producer as
    /// the swish activation, when x and the sigmoid have no other readers; otherwise (a producer
    /// that takes no activation, x a graph input or read elsewhere) the pair becomes one swish step
    /// where x is float32 or float64 (a float16 pair rounds the sigmoid before the product).
    /// Bitwise the same as running the two steps: the fused pass computes x·sigmoid(x) with the
    /// same kernels. Only where none of the nodes involved rounds its output (a rounded x and
    /// sigmoid would be lost).
    static func fuseSwish(
        _ steps: [Step], graph: Graph, keep: (Int) -> Bool, rounding: (Int) -> ReducedFormat? = { _ in nil }, types: [TensorType?] = []
    ) -> [Step] {
        var readers = [Int: [Int]]()
        for (i, s) in steps.enumerated() { for case let id? in s.inputs { readers[id, default: []].append(i) } }
        var outputs = Set(graph.outputs.map(\.id))
        var producer = [Int: Int]()
        for (i, s) in steps.enumerated() where s.kind == .compute { for id in s.outputs { producer[id] = i } }
        var result = steps
        var removed = Set<Int>()
        for (i, s) in steps.enumerated() {
            guard s.kind == .compute, (s.layer as? ActivationLayer)?.activation == .sigmoid, let x = s.inputs.first ?? nil,
                  let sig = s.outputs.first, !keep(sig), !outputs.contains(sig),
                  let sigReaders = readers[sig], sigReaders.count == 1, let m = sigReaders.first, steps[m].kind == .compute,
                  Plan.isSiLUProduct(steps[m].layer, inputs: steps[m].inputs, x: x, sigmoid: sig),
                  rounding(s.node) == nil, rounding(steps[m].node) == nil
            else { continue }
            if !keep(x), !outputs.contains(x), readers[x]?.count == 2, let p = producer[x], !removed.contains(p),
               result[p].outputs.count == 1, rounding(result[p].node) == nil, let fusedLayer = result[p].layer.fusing(.swish) {
                result[p].layer = fusedLayer
                result[p].outputs = steps[m].outputs
                removed.insert(m)
                outputs.insert(steps[m].outputs[0])
            } else if x < types.count, let dtype = types[x]?.dtype, dtype == .float32 || dtype == .float64 {
                // x comes from a step that takes no activation (a GroupNormalization, an Add), from
                // the graph's inputs, or is read elsewhere too: the Mul becomes one swish step over x
                // (1.2M values: 0.61 + 0.53 ms as two steps).
                result[m].layer = ActivationLayer(.swish)
                result[m].inputs = [x]
            } else {
                continue
            }
            removed.insert(i)
        }
        return result.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Folds a Transpose of B's last two axes into the float32 MatMul that reads it (`MatMul(X,
    /// Transpose(K))`), also through a Mul by one value between them (`MatMul(X, Transpose(K)·s)`,
    /// as exporters write attention's scaled Kᵀ): the Mul then scales K itself (the same products,
    /// element by element) and the MatMul reads B transposed (`MatMul.transposedB`), each batch's
    /// matrix turned in the scratch instead of the whole tensor through memory. Bitwise the same
    /// as the separate steps (the product gets the same values in the same calls). Only where the
    /// values in between have no other reader, are not kept, and no node rounds its output or sums
    /// in another format (`plain`).
    static func foldTransposesIntoMatMul(
        _ steps: [Step], graph: Graph, types: inout [TensorType?], keep: (Int) -> Bool, plain: (Int) -> Bool
    ) -> [Step] {
        let readers = Plan.readers(steps, graph: graph)
        var producer = [Int: Int]()
        for (i, s) in steps.enumerated() where s.kind == .compute { for id in s.outputs { producer[id] = i } }
        var result = steps
        var removed = Set<Int>()
        /// The step that transposes the last two axes into `v`, when only one step reads `v`.
        func swap(_ v: Int) -> Int? {
            guard readers[v] == 1, !keep(v), let t = producer[v], !removed.contains(t), let layer = result[t].layer as? Transpose,
                  result[t].outputs == [v], result[t].inputs.count == 1, result[t].inputs[0] != nil, plain(result[t].node),
                  let shape = types[v]?.shape, shape.count >= 2 else { return nil }
            let rank = shape.count
            var swapped = Array(0..<rank)
            swapped.swapAt(rank - 1, rank - 2)
            return (layer.perm ?? Array((0..<rank).reversed())) == swapped ? t : nil
        }
        for (i, s) in steps.enumerated() {
            guard s.kind == .compute, let matmul = s.layer as? MatMul, !matmul.transposedB, s.inputs.count == 2, plain(s.node),
                  let b = s.inputs[1], let bType = types[b], bType.dtype == .float32, bType.shape.count >= 2,
                  let a = s.inputs[0], types[a]?.dtype == .float32
            else { continue }
            if let t = swap(b), let k = result[t].inputs[0] {
                result[i].inputs[1] = k
                result[i].layer = matmul.readingTransposedB
                removed.insert(t)
                continue
            }
            // B = Transpose(K) · s, s one value.
            guard readers[b] == 1, !keep(b), let m = producer[b], !removed.contains(m), plain(result[m].node),
                  let mul = result[m].layer as? BinaryLayer, mul.op == .mul, mul.activation == nil, result[m].outputs == [b],
                  result[m].inputs.count == 2, let x0 = result[m].inputs[0], let x1 = result[m].inputs[1] else { continue }
            let (v, scale) = types[x1]?.shape.product == 1 ? (x0, x1) : (x1, x0)
            guard v != scale, types[scale]?.shape.product == 1, types[scale]?.dtype == .float32, let t = swap(v), let k = result[t].inputs[0],
                  let kType = types[k], kType.dtype == .float32, let sRank = types[scale]?.shape.count, sRank <= kType.shape.count else { continue }
            result[m].inputs = result[m].inputs.map { $0 == v ? k : $0 }
            types[b] = kType
            result[i].layer = matmul.readingTransposedB
            removed.insert(t)
        }
        return result.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Whether `layer` with `inputs` computes x · sigmoid(x) from x and the Sigmoid's output: a Mul
    /// of exactly those two, with no fused activation (the second node of an exported SiLU).
    static func isSiLUProduct(_ layer: any Layer, inputs: [Int?], x: Int, sigmoid: Int) -> Bool {
        guard let mul = layer as? BinaryLayer, mul.op == .mul, mul.activation == nil, inputs.count == 2 else { return false }
        return Set(inputs.compactMap { $0 }) == [x, sigmoid]
    }

    /// Folds `Add(Conv(…), R)` (the Add possibly carrying a fused activation) into the convolution,
    /// which then adds R before its activation, when the convolution's output has no other reader,
    /// every operand is float32, R has the output's type (no broadcasting) and is computed before
    /// the convolution runs.
    /// Bitwise the same as the two steps: the convolution's sum is rounded to float, then R added.
    static func fuseResidualAdds(_ steps: [Step], graph: Graph, types: [TensorType?], keep: (Int) -> Bool) -> [Step] {
        let readers = Plan.readers(steps, graph: graph)
        var producer = [Int: Int](), step = [Int: Int]()
        for (i, s) in steps.enumerated() {
            for id in s.outputs {
                step[id] = i
                if s.kind == .compute { producer[id] = i }
            }
        }
        var result = steps
        var removed = Set<Int>()
        for (i, s) in steps.enumerated() {
            guard s.kind == .compute, let add = s.layer as? BinaryLayer, add.op == .add, s.inputs.count == 2,
                  let a = s.inputs[0], let b = s.inputs[1], a != b, s.outputs.count == 1,
                  let type = types[s.outputs[0]], type.dtype == .float32, types[a] == type, types[b] == type
            else { continue }
            // The operand computed last is the convolution's output; the other must exist before it runs.
            for (v, r) in [(a, b), (b, a)] {
                guard let p = producer[v], !removed.contains(p), readers[v] == 1, !keep(v),
                      (step[r] ?? -1) < p, result[p].outputs == [v],
                      result[p].inputs.allSatisfy({ $0.map { types[$0]?.dtype == .float32 } ?? true }),
                      let conv = result[p].layer as? Conv, let fused = conv.fusingResidual(activation: add.activation)
                else { continue }
                var inputs = result[p].inputs
                while inputs.count < 3 { inputs.append(nil) }
                result[p].layer = fused
                result[p].inputs = inputs + [r]
                result[p].outputs = s.outputs
                producer[s.outputs[0]] = p
                removed.insert(i)
                break
            }
        }
        return result.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Assigns every computed value a window of one arena, at an offset no value alive at the same
    /// time uses (greedy by size, the largest first). Graph outputs that a step computes (directly
    /// or through a reshape) get buffers of their own instead (`OutputBuffer`, bound by each run):
    /// a run returns them without copying them out of the arena, so a large output (a segmentation
    /// map) is held once, not twice.
    /// - windows: values written straight into another value's buffer (`concatWindows`); they share
    ///   its buffer, which is taken when the first of them is computed.
    static func assignStorage(
        steps: [Step], types: [TensorType?], known: [Tensor?], graph: Graph, windows: [Int: (root: Int, byteOffset: Int)] = [:],
        alsoHeld: Int = 0, liveToEnd: Set<Int> = []
    ) throws -> ([Tensor?], Int, [OutputBuffer]) {
        let n = types.count
        var root = Array(0..<n)
        for (id, w) in windows { root[id] = w.root }
        for s in steps where s.kind == .alias { if let src = s.inputs[0] { root[s.outputs[0]] = root[src] } }
        var lastUse = [Int](repeating: -1, count: n)
        for (i, s) in steps.enumerated() {
            for case let id? in s.inputs { lastUse[root[id]] = max(lastUse[root[id]], i) }
            for id in s.outputs { lastUse[root[id]] = max(lastUse[root[id]], i) }
        }
        for o in graph.outputs { lastUse[root[o.id]] = Int.max }
        for id in liveToEnd where id < n { lastUse[root[id]] = Int.max }

        // Each value that needs storage: its size and the steps from its computation to its last use.
        var first = [Int: Int](), size = [Int: Int]()
        for (i, s) in steps.enumerated() where s.kind == .compute {
            for id in Set(s.outputs.map { root[$0] }) where first[id] == nil {
                guard let t = types[id] else { continue }
                first[id] = i
                size[id] = max(64, (t.count * t.dtype.byteSize + 63) / 64 * 64)
            }
        }
        // Regions: each graph output's buffer (the output at its start, alive from the step that
        // first writes it to the end), then the arena. Values that die before an output is written
        // may share its buffer, so a large output (a segmentation map) takes the place of the
        // intermediates that made it, as it would in the arena, and is still returned uncopied.
        typealias Placed = (offset: Int, end: Int, from: Int, to: Int)
        var regions: [(root: Int, capacity: Int, placed: [Placed])] = []
        var outputBytes = 0
        for r in Set(graph.outputs.map { root[$0.id] }).sorted() {
            // The buffer is exactly the output's bytes, so that the output is its storage (not a
            // window of it) and the caller's tensor keeps the buffer's identity.
            guard let need = size[r], let from = first[r], let t = types[r] else { continue }
            let bytes = t.count * t.dtype.byteSize
            regions.append((r, bytes, [(0, need, from, Int.max)]))
            outputBytes = MemoryBudget.sum(outputBytes, bytes)
            first[r] = nil
        }
        /// The lowest 64-byte-aligned offset where `need` bytes overlap no value placed in `placed`
        /// whose lifetime they share (a step's outputs never share bytes with its inputs: both are
        /// live at that step).
        func lowestOffset(_ need: Int, from: Int, to: Int, among placed: [Placed]) -> Int {
            var offset = 0
            for c in placed.filter({ $0.from <= to && from <= $0.to }).sorted(by: { $0.offset < $1.offset }) where c.end > offset {
                if c.offset >= MemoryBudget.sum(offset, need) { break }
                offset = c.end
            }
            return offset
        }
        // Greedy by size: the largest values first, each into the first output buffer where it
        // fits, else into the arena. Sizes are checked tensors' sizes; offsets stay below their sum.
        let order = first.keys.sorted { (size[$0] ?? 0, first[$1] ?? 0, $1) > (size[$1] ?? 0, first[$0] ?? 0, $0) }
        var placed: [Placed] = []
        var offsetOf = [Int: Int](), regionOf = [Int: (region: Int, offset: Int)]()
        var total = 0
        values: for id in order {
            guard let need = size[id], let from = first[id] else { continue }
            let to = lastUse[id]
            for k in regions.indices {
                let offset = lowestOffset(need, from: from, to: to, among: regions[k].placed)
                guard MemoryBudget.sum(offset, need) <= regions[k].capacity else { continue }
                regions[k].placed.append((offset, offset + need, from, to))
                regionOf[id] = (k, offset)
                continue values
            }
            let offset = lowestOffset(need, from: from, to: to, among: placed)
            offsetOf[id] = offset
            placed.append((offset, MemoryBudget.sum(offset, need), from, to))
            total = max(total, MemoryBudget.sum(offset, need))
        }
        do {
            try MemoryBudget.check(MemoryBudget.sum(MemoryBudget.sum(total, alsoHeld), outputBytes),
                                   "the plan's intermediate tensors and outputs (\(offsetOf.count + regionOf.count + regions.count) values)")
        } catch let e as MemoryBudgetError { throw ExecutionError(e.description) }
        let arena = total > 0 ? TensorStorage(byteCount: total) : nil
        var tensors = known
        for (id, offset) in offsetOf {
            if let t = types[id], let arena {
                tensors[id] = Tensor(shape: t.shape, dtype: t.dtype, storage: TensorStorage(window: arena, byteOffset: offset, byteCount: t.count * t.dtype.byteSize))
            }
        }
        for (id, w) in windows {
            guard let t = types[id], let offset = offsetOf[w.root], let arena else { continue }  // in an output buffer: bound by each run
            let window = TensorStorage(window: arena, byteOffset: offset + w.byteOffset, byteCount: t.count * t.dtype.byteSize)
            tensors[id] = Tensor(shape: t.shape, dtype: t.dtype, storage: window)
        }
        // Each output buffer's views: its output, the values placed in it, and their windows.
        var views = [[(id: Int, byteOffset: Int)]](repeating: [], count: regions.count)
        for (k, r) in regions.enumerated() { views[k].append((r.root, 0)) }
        for (id, p) in regionOf { views[p.region].append((id, p.offset)) }
        for (id, w) in windows {
            if let k = regions.firstIndex(where: { $0.root == w.root }) { views[k].append((id, w.byteOffset)) }
            if let p = regionOf[w.root] { views[p.region].append((id, p.offset + w.byteOffset)) }
        }
        let outputBuffers = regions.enumerated().map { k, r in
            OutputBuffer(root: r.root, bytes: r.capacity, views: views[k].sorted { $0.id < $1.id },
                         outputs: graph.outputs.map(\.id).filter { root[$0] == r.root })
        }
        return (tensors, total, outputBuffers)
    }
}

