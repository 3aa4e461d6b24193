import Layers
import Runtime
import TensorCore

extension ONNXOps {
    static func window(_ c: OpContext, kernelShape: [Int]? = nil, weightKernel: [Int]? = nil, allowCeil: Bool = false) throws -> WindowAttributes {
        let a = c.attributes
        guard let kernel = try kernelShape ?? a.ints("kernel_shape") ?? weightKernel else {
            throw c.error("required attribute 'kernel_shape' is missing")
        }
        let autoPadText = try a.string("auto_pad", default: "NOTSET")
        guard let autoPad = AutoPad(rawValue: autoPadText) else {
            throw c.error("attribute 'auto_pad' is '\(autoPadText)', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID")
        }
        do {
            return try WindowAttributes(
                kernelShape: kernel, strides: a.ints("strides"), dilations: a.ints("dilations"), pads: a.ints("pads"),
                autoPad: autoPad, ceilMode: allowCeil ? try a.flag("ceil_mode", default: false) : false)
        } catch let e as LayerError {
            throw c.error(e.message)
        }
    }

    static let convolutionOps: [String: Builder] = [
        "Conv": { c in
            // kernel_shape may be omitted; the weight's trailing dimensions give it (from its value,
            // or from its declared shape when it is a graph input).
            let weight = c.constant(1)
            let w = try window(c, weightKernel: (weight?.shape ?? c.declaredShape(1)).map { Array($0.dropFirst(2)) })
            let group = try c.attributes.int("group", default: 1)
            do { return try Conv(window: w, group: group, weight: weight) } catch let e as LayerError { throw c.error(e.message) }
        },
        "ConvTranspose": { c in
            let a = c.attributes
            let autoPadText = try a.string("auto_pad", default: "NOTSET")
            guard let autoPad = AutoPad(rawValue: autoPadText) else {
                throw c.error("attribute 'auto_pad' is '\(autoPadText)', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID")
            }
            do {
                return try ConvTranspose(
                    kernelShape: a.ints("kernel_shape"), strides: a.ints("strides"), dilations: a.ints("dilations"), pads: a.ints("pads"),
                    outputPadding: a.ints("output_padding"), outputShape: a.ints("output_shape"), autoPad: autoPad,
                    group: a.int("group", default: 1))
            } catch let e as LayerError { throw c.error(e.message) }
        },
        "MaxPool": { c in
            let order = try c.attributes.int("storage_order", default: 0)
            guard order == 0 || order == 1 else { throw c.error("storage_order is \(order), expected 0 or 1") }
            let indices = c.outputCount > 1 && !c.attributes.node.output[1].isEmpty
            return try Pool(kind: .max, window: try window(c, allowCeil: c.opset >= 10), producesIndices: indices, columnMajorIndices: order == 1)
        },
        "AveragePool": { c in
            let cip = try c.attributes.flag("count_include_pad", default: false)
            return try Pool(kind: .average(countIncludePad: cip), window: try window(c, allowCeil: c.opset >= 10))
        },
        "LpPool": { c in
            let p = try c.attributes.int("p", default: 2)
            guard p >= 1 && p <= 64 else { throw c.error("p is \(p), expected 1 to 64") }
            return try Pool(kind: .lp(p: p), window: try window(c, allowCeil: c.opset >= 18))
        },
        "GlobalAveragePool": { _ in GlobalPool(isMax: false) },
        "GlobalMaxPool": { _ in GlobalPool(isMax: true) },
        "LRN": { c in
            let a = c.attributes
            do {
                return try LRN(
                    size: a.require(a.int("size"), "size"), alpha: a.float("alpha", default: 1e-4),
                    beta: a.float("beta", default: 0.75), bias: a.float("bias", default: 1))
            } catch let e as LayerError { throw c.error(e.message) }
        },
        "BatchNormalization": { c in
            let a = c.attributes
            if c.opset < 9, try a.int("spatial", default: 1) != 1 { throw c.error("spatial = 0 is not supported") }
            let epsilon = Double(try a.float("epsilon", default: 1e-5))
            if try a.flag("training_mode", default: false) {
                return BatchNormalizationTraining(epsilon: epsilon, momentum: Double(try a.float("momentum", default: 0.9)))
            }
            let params = (1...4).map { c.constant($0) }
            if params.allSatisfy({ $0 != nil }) {
                do {
                    return try BatchNormalization(
                        scale: params[0]!.doubles(), bias: params[1]!.doubles(), mean: params[2]!.doubles(),
                        variance: params[3]!.doubles(), epsilon: epsilon)
                } catch let e as LayerError { throw c.error(e.message) }
            }
            return BatchNormalization(epsilon: epsilon)
        },
        "Gemm": { c in
            let a = c.attributes
            return Gemm(
                transA: try a.int("transA", default: 0) != 0, transB: try a.int("transB", default: 0) != 0,
                alpha: try a.float("alpha", default: 1), beta: try a.float("beta", default: 1), weight: c.constant(1))
        },
        "MatMul": { _ in MatMul() },
    ]
}
