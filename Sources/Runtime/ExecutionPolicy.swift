import Layers
import TensorCore

/// A numeric format a node can run in.
public enum NumericFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE single precision: Touchstone's own kernels.
    case fp32
    /// Every kernel in Double, products through dgemm: the ground truth.
    case fp64
    /// Weights and the node's outputs rounded to IEEE half precision, sums in FP32 (or in FP16, see
    /// `ExecutionPolicy.accumulation`).
    case fp16
    /// Weights and outputs rounded to bfloat16, sums in FP32.
    case bf16
    /// TensorRT's implicit INT8: Conv, ConvTranspose, Gemm and MatMul read their activations
    /// quantized per tensor from calibrated ranges and their weights quantized per output channel
    /// (symmetric, zero point 0, scale amax/127, round half to even, clamp to [−128, 127]); other
    /// nodes run in FP32.
    case int8
    /// TensorFloat-32 products, as GPUs run FP32 models with TF32 allowed: Conv, ConvTranspose,
    /// Gemm and MatMul read their operands (weights and activations) rounded to TF32 (10 mantissa
    /// bits, ties to even) and sum in FP32; their outputs, and every other node, stay FP32.
    case tf32

    public var description: String { rawValue }

    /// The ops that INT8 quantizes and TF32 rounds the operands of.
    public static let quantizedOps: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
}

/// In which numeric format each node of a model runs.
public struct ExecutionPolicy: Sendable, Equatable {
    /// The format of every node without an override.
    public var precision: NumericFormat
    /// Per-node overrides, by node name (e.g. keep chosen layers in FP32 in an INT8 run).
    public var nodePrecision: [String: NumericFormat]
    /// INT8: the calibrated range (amax, the largest magnitude kept) of each activation tensor,
    /// by value name; the scale is amax/127.
    public var activationRanges: [String: Float]
    /// The format the sums of FP16 nodes' products (Conv, Gemm, MatMul) are held in: FP32, as
    /// TensorRT's FP16 kernels mostly do, or FP16, each multiply-add rounded (see
    /// `HalfAccumulation`). Other ops, and BF16 nodes, sum in FP32.
    public var accumulation: Accumulation

    /// Where products are summed.
    public enum Accumulation: String, Sendable, CaseIterable {
        case fp32, fp16
    }

    public init(precision: NumericFormat = .fp32, nodePrecision: [String: NumericFormat] = [:], activationRanges: [String: Float] = [:], accumulation: Accumulation = .fp32) {
        self.precision = precision
        self.nodePrecision = nodePrecision
        self.activationRanges = activationRanges
        self.accumulation = accumulation
    }

    public static let fp32 = ExecutionPolicy()

    /// The format a node runs in: its override or the default; INT8 applies only to the
    /// quantized ops, the others run in FP32.
    public func format(ofNode name: String, op: String) -> NumericFormat {
        let f = nodePrecision[name] ?? precision
        return (f == .int8 || f == .tf32) && !NumericFormat.quantizedOps.contains(op) ? .fp32 : f
    }

    /// The activation tensors an INT8 run of `graph` quantizes (inputs of the quantized ops that
    /// are not constants), in order of first use.
    public static func quantizedActivations(of graph: Graph) -> [String] {
        var seen = Set<String>(), names: [String] = []
        for node in graph.nodes where NumericFormat.quantizedOps.contains(node.layer.opType) {
            for case let id? in node.inputs.prefix(2) where graph.constants[id] == nil {
                let name = graph.valueNames[id]
                if seen.insert(name).inserted { names.append(name) }
            }
        }
        return names
    }
}

/// A graph rewritten for an execution policy, with what each node does at run time.
struct PreparedGraph {
    let graph: Graph
    /// Per node: input index → INT8 scale, for activations quantized on each run.
    let inputScales: [[Int: Float]]
    /// Per node: input index → format, for activations rounded on each run (TF32 products).
    let inputRoundings: [[Int: ReducedFormat]]
    /// Per node: the format its float outputs are rounded to after it runs.
    let rounding: [ReducedFormat?]
    /// Whether float32 graph inputs are rounded (FP16/BF16 runs) or widened (FP64) on the way in.
    let inputRounding: ReducedFormat?
    let widensInputs: Bool

    /// Rewrites `graph` for `policy`: FP64 turns every float32 constant, input and Cast into
    /// float64; FP16/BF16 nodes get rounded constant inputs; INT8 nodes get weights quantized
    /// per output channel and the scales of their activation inputs.
    init(_ graph: Graph, policy: ExecutionPolicy) throws {
        let formats = graph.nodes.map { policy.format(ofNode: $0.name, op: $0.layer.opType) }
        if formats.contains(.fp64) && formats.contains(where: { $0 != .fp64 }) {
            throw ExecutionError("fp64 applies to a whole model; it cannot be mixed with other formats node by node")
        }
        if !formats.isEmpty, formats.allSatisfy({ $0 == .fp64 }) {
            self.init(widening: graph)
            return
        }
        var names = graph.valueNames
        var constants = graph.constants
        var nodes: [Node] = []
        var scales: [[Int: Float]] = []
        var inputRoundings: [[Int: ReducedFormat]] = []
        var rounding: [ReducedFormat?] = []
        var missing: [String] = []
        var transformed: [String: Int] = [:]
        func newConstant(_ id: Int, _ tag: String, _ make: (Tensor) -> Tensor) -> Int {
            let key = "\(id)/\(tag)"
            if let existing = transformed[key] { return existing }
            guard let t = graph.constants[id] else { return id }
            names.append(graph.valueNames[id] + "/" + tag)
            constants[names.count - 1] = make(t)
            transformed[key] = names.count - 1
            return names.count - 1
        }
        for (node, format) in zip(graph.nodes, formats) {
            var inputs = node.inputs
            var nodeScales: [Int: Float] = [:]
            var nodeRoundings: [Int: ReducedFormat] = [:]
            var round: ReducedFormat? = nil
            switch format {
            case .fp16, .bf16:
                let r: ReducedFormat = format == .fp16 ? .float16 : .bfloat16
                round = r
                for (i, input) in inputs.enumerated() {
                    guard let id = input, let c = graph.constants[id], c.dtype == .float32 else { continue }
                    inputs[i] = newConstant(id, format.rawValue) { t in
                        let copy = t.copied()
                        Simulate.round(copy, to: r)
                        return copy
                    }
                }
            case .int8:
                let op = node.layer.opType
                for i in 0..<min(2, inputs.count) {
                    guard let id = inputs[i] else { continue }
                    if let c = graph.constants[id] {
                        guard c.dtype == .float32, c.rank >= 1 else { continue }
                        let axis = i == 1 ? Self.outputChannelAxis(op: op, layer: node.layer, rank: c.rank) : nil
                        inputs[i] = newConstant(id, "int8") { t in
                            if let axis { return Simulate.fakeQuantizePerChannel(t, axis: axis).values }
                            // Per tensor: one channel holding every value.
                            return Simulate.fakeQuantizePerChannel(t.reshaped([1, t.count]), axis: 0).values.reshaped(t.shape)
                        }
                    } else {
                        let name = graph.valueNames[id]
                        guard let amax = policy.activationRanges[name] else { missing.append(name); continue }
                        nodeScales[i] = amax > 0 && amax.isFinite ? amax / 127 : 1
                    }
                }
            case .tf32:
                for i in 0..<min(2, inputs.count) {
                    guard let id = inputs[i] else { continue }
                    if let c = graph.constants[id] {
                        guard c.dtype == .float32 else { continue }
                        inputs[i] = newConstant(id, "tf32") { t in
                            let copy = t.copied()
                            Simulate.round(copy, to: .tensorFloat32)
                            return copy
                        }
                    } else {
                        nodeRoundings[i] = .tensorFloat32
                    }
                }
            case .fp32, .fp64:
                break
            }
            var layer = node.layer
            if inputs != node.inputs {
                let values = inputs.map { $0.flatMap { constants[$0] } }
                do { layer = try layer.replacingConstants(values) } catch let e as LayerError {
                    throw ExecutionError(node: node.name, op: node.layer.opType, e.message)
                }
            }
            if format == .fp16 && policy.accumulation == .fp16 { layer = HalfAccumulating(layer) ?? layer }
            nodes.append(Node(name: node.name, layer: layer, inputs: inputs, outputs: node.outputs))
            scales.append(nodeScales)
            inputRoundings.append(nodeRoundings)
            rounding.append(round)
        }
        if !missing.isEmpty {
            var seen = Set<String>()
            let unique = missing.filter { seen.insert($0).inserted }
            throw ExecutionError("INT8 needs a calibrated range for \(unique.count) activation tensor\(unique.count == 1 ? "" : "s") with none given: \(unique.prefix(8).map { "'\($0)'" }.joined(separator: ", "))\(unique.count > 8 ? ", …" : "") (calibrate with `touchstone calibrate`, or pass a cache)")
        }
        self.init(
            graph: Graph(
                valueNames: names, constants: constants, nodes: nodes,
                inputs: graph.inputs.map { ($0.id, $0.declaration) }, outputs: graph.outputs.map { ($0.id, $0.declaration) }),
            inputScales: scales, inputRoundings: inputRoundings, rounding: rounding,
            inputRounding: policy.precision == .fp16 ? .float16 : policy.precision == .bf16 ? .bfloat16 : nil, widensInputs: false)
    }

    private init(graph: Graph, inputScales: [[Int: Float]], inputRoundings: [[Int: ReducedFormat]], rounding: [ReducedFormat?], inputRounding: ReducedFormat?, widensInputs: Bool) {
        self.graph = graph
        self.inputScales = inputScales
        self.inputRoundings = inputRoundings
        self.rounding = rounding
        self.inputRounding = inputRounding
        self.widensInputs = widensInputs
    }

    /// The FP64 graph: float32 constants, declarations and casts become float64.
    private init(widening graph: Graph) {
        let constants = graph.constants.mapValues { $0.dtype == .float32 ? $0.converted(to: .float64) : $0 }
        let nodes = graph.nodes.map { node -> Node in
            var layer = node.layer
            if let cast = layer as? Cast, cast.to == .float32 { layer = Cast(to: .float64) }
            if let c = layer as? ConstantOfShape, c.value.dtype == .float32 { layer = ConstantOfShape(value: c.value.converted(to: .float64)) }
            return Node(name: node.name, layer: layer, inputs: node.inputs, outputs: node.outputs)
        }
        func widen(_ d: ValueDeclaration) -> ValueDeclaration {
            d.dtype == .float32 ? ValueDeclaration(name: d.name, dtype: .float64, dimensions: d.dimensions) : d
        }
        self.init(
            graph: Graph(
                valueNames: graph.valueNames, constants: constants, nodes: nodes,
                inputs: graph.inputs.map { ($0.id, widen($0.declaration)) }, outputs: graph.outputs.map { ($0.id, widen($0.declaration)) }),
            inputScales: graph.nodes.map { _ in [:] }, inputRoundings: graph.nodes.map { _ in [:] }, rounding: graph.nodes.map { _ in nil },
            inputRounding: nil, widensInputs: true)
    }

    /// The axis of a weight (input 1) that indexes output channels.
    static func outputChannelAxis(op: String, layer: any Layer, rank: Int) -> Int {
        switch op {
        case "Conv": return 0                      // W [M, C/g, k…]
        case "ConvTranspose": return min(1, rank - 1)  // W [C, M/g, k…]
        case "Gemm": return (layer as? Gemm)?.transB == true ? 0 : rank - 1
        default: return rank - 1                   // MatMul B [… K, N]
        }
    }
}
