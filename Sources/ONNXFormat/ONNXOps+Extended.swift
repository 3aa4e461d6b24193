import Layers
import Runtime
import TensorCore

extension ONNXOps {
    static func scatterReduction(_ c: OpContext) throws -> ScatterReduction {
        let text = try c.attributes.string("reduction", default: "none")
        guard let r = ScatterReduction(rawValue: text) else { throw c.error("reduction is \"\(text)\", expected none, add, mul, max or min") }
        return r
    }

    static func windowLayer(_ c: OpContext, _ kind: Window.Kind) throws -> WindowLayer {
        WindowLayer(kind, periodic: try c.attributes.flag("periodic", default: true), dtype: try dtypeAttribute(c, "output_datatype") ?? .float32)
    }

    static func lossReduction(_ c: OpContext) throws -> Loss.Reduction {
        let text = try c.attributes.string("reduction", default: "mean")
        guard let r = Loss.Reduction(rawValue: text) else { throw c.error("reduction is \"\(text)\", expected none, sum or mean") }
        return r
    }

    /// ONNX's RNN, GRU and LSTM: directions, layout, activations (with their alpha and beta lists
    /// consumed in order by the activations that take them), clip, input_forget.
    static func recurrentSequence(_ c: OpContext, _ cell: Recurrence.Cell) throws -> RecurrentSequence {
        let a = c.attributes
        let hidden = try a.require(a.int("hidden_size"), "hidden_size")
        guard hidden > 0 && hidden <= 1 << 24 else { throw c.error("hidden_size \(hidden) is outside 1...2^24") }
        let direction = try a.string("direction", default: "forward")
        let reversed: [Bool]
        switch direction {
        case "forward": reversed = [false]
        case "reverse": reversed = [true]
        case "bidirectional": reversed = [false, true]
        default: throw c.error("direction is \"\(direction)\", expected forward, reverse or bidirectional")
        }
        let layout = try a.int("layout", default: 0)
        guard layout == 0 || layout == 1 else { throw c.error("layout \(layout) is not 0 or 1") }
        let perDirection = cell == .lstm ? 3 : cell == .simple ? 1 : 2
        let defaults = cell == .lstm ? ["Sigmoid", "Tanh", "Tanh"] : cell == .simple ? ["Tanh"] : ["Sigmoid", "Tanh"]
        let names = try a.strings("activations") ?? reversed.flatMap { _ in defaults }
        guard names.count == perDirection * reversed.count else {
            throw c.error("activations has \(names.count) entries, expected \(perDirection) for each of \(reversed.count) direction(s)")
        }
        var alphas = try a.floats("activation_alpha") ?? [], betas = try a.floats("activation_beta") ?? []
        func next(_ list: inout [Float], _ d: Double) -> Double { list.isEmpty ? d : Double(list.removeFirst()) }
        let functions = try names.map { name -> RecurrentActivation in
            switch name.lowercased() {
            case "relu": return .unary(.activation(.relu))
            case "tanh": return .unary(.activation(.tanh))
            case "sigmoid": return .unary(.activation(.sigmoid))
            case "softsign": return .unary(.softsign)
            case "softplus": return .unary(.softplus)
            case "leakyrelu": return .unary(.activation(.leakyRelu(alpha: Float(next(&alphas, 0.01)))))
            case "thresholdedrelu": return .unary(.thresholdedRelu(alpha: next(&alphas, 1)))
            case "elu": return .unary(.elu(alpha: next(&alphas, 1)))
            case "hardsigmoid":
                let alpha = next(&alphas, 0.2)
                return .unary(.activation(.hardSigmoid(alpha: Float(alpha), beta: Float(next(&betas, 0.5)))))
            case "affine":
                let alpha = next(&alphas, 1)
                return .affine(alpha: alpha, beta: next(&betas, 0))
            case "scaledtanh":
                let alpha = next(&alphas, 1)
                return .scaledTanh(alpha: alpha, beta: next(&betas, 1))
            default: throw c.error("activation \"\(name)\" is not one of ONNX's recurrent activations")
            }
        }
        let clip = try a.float("clip").map { Double($0) }
        if let clip, !(clip > 0) { throw c.error("clip \(clip) must be positive") }
        return RecurrentSequence(
            cell: cell, hiddenSize: hidden, reversed: reversed, batchFirst: layout == 1,
            activations: (0..<reversed.count).map { Array(functions[($0 * perDirection)..<(($0 + 1) * perDirection)]) },
            clip: clip, inputForget: try a.flag("input_forget", default: false))
    }

    /// Ops of the extended tier: indexing, scatter, triangular masks, cumulative sums, top-k,
    /// further normalizations, Einsum, losses.
    static let extendedOps: [String: Builder] = [
        "NegativeLogLikelihoodLoss": { c in
            LikelihoodLoss(fromScores: false, reduction: try lossReduction(c), ignoreIndex: try c.attributes.int("ignore_index").map { Int64($0) })
        },
        "SoftmaxCrossEntropyLoss": { c in
            LikelihoodLoss(fromScores: true, reduction: try lossReduction(c), ignoreIndex: try c.attributes.int("ignore_index").map { Int64($0) })
        },
        "GatherElements": { c in GatherElements(axis: try c.attributes.int("axis", default: 0)) },
        "ScatterElements": { c in ScatterElements(axis: try c.attributes.int("axis", default: 0), reduction: try scatterReduction(c)) },
        // Opsets 9-10's name for ScatterElements without reduction.
        "Scatter": { c in ScatterElements(axis: try c.attributes.int("axis", default: 0), reduction: .none) },
        "GatherND": { c in GatherND(batchDims: try c.attributes.int("batch_dims", default: 0)) },
        "ScatterND": { c in ScatterND(reduction: try scatterReduction(c)) },
        "OneHot": { c in OneHot(axis: try c.attributes.int("axis", default: -1)) },
        "Trilu": { c in Trilu(upper: try c.attributes.flag("upper", default: true)) },
        "CumSum": { c in
            CumSum(exclusive: try c.attributes.flag("exclusive", default: false), reverse: try c.attributes.flag("reverse", default: false))
        },
        "CumProd": { c in
            CumSum(exclusive: try c.attributes.flag("exclusive", default: false), reverse: try c.attributes.flag("reverse", default: false), product: true)
        },
        "HannWindow": { c in try windowLayer(c, .hann) },
        "HammingWindow": { c in try windowLayer(c, .hamming) },
        "BlackmanWindow": { c in try windowLayer(c, .blackman) },
        "ReverseSequence": { c in
            ReverseSequence(batchAxis: try c.attributes.int("batch_axis", default: 1), timeAxis: try c.attributes.int("time_axis", default: 0))
        },
        "Det": { _ in Det() },
        "Compress": { c in Compress(axis: try c.attributes.int("axis")) },
        "Unique": { c in Unique(axis: try c.attributes.int("axis"), sorted: try c.attributes.flag("sorted", default: true)) },
        "TensorScatter": { c in
            let mode = try c.attributes.string("mode", default: "linear")
            guard mode == "linear" || mode == "circular" else { throw c.error("mode is \"\(mode)\", expected linear or circular") }
            return TensorScatter(axis: try c.attributes.int("axis", default: -2), circular: mode == "circular")
        },
        "SwiGLU": { c in SwiGLU(alpha: Double(try c.attributes.float("alpha", default: 1))) },
        "AffineGrid": { c in AffineGrid(alignCorners: try c.attributes.flag("align_corners", default: false)) },
        "MaxUnpool": { c in
            MaxUnpool(kernel: try c.attributes.require(c.attributes.ints("kernel_shape"), "kernel_shape"),
                      strides: try c.attributes.ints("strides"), pads: try c.attributes.ints("pads"))
        },
        "Col2Im": { c in
            Col2Im(dilations: try c.attributes.ints("dilations"), pads: try c.attributes.ints("pads"), strides: try c.attributes.ints("strides"))
        },
        "If": { c in
            guard let then = try c.subgraph("then_branch"), let otherwise = try c.subgraph("else_branch") else {
                throw c.error("needs graph attributes then_branch and else_branch")
            }
            guard then.graph.outputs.count == otherwise.graph.outputs.count, then.formalCount == 0, otherwise.formalCount == 0 else {
                throw c.error("the branches must take no inputs and give the same number of outputs")
            }
            return IfLayer(thenBranch: then, elseBranch: otherwise, outerNames: c.outerNames)
        },
        "Loop": { c in
            guard let body = try c.subgraph("body") else { throw c.error("needs the graph attribute body") }
            let carried = c.inputCount - 2
            guard carried >= 0, body.formalCount == 2 + carried, body.graph.outputs.count >= 1 + carried else {
                throw c.error("the body takes \(body.formalCount) inputs and gives \(body.graph.outputs.count) outputs; with \(max(carried, 0)) loop-carried values it must take \(2 + max(carried, 0)) and give at least \(1 + max(carried, 0))")
            }
            return LoopLayer(body: body, carried: carried, outerNames: c.outerNames)
        },
        "Scan": { c in
            guard let body = try c.subgraph("body") else { throw c.error("needs the graph attribute body") }
            let a = c.attributes
            let m = try a.require(a.int("num_scan_inputs"), "num_scan_inputs")
            let batched = c.opset < 9
            guard m > 0, m <= body.formalCount, c.inputCount - (batched ? 1 : 0) == body.formalCount else {
                throw c.error("num_scan_inputs \(m) does not fit a body of \(body.formalCount) inputs and a node of \(c.inputCount)")
            }
            return ScanLayer(
                body: body, scanInputs: m, inputAxes: try a.ints("scan_input_axes"),
                inputDirections: try a.ints(batched ? "directions" : "scan_input_directions"),
                outputAxes: try a.ints("scan_output_axes"), outputDirections: try a.ints("scan_output_directions"),
                batched: batched, outerNames: c.outerNames)
        },
        "DFT": { c in
            DFT(inverse: try c.attributes.flag("inverse", default: false), onesided: try c.attributes.flag("onesided", default: false),
                axisAttribute: c.opset < 20 ? try c.attributes.int("axis", default: 1) : nil)
        },
        "STFT": { c in STFT(onesided: try c.attributes.flag("onesided", default: true)) },
        "MelWeightMatrix": { c in MelWeightMatrix(dtype: try dtypeAttribute(c, "output_datatype") ?? .float32) },
        "RoiAlign": { c in
            let a = c.attributes
            let transform = try a.string("coordinate_transformation_mode", default: c.opset >= 16 ? "half_pixel" : "output_half_pixel")
            let mode = try a.string("mode", default: "avg")
            guard transform == "half_pixel" || transform == "output_half_pixel", mode == "avg" || mode == "max" else {
                throw c.error("coordinate_transformation_mode \"\(transform)\" and mode \"\(mode)\": expected half_pixel or output_half_pixel, avg or max")
            }
            let height = try a.int("output_height", default: 1), width = try a.int("output_width", default: 1)
            let ratio = try a.int("sampling_ratio", default: 0), scale = Double(try a.float("spatial_scale", default: 1))
            guard (1...(1 << 16)).contains(height), (1...(1 << 16)).contains(width), (0...RoiAlign.gridLimit).contains(ratio), scale.isFinite else {
                throw c.error("output \(height)×\(width), sampling_ratio \(ratio), spatial_scale \(scale): expected sizes 1…65536, a ratio 0…\(RoiAlign.gridLimit), a finite scale")
            }
            return RoiAlign(halfPixel: transform == "half_pixel", useMax: mode == "max", outputHeight: height, outputWidth: width,
                            samplingRatio: ratio, spatialScale: scale)
        },
        "DeformConv": { c in
            let a = c.attributes
            return DeformConv(kernelShape: try a.ints("kernel_shape"), strides: try a.ints("strides"), dilations: try a.ints("dilations"),
                              pads: try a.ints("pads"), groups: try a.int("group", default: 1), offsetGroups: try a.int("offset_group", default: 1))
        },
        "OptionalHasElement": { _ in OptionalHasElement() },
        "OptionalGetElement": { _ in OptionalGetElement() },
        "Optional": { c in
            // The element type of an empty optional: the `type` attribute's tensor, or its sequence's.
            guard let type = try c.attributes.type("type") else {
                guard c.hasInput(0) else { throw c.error("an Optional without an input needs the type attribute") }
                return OptionalConstruct(dtype: .float32)
            }
            var t = type
            if case .sequenceType(let s)? = t.value, s.hasElemType { t = s.elemType }
            guard case .tensorType(let tensor)? = t.value, let dtype = DType(rawValue: Int(tensor.elemType)) else {
                throw c.error("attribute 'type' must be a tensor or a sequence of tensors of a supported element type")
            }
            return OptionalConstruct(dtype: dtype)
        },
        "StringConcat": { _ in StringConcat() },
        "CausalConvWithState": { c in
            let activation = try c.attributes.string("activation", default: "none")
            guard ["none", "silu", "swish"].contains(activation) else { throw c.error("activation '\(activation)' is not none, silu or swish") }
            return CausalConvWithState(silu: activation != "none")
        },
        "LinearAttention": { c in
            let a = c.attributes
            let name = try a.string("update_rule", default: "gated_delta")
            guard let rule = LinearAttention.Rule(rawValue: name) else { throw c.error("update_rule '\(name)' is not linear, gated, delta or gated_delta") }
            do {
                return try LinearAttention(rule: rule, qHeads: try a.require(a.int("q_num_heads"), "q_num_heads"),
                                           kvHeads: try a.require(a.int("kv_num_heads"), "kv_num_heads"), scale: try a.float("scale"))
            } catch let e as LayerError { throw c.error(e.message) }
        },
        "TfIdfVectorizer": { c in
            let a = c.attributes
            let mode = try a.string("mode", default: "TF")
            guard let m = TfIdfVectorizer.Mode(rawValue: mode) else { throw c.error("mode '\(mode)' is not TF, IDF or TFIDF") }
            let pool: [LookupKey]
            if let s = try a.strings("pool_strings") { pool = s.map { .string($0) } } else { pool = (try a.ints("pool_int64s") ?? []).map { .integer(Int64($0)) } }
            do {
                return try TfIdfVectorizer(
                    minGram: try a.require(a.int("min_gram_length"), "min_gram_length"), maxGram: try a.require(a.int("max_gram_length"), "max_gram_length"),
                    maxSkip: try a.require(a.int("max_skip_count"), "max_skip_count"), mode: m, ngramCounts: try a.require(a.ints("ngram_counts"), "ngram_counts"),
                    ngramIndexes: try a.require(a.ints("ngram_indexes"), "ngram_indexes"), pool: pool, weights: try a.floats("weights")?.map(Double.init))
            } catch let e as LayerError { throw c.error(e.message) }
        },
        "RegexFullMatch": { c in
            guard let pattern = try c.attributes.string("pattern") else { throw c.error("needs the attribute 'pattern'") }
            do { return try RegexFullMatch(pattern: pattern) } catch let e as LayerError { throw c.error(e.message) }
        },
        "StringSplit": { c in StringSplit(delimiter: try c.attributes.string("delimiter"), maxSplit: try c.attributes.int("maxsplit")) },
        "StringNormalizer": { c in
            let action = try c.attributes.string("case_change_action", default: "NONE")
            guard let change = StringNormalizer.CaseChange(rawValue: action) else {
                throw c.error("case_change_action '\(action)' is not NONE, LOWER or UPPER")
            }
            return StringNormalizer(caseChange: change, caseSensitive: try c.attributes.flag("is_case_sensitive", default: false),
                                    stopwords: try c.attributes.strings("stopwords") ?? [])
        },
        "SequenceEmpty": { c in SequenceEmpty(dtype: try dtypeAttribute(c, "dtype") ?? .float32) },
        "SequenceConstruct": { _ in SequenceConstruct() },
        "SequenceAt": { _ in SequenceAt() },
        "SequenceInsert": { _ in SequenceInsert() },
        "SequenceErase": { _ in SequenceErase() },
        "SequenceLength": { _ in SequenceLength() },
        "SplitToSequence": { c in
            SplitToSequence(axis: try c.attributes.int("axis", default: 0), keepDims: try c.attributes.flag("keepdims", default: true))
        },
        "ConcatFromSequence": { c in
            let a = c.attributes
            return ConcatFromSequence(axis: try a.require(a.int("axis"), "axis"), newAxis: try a.flag("new_axis", default: false))
        },
        "SequenceMap": { c in
            guard let body = try c.subgraph("body") else { throw c.error("needs the graph attribute body") }
            guard body.formalCount == c.inputCount else {
                throw c.error("the body takes \(body.formalCount) inputs, the node gives \(c.inputCount)")
            }
            return SequenceMap(body: body, outerNames: c.outerNames)
        },
        "BitCast": { c in BitCast(to: try c.attributes.require(dtypeAttribute(c, "to"), "to")) },
        "RNN": { c in try recurrentSequence(c, .simple) },
        "GRU": { c in try recurrentSequence(c, .gru(resetAfter: try c.attributes.flag("linear_before_reset", default: false))) },
        "LSTM": { c in try recurrentSequence(c, .lstm) },
        "CenterCropPad": { c in CenterCropPad(axes: try c.attributes.ints("axes")) },
        "EyeLike": { c in EyeLike(k: try c.attributes.int("k", default: 0), dtype: try dtypeAttribute(c, "dtype")) },
        "BitwiseNot": { _ in BitwiseNot() },
        "BitwiseAnd": { _ in BinaryLayer(.and, opType: "BitwiseAnd") },
        "BitwiseOr": { _ in BinaryLayer(.or, opType: "BitwiseOr") },
        "BitwiseXor": { _ in BinaryLayer(.xor, opType: "BitwiseXor") },
        "TopK": { c in
            let a = c.attributes
            return TopK(
                axis: try a.int("axis", default: -1), largest: try a.flag("largest", default: true),
                sorted: try a.flag("sorted", default: true), k: c.opset < 10 ? try a.require(a.int("k"), "k") : nil)
        },
        "Shrink": { c in
            UnaryLayer(.shrink(lambd: Double(try c.attributes.float("lambd", default: 0.5)), bias: Double(try c.attributes.float("bias", default: 0))),
                       opType: "Shrink")
        },
        "LpNormalization": { c in
            do { return try LpNormalization(axis: try c.attributes.int("axis", default: -1), p: try c.attributes.int("p", default: 2)) } catch let e as LayerError {
                throw c.error(e.message)
            }
        },
        "MeanVarianceNormalization": { c in MeanVarianceNormalization(axes: try c.attributes.ints("axes") ?? [0, 2, 3]) },
        "RMSNormalization": { c in
            let stash = try c.attributes.int("stash_type", default: 1)
            guard stash == 1 else { throw c.error("stash_type \(stash) is not supported (1, float32)") }
            return RMSNormalization(axis: try c.attributes.int("axis", default: -1), epsilon: Double(try c.attributes.float("epsilon", default: 1e-5)))
        },
        "Hardmax": { c in Hardmax(axis: try c.attributes.int("axis", default: c.opset >= 13 ? -1 : 1), legacyCoercion: c.opset < 13) },
        "Attention": { c in
            let a = c.attributes
            do {
                return try Attention(
                    scale: try a.float("scale").map { Double($0) }, isCausal: try a.flag("is_causal", default: false),
                    qHeads: try a.int("q_num_heads"), kvHeads: try a.int("kv_num_heads"),
                    softcap: Double(try a.float("softcap", default: 0)), qkOutputMode: try a.int("qk_matmul_output_mode", default: 0),
                    leftWindow: try a.int("left_window_size", default: -1), rightWindow: try a.int("right_window_size", default: -1))
            } catch let e as LayerError { throw c.error(e.message) }
        },
        "RotaryEmbedding": { c in
            let a = c.attributes
            return RotaryEmbedding(
                interleaved: try a.flag("interleaved", default: false), rotaryDim: try a.int("rotary_embedding_dim", default: 0),
                heads: try a.int("num_heads", default: 0))
        },
        "GridSample": { c in
            let a = c.attributes
            let modeText = try a.string("mode", default: c.opset >= 20 ? "linear" : "bilinear")
            // Opset 16 names the modes bilinear and bicubic.
            let aliases: [String: GridSample.Mode] = ["bilinear": .linear, "bicubic": .cubic]
            let mode = aliases[modeText] ?? GridSample.Mode(rawValue: modeText)
            guard let mode else { throw c.error("mode is \"\(modeText)\", expected nearest, linear (bilinear) or cubic (bicubic)") }
            let paddingText = try a.string("padding_mode", default: "zeros")
            guard let padding = GridSample.Padding(rawValue: paddingText) else {
                throw c.error("padding_mode is \"\(paddingText)\", expected zeros, border or reflection")
            }
            return GridSample(mode: mode, padding: padding, alignCorners: try a.flag("align_corners", default: false))
        },
        "NonZero": { _ in NonZero() },
        "NonMaxSuppression": { c in NonMaxSuppression(centerPointBox: try c.attributes.flag("center_point_box", default: false)) },
        "Einsum": { c in
            do { return try Einsum(equation: try c.attributes.require(c.attributes.string("equation"), "equation")) } catch let e as LayerError {
                throw c.error(e.message)
            }
        },
    ]
}

extension ONNXOps {
    /// Ops of other domains, by "domain::op".
    static let domainTable: [String: Builder] = [
        "ai.onnx.ml::LabelEncoder": { c in
            let a = c.attributes, dir = c.baseDirectory
            // Keys and values as tensors: opset 4's *_tensor, or the lists of every opset.
            func list(_ kind: String) throws -> Tensor? {
                if let t = try a.tensor("\(kind)_tensor", baseDirectory: dir) { return t }
                if let s = try a.strings("\(kind)_strings") { return Tensor(strings: s, shape: [s.count]) }
                if let i = try a.ints("\(kind)_int64s") { return Tensor(shape: [i.count], scalars: i.map(Int64.init)) }
                if let f = try a.floats("\(kind)_floats") { return Tensor(shape: [f.count], scalars: f) }
                return nil
            }
            guard let keys = try list("keys"), let values = try list("values") else { throw c.error("needs keys and values") }
            let fallback: Tensor
            if let t = try a.tensor("default_tensor", baseDirectory: dir) {
                fallback = t
            } else if values.dtype == .string {
                fallback = Tensor(strings: [try a.string("default_string", default: "_Unused")], shape: [])
            } else if values.dtype.isFloatingPoint {
                fallback = Tensor(scalar: try a.float("default_float", default: -0.0)).converted(to: values.dtype)
            } else {
                fallback = Tensor(scalar: Int64(try a.int("default_int64", default: -1))).converted(to: values.dtype)
            }
            do { return try LabelEncoder(keys: keys, values: values, defaultValue: fallback.reshaped([])) } catch let e as LayerError { throw c.error(e.message) }
        },
        "ai.onnx.ml::TreeEnsemble": { c in
            let a = c.attributes, dir = c.baseDirectory
            func ints(_ name: String) throws -> [Int] { try a.require(a.ints(name), name) }
            func values(_ name: String) throws -> [Double]? { try a.tensor(name, baseDirectory: dir)?.doubles() }
            let modes = try a.require(a.tensor("nodes_modes", baseDirectory: dir), "nodes_modes").int64s().map { Int(clamping: $0) }
            let splits = try a.require(values("nodes_splits"), "nodes_splits")
            let features = try ints("nodes_featureids"), trueIDs = try ints("nodes_truenodeids"), falseIDs = try ints("nodes_falsenodeids")
            let trueLeaves = try ints("nodes_trueleafs"), falseLeaves = try ints("nodes_falseleafs")
            let missing = try a.ints("nodes_missing_value_tracks_true") ?? Array(repeating: 0, count: modes.count)
            guard [splits.count, features.count, trueIDs.count, falseIDs.count, trueLeaves.count, falseLeaves.count, missing.count].allSatisfy({ $0 == modes.count }) else {
                throw c.error("the nodes_* attributes must all list \(modes.count) nodes")
            }
            // Each membership node's set: the next values of membership_values up to a NaN.
            var members = try values("membership_values") ?? []
            var nodes: [TreeEnsemble.Node] = []
            for k in modes.indices {
                var set: Set<Double>?
                if modes[k] == 6 {
                    guard let end = members.firstIndex(where: \.isNaN) else { throw c.error("membership_values has no set for node \(k)") }
                    set = Set(members[..<end])
                    members.removeFirst(end + 1)
                }
                nodes.append(TreeEnsemble.Node(mode: modes[k], feature: features[k], split: splits[k], members: set, trueID: trueIDs[k], trueIsLeaf: trueLeaves[k] != 0,
                                               falseID: falseIDs[k], falseIsLeaf: falseLeaves[k] != 0, missingTracksTrue: missing[k] != 0))
            }
            let targets = try ints("leaf_targetids"), weights = try a.require(values("leaf_weights"), "leaf_weights")
            guard targets.count == weights.count else { throw c.error("leaf_targetids and leaf_weights list \(targets.count) and \(weights.count) leaves") }
            guard let aggregate = TreeEnsemble.Aggregate(rawValue: try a.int("aggregate_function", default: 1)),
                  let post = TreeEnsemble.PostTransform(rawValue: try a.int("post_transform", default: 0)) else {
                throw c.error("aggregate_function must be 0…3 and post_transform 0…4")
            }
            do {
                return try TreeEnsemble(nodes: nodes, leaves: Array(zip(targets, weights)), roots: try ints("tree_roots"),
                                        targets: try a.require(a.int("n_targets"), "n_targets"), aggregate: aggregate, post: post)
            } catch let e as LayerError { throw c.error(e.message) }
        },
        "ai.onnx.preview::FlexAttention": { c in
            let score = try c.subgraph("score_mod"), prob = try c.subgraph("prob_mod")
            for (name, sub) in [("score_mod", score), ("prob_mod", prob)] {
                if let sub, sub.formalCount != 1 || sub.graph.outputs.count != 1 { throw c.error("\(name) must take one input and give one output") }
            }
            return FlexAttention(scale: try c.attributes.float("scale"), softmaxType: try dtypeAttribute(c, "softmax_precision"),
                                 scoreMod: score, probMod: prob, outerNames: c.outerNames)
        },
        "ai.onnx.ml::ArrayFeatureExtractor": { _ in ArrayFeatureExtractor() },
        "ai.onnx.ml::Binarizer": { c in Binarizer(threshold: Double(try c.attributes.float("threshold", default: 0))) },
        "ai.onnx.preview.training::Adagrad": { c in
            let a = c.attributes
            return OptimizerStep(.adagrad(decay: Double(try a.float("decay_factor", default: 0))),
                                 epsilon: Double(try a.float("epsilon", default: 1e-6)), normCoefficient: Double(try a.float("norm_coefficient", default: 0)))
        },
        "ai.onnx.preview.training::Adam": { c in
            let a = c.attributes
            return OptimizerStep(
                .adam(alpha: Double(try a.float("alpha", default: 0.9)), beta: Double(try a.float("beta", default: 0.999)),
                      normCoefficientPost: Double(try a.float("norm_coefficient_post", default: 0))),
                epsilon: Double(try a.float("epsilon", default: 1e-6)), normCoefficient: Double(try a.float("norm_coefficient", default: 0)))
        },
        "ai.onnx.preview.training::Momentum": { c in
            let a = c.attributes
            let mode = try a.require(a.string("mode"), "mode")
            guard mode == "standard" || mode == "nesterov" else { throw c.error("mode is \"\(mode)\", expected standard or nesterov") }
            return OptimizerStep(
                .momentum(alpha: Double(try a.require(a.float("alpha"), "alpha")), beta: Double(try a.require(a.float("beta"), "beta")),
                          nesterov: mode == "nesterov"),
                epsilon: 0, normCoefficient: Double(try a.require(a.float("norm_coefficient"), "norm_coefficient")))
        },
    ]
}
