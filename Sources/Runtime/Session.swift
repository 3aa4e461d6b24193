import Foundation
import Layers
import TensorCore

/// Which intermediate values a session captures.
public enum TapSelection: Sendable, Equatable {
    case none
    case all
    case names(Set<String>)

    func contains(_ name: String) -> Bool {
        switch self {
        case .none: return false
        case .all: return true
        case .names(let s): return s.contains(name)
        }
    }
}

/// Settings of a session.
public struct SessionOptions: Sendable {
    /// Threads for Touchstone's parallel loops and for OpenBLAS (process-wide for OpenBLAS).
    public var threads: Int
    /// Fuse activations into the producing kernel's output pass (results are bitwise the same).
    public var fuseActivations: Bool
    /// Intermediate values to capture on each run.
    public var taps: TapSelection
    /// Record each step's wall time (see `Session.profile`).
    public var profile: Bool
    /// The numeric format of each node (FP32 throughout by default).
    public var policy: ExecutionPolicy

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, fuseActivations: Bool = true, taps: TapSelection = .none, profile: Bool = false, policy: ExecutionPolicy = .fp32) {
        self.threads = max(1, threads)
        self.fuseActivations = fuseActivations
        self.taps = taps
        self.profile = profile
        self.policy = policy
    }
}

/// Runs a model, one inference at a time. Holds the per-shape plans and their arenas, so
/// repeated runs with the same input shapes allocate only their outputs.
///
/// Not thread-safe: give each concurrent caller its own session (they share the `Model`).
public final class Session {
    public let model: Model
    public let options: SessionOptions
    /// Values captured by the last run, by name (copies; see `SessionOptions.taps`).
    public private(set) var tapped: [String: Tensor] = [:]
    /// With `SessionOptions.profile`: accumulated seconds per op type (a fused activation is
    /// named after its producer, e.g. `Conv+Relu`) and the number of steps timed.
    public private(set) var profile: [String: (seconds: Double, count: Int)] = [:]
    /// With `SessionOptions.profile`: accumulated seconds per node name.
    public private(set) var nodeProfile: [String: Double] = [:]
    /// Forgets what `profile` and `nodeProfile` have accumulated (e.g. over warm-up runs, whose
    /// first also packs weights and plans).
    public func resetProfile() {
        profile = [:]
        nodeProfile = [:]
    }
    /// FP16/BF16 runs: what rounding each node's outputs did, by node name, summed over runs.
    public var roundingCounts: [String: RoundingCounts] = [:]
    /// INT8 runs: per quantized activation tensor, values quantized and values clipped (beyond
    /// the calibrated range), summed over runs.
    public var clippingCounts: [String: (clipped: Int, total: Int)] = [:]
    private let context: ExecutionContext
    /// Plans by input types. A plan that stops at a cut (an op whose output types depend on
    /// values only the run computes) holds the plans of the rest, by those values.
    private var plans: [[TensorType]: Plan] = [:]
    private var prepared: PreparedGraph?
    /// Reused buffers for quantized or rounded copies of activations, by node and input index.
    private var transformedBuffers: [Int: Tensor] = [:]
    /// The storage of the outputs the last run returned as copies (those no step computes: inputs,
    /// constants, values made by `ValueLayer`s): a run copies such outputs into those its caller no
    /// longer holds (`Tensor.copied(reusing:)`). Outputs a step computes are written into buffers
    /// of their own and returned as they are (`Plan.bindOutputs`).
    private var outputStorages: [TensorStorage] = []

    /// A plan keeps at most this many continuations, and a session this many plans (older ones
    /// are dropped when more are made).
    static let plansKept = 8
    /// Continuations are kept only for cut values of at most this many elements in all (shapes,
    /// counts, conditions); larger ones (a NonZero's or NonMaxSuppression's input) are planned on
    /// every run, so that a run with new data costs what it costs.
    static let keyedValueLimit = 4096

    public init(model: Model, options: SessionOptions = SessionOptions()) {
        self.model = model
        self.options = options
        context = ExecutionContext(threads: options.threads)
        if options.taps != .none {
            let taps = options.taps
            context.subgraphTaps = SubgraphTaps(wants: { taps.contains($0) })
        }
    }

    /// Bytes of arena storage the plans hold.
    public var arenaBytes: Int { plans.values.reduce(0) { $0 + $1.arenaBytes } }

    /// Bytes of the graph outputs the plans compute in buffers of their own (outside the arena;
    /// a run returns them without a copy).
    public var outputBufferBytes: Int { plans.values.reduce(0) { $0 + $1.outputBuffers.reduce(0) { $0 + $1.bytes } } }

    /// The plans made so far (for tests of their storage).
    var plansMade: [Plan] { Array(plans.values) }

    /// The graph as the policy rewrites it (made on first use).
    func preparedGraph() throws -> PreparedGraph {
        if let prepared { return prepared }
        let p = try PreparedGraph(model.graph, policy: options.policy)
        prepared = p
        return p
    }

    /// Runs the model. `inputs` maps every graph input's name to a tensor of its declared dtype
    /// and a shape matching its fixed dimensions. Returns every graph output by name.
    ///
    /// With an FP64 policy, float32 inputs are widened and the outputs are float64.
    ///
    /// - substitutes: values, by name, that every node reading them reads instead of the ones this
    ///   run computes (converted to the run's dtype): with a reference run's values this measures
    ///   each node's local error, the node alone in this session's precision.
    public func run(_ inputs: [String: Tensor], substitutes: [String: Tensor] = [:]) throws -> [String: Tensor] {
        // Errors name the model's file, as loading errors do.
        do { return try runNamingNoFile(inputs, substitutes: substitutes) } catch var e as ExecutionError where e.file == nil {
            e.file = model.source
            throw e
        }
    }

    private func runNamingNoFile(_ inputs: [String: Tensor], substitutes: [String: Tensor]) throws -> [String: Tensor] {
        let prepared = try preparedGraph()
        let graph = prepared.graph
        let known = Set(graph.inputs.map(\.declaration.name))
        for name in inputs.keys where !known.contains(name) {
            throw ExecutionError("no graph input is named '\(name)'; inputs are \(graph.inputs.map(\.declaration.name))")
        }
        var inputs = inputs
        // A sequence's or optional's tensors are widened or rounded as a tensor input is.
        if prepared.widensInputs {
            for (k, t) in inputs where t.dtype == .float32 { inputs[k] = t.mappingTensors { $0.converted(to: .float64) } }
        } else if let r = prepared.inputRounding {
            for (k, t) in inputs where t.dtype == .float32 {
                inputs[k] = t.mappingTensors { x in
                    let copy = x.copied()
                    Simulate.round(copy, to: r)
                    return copy
                }
            }
        }
        var substituteIDs: [Int: Tensor] = [:]
        if !substitutes.isEmpty {
            for (id, name) in graph.valueNames.enumerated() { if let t = substitutes[name] { substituteIDs[id] = t } }
        }
        let containers = inputs.mapValues { TensorType(of: $0) }.filter { !$0.value.isTensor }
        let types = try inputTypes(inputs.mapValues { ($0.shape, $0.dtype) }, graph: graph, containers: containers)
        let signature = graph.inputs.compactMap { types[$0.id] }
        var plan: Plan
        if let p = plans[signature] { plan = p } else {
            plan = try self.plan(for: types)
            if plans.count >= Self.plansKept { plans.removeAll() }
            plans[signature] = plan
        }
        GEMM.setThreads(options.threads)
        var tensors = plan.tensors
        for (id, decl) in graph.inputs { tensors[id] = inputs[decl.name] }
        var captured: [String: Tensor] = [:]
        if options.taps != .none {
            for (id, decl) in graph.inputs where options.taps.contains(decl.name) { captured[decl.name] = tensors[id]?.copied() }
        }
        // Graph outputs computed in buffers of their own, by value id → buffer (the value's root).
        var outputRoots: [Int: Int] = [:]
        while true {
            outputRoots.merge(plan.bindOutputs(&tensors)) { _, new in new }
            if options.taps != .none {
                for (id, t) in plan.folded where options.taps.contains(graph.valueNames[id]) { captured[graph.valueNames[id]] = t.copied() }
                for (name, t) in plan.plannedTaps { captured[name] = t.copied() }
            }
            try runSteps(plan, &tensors, substitutes: substituteIDs, prepared: prepared, captured: &captured)
            guard let cut = plan.cut else { break }
            // The rest of the graph is planned with the values this run computed.
            let computed = try cut.needed.map { id in
                guard let t = tensors[id] else { throw cut.error }
                return t
            }
            // Small cut values are looked up (no copy, no key, for large ones that are never kept).
            let key = Plan.Cut.elementCount(computed) <= Self.keyedValueLimit ? Plan.Cut.key(computed) : nil
            if let key, let next = plan.continuations[key] { plan = next } else {
                let next = try self.plan(continuing: plan, values: computed.map { $0.copied() })
                if let key {
                    if plan.continuations.count >= Self.plansKept { plan.continuations.removeAll() }
                    plan.continuations[key] = next
                }
                plan = next
            }
            for (id, t) in plan.tensors.enumerated() where tensors[id] == nil { tensors[id] = t }
        }
        for (name, t) in context.subgraphTaps?.take() ?? [:] { captured[name] = t }
        tapped = captured
        var result: [String: Tensor] = [:]
        var storages: [TensorStorage] = []
        var returned = Set<Int>()
        for (id, decl) in graph.outputs {
            guard let t = tensors[id] else { throw ExecutionError("graph output '\(decl.name)' has no value") }
            // An output in its own buffer is returned as it is (once: another output on the same
            // buffer, or one read from the model's constants or the inputs, is copied).
            if let root = outputRoots[id], returned.insert(root).inserted {
                result[decl.name] = t
                continue
            }
            let copy = t.copied(reusing: &outputStorages)
            if copy.container == nil { storages.append(copy.storage) }
            result[decl.name] = copy
        }
        outputStorages = storages
        return result
    }

    /// Runs a plan's steps on `tensors` (by value id), capturing the values the taps want.
    private func runSteps(_ plan: Plan, _ tensors: inout [Tensor?], substitutes substituteIDs: [Int: Tensor], prepared: PreparedGraph,
                          captured: inout [String: Tensor]) throws {
        let graph = prepared.graph
        for step in plan.steps {
            let node = graph.nodes[step.node]
            var args = step.inputs.map { $0.flatMap { tensors[$0] } }
            if !substituteIDs.isEmpty {
                for (k, input) in step.inputs.enumerated() {
                    guard let id = input, let s = substituteIDs[id], let t = plan.types[id] else { continue }
                    guard s.shape == t.shape else {
                        throw ExecutionError(node: node.name, op: node.layer.opType, "the substitute for '\(graph.valueNames[id])' has shape \(s.shape), the value has \(t.shape)")
                    }
                    args[k] = s.dtype == t.dtype ? s : s.converted(to: t.dtype)
                }
            }
            let nodeFormat = prepared.formats[step.node]
            for (k, stated) in nodeFormat.activations {
                guard k < args.count, let a = args[k], a.dtype == .float32, let id = step.inputs[k] else { continue }
                let transform = nodeFormat.activationTransform(k, stated, layer: node.layer, args: args)
                let key = step.node * 2 + k  // k < 2: the transformed operands are inputs 0 and 1
                let q = transformedBuffers[key].flatMap { $0.shape == a.shape ? $0 : nil } ?? Tensor(zeros: a.shape)
                transformedBuffers[key] = q
                let clipped = transform.apply(a, into: q)
                if transform.quantizes {
                    let name = graph.valueNames[id]
                    clippingCounts[name, default: (0, 0)].clipped += clipped
                    clippingCounts[name, default: (0, 0)].total += a.count
                }
                args[k] = q
            }
            switch step.kind {
            case .alias:
                guard let src = args[0], let t = plan.types[step.outputs[0]] else {
                    throw ExecutionError(node: node.name, op: node.layer.opType, "its input has no value")
                }
                tensors[step.outputs[0]] = src.reshaped(t.shape)
            case .value:
                guard let layer = step.layer as? any ValueLayer else { throw ExecutionError("internal: a value step without a value layer") }
                let t0 = options.profile ? DispatchTime.now().uptimeNanoseconds : 0
                do {
                    let made = try layer.evaluate(args, context: context)
                    try Plan.check(made, against: step.outputs.map { plan.types[$0] ?? TensorType(.float32, []) })
                    for (id, v) in zip(step.outputs, made) { tensors[id] = v }
                } catch let e as LayerError {
                    throw ExecutionError(node: node.name, op: node.layer.opType, e.message)
                }
                if options.profile { record(step.layer.opType, node: node.name, since: t0) }
            case .compute:
                let outs = step.outputs.compactMap { tensors[$0] }
                let t0 = options.profile ? DispatchTime.now().uptimeNanoseconds : 0
                do {
                    try step.op.run(args, outputs: outs, context: context)
                } catch let e as LayerError {
                    throw ExecutionError(node: node.name, op: node.layer.opType, e.message)
                }
                if options.profile {
                    let key = step.layer.opType + ((step.layer as? Conv)?.residual == true ? "+Add" : "")
                        + (step.layer.fusedActivation.map { "+\($0)" } ?? "")
                    record(key, node: node.name, since: t0)
                }
                if let r = prepared.formats[step.node].outputRounding {
                    for out in outs where out.dtype == .float32 { roundingCounts[node.name, default: RoundingCounts()] += Simulate.round(out, to: r) }
                }
            }
            if options.taps != .none {
                for id in step.outputs where options.taps.contains(graph.valueNames[id]) {
                    captured[graph.valueNames[id]] = tensors[id]?.copied()
                }
            }
        }
    }

    /// Adds a step's time since `t0` to the profile, under `key` and the node's name.
    private func record(_ key: String, node: String, since t0: UInt64) {
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        profile[key, default: (0, 0)].seconds += dt
        profile[key, default: (0, 0)].count += 1
        nodeProfile[node, default: 0] += dt
    }

    /// Checks inputs against the declarations; returns their types by value id.
    /// - containers: the types of the inputs given as sequences or optionals, by name.
    func inputTypes(_ inputs: [String: ([Int], DType?)], graph: Graph? = nil, containers: [String: TensorType] = [:]) throws -> [Int: TensorType] {
        var types: [Int: TensorType] = [:]
        for (id, decl) in (graph ?? model.graph).inputs {
            guard let (shape, dtype) = inputs[decl.name] else {
                throw ExecutionError("graph input '\(decl.name)' (\(decl)) was not given")
            }
            if let dtype, dtype != decl.dtype {
                throw ExecutionError("graph input '\(decl.name)' must be \(decl.dtype), got \(dtype)")
            }
            if let t = containers[decl.name] {
                guard decl.kind.admits(t.kind) else {
                    throw ExecutionError("graph input '\(decl.name)' must be a \(decl.kind), got a \(t.kind.name)")
                }
                types[id] = t
                continue
            }
            guard decl.kind != .sequence else { throw ExecutionError("graph input '\(decl.name)' must be a sequence, got a tensor") }
            if let dims = decl.dimensions {
                guard dims.count == shape.count else {
                    throw ExecutionError("graph input '\(decl.name)' must have rank \(dims.count) (\(decl)), got shape \(shape)")
                }
                for (d, s) in zip(dims, shape) {
                    if let v = d.value, v != s {
                        throw ExecutionError("graph input '\(decl.name)' must have shape [\(dims.map(\.description).joined(separator: ", "))], got \(shape)")
                    }
                }
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw ExecutionError("graph input '\(decl.name)' has a negative dimension in \(shape)") }
            types[id] = TensorType(dtype ?? decl.dtype, shape)
        }
        return types
    }

    /// A plan for these input types (and values, where planning needs them). With
    /// `preparesSteps` false the steps keep `ForwardingOp`s: enough for the value types, without
    /// preparing kernels (packed weights) that will not run. The values given are folded through
    /// (type inference); a run's plans get none and stop where values are needed (`Plan.cut`).
    func plan(for types: [Int: TensorType], values: [Int: Tensor] = [:], preparesSteps: Bool = true) throws -> Plan {
        try makePlan(types: types, values: values, resume: nil, preparesSteps: preparesSteps)
    }

    /// The plan of the graph after `plan`'s cut, given the values the cut needs.
    func plan(continuing plan: Plan, values: [Tensor]) throws -> Plan {
        guard let cut = plan.cut else { throw ExecutionError("internal: a plan without a cut has no continuation") }
        var known = plan.knownValues
        for (id, t) in zip(cut.needed, values) { known[id] = t }
        let resume = Plan.Resume(node: cut.node, types: plan.types, known: known, runtimeKnown: plan.runtimeKnown.union(cut.needed))
        let next = try makePlan(types: [:], values: [:], resume: resume, preparesSteps: true)
        if let again = next.cut, again.node == cut.node, Set(again.needed).isSubset(of: Set(cut.needed)) { throw again.error }
        return next
    }

    private func makePlan(types: [Int: TensorType], values: [Int: Tensor], resume: Plan.Resume?, preparesSteps: Bool) throws -> Plan {
        let prepared = try preparedGraph()
        let graph = prepared.graph
        let taps = options.taps
        let plan = try Plan(
            graph: graph, computeFormats: prepared.formats.map(\.compute),
            perRunWork: prepared.formats.map { !$0.activations.isEmpty || $0.outputRounding != nil },
            outputRoundings: prepared.formats.map(\.outputRounding), inputTypes: types, inputValues: values,
            foldsGivenValues: resume == nil, resume: resume, fuse: options.fuseActivations,
            fuseResiduals: options.policy == .fp32, keep: { taps.contains(graph.valueNames[$0]) }, context: context,
            preparesSteps: preparesSteps)
        // Subgraphs that ran while planning (folded control flow) left their values here.
        plan.plannedTaps = context.subgraphTaps?.take() ?? [:]
        return plan
    }
}
