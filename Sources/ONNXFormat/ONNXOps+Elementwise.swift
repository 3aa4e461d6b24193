import Layers
import Runtime
import TensorCore

extension ONNXOps {
    static let elementwiseOps: [String: Builder] = {
        var t: [String: Builder] = [
            "Relu": { _ in ActivationLayer(.relu) },
            "Sigmoid": { _ in ActivationLayer(.sigmoid) },
            "Tanh": { _ in ActivationLayer(.tanh) },
            "HardSwish": { _ in ActivationLayer(.hardSwish) },
            "LeakyRelu": { c in ActivationLayer(.leakyRelu(alpha: try c.attributes.float("alpha", default: 0.01))) },
            "HardSigmoid": { c in
                ActivationLayer(.hardSigmoid(alpha: try c.attributes.float("alpha", default: 0.2), beta: try c.attributes.float("beta", default: 0.5)))
            },
            "Clip": { c in
                if c.opset < 11 {
                    let lo = try c.attributes.float("min", default: -.greatestFiniteMagnitude)
                    let hi = try c.attributes.float("max", default: .greatestFiniteMagnitude)
                    return ActivationLayer(.clip(low: lo, high: hi))
                }
                // Constant bounds make a fusable activation; runtime bounds a general Clip.
                let loKnown = c.inputCount < 2 || c.constant(1) != nil || !hasInput(c, 1)
                let hiKnown = c.inputCount < 3 || c.constant(2) != nil || !hasInput(c, 2)
                if loKnown && hiKnown {
                    let lo = scalarDouble(c.constant(1)).map { Float($0) } ?? -.infinity
                    let hi = scalarDouble(c.constant(2)).map { Float($0) } ?? .infinity
                    return ActivationLayer(.clip(low: lo, high: hi))
                }
                return Clip()
            },
            "PRelu": { _ in PRelu() },
            "Softmax": { c in
                Softmax(axis: try c.attributes.int("axis", default: c.opset >= 13 ? -1 : 1), legacyCoercion: c.opset < 13)
            },
            "LogSoftmax": { c in
                Softmax(axis: try c.attributes.int("axis", default: c.opset >= 13 ? -1 : 1), legacyCoercion: c.opset < 13, isLog: true)
            },
            "Sum": { _ in VariadicLayer(.add, opType: "Sum") },
            "Mean": { _ in VariadicLayer(.add, isMean: true, opType: "Mean") },
            "Max": { _ in VariadicLayer(.max, opType: "Max") },
            "Min": { _ in VariadicLayer(.min, opType: "Min") },
        ]
        let binary: [(String, BinaryOp)] = [("Add", .add), ("Sub", .sub), ("Mul", .mul), ("Div", .div), ("Pow", .pow)]
        for (name, op) in binary {
            t[name] = { c in
                if c.opset < 7 { throw c.error("opset \(c.opset) broadcasting is not supported") }
                return BinaryLayer(op, opType: name)
            }
        }
        let unary: [(String, UnaryOp)] = [
            ("Abs", .abs), ("Neg", .neg), ("Sqrt", .sqrt), ("Exp", .exp), ("Log", .log), ("Reciprocal", .reciprocal),
            ("Floor", .floor), ("Ceil", .ceil), ("Erf", .erf),
        ]
        for (name, op) in unary { t[name] = { _ in UnaryLayer(op, opType: name) } }
        let moreUnary: [(String, UnaryOp)] = [
            ("Round", .round), ("Sign", .sign), ("Sin", .sin), ("Cos", .cos), ("Tan", .tan), ("Asin", .asin), ("Acos", .acos),
            ("Atan", .atan), ("Sinh", .sinh), ("Cosh", .cosh), ("Asinh", .asinh), ("Acosh", .acosh), ("Atanh", .atanh),
            ("Softplus", .softplus), ("Softsign", .softsign), ("Mish", .mish),
        ]
        for (name, op) in moreUnary { t[name] = { _ in UnaryLayer(op, opType: name) } }
        t["Elu"] = { c in UnaryLayer(.elu(alpha: Double(try c.attributes.float("alpha", default: 1))), opType: "Elu") }
        t["Celu"] = { c in UnaryLayer(.celu(alpha: Double(try c.attributes.float("alpha", default: 1))), opType: "Celu") }
        t["ThresholdedRelu"] = { c in UnaryLayer(.thresholdedRelu(alpha: Double(try c.attributes.float("alpha", default: 1))), opType: "ThresholdedRelu") }
        t["Swish"] = { c in
            let alpha = try c.attributes.float("alpha", default: 1)
            return alpha == 1 ? ActivationLayer(.swish) : UnaryLayer(.swish(alpha: Double(alpha)), opType: "Swish")
        }
        t["Selu"] = { c in
            // The defaults are the float32 values the ONNX spec gives.
            let alpha = try c.attributes.float("alpha", default: 1.67326319217681884765625)
            let gamma = try c.attributes.float("gamma", default: 1.05070102214813232421875)
            return UnaryLayer(.selu(alpha: Double(alpha), gamma: Double(gamma)), opType: "Selu")
        }
        t["Gelu"] = { c in
            let approximate = try c.attributes.string("approximate", default: "none")
            guard approximate == "none" || approximate == "tanh" else { throw c.error("approximate is \"\(approximate)\", expected \"none\" or \"tanh\"") }
            return UnaryLayer(.gelu(tanhApproximation: approximate == "tanh"), opType: "Gelu")
        }
        let comparisons: [(String, BinaryOp)] = [
            ("Equal", .equal), ("Less", .less), ("Greater", .greater), ("LessOrEqual", .lessOrEqual), ("GreaterOrEqual", .greaterOrEqual),
            ("And", .and), ("Or", .or), ("Xor", .xor),
        ]
        for (name, op) in comparisons { t[name] = { _ in BinaryLayer(op, opType: name) } }
        t["Mod"] = { c in BinaryLayer(try c.attributes.flag("fmod", default: false) ? .fmod : .mod, opType: "Mod") }
        t["BitShift"] = { c in
            let direction = try c.attributes.string("direction", default: "")
            guard direction == "LEFT" || direction == "RIGHT" else { throw c.error("direction is \"\(direction)\", expected \"LEFT\" or \"RIGHT\"") }
            return BinaryLayer(direction == "LEFT" ? .bitShiftLeft : .bitShiftRight, opType: "BitShift")
        }
        t["Where"] = { _ in Where() }
        t["Not"] = { _ in LogicalNot() }
        t["IsNaN"] = { _ in FloatClassLayer(.nan) }
        t["IsInf"] = { c in
            FloatClassLayer(.infinity(positive: try c.attributes.flag("detect_positive", default: true),
                                      negative: try c.attributes.flag("detect_negative", default: true)))
        }
        return t
    }()

    /// Whether the node names input k (an empty name means absent).
    static func hasInput(_ c: OpContext, _ k: Int) -> Bool {
        k < c.attributes.node.input.count && !c.attributes.node.input[k].isEmpty
    }
}

extension ONNXOps {
    static let reductionOps: [String: Builder] = {
        var t: [String: Builder] = [:]
        let ops: [(String, ReduceOp)] = [
            ("ReduceSum", .sum), ("ReduceMean", .mean), ("ReduceMax", .max), ("ReduceMin", .min), ("ReduceProd", .prod),
            ("ReduceL1", .l1), ("ReduceL2", .l2), ("ReduceLogSum", .logSum), ("ReduceLogSumExp", .logSumExp), ("ReduceSumSquare", .sumSquare),
        ]
        for (name, op) in ops {
            // Axes moved from attribute to input at opset 13 for ReduceSum, 18 for the others.
            let inputSince = name == "ReduceSum" ? 13 : 18
            t[name] = { c in
                let a = c.attributes
                let noop = try a.flag("noop_with_empty_axes", default: false)
                return ReduceLayer(
                    op, opType: name, axes: c.opset < inputSince ? try a.ints("axes") : nil,
                    keepDims: try a.flag("keepdims", default: true), noopWithEmptyAxes: c.opset >= inputSince && noop)
            }
        }
        return t
    }()
}
