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

    mutating func apply(_ layer: JSONValue, node k: Int, inputs: [Input]) throws {
        let kind = layer["class_name"]?.string ?? "?"
        let name = layer["name"]?.string ?? layer["config"]?["name"]?.string ?? "?"
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
        func ints(_ key: String, _ count: Int, default d: [Int]? = nil) throws -> [Int] {
            if let v = cfg[key], let n = v.number { return [Int](repeating: Int(n), count: count) }
            if let a = cfg[key]?.array, a.count == count, a.allSatisfy({ $0.number != nil }) { return a.map { Int($0.number ?? 0) } }
            if let d, cfg[key] == nil || cfg[key] == .null { return d }
            throw fail("config '\(key)' is \(String(describing: cfg[key])), expected \(count) integers")
        }
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
            let w = constant("\(name)/kernel", try weight(name, "weights", [inner, units], op: kind))
            let b = bool("use_bias", true) ? constant("\(name)/bias", try weight(name, "bias", [units], op: kind)) : nil
            if x.shape.count == 2 {
                y = add(site, Gemm(transA: false, transB: false, alpha: 1, beta: 1), [keras(x.key), w, b])[0]
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
            let window = try self.window(cfg["padding"]?.string ?? "valid", kernel: kernel, strides: strides, dilations: dilations, fail: fail)
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
            let window = try self.window(cfg["padding"]?.string ?? "valid", kernel: size, strides: strides, dilations: nil, fail: fail)
            // Keras averages over the taps inside the image only.
            let pool = Pool(kind: kind.hasPrefix("Max") ? .max : .average(countIncludePad: false), window: window)
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
            let axis = (cfg["axis"]?.number).map { Int($0) } ?? (cfg["axis"]?.array?.first?.number).map { Int($0) } ?? -1
            guard axis == -1 || axis == x.shape.count - 1 else { throw fail("axis \(axis) is not supported (only the channel axis, -1)") }
            let c = try dim(x, -1)
            let mean = try weight(name, "moving_mean", [c], op: kind).doubles(), variance = try weight(name, "moving_variance", [c], op: kind).doubles()
            let gamma = hasWeight(name, "gamma") ? try weight(name, "gamma", [c], op: kind).doubles() : [Double](repeating: 1, count: c)
            let beta = hasWeight(name, "beta") ? try weight(name, "beta", [c], op: kind).doubles() : [Double](repeating: 0, count: c)
            let bn = try BatchNormalization(scale: gamma, bias: beta, mean: mean, variance: variance, epsilon: number("epsilon", 1e-3))
            let y = add(site, bn, [channelsFirst(x.key)])[0]
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
            let axis = (cfg["axis"]?.number).map { Int($0) } ?? -1
            try softmax(out, axis: axis, site: site, fail: fail)

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
            let raw = (cfg["axis"]?.number).map { Int($0) } ?? -1
            let axis = raw < 0 ? raw + rank : raw
            guard axis >= 1 && axis < rank else { throw fail("axis \(raw) is out of range for rank \(rank)") }
            let cf = rank >= 3 && inputs.allSatisfy { tensors[$0.key]?.channelsFirst != nil }
            let ids = inputs.map { cf ? channelsFirst($0.key) : keras($0.key) }
            let y = add(site, Concat(axis: cf ? (axis == rank - 1 ? 1 : axis + 1) : axis), ids)[0]
            tensors[out] = cf ? Value(keras: nil, channelsFirst: y, rank: rank) : Value(keras: y, channelsFirst: rank < 3 ? y : nil, rank: rank)

        default:
            throw fail("Keras layer class '\(kind)' is not supported")
        }
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
