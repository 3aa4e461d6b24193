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
    /// FP8 E4M3FN products with TensorRT's and Model Optimizer's semantics: activations (input 0,
    /// and input 1 when it is not a constant) quantized per tensor with scale amax/448 from
    /// calibrated ranges, weights per tensor (or per output channel, `fp8WeightScales`) with scale
    /// amax/448, saturating, round to nearest even; the products summed as Hopper's tensor cores do
    /// (`fp8Accumulator`); other nodes run in FP32.
    case fp8
    /// The same with FP8 E5M2 operands (scale amax/57,344).
    case fp8E5M2 = "fp8-e5m2"
    /// NVFP4 products: both operands E2M1 in blocks of 16 along the reduction axis with an E4M3
    /// scale per block and an FP32 scale per tensor (amax/(448·6): the weight's own, the
    /// activation's calibrated range), products summed in FP32; other nodes run in FP32.
    case nvfp4
    /// OCP MXFP8 products: both operands E4M3 in blocks of 32 along the reduction axis with an
    /// E8M0 scale per block (no calibration), products summed in FP32; other nodes FP32.
    case mxfp8
    /// OCP MXFP4 products: E2M1 elements in blocks of 32 with an E8M0 scale; as MXFP8.
    case mxfp4
    /// INT4 weight-only: the weights of the product ops quantized to INT4 in blocks along the
    /// reduction axis (`int4Block`, symmetric or not: `int4Symmetric`), scales in float16; every
    /// node otherwise as in FP16 (or BF16: `weightOnlyActivations`).
    case int4w

    public var description: String { rawValue }

    /// Whether the format changes only the product ops (Conv, ConvTranspose, Gemm, MatMul, the
    /// layers with `productAxes`): every other node runs in FP32.
    public var appliesToProductsOnly: Bool {
        switch self {
        case .int8, .tf32, .fp8, .fp8E5M2, .nvfp4, .mxfp8, .mxfp4: true
        case .fp32, .fp64, .fp16, .bf16, .int4w: false
        }
    }

    /// Whether the format quantizes activations with calibrated ranges (`touchstone calibrate`).
    public var needsCalibration: Bool { self == .int8 || self == .fp8 || self == .fp8E5M2 || self == .nvfp4 }

    /// The formats' names, for messages.
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
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

    /// How FP8 products are summed: Hopper's tensor cores by default (`FP8Accumulator.hopper`).
    public var fp8Accumulator: FP8Accumulator
    /// FP8 weights: one scale per tensor (Model Optimizer's default) or per output channel.
    public var fp8WeightScales: WeightScales
    /// INT4 weight-only: values per block along the reduction axis (32, 64 or 128) and whether the
    /// quantization is symmetric (else asymmetric with a zero point).
    public var int4Block: Int
    public var int4Symmetric: Bool
    /// INT4 weight-only: the format of everything but the weights.
    public var weightOnlyActivations: ReducedFormat
    /// Where the bias of a convolution (Conv, ConvTranspose) is added in the formats that round
    /// every node's output (FP16, BF16, INT4 weight-only).
    public var biasAddition: BiasAddition
    /// How `y = x · Sigmoid(x)` (Sigmoid then Mul, as exporters write SiLU) is rounded in the
    /// formats that round every node's output.
    public var siluRounding: SiLURounding

    /// Where products are summed.
    public enum Accumulation: String, Sendable, CaseIterable {
        case fp32, fp16
    }

    /// Where a convolution's bias is added under a rounding format.
    public enum BiasAddition: String, Sendable, CaseIterable {
        /// Inside the sum, which is rounded once: TensorRT's and onnxruntime's fused kernels,
        /// PyTorch on the CPU.
        case inSum = "in-sum"
        /// To the sum after it was rounded to the format, rounded again: PyTorch's convolutions on
        /// CUDA (cuDNN writes the sum, a separate kernel adds the bias).
        case afterRounding = "after-rounding"
    }

    /// Where SiLU's rounding happens under a rounding format.
    public enum SiLURounding: String, Sendable, CaseIterable {
        /// The graph's nodes as they are: the Sigmoid's output rounded, then the product.
        case perNode = "per-node"
        /// x·sigmoid(x) computed in Float and rounded once, as PyTorch's SiLU kernel and fused
        /// pointwise kernels do (the Sigmoid's own output is then not computed).
        case once
    }

    /// Per-tensor or per-channel weight scales.
    public enum WeightScales: String, Sendable, CaseIterable {
        case perTensor = "per-tensor", perChannel = "per-channel"
    }

    public init(
        precision: NumericFormat = .fp32, nodePrecision: [String: NumericFormat] = [:], activationRanges: [String: Float] = [:], accumulation: Accumulation = .fp32,
        fp8Accumulator: FP8Accumulator = .hopper, fp8WeightScales: WeightScales = .perTensor, int4Block: Int = 128, int4Symmetric: Bool = true,
        weightOnlyActivations: ReducedFormat = .float16, biasAddition: BiasAddition = .inSum, siluRounding: SiLURounding = .perNode
    ) {
        self.precision = precision
        self.nodePrecision = nodePrecision
        self.activationRanges = activationRanges
        self.accumulation = accumulation
        self.fp8Accumulator = fp8Accumulator
        self.fp8WeightScales = fp8WeightScales
        self.int4Block = int4Block
        self.int4Symmetric = int4Symmetric
        self.weightOnlyActivations = weightOnlyActivations
        self.biasAddition = biasAddition
        self.siluRounding = siluRounding
    }

    public static let fp32 = ExecutionPolicy()

    /// The format a node runs in: its override or the default; the formats that apply to product
    /// ops only leave the other nodes in FP32.
    public func format(of node: Node) -> NumericFormat {
        let f = nodePrecision[node.name] ?? precision
        return f.appliesToProductsOnly && !node.isProduct ? .fp32 : f
    }

    /// The activation tensors an INT8 run of `graph` quantizes (inputs of the product ops that
    /// are not constants), in order of first use.
    /// Subgraphs' product ops count too (If branches, loop bodies: their values are tapped by name).
    public static func quantizedActivations(of graph: Graph) -> [String] {
        var seen = Set<String>(), names: [String] = []
        for node in graph.nodes {
            for sub in (node.layer as? SubgraphHolder)?.subgraphs ?? [] {
                for name in quantizedActivations(of: sub.graph) where seen.insert(name).inserted { names.append(name) }
            }
            guard node.isProduct else { continue }
            for case let id? in node.inputs.prefix(2) where graph.constants[id] == nil {
                let name = graph.valueNames[id]
                if seen.insert(name).inserted { names.append(name) }
            }
        }
        return names
    }
}

/// What is done to one operand of a node under a policy.
enum OperandTransform: Equatable {
    /// Rounded to a reduced format (FP16/BF16 weights, TF32 operands).
    case round(ReducedFormat)
    /// INT8, symmetric, one scale (an activation's calibrated amax/127).
    case int8(scale: Float)
    /// A constant quantized to INT8, symmetric, per output channel along `channelAxis` (each
    /// channel's scale its amax/127) or, without one, per tensor.
    case int8Weight(channelAxis: Int?)
    /// A scaled format (FP8 with a scale, NVFP4, MX, INT4), blocks along `axis` (and the axes after
    /// it with `spansRest`), then rounded to `then` when given.
    case scaled(ScaledFormat, axis: Int, spansRest: Bool, then: ReducedFormat?)
    /// FP8 per output channel along `axis` with these scales.
    case fp8PerChannel(MiniFloat, scales: [Float], axis: Int)

    /// The constant `t` transformed.
    func applied(to t: Tensor) -> Tensor {
        switch self {
        case .round(let r):
            let copy = t.copied()
            Simulate.round(copy, to: r)
            return copy
        case .int8Weight(let axis?):
            return Simulate.fakeQuantizePerChannel(t, axis: axis).values
        case .int8Weight(nil), .int8:
            // Per tensor: one channel holding every value.
            return Simulate.fakeQuantizePerChannel(t.reshaped([1, t.count]), axis: 0).values.reshaped(t.shape)
        case .scaled, .fp8PerChannel:
            let out = Tensor(zeros: t.shape)
            _ = apply(t, into: out)
            return out
        }
    }

    /// The activation `a` transformed into `r` (of a's shape); returns the values clipped.
    func apply(_ a: Tensor, into r: Tensor) -> Int {
        switch self {
        case .round(let f):
            a.copy(into: r)
            Simulate.round(r, to: f)
            return 0
        case .int8(let scale):
            return Simulate.fakeQuantize(a, into: r, scale: scale)
        case .int8Weight:
            let q = applied(to: a)
            q.copy(into: r)
            return 0
        case let .scaled(format, axis, spansRest, then):
            let clipped = BlockQuantization.fakeQuantize(a, into: r, format: format, axis: axis, spansRest: spansRest)
            if let then { Simulate.round(r, to: then) }
            return clipped
        case let .fp8PerChannel(format, scales, axis):
            return BlockQuantization.fakeQuantizePerChannel(a, into: r, format: format, scales: scales, axis: axis)
        }
    }

    /// Whether the transform quantizes (values can be clipped), as opposed to rounding.
    var quantizes: Bool {
        if case .round = self { return false }
        return true
    }

    /// A short name for the transformed constant's value name.
    var tag: String {
        switch self {
        case .round(.float16): "fp16"
        case .round(.bfloat16): "bf16"
        case .round(.tensorFloat32): "tf32"
        case .int8, .int8Weight: "int8"
        case .scaled(let f, _, _, _):
            switch f {
            case .fp8(let m, _): m == .e5m2 ? "fp8-e5m2" : "fp8"
            case .nvfp4: "nvfp4"
            case .mx(let m): m == .e2m1fn ? "mxfp4" : "mxfp8"
            case .int4: "int4"
            }
        case .fp8PerChannel(let m, _, _): m == .e5m2 ? "fp8-e5m2" : "fp8"
        }
    }
}

/// What one node does under a policy. `ExecutionPolicy.nodeFormat` decides it for every node:
/// it is the one place that maps a numeric format to what the operands, the sums and the outputs
/// of each op go through.
struct NodeFormat {
    var format: NumericFormat
    /// Applied once to float32 constant inputs, by input index.
    var constants: [Int: OperandTransform] = [:]
    /// Applied on every run to the float32 inputs that are not constants, by input index.
    var activations: [Int: OperandTransform] = [:]
    /// The format the node's float32 outputs are rounded to after it runs.
    var outputRounding: ReducedFormat? = nil
    /// How the node's products are summed (`Layer.prepare`).
    var compute = ComputeFormat.standard
    /// For block-scaled activations: which reduction axis the blocks run along, resolved on each
    /// run from the activation's rank (the `axis` of their transform is a placeholder).
    var activationAxes: [Int: ReductionAxis] = [:]

    enum ReductionAxis { case activationReduction, weightReduction }

    /// Activation k's transform with its block axis resolved for this run's operand ranks.
    func activationTransform(_ k: Int, _ stated: OperandTransform, layer: any Layer, args: [Tensor?]) -> OperandTransform {
        guard let which = activationAxes[k], case let .scaled(format, _, _, then) = stated else { return stated }
        let ranks = args.prefix(2).map { $0?.rank ?? 2 }
        guard ranks.count == 2, let axes = layer.productAxes(activationRank: ranks[0], weightRank: ranks[1]) else { return stated }
        switch which {
        case .activationReduction: return .scaled(format, axis: axes.activationReduction, spansRest: false, then: then)
        case .weightReduction: return .scaled(format, axis: axes.weightReduction, spansRest: axes.weightReductionSpansRest, then: then)
        }
    }
}

extension ExecutionPolicy {
    /// What `node` does under this policy (see `NodeFormat`). `missing` collects the activations a
    /// calibrated format needs a range for and has none.
    func nodeFormat(_ node: Node, graph: Graph, missing: inout [String]) -> NodeFormat {
        let format = self.format(of: node)
        var f = NodeFormat(format: format)
        func constant(_ i: Int) -> Tensor? { i < node.inputs.count ? node.inputs[i].flatMap { graph.constants[$0] } : nil }
        func present(_ i: Int) -> Int? { i < node.inputs.count ? node.inputs[i] : nil }
        switch format {
        case .fp16, .bf16:
            let r: ReducedFormat = format == .fp16 ? .float16 : .bfloat16
            f.outputRounding = r
            for i in node.inputs.indices where constant(i)?.dtype == .float32 { f.constants[i] = .round(r) }
            if format == .fp16 && accumulation == .fp16 && node.isProduct { f.compute = ComputeFormat(accumulation: .float16) }
            f.compute.roundsBeforeBias = roundsBeforeBias(node, r)
        case .int8:
            for i in 0..<min(2, node.inputs.count) {
                guard let id = present(i) else { continue }
                if let c = constant(i) {
                    guard c.dtype == .float32, c.rank >= 1 else { continue }
                    let axis = i == 1 ? node.layer.productAxes(activationRank: 2, weightRank: c.rank)?.weightChannel : nil
                    f.constants[i] = .int8Weight(channelAxis: axis)
                } else {
                    let name = graph.valueNames[id]
                    guard let amax = activationRanges[name] else { missing.append(name); continue }
                    f.activations[i] = .int8(scale: amax > 0 && amax.isFinite ? amax / 127 : 1)
                }
            }
        case .tf32:
            for i in 0..<min(2, node.inputs.count) where present(i) != nil {
                if let c = constant(i) {
                    if c.dtype == .float32 { f.constants[i] = .round(.tensorFloat32) }
                } else {
                    f.activations[i] = .round(.tensorFloat32)
                }
            }
        case .fp8, .fp8E5M2:
            let element: MiniFloat = format == .fp8 ? .e4m3fn : .e5m2
            // Input 0's scale, and input 1's (one, or one per output channel).
            var activationScale: Float = 1, weightScales: [Float] = [1]
            for i in 0..<min(2, node.inputs.count) {
                guard let id = present(i) else { continue }
                let scale: Float
                if let c = constant(i) {
                    guard c.dtype == .float32 else { continue }
                    let axis = i == 1 && fp8WeightScales == .perChannel ? node.layer.productAxes(activationRank: 2, weightRank: c.rank)?.weightChannel : nil
                    if let axis {
                        weightScales = Simulate.channelAmax(c, axis: axis).map { Self.scale(amax: $0, largest: element.largest) }
                        f.constants[i] = .fp8PerChannel(element, scales: weightScales, axis: axis)
                        continue
                    }
                    scale = Self.scale(amax: Simulate.amax(c), largest: element.largest)
                    f.constants[i] = .scaled(.fp8(element, scale: scale), axis: 0, spansRest: true, then: nil)
                } else {
                    let name = graph.valueNames[id]
                    guard let amax = activationRanges[name] else { missing.append(name); continue }
                    scale = Self.scale(amax: amax, largest: element.largest)
                    f.activations[i] = .scaled(.fp8(element, scale: scale), axis: 0, spansRest: true, then: nil)
                }
                if i == 0 { activationScale = scale } else { weightScales = [scale] }
            }
            f.compute = ComputeFormat(accumulation: .fp8(FP8Products(
                activationFormat: element, activationScale: activationScale, weightFormat: element, weightScales: weightScales, accumulator: fp8Accumulator)))
        case .nvfp4, .mxfp8, .mxfp4:
            for i in 0..<min(2, node.inputs.count) {
                guard let id = present(i) else { continue }
                let c = constant(i)
                if let c, c.dtype != .float32 { continue }
                let scaled: ScaledFormat
                switch format {
                case .mxfp8: scaled = .mx(.e4m3fn)
                case .mxfp4: scaled = .mx(.e2m1fn)
                default:
                    if let c {
                        scaled = .nvfp4(globalScale: ScaledFormat.nvfp4GlobalScale(amax: Simulate.amax(c)))
                    } else {
                        let name = graph.valueNames[id]
                        guard let amax = activationRanges[name] else { missing.append(name); continue }
                        scaled = .nvfp4(globalScale: ScaledFormat.nvfp4GlobalScale(amax: amax))
                    }
                }
                if let c {
                    // Blocks along the reduction axis: the weight's for input 1, the activation's for input 0.
                    let axes = node.layer.productAxes(activationRank: c.rank, weightRank: c.rank)
                    let (axis, spans) = i == 1
                        ? (axes?.weightReduction ?? 0, axes?.weightReductionSpansRest ?? false)
                        : (axes?.activationReduction ?? max(0, c.rank - 1), false)
                    f.constants[i] = .scaled(scaled, axis: axis, spansRest: spans, then: nil)
                } else {
                    // The axis follows from the operands' ranks on each run (`activationTransform`).
                    f.activations[i] = .scaled(scaled, axis: -1, spansRest: false, then: nil)
                    f.activationAxes[i] = i == 1 ? .weightReduction : .activationReduction
                }
            }
        case .int4w:
            let r = weightOnlyActivations
            f.outputRounding = r
            f.compute.roundsBeforeBias = roundsBeforeBias(node, r)
            for i in node.inputs.indices where constant(i)?.dtype == .float32 { f.constants[i] = .round(r) }
            if node.isProduct, let c = constant(1), c.dtype == .float32, c.rank >= 1,
               let axes = node.layer.productAxes(activationRank: 2, weightRank: c.rank) {
                f.constants[1] = .scaled(
                    .int4(blockSize: int4Block, symmetric: int4Symmetric, halfScales: true),
                    axis: axes.weightReduction, spansRest: axes.weightReductionSpansRest, then: r == .float16 ? nil : r)
            }
        case .fp32, .fp64:
            break
        }
        return f
    }

    /// The format a convolution with a bias rounds its sum to before adding the bias
    /// (`biasAddition`), else nil.
    func roundsBeforeBias(_ node: Node, _ format: ReducedFormat) -> ReducedFormat? {
        guard biasAddition == .afterRounding, node.layer is Conv || node.layer is ConvTranspose,
              node.inputs.count > 2, node.inputs[2] != nil else { return nil }
        return format
    }

    /// amax / largest, or 1 for an empty or non-finite range.
    static func scale(amax: Float, largest: Float) -> Float { amax > 0 && amax.isFinite ? amax / largest : 1 }
}

/// A graph rewritten for an execution policy, with what each node does at run time.
struct PreparedGraph {
    let graph: Graph
    /// Per node: what its operands go through on each run, its outputs' rounding and how it sums.
    let formats: [NodeFormat]
    /// Whether float32 graph inputs are rounded (FP16/BF16 runs) or widened (FP64) on the way in.
    let inputRounding: ReducedFormat?
    let widensInputs: Bool

    /// Rewrites `graph` for `policy`: FP64 turns every float32 constant, input and Cast into
    /// float64; otherwise every node's constant operands are transformed as its `NodeFormat`
    /// says (rounded, quantized), once, and shared between nodes that read them alike.
    init(_ graph: Graph, policy: ExecutionPolicy) throws {
        let kinds = graph.nodes.map { policy.format(of: $0) }
        if kinds.contains(.fp64) && kinds.contains(where: { $0 != .fp64 }) {
            throw ExecutionError("fp64 applies to a whole model; it cannot be mixed with other formats node by node")
        }
        if !kinds.isEmpty, kinds.allSatisfy({ $0 == .fp64 }) {
            self.init(widening: graph, policy: policy)
            return
        }
        var names = graph.valueNames
        var constants = graph.constants
        var nodes: [Node] = []
        var formats: [NodeFormat] = []
        var missing: [String] = []
        var transformed: [String: Int] = [:]
        for node in graph.nodes {
            let format = policy.nodeFormat(node, graph: graph, missing: &missing)
            var inputs = node.inputs
            for (i, transform) in format.constants.sorted(by: { $0.key < $1.key }) {
                guard let id = inputs[i], let t = graph.constants[id] else { continue }
                let key = "\(id)/\(transform)"
                if let existing = transformed[key] {
                    inputs[i] = existing
                } else {
                    names.append(graph.valueNames[id] + "/" + transform.tag)
                    constants[names.count - 1] = transform.applied(to: t)
                    transformed[key] = names.count - 1
                    inputs[i] = names.count - 1
                }
            }
            var layer = Self.subgraphsRunning(node.layer, under: policy)
            if inputs != node.inputs {
                let values = inputs.map { $0.flatMap { constants[$0] } }
                do { layer = try layer.replacingConstants(values) } catch let e as LayerError {
                    throw ExecutionError(node: node.name, op: node.layer.opType, e.message)
                }
            }
            nodes.append(Node(name: node.name, layer: layer, inputs: inputs, outputs: node.outputs))
            formats.append(format)
        }
        if policy.siluRounding == .once { Self.mergeSiLU(&nodes, &formats, outputs: Set(graph.outputs.map(\.id))) }
        if !missing.isEmpty {
            var seen = Set<String>()
            let unique = missing.filter { seen.insert($0).inserted }
            throw ExecutionError("\(policy.precision == .int8 || policy.nodePrecision.values.contains(.int8) ? "INT8" : "this format") needs a calibrated range for \(unique.count) activation tensor\(unique.count == 1 ? "" : "s") with none given: \(unique.prefix(8).map { "'\($0)'" }.joined(separator: ", "))\(unique.count > 8 ? ", …" : "") (calibrate with `touchstone calibrate`, or pass a cache)")
        }
        self.init(
            graph: Graph(
                valueNames: names, constants: constants, nodes: nodes,
                inputs: graph.inputs.map { ($0.id, $0.declaration) }, outputs: graph.outputs.map { ($0.id, $0.declaration) }),
            formats: formats,
            inputRounding: policy.precision == .fp16 ? .float16 : policy.precision == .bf16 ? .bfloat16
                : policy.precision == .int4w ? policy.weightOnlyActivations : nil,
            widensInputs: false)
    }

    /// Replaces each `Mul(x, Sigmoid(x))` whose Sigmoid output nothing else reads (and that is no
    /// graph output) by one swish node named after the Mul, with the Mul's format, where the
    /// nodes round their outputs (`ExecutionPolicy.siluRounding`).
    static func mergeSiLU(_ nodes: inout [Node], _ formats: inout [NodeFormat], outputs: Set<Int>) {
        var readers = [Int: [Int]]()
        for (i, n) in nodes.enumerated() { for case let id? in n.inputs { readers[id, default: []].append(i) } }
        var removed = Set<Int>()
        for (i, n) in nodes.enumerated() {
            guard (n.layer as? ActivationLayer)?.activation == .sigmoid, formats[i].outputRounding != nil,
                  n.inputs.count == 1, let x = n.inputs[0], n.outputs.count == 1, !outputs.contains(n.outputs[0]),
                  let sigReaders = readers[n.outputs[0]], sigReaders.count == 1, let m = sigReaders.first,
                  Plan.isSiLUProduct(nodes[m].layer, inputs: nodes[m].inputs, x: x, sigmoid: n.outputs[0]),
                  formats[m].outputRounding == formats[i].outputRounding
            else { continue }
            nodes[m] = Node(name: nodes[m].name, layer: ActivationLayer(.swish), inputs: [x], outputs: nodes[m].outputs)
            removed.insert(i)
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        formats = formats.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    private init(graph: Graph, formats: [NodeFormat], inputRounding: ReducedFormat?, widensInputs: Bool) {
        self.graph = graph
        self.formats = formats
        self.inputRounding = inputRounding
        self.widensInputs = widensInputs
    }

    /// The FP64 graph: float32 constants, declarations and casts become float64.
    /// A control-flow layer with its subgraphs run under `policy` (any other layer as it is).
    static func subgraphsRunning(_ layer: any Layer, under policy: ExecutionPolicy) -> any Layer {
        (layer as? SubgraphHolder)?.mappingSubgraphs { $0.running(under: policy) } ?? layer
    }

    private init(widening graph: Graph, policy: ExecutionPolicy) {
        let constants = graph.constants.mapValues { $0.dtype == .float32 ? $0.converted(to: .float64) : $0 }
        let nodes = graph.nodes.map { node -> Node in
            var layer = Self.subgraphsRunning(node.layer, under: policy)
            if let cast = layer as? Cast, cast.to == .float32 { layer = Cast(to: .float64) }
            if let c = layer as? ConstantOfShape, c.value.dtype == .float32 { layer = ConstantOfShape(value: c.value.converted(to: .float64)) }
            return Node(name: node.name, layer: layer, inputs: node.inputs, outputs: node.outputs)
        }
        func widen(_ d: ValueDeclaration) -> ValueDeclaration {
            d.dtype == .float32 ? ValueDeclaration(name: d.name, dtype: .float64, dimensions: d.dimensions, kind: d.kind) : d
        }
        self.init(
            graph: Graph(
                valueNames: graph.valueNames, constants: constants, nodes: nodes,
                inputs: graph.inputs.map { ($0.id, widen($0.declaration)) }, outputs: graph.outputs.map { ($0.id, widen($0.declaration)) }),
            formats: graph.nodes.map { _ in NodeFormat(format: .fp64) }, inputRounding: nil, widensInputs: true)
    }
}
