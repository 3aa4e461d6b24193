import JSONC
import Layers
import Runtime
import TensorCore

/// Keras layer classes → typed layers. Each call site reads its inputs' tensors (in the layout the
/// layer wants) and records its output tensor under `layer:node:0`.
extension KerasGraphBuilder {
    typealias Input = (key: String, shape: [Int?])

    /// Layers that pass their input through at inference.
    static let identities: Set<String> = [
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
        "AlphaDropout", "ActivityRegularization",
    ]

    /// `name` is the layer's name, scoped for layers of nested models.
    mutating func apply(_ layer: JSONValue, node k: Int, inputs: [Input], name: String) throws {
        let kind = layer["class_name"]?.string ?? "?"
        let cfg = layer["config"] ?? .object([:])
        let site = k == 0 ? name : "\(name)_\(k)"
        let out = "\(name):\(k):0"
        let file = self.file
        func fail(_ message: String) -> LoadError { LoadError(file: file, node: name, op: kind, message) }
        func one() throws -> Input {
            guard inputs.count == 1 else { throw fail("takes one input, the call site has \(inputs.count)") }
            return inputs[0]
        }
        func dim(_ x: Input, _ axis: Int) throws -> Int {
            let a = axis < 0 ? axis + x.shape.count : axis
            guard a >= 0, a < x.shape.count, let d = x.shape[a] else { throw fail("needs dimension \(axis) of its input \(x.shape) to be known") }
            return d
        }
        func int(_ v: JSONValue?, _ what: String, _ range: ClosedRange<Int> = Self.sizes) throws -> Int {
            try Self.integer(v, what, range, fail: fail)
        }
        /// Sizes (units, filters, kernel sizes, strides, …): one integer for every axis, or one each.
        func ints(_ key: String, _ count: Int, default d: [Int]? = nil) throws -> [Int] {
            if let v = cfg[key], v.number != nil { return [Int](repeating: try int(v, key), count: count) }
            if let a = cfg[key]?.array, a.count == count { return try a.map { try int($0, key) } }
            if let d, cfg[key] == nil || cfg[key] == .null { return d }
            throw fail("config '\(key)' is \(cfg[key]?.brief ?? "absent"), expected \(count) integers from 1 to 2^31 − 1")
        }
        func padding() throws -> String {
            guard let v = cfg["padding"], v != .null else { return "valid" }
            guard let s = v.string else { throw fail("config 'padding' is \(v.brief), expected \"valid\", \"same\" or \"causal\"") }
            return s
        }
        /// An axis (absent: −1).
        func axis(_ key: String = "axis") throws -> Int { cfg[key] == nil || cfg[key] == .null ? -1 : try int(cfg[key], key, Self.axes) }
        func bool(_ key: String, _ d: Bool) -> Bool { cfg[key]?.bool ?? d }
        func number(_ key: String, _ d: Double) -> Double { cfg[key]?.number ?? d }

        if Self.identities.contains(kind) {
            tensors[out] = tensors[try one().key]
            return
        }
        switch kind {
        case "Dense":
            let x = try one()
            let units = try ints("units", 1)[0], inner = try dim(x, -1)
            var y: Int
            let kernel = try weight(name, "weights", [inner, units], op: kind)
            let w = constant("\(name)/kernel", kernel)
            let b = bool("use_bias", true) ? constant("\(name)/bias", try weight(name, "bias", [units], op: kind)) : nil
            if x.shape.count == 2 {
                y = add(site, Gemm(transA: false, transB: false, alpha: 1, beta: 1, weight: kernel), [keras(x.key), w, b])[0]
            } else {
                y = add(site, MatMul(), [keras(x.key), w])[0]
                if let b { y = add("\(site)/bias", BinaryLayer(.add, opType: "Add"), [y, b])[0] }
            }
            tensors[out] = Value(keras: y, channelsFirst: nil, rank: x.shape.count)
            try activate(cfg["activation"]?.string ?? "linear", out, site: site, fail: fail)

        case "Conv1D", "Conv2D":
            let x = try one()
            let spatial = kind == "Conv1D" ? 1 : 2
            guard x.shape.count == spatial + 2 else { throw fail("input \(x.shape) must have rank \(spatial + 2)") }
            guard (cfg["groups"]?.number ?? 1) == 1 else { throw fail("groups other than 1 are not supported") }
            let filters = try ints("filters", 1)[0], cin = try dim(x, -1)
            let kernel = try ints("kernel_size", spatial), strides = try ints("strides", spatial, default: [Int](repeating: 1, count: spatial))
            let dilations = try ints("dilation_rate", spatial, default: [Int](repeating: 1, count: spatial))
            // Stored (out, *kernel, in): reorder to (out, in, *kernel).
            let stored = try weight(name, "weights", [filters] + kernel + [cin], op: kind)
            let oihw = Tensor(zeros: [filters, cin] + kernel)
            Movement.transpose(stored, perm: spatial == 1 ? [0, 2, 1] : [0, 3, 1, 2], into: oihw)
            let window = try self.window(try padding(), kernel: kernel, strides: strides, dilations: dilations, fail: fail)
            let w = constant("\(name)/kernel", oihw)
            let b = bool("use_bias", true) ? constant("\(name)/bias", try weight(name, "bias", [filters], op: kind)) : nil
            let y = add(site, try Conv(window: window, group: 1, weight: oihw), [channelsFirst(x.key), w, b])[0]
            tensors[out] = Value(keras: nil, channelsFirst: y, rank: x.shape.count)
            try activate(cfg["activation"]?.string ?? "linear", out, site: site, fail: fail)

        case "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D":
            let x = try one()
            let spatial = kind.hasSuffix("1D") ? 1 : 2
            guard x.shape.count == spatial + 2 else { throw fail("input \(x.shape) must have rank \(spatial + 2)") }
            let size = try ints("pool_size", spatial), strides = try ints("strides", spatial, default: size)
            let window = try self.window(try padding(), kernel: size, strides: strides, dilations: nil, fail: fail)
            // Keras averages over the taps inside the image only.
            let pool = try Pool(kind: kind.hasPrefix("Max") ? .max : .average(countIncludePad: false), window: window)
            tensors[out] = Value(keras: nil, channelsFirst: add(site, pool, [channelsFirst(x.key)])[0], rank: x.shape.count)

        case "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D":
            let x = try one()
            let pooled = add(site, GlobalPool(isMax: kind.hasPrefix("GlobalMax")), [channelsFirst(x.key)])[0]
            if bool("keepdims", false) {
                tensors[out] = Value(keras: nil, channelsFirst: pooled, rank: x.shape.count)
            } else {
                let flat = add("\(site)/squeeze", ShapeOnly(.flatten(axis: 1), opType: "Flatten"), [pooled])[0]
                tensors[out] = Value(keras: flat, channelsFirst: flat, rank: 2)
            }

        case "BatchNormalization":
            let x = try one()
            try requireLastAxis(cfg["axis"], rank: x.shape.count, fail: fail)
            let c = try dim(x, -1)
            let mean = try weight(name, "moving_mean", [c], op: kind).doubles(), variance = try weight(name, "moving_variance", [c], op: kind).doubles()
            let gamma = hasWeight(name, "gamma") ? try weight(name, "gamma", [c], op: kind).doubles() : [Double](repeating: 1, count: c)
            let beta = hasWeight(name, "beta") ? try weight(name, "beta", [c], op: kind).doubles() : [Double](repeating: 0, count: c)
            let bn = try BatchNormalization(scale: gamma, bias: beta, mean: mean, variance: variance, epsilon: number("epsilon", 1e-3))
            let y = add(site, bn, [channelsFirst(x.key)])[0]
            tensors[out] = x.shape.count < 3 ? Value(keras: y, channelsFirst: y, rank: 2) : Value(keras: nil, channelsFirst: y, rank: x.shape.count)

        case "Normalization":
            // Keras's Normalization: (x − mean) / max(√variance, 1e-7) per channel, as an affine
            // BatchNormalization (stored by Tools/keras2touchstone.py as `mean` and `variance`).
            let x = try one()
            try requireLastAxis(cfg["axis"], rank: x.shape.count, fail: fail)
            guard !bool("invert", false) else { throw fail("invert is not supported") }
            let c = try dim(x, -1)
            let mean = try weight(name, "mean", [c], op: kind).doubles(), variance = try weight(name, "variance", [c], op: kind).doubles()
            let factor = variance.map { 1 / max($0.squareRoot(), 1e-7) }
            let shift = zip(mean, factor).map { -$0 * $1 }
            let affine = try BatchNormalization(
                scale: factor, bias: shift, mean: [Double](repeating: 0, count: c), variance: [Double](repeating: 1, count: c), epsilon: 0)
            let y = add(site, affine, [channelsFirst(x.key)])[0]
            tensors[out] = x.shape.count < 3 ? Value(keras: y, channelsFirst: y, rank: 2) : Value(keras: nil, channelsFirst: y, rank: x.shape.count)

        case "Flatten":
            let x = try one()
            let y = add(site, ShapeOnly(.flatten(axis: 1), opType: "Flatten"), [keras(x.key)])[0]
            tensors[out] = Value(keras: y, channelsFirst: y, rank: 2)

        case "Activation":
            tensors[out] = tensors[try one().key]
            try activate(cfg["activation"]?.string ?? "linear", out, site: site, fail: fail)

        case "ReLU":
            let x = try one()
            let maxValue = cfg["max_value"]?.number, slope = number("negative_slope", 0), threshold = number("threshold", 0)
            let layer: any Layer
            switch (maxValue, slope, threshold) {
            case (nil, 0, 0): layer = ActivationLayer(.relu)
            case (let m?, 0, 0): layer = ActivationLayer(.clip(low: 0, high: Float(m)))
            case (nil, let s, 0): layer = ActivationLayer(.leakyRelu(alpha: Float(s)))
            default: layer = UnaryLayer(.kerasRelu(maxValue: maxValue, negativeSlope: slope, threshold: threshold), opType: "ReLU")
            }
            elementwise(layer, x.key, out, site: site)

        case "LeakyReLU":
            let slope = cfg["negative_slope"]?.number ?? cfg["alpha"]?.number ?? 0.3
            elementwise(ActivationLayer(.leakyRelu(alpha: Float(slope))), try one().key, out, site: site)

        case "ELU":
            elementwise(UnaryLayer(.elu(alpha: number("alpha", 1)), opType: "Elu"), try one().key, out, site: site)

        case "Softmax":
            tensors[out] = tensors[try one().key]
            try softmax(out, axis: try axis(), site: site, fail: fail)

        case "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum":
            guard inputs.count >= 2, kind != "Subtract" || inputs.count == 2 else { throw fail("has \(inputs.count) inputs") }
            let rank = inputs[0].shape.count
            // Channels-first when every operand already is; otherwise Keras's order.
            let cf = rank >= 3 && inputs.allSatisfy { tensors[$0.key]?.channelsFirst != nil }
            let ids = inputs.map { cf ? channelsFirst($0.key) : keras($0.key) }
            let layer: any Layer
            switch kind {
            case "Subtract": layer = BinaryLayer(.sub, opType: "Sub")
            case "Multiply": layer = VariadicLayer(.mul, opType: "Mul")
            case "Average": layer = VariadicLayer(.add, isMean: true, opType: "Mean")
            case "Maximum": layer = VariadicLayer(.max, opType: "Max")
            case "Minimum": layer = VariadicLayer(.min, opType: "Min")
            default: layer = ids.count == 2 ? BinaryLayer(.add, opType: "Add") : VariadicLayer(.add, opType: "Sum")
            }
            let y = add(site, layer, ids)[0]
            tensors[out] = cf ? Value(keras: nil, channelsFirst: y, rank: rank) : Value(keras: y, channelsFirst: rank < 3 ? y : nil, rank: rank)

        case "Concatenate":
            guard let rank = inputs.first?.shape.count, inputs.count >= 1 else { throw fail("has no inputs") }
            let raw = try axis()
            let axis = raw < 0 ? raw + rank : raw
            guard axis >= 1 && axis < rank else { throw fail("axis \(raw) is out of range for rank \(rank)") }
            let cf = rank >= 3 && inputs.allSatisfy { tensors[$0.key]?.channelsFirst != nil }
            let ids = inputs.map { cf ? channelsFirst($0.key) : keras($0.key) }
            let y = add(site, Concat(axis: cf ? (axis == rank - 1 ? 1 : axis + 1) : axis), ids)[0]
            tensors[out] = cf ? Value(keras: nil, channelsFirst: y, rank: rank) : Value(keras: y, channelsFirst: rank < 3 ? y : nil, rank: rank)

        case "DepthwiseConv2D", "SeparableConv2D":
            let x = try one()
            guard x.shape.count == 4 else { throw fail("input \(x.shape) must have rank 4") }
            guard (cfg["depth_multiplier"]?.number ?? 1) == 1 else { throw fail("depth_multiplier other than 1 is not supported") }
            let c = try dim(x, -1)
            let kernel = try ints("kernel_size", 2), strides = try ints("strides", 2, default: [1, 1])
            let dilations = try ints("dilation_rate", 2, default: [1, 1])
            // Stored (in, kh, kw, 1): as (in, 1, kh, kw), one group per channel.
            let dwStored = try weight(name, "slice_weights", [c] + kernel + [1], op: kind)
            let dw = Tensor(zeros: [c, 1] + kernel)
            Movement.transpose(dwStored, perm: [0, 3, 1, 2], into: dw)
            let window = try self.window(try padding(), kernel: kernel, strides: strides, dilations: dilations, fail: fail)
            let useBias = bool("use_bias", true)
            var y: Int
            if kind == "DepthwiseConv2D" {
                let b = useBias ? constant("\(name)/bias", try weight(name, "bias", [c], op: kind)) : nil
                y = add(site, try Conv(window: window, group: c, weight: dw), [channelsFirst(x.key), constant("\(name)/depthwise", dw), b])[0]
            } else {
                let filters = try ints("filters", 1)[0]
                y = add("\(site)/depthwise", try Conv(window: window, group: c, weight: dw), [channelsFirst(x.key), constant("\(name)/depthwise", dw), nil])[0]
                // Pointwise, stored (out, 1, 1, in): as (out, in, 1, 1).
                let pwStored = try weight(name, "stack_weights", [filters, 1, 1, c], op: kind)
                let pw = Tensor(zeros: [filters, c, 1, 1])
                Movement.transpose(pwStored, perm: [0, 3, 1, 2], into: pw)
                let one = try WindowAttributes(kernelShape: [1, 1], strides: nil, dilations: nil, pads: nil, autoPad: .notSet)
                let b = useBias ? constant("\(name)/bias", try weight(name, "bias", [filters], op: kind)) : nil
                y = add(site, try Conv(window: one, group: 1, weight: pw), [y, constant("\(name)/pointwise", pw), b])[0]
            }
            tensors[out] = Value(keras: nil, channelsFirst: y, rank: 4)
            try activate(cfg["activation"]?.string ?? "linear", out, site: site, fail: fail)

        case "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D":
            let x = try one()
            let spatial = kind.hasSuffix("1D") ? 1 : 2
            guard x.shape.count == spatial + 2 else { throw fail("input \(x.shape) must have rank \(spatial + 2)") }
            let amounts = try edgeAmounts(cfg[kind.hasPrefix("Zero") ? "padding" : "cropping"], spatial: spatial, fail: fail)
            let cf = channelsFirst(x.key)
            let y: Int
            if kind.hasPrefix("Zero") {
                // [begin of every axis, end of every axis] over N, C, spatial…
                let pads = [0, 0] + amounts.map(\.0) + [0, 0] + amounts.map(\.1)
                y = add(site, Pad(mode: .constant, pads: pads, value: 0), [cf])[0]
            } else {
                let ends = amounts.map { $0.1 == 0 ? Int.max : -$0.1 }
                y = add(site, Slice(starts: amounts.map(\.0), ends: ends, axes: Array(2..<(2 + spatial))), [cf])[0]
            }
            tensors[out] = Value(keras: nil, channelsFirst: y, rank: x.shape.count)

        case "UpSampling1D", "UpSampling2D":
            let x = try one()
            let spatial = kind == "UpSampling1D" ? 1 : 2
            guard x.shape.count == spatial + 2 else { throw fail("input \(x.shape) must have rank \(spatial + 2)") }
            let size = try ints("size", spatial)
            let interpolation = cfg["interpolation"]?.string ?? "nearest"
            guard interpolation == "nearest" || interpolation == "bilinear" else { throw fail("interpolation '\(interpolation)' is not supported") }
            // Nearest repeats each pixel; bilinear is TensorFlow's resize with half-pixel centres.
            let resize = Resize(
                mode: interpolation == "nearest" ? .nearest : .linear, transform: interpolation == "nearest" ? .asymmetric : .halfPixel,
                nearest: .floor, attributeScales: [1, 1] + size.map(Double.init), roiInput: nil, scalesInput: nil, sizesInput: nil)
            tensors[out] = Value(keras: nil, channelsFirst: add(site, resize, [channelsFirst(x.key)])[0], rank: x.shape.count)

        case "Reshape":
            let x = try one()
            guard let entries = cfg["target_shape"]?.array else { throw fail("has no target_shape") }
            let target = try entries.map { try int($0, "target_shape", -1...Int(Int32.max)) }
            let shape = constant("\(name)/shape", Tensor(shape: [target.count + 1], scalars: ([0] + target).map { Int64($0) }))
            let y = add(site, ShapeOnly(.reshape(allowZero: false), opType: "Reshape"), [keras(x.key), shape])[0]
            tensors[out] = Value(keras: y, channelsFirst: target.count + 1 < 3 ? y : nil, rank: target.count + 1)

        case "Permute":
            let x = try one()
            guard let dims = try cfg["dims"]?.array?.map({ try int($0, "dims", Self.axes) }), Set(dims) == Set(1...max(1, x.shape.count - 1)), dims.count == x.shape.count - 1 else {
                throw fail("dims must permute 1…\(x.shape.count - 1)")
            }
            let y = add(site, Transpose(perm: [0] + dims), [keras(x.key)])[0]
            tensors[out] = Value(keras: y, channelsFirst: x.shape.count < 3 ? y : nil, rank: x.shape.count)

        case "Rescaling":
            let x = try one()
            guard let scale = cfg["scale"]?.number else { throw fail("only a scalar scale and offset are supported") }
            let offset = cfg["offset"]?.number ?? 0
            let v = tensors[x.key]
            let cf = v?.channelsFirst != nil && x.shape.count >= 3
            let input = cf ? channelsFirst(x.key) : keras(x.key)
            var y = add("\(site)/scale", BinaryLayer(.mul, opType: "Mul"), [input, constant("\(name)/scale", Tensor(scalar: Float(scale)))])[0]
            y = add(site, BinaryLayer(.add, opType: "Add"), [y, constant("\(name)/offset", Tensor(scalar: Float(offset)))])[0]
            tensors[out] = cf ? Value(keras: nil, channelsFirst: y, rank: x.shape.count) : Value(keras: y, channelsFirst: x.shape.count < 3 ? y : nil, rank: x.shape.count)

        case "PReLU":
            let x = try one()
            let shared = Set(try (cfg["shared_axes"]?.array ?? []).map { try int($0, "shared_axes", Self.axes) })
            var alphaShape: [Int] = []
            for a in 1..<x.shape.count { alphaShape.append(shared.contains(a) ? 1 : try dim(x, a)) }
            let alpha = constant("\(name)/alpha", try weight(name, "alpha", alphaShape, op: kind))
            let y = add(site, PRelu(), [keras(x.key), alpha])[0]
            tensors[out] = Value(keras: y, channelsFirst: x.shape.count < 3 ? y : nil, rank: x.shape.count)

        case "Embedding":
            let x = try one()
            let vocabulary = try ints("input_dim", 1)[0], width = try ints("output_dim", 1)[0]
            let table = constant("\(name)/embeddings", try weight(name, "weights", [vocabulary, width], op: kind))
            // Token ids arrive as numbers (frugally-deep stores them as float32).
            let ids = add("\(site)/ids", Cast(to: .int64), [keras(x.key)])[0]
            let y = add(site, Gather(axis: 0), [table, ids])[0]
            tensors[out] = Value(keras: y, channelsFirst: nil, rank: x.shape.count + 1)

        case "Conv2DTranspose":
            let x = try one()
            guard x.shape.count == 4 else { throw fail("input \(x.shape) must have rank 4") }
            let filters = try ints("filters", 1)[0], cin = try dim(x, -1)
            let kernel = try ints("kernel_size", 2), strides = try ints("strides", 2, default: [1, 1])
            let dilations = try ints("dilation_rate", 2, default: [1, 1])
            guard cfg["output_padding"] == nil || cfg["output_padding"] == .null else { throw fail("output_padding is not supported") }
            // Stored (out, kh, kw, in): ONNX wants (in, out, kh, kw).
            let stored = try weight(name, "weights", [filters] + kernel + [cin], op: kind)
            let w = Tensor(zeros: [cin, filters] + kernel)
            Movement.transpose(stored, perm: [3, 0, 1, 2], into: w)
            // TensorFlow's `same`: output = input · stride; the overlap k − s is cropped, the
            // smaller half first; a kernel shorter than the stride leaves zeros at the end.
            var begin = [0, 0], end = [0, 0], extra = [0, 0]
            if (try padding()) == "same" {
                for i in 0..<2 {
                    let total = (kernel[i] - 1) * dilations[i] + 1 - strides[i]
                    if total >= 0 { begin[i] = total / 2; end[i] = total - total / 2 } else { extra[i] = -total }
                }
            }
            let layer = try ConvTranspose(
                kernelShape: kernel, strides: strides, dilations: dilations, pads: begin + end, outputPadding: extra, outputShape: nil,
                autoPad: .notSet, group: 1)
            let b = bool("use_bias", true) ? constant("\(name)/bias", try weight(name, "bias", [filters], op: kind)) : nil
            let y = add(site, layer, [channelsFirst(x.key), constant("\(name)/kernel", w), b])[0]
            tensors[out] = Value(keras: nil, channelsFirst: y, rank: 4)
            try activate(cfg["activation"]?.string ?? "linear", out, site: site, fail: fail)

        case "Resizing":
            let x = try one()
            guard x.shape.count == 4 else { throw fail("input \(x.shape) must have rank 4") }
            guard !bool("crop_to_aspect_ratio", false), !bool("pad_to_aspect_ratio", false) else { throw fail("crop/pad to aspect ratio is not supported") }
            let size = [try ints("height", 1)[0], try ints("width", 1)[0]]
            let interpolation = cfg["interpolation"]?.string ?? "bilinear"
            // TensorFlow's resize: half-pixel centres; nearest picks ⌊(x + ½)·in/out⌋, which is
            // ONNX's half_pixel with ties rounded up.
            let mode: ResizeTaps.Mode
            switch interpolation {
            case "bilinear": mode = .linear
            case "nearest": mode = .nearest
            case "bicubic": mode = .cubic
            default: throw fail("interpolation '\(interpolation)' is not supported")
            }
            let resize = Resize(
                mode: mode, transform: .halfPixel, nearest: .roundPreferCeil, cubicA: -0.5, axes: [2, 3],
                roiInput: nil, scalesInput: nil, sizesInput: 1)
            let sizes = constant("\(name)/sizes", Tensor(shape: [2], scalars: size.map { Int64($0) }))
            tensors[out] = Value(keras: nil, channelsFirst: add(site, resize, [channelsFirst(x.key), sizes])[0], rank: 4)

        case "LayerNormalization":
            let x = try one()
            try requireLastAxis(cfg["axis"], rank: x.shape.count, fail: fail)
            guard !bool("rms_scaling", false) else { throw fail("rms_scaling is not supported") }
            let c = try dim(x, -1)
            let gamma = hasWeight(name, "gamma") ? try weight(name, "gamma", [c], op: kind) : Tensor(shape: [c], scalars: [Float](repeating: 1, count: c))
            let beta = hasWeight(name, "beta") ? try weight(name, "beta", [c], op: kind) : Tensor(shape: [c], scalars: [Float](repeating: 0, count: c))
            let layer = LayerNormalization(axis: -1, epsilon: number("epsilon", 1e-3), stashType: .float32)
            let y = add(site, layer, [keras(x.key), constant("\(name)/gamma", gamma), constant("\(name)/beta", beta)], outputs: 1)[0]
            tensors[out] = Value(keras: y, channelsFirst: x.shape.count < 3 ? y : nil, rank: x.shape.count)

        case "MultiHeadAttention":
            // Inputs: query, value[, key]. Projections as MatMuls over the last axis, then
            // ONNX Attention on [B, S, heads · size] (scale 1/√key_dim, as Keras scales the query).
            guard inputs.count >= 2, inputs.count <= 3, inputs[0].shape.count == 3 else { throw fail("takes query, value and an optional key, all [B, S, d]") }
            guard cfg["attention_axes"] == nil || cfg["attention_axes"] == .null || cfg["attention_axes"]?.array?.map({ $0.integer }) == [1] else {
                throw fail("attention over axes other than the sequence is not supported")
            }
            let heads = try ints("num_heads", 1)[0], keyDim = try ints("key_dim", 1)[0]
            let valueDim = cfg["value_dim"] == nil || cfg["value_dim"] == .null ? keyDim : try int(cfg["value_dim"], "value_dim")
            let (q, v) = (inputs[0], inputs[1]), k = inputs.count > 2 ? inputs[2] : inputs[1]
            let (dq, dk, dv) = (try dim(q, -1), try dim(k, -1), try dim(v, -1))
            let useBias = bool("use_bias", true)
            // Keras's weight order: query kernel (d, heads, key_dim) and bias, key, value, output
            // kernel (heads, value_dim, d) and bias; kernels are used flattened to 2-D.
            var shapes: [[Int]] = [[dq, heads * keyDim], [heads * keyDim], [dk, heads * keyDim], [heads * keyDim],
                                   [dv, heads * valueDim], [heads * valueDim], [heads * valueDim, dq], [dq]]
            if !useBias { shapes = [shapes[0], shapes[2], shapes[4], shapes[6]] }
            guard let lists = weights.entry(name, "weights")?.array, lists.count == shapes.count else {
                throw fail("needs \(shapes.count) weight arrays in trainable_params 'weights'")
            }
            let parts = try zip(lists, shapes).enumerated().map { i, pair in
                try Self.floats(pair.0, shape: pair.1, path: file, what: "layer '\(name)' weights[\(i)]")
            }
            func project(_ input: Int, _ w: Tensor, _ b: Tensor?, _ tag: String) -> Int {
                var y = add("\(site)/\(tag)", MatMul(), [input, constant("\(name)/\(tag)_kernel", w)])[0]
                if let b { y = add("\(site)/\(tag)_bias", BinaryLayer(.add, opType: "Add"), [y, constant("\(name)/\(tag)_bias", b)])[0] }
                return y
            }
            let p = useBias ? [parts[0], parts[2], parts[4], parts[6]] : parts
            let biases: [Tensor?] = useBias ? [parts[1], parts[3], parts[5], parts[7]] : [nil, nil, nil, nil]
            let qp = project(keras(q.key), p[0], biases[0], "query"), kp = project(keras(k.key), p[1], biases[1], "key")
            let vp = project(keras(v.key), p[2], biases[2], "value")
            let attention = try Attention(scale: nil, isCausal: false, qHeads: heads, kvHeads: heads, softcap: 0, qkOutputMode: 0, leftWindow: -1, rightWindow: -1)
            let mixed = add("\(site)/attention", attention, [qp, kp, vp], outputs: 1)[0]
            let y = project(mixed, p[3], biases[3], "output")
            tensors[out] = Value(keras: y, channelsFirst: nil, rank: 3)

        case "Functional", "Model":
            // A nested model: its layers inline, named `outer/inner`, weights under `outer_inner`.
            let keys = try inline(cfg, scope: site, paramPrefix: "\(name.split(separator: "/").last.map(String.init) ?? name)_", inputs: inputs.map(\.key))
            guard keys.count == 1, let y = tensors[keys[0]] else { throw fail("nested models with \(keys.count) outputs are not supported") }
            // Keras numbers a nested model's calls from 1: node 0 is the model's own construction.
            tensors["\(name):\(k + 1):0"] = y

        case "TimeDistributed":
            // The wrapped model on every step: [N, T, …] → [N·T, …] → model → [N, T, …].
            let x = try one()
            guard let inner = cfg["layer"], inner["class_name"]?.string == "Functional", let innerCfg = inner["config"],
                  let steps = x.shape.count >= 3 ? x.shape[1] : nil else {
                throw fail("only a wrapped Functional model over a known number of steps is supported")
            }
            let rest = Array(x.shape.dropFirst(2)).map { $0 ?? -1 }
            let flatShape = constant("\(name)/steps_shape", Tensor(shape: [rest.count + 1], scalars: ([-1] + rest).map { Int64($0) }))
            let flat = add("\(site)/merge_steps", ShapeOnly(.reshape(allowZero: false), opType: "Reshape"), [keras(x.key), flatShape])[0]
            let flatKey = "\(site)/steps:0:0"
            tensors[flatKey] = Value(keras: flat, channelsFirst: rest.count + 1 < 3 ? flat : nil, rank: rest.count + 1)
            let keys = try inline(innerCfg, scope: site, paramPrefix: "\(name.split(separator: "/").last.map(String.init) ?? name)_", inputs: [flatKey])
            guard keys.count == 1, tensors[keys[0]] != nil else { throw fail("the wrapped model must have one output") }
            let outRank = tensors[keys[0]]?.rank ?? 2
            let y = add(site, ShapeOnly(.splitLeading(steps), opType: "Reshape"), [keras(keys[0])])[0]
            tensors[out] = Value(keras: y, channelsFirst: nil, rank: outRank + 1)

        case "Dot":
            // A batch dot product over one axis of each input (Keras's batch_dot), as an Einsum;
            // `normalize` divides both by their L2 norms along those axes first.
            guard inputs.count == 2 else { throw fail("takes two inputs, the call site has \(inputs.count)") }
            let ranks = inputs.map(\.shape.count)
            let rawAxes = try cfg["axes"]?.array?.map { try int($0, "axes", Self.axes) } ?? [Int](repeating: try axis("axes"), count: 2)
            guard rawAxes.count == 2 else { throw fail("axes \(rawAxes) must name one axis per input") }
            let axes = zip(rawAxes, ranks).map { $0 < 0 ? $0 + $1 : $0 }
            guard zip(axes, ranks).allSatisfy({ $0 >= 1 && $0 < $1 }) else { throw fail("axes \(rawAxes) are out of range for ranks \(ranks)") }
            var ids = inputs.map { keras($0.key) }
            if bool("normalize", false) {
                ids = try zip(ids, axes).enumerated().map { i, p in
                    add("\(site)/normalize\(i)", try LpNormalization(axis: p.1, p: 2), [p.0])[0]
                }
            }
            // Letters: n for the batch, c for the contracted axis, the rest distinct.
            var letters = Array("abdefghijklm")
            func term(_ rank: Int, _ axis: Int) -> String {
                String((0..<rank).map { d -> Character in d == 0 ? "n" : d == axis ? "c" : letters.removeFirst() })
            }
            let ta = term(ranks[0], axes[0]), tb = term(ranks[1], axes[1])
            let kept = (ta + tb).filter { $0 != "n" && $0 != "c" }
            let equation = "\(ta),\(tb)->n\(String(kept))"
            var y = add(site, try Einsum(equation: equation), ids)[0]
            var rank = kept.count + 1
            if rank == 1 {
                // Keras keeps a trailing axis of 1 for a per-sample scalar.
                let shape = constant("\(name)/shape", Tensor(shape: [2], scalars: [Int64(0), 1]))
                y = add("\(site)/expand", ShapeOnly(.reshape(allowZero: false), opType: "Reshape"), [y, shape])[0]
                rank = 2
            }
            tensors[out] = Value(keras: y, channelsFirst: rank < 3 ? y : nil, rank: rank)

        case "SimpleRNN", "LSTM", "GRU":
            let x = try one()
            let y = add(site, try recurrent(kind, cfg, x, params: name, prefix: "", reverse: false, fail: fail), [keras(x.key)])[0]
            tensors[out] = Value(keras: y, channelsFirst: nil, rank: bool("return_sequences", false) ? 3 : 2)

        case "Bidirectional":
            let x = try one()
            guard let inner = cfg["layer"], let innerKind = inner["class_name"]?.string, let innerCfg = inner["config"] else {
                throw fail("has no wrapped 'layer'")
            }
            let mode = cfg["merge_mode"]?.string ?? "concat"
            let sequences = innerCfg["return_sequences"]?.bool ?? false
            let input = keras(x.key)
            let forward = add("\(site)/forward", try recurrent(innerKind, innerCfg, x, params: name, prefix: "forward_", reverse: false, fail: fail), [input])[0]
            let backward = add("\(site)/backward", try recurrent(innerKind, innerCfg, x, params: name, prefix: "backward_", reverse: true, fail: fail), [input])[0]
            let merge: any Layer
            switch mode {
            case "concat": merge = Concat(axis: -1)
            case "sum": merge = BinaryLayer(.add, opType: "Add")
            case "mul": merge = BinaryLayer(.mul, opType: "Mul")
            case "ave": merge = VariadicLayer(.add, isMean: true, opType: "Mean")
            default: throw fail("merge_mode '\(mode)' is not supported (concat, sum, mul, ave)")
            }
            let y = add(site, merge, [forward, backward])[0]
            tensors[out] = Value(keras: y, channelsFirst: nil, rank: sequences ? 3 : 2)

        default:
            throw fail("Keras layer class '\(kind)' is not supported")
        }
    }

    /// A SimpleRNN, LSTM or GRU from its config and weights (`<prefix>weights`, …).
    func recurrent(
        _ kind: String, _ cfg: JSONValue, _ x: Input, params layer: String, prefix: String, reverse: Bool, fail: (String) -> LoadError
    ) throws -> Recurrent {
        guard x.shape.count == 3, let features = x.shape[2] else { throw fail("input \(x.shape) must be [N, T, features]") }
        for flag in ["go_backwards", "stateful", "return_state"] where cfg[flag]?.bool == true {
            throw fail("\(flag) is not supported")
        }
        let units = try Self.integer(cfg["units"], "units", Self.sizes, fail: fail)
        let cell: Recurrent.Cell = kind == "LSTM" ? .lstm : kind == "GRU" ? .gru(resetAfter: cfg["reset_after"]?.bool ?? true) : .simple
        let width = cell.gates * units
        func activation(_ key: String, _ d: String) throws -> UnaryOp? {
            switch cfg[key]?.string ?? d {
            case "linear": return nil
            case "tanh": return .activation(.tanh)
            case "sigmoid": return .activation(.sigmoid)
            case "relu": return .activation(.relu)
            case "hard_sigmoid": return .activation(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
            case let other: throw fail("\(key) '\(other)' is not supported in recurrent layers")
            }
        }
        let useBias = cfg["use_bias"]?.bool ?? true
        let biasShape = cell == .gru(resetAfter: true) ? [2, width] : [width]
        do {
            return try Recurrent(
                cell: cell, units: units, activation: try activation("activation", "tanh"),
                recurrentActivation: cell == .simple ? nil : try activation("recurrent_activation", "sigmoid"),
                returnSequences: cfg["return_sequences"]?.bool ?? false, reverse: reverse,
                kernel: try weight(layer, "\(prefix)weights", [features, width], op: kind),
                recurrentKernel: try weight(layer, "\(prefix)recurrent_weights", [units, width], op: kind),
                bias: useBias ? try weight(layer, "\(prefix)bias", biasShape, op: kind) : nil)
        } catch let e as LayerError { throw fail(e.message) }
    }

    /// Checks that a layer's `axis` (a number or a one-element list; absent means −1) is the last one.
    func requireLastAxis(_ v: JSONValue?, rank: Int, fail: (String) -> LoadError) throws {
        let items = v == nil || v == .null ? [JSONValue.number(-1)] : v?.array ?? [v ?? .null]
        let axes = try items.map { try Self.integer($0, "axis", Self.axes, fail: fail) }
        guard axes.count == 1, axes[0] == -1 || axes[0] == rank - 1 else { throw fail("axis \(axes) is not supported (only the last axis)") }
    }

    /// Padding or cropping amounts per spatial axis as (begin, end): an integer, one pair per axis,
    /// or one integer per axis (symmetric).
    func edgeAmounts(_ v: JSONValue?, spatial: Int, fail: (String) -> LoadError) throws -> [(Int, Int)] {
        func amount(_ x: JSONValue) throws -> Int { try Self.integer(x, "padding or cropping", 0...Int(Int32.max), fail: fail) }
        if v?.number != nil, let v { let n = try amount(v); return [(Int, Int)](repeating: (n, n), count: spatial) }
        guard let a = v?.array else { throw fail("has no padding or cropping amounts") }
        if spatial == 1, a.count == 2, a[0].number != nil, a[1].number != nil { return [(try amount(a[0]), try amount(a[1]))] }
        guard a.count == spatial else { throw fail("amounts \(v?.brief ?? "") do not give \(spatial) axes") }
        return try a.map { item in
            if item.number != nil { let n = try amount(item); return (n, n) }
            guard let p = item.array, p.count == 2 else { throw fail("amounts \(v?.brief ?? "") are not pairs") }
            return (try amount(p[0]), try amount(p[1]))
        }
    }

    /// Sizes in a config (units, filters, kernel sizes, strides, …) and axes.
    static let sizes = 1...Int(Int32.max), axes = -64...64

    /// A config number that must be an integer in `range`: 2.5, 1e300, NaN, a string are refused.
    static func integer(_ v: JSONValue?, _ what: String, _ range: ClosedRange<Int>, fail: (String) -> LoadError) throws -> Int {
        guard let n = v?.integer, range.contains(n) else {
            throw fail("config '\(what)' is \(v?.brief ?? "absent"), expected an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// A layer that works on either layout: applied to whichever form exists (channels-first first).
    mutating func elementwise(_ layer: any Layer, _ key: String, _ out: String, site: String) {
        guard let v = tensors[key] else { return }
        if let c = v.channelsFirst {
            let y = add(site, layer, [c])[0]
            tensors[out] = Value(keras: v.rank < 3 ? y : nil, channelsFirst: y, rank: v.rank)
        } else {
            let y = add(site, layer, [v.keras])[0]
            tensors[out] = Value(keras: y, channelsFirst: nil, rank: v.rank)
        }
    }

    /// Applies a Keras activation by name to the tensor at `key`, in place (same key).
    mutating func activate(_ activation: String, _ key: String, site: String, fail: (String) -> LoadError) throws {
        let layer: (any Layer)?
        switch activation {
        case "linear": layer = nil
        case "relu": layer = ActivationLayer(.relu)
        case "relu6": layer = ActivationLayer(.clip(low: 0, high: 6))
        case "sigmoid": layer = ActivationLayer(.sigmoid)
        case "hard_sigmoid": layer = ActivationLayer(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5))  // Keras 3: relu6(x + 3) / 6
        case "tanh": layer = ActivationLayer(.tanh)
        case "swish", "silu": layer = ActivationLayer(.swish)
        case "gelu": layer = UnaryLayer(.gelu(tanhApproximation: false), opType: "Gelu")
        case "elu": layer = UnaryLayer(.elu(alpha: 1), opType: "Elu")
        case "selu": layer = UnaryLayer(.selu(alpha: 1.6732632423543772, gamma: 1.0507009873554805), opType: "Selu")
        case "softplus": layer = UnaryLayer(.softplus, opType: "Softplus")
        case "softsign": layer = UnaryLayer(.softsign, opType: "Softsign")
        case "exponential": layer = UnaryLayer(.exp, opType: "Exp")
        case "mish": layer = UnaryLayer(.mish, opType: "Mish")
        case "leaky_relu": layer = ActivationLayer(.leakyRelu(alpha: 0.2))
        case "softmax":
            try softmax(key, axis: -1, site: site, fail: fail)
            return
        default: throw fail("activation '\(activation)' is not supported")
        }
        if let layer { elementwise(layer, key, key, site: "\(site)/\(activation)") }
    }

    /// Softmax along a Keras axis, on whichever layout holds that axis last-or-first cheaply.
    mutating func softmax(_ key: String, axis: Int, site: String, fail: (String) -> LoadError) throws {
        guard let v = tensors[key] else { return }
        let a = axis < 0 ? axis + v.rank : axis
        guard a >= 0 && a < v.rank else { throw fail("softmax axis \(axis) is out of range for rank \(v.rank)") }
        if let c = v.channelsFirst, v.keras == nil, a == v.rank - 1 {
            let y = add("\(site)/softmax", Softmax(axis: 1, legacyCoercion: false), [c])[0]
            tensors[key] = Value(keras: v.rank < 3 ? y : nil, channelsFirst: y, rank: v.rank)
        } else {
            let y = add("\(site)/softmax", Softmax(axis: a, legacyCoercion: false), [keras(key)])[0]
            tensors[key] = Value(keras: y, channelsFirst: v.rank < 3 ? y : nil, rank: v.rank)
        }
    }

    /// Keras padding names as a window: `same` pads like TensorFlow (the odd pixel at the end),
    /// `causal` (1-D) pads only the beginning.
    func window(_ padding: String, kernel: [Int], strides: [Int], dilations: [Int]?, fail: (String) -> LoadError) throws -> WindowAttributes {
        do {
            switch padding {
            case "valid": return try WindowAttributes(kernelShape: kernel, strides: strides, dilations: dilations, pads: nil, autoPad: .notSet)
            case "same": return try WindowAttributes(kernelShape: kernel, strides: strides, dilations: dilations, pads: nil, autoPad: .sameUpper)
            case "causal" where kernel.count == 1:
                let span = (kernel[0] - 1) * (dilations?[0] ?? 1)
                return try WindowAttributes(kernelShape: kernel, strides: strides, dilations: dilations, pads: [span, 0], autoPad: .notSet)
            default: throw fail("padding '\(padding)' is not supported (valid, same, causal for 1-D)")
            }
        } catch let e as LayerError { throw fail(e.message) }
    }
}
