import Layers
import Runtime
import TensorCore

extension ONNXOps {
    /// An optional type attribute (0 or absent: not given).
    static func dtypeAttribute(_ c: OpContext, _ name: String) throws -> DType? {
        guard let code = try c.attributes.int(name), code != 0 else { return nil }
        guard let t = DType(rawValue: code) else { throw c.error("attribute '\(name)' is ONNX type \(code), which is not supported") }
        return t
    }

    static let quantizationOps: [String: Builder] = [
        "QuantizeLinear": { c in
            let a = c.attributes
            let precision = try dtypeAttribute(c, "precision")
            if let p = precision, !p.isFloatingPoint { throw c.error("precision \(p) is not a float type") }
            return QuantizeLinear(
                axis: try a.int("axis", default: 1), blockSize: try a.int("block_size", default: 0),
                outputType: try dtypeAttribute(c, "output_dtype"), precision: precision, saturate: try a.flag("saturate", default: true))
        },
        "DynamicQuantizeLinear": { _ in DynamicQuantizeLinear() },
        "MatMulInteger": { _ in MatMulInteger() },
        "ConvInteger": { c in
            let w = c.constant(1)
            let window = try window(c, weightKernel: (w?.shape ?? c.declaredShape(1)).map { Array($0.dropFirst(2)) })
            do { return try IntegerConv(window: window, group: try c.attributes.int("group", default: 1), requantizes: false) } catch let e as LayerError {
                throw c.error(e.message)
            }
        },
        "QLinearConv": { c in
            let w = c.constant(3)
            let window = try window(c, weightKernel: (w?.shape ?? c.declaredShape(3)).map { Array($0.dropFirst(2)) })
            do { return try IntegerConv(window: window, group: try c.attributes.int("group", default: 1), requantizes: true) } catch let e as LayerError {
                throw c.error(e.message)
            }
        },
        "QLinearMatMul": { _ in QLinearMatMul() },
        "DequantizeLinear": { c in
            let a = c.attributes
            return DequantizeLinear(
                axis: try a.int("axis", default: 1), blockSize: try a.int("block_size", default: 0),
                outputType: try dtypeAttribute(c, "output_dtype"))
        },
    ]
}
