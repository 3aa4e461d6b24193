import Layers
import Runtime
import TensorCore

extension ONNXOps {
    static let shapeOps: [String: Builder] = [
        "Reshape": { c in
            if c.opset < 5 { throw c.error("Reshape with a shape attribute (opset < 5) is not supported") }
            return ShapeOnly(.reshape(allowZero: try c.attributes.flag("allowzero", default: false)), opType: "Reshape")
        },
        "Flatten": { c in ShapeOnly(.flatten(axis: try c.attributes.int("axis", default: 1)), opType: "Flatten") },
        "Squeeze": { c in ShapeOnly(.squeeze(axes: c.opset < 13 ? try c.attributes.ints("axes") ?? [] : nil), opType: "Squeeze") },
        "Unsqueeze": { c in
            if c.opset < 13 { return ShapeOnly(.unsqueeze(axes: try c.attributes.require(c.attributes.ints("axes"), "axes")), opType: "Unsqueeze") }
            return ShapeOnly(.unsqueeze(axes: nil), opType: "Unsqueeze")
        },
        "Identity": { _ in ShapeOnly(.identity, opType: "Identity") },
        "Dropout": { _ in ShapeOnly(.identity, opType: "Dropout") },
        "Transpose": { c in Transpose(perm: try c.attributes.ints("perm")) },
        "Concat": { c in Concat(axis: try c.attributes.require(c.attributes.int("axis"), "axis")) },
        "Split": { c in
            let a = c.attributes
            let sizes = c.opset < 13 ? try a.ints("split") : nil
            if c.opset >= 18, c.inputCount < 2 || c.inputCount == 2 && !c.hasInput(1) {
                guard let n = try a.int("num_outputs") else { throw c.error("needs the 'split' input or the num_outputs attribute (opset 18 and later)") }
                guard n == c.outputCount else { throw c.error("num_outputs is \(n) but the node has \(c.outputCount) outputs") }
            }
            return Split(axis: try a.int("axis", default: 0), sizes: sizes, outputCount: c.outputCount)
        },
        "Slice": { c in
            if c.opset < 10 {
                let a = c.attributes
                return Slice(starts: try a.require(a.ints("starts"), "starts"), ends: try a.require(a.ints("ends"), "ends"), axes: try a.ints("axes"))
            }
            return Slice()
        },
        "Gather": { c in Gather(axis: try c.attributes.int("axis", default: 0)) },
        "Size": { _ in SizeOf() },
        "CastLike": { c in CastLike(saturate: try c.attributes.flag("saturate", default: true)) },
        "Shape": { c in ShapeOf(start: try c.attributes.int("start", default: 0), end: try c.attributes.int("end")) },
        "ConstantOfShape": { c in
            let v = try c.attributes.tensor("value", baseDirectory: c.baseDirectory) ?? Tensor(scalar: Float(0))
            guard v.count == 1 else { throw c.error("attribute 'value' must hold one element, it has \(v.count)") }
            return ConstantOfShape(value: v)
        },
        "Expand": { _ in Expand() },
        "Tile": { _ in Tile() },
        "Range": { _ in RangeLayer() },
        "DepthToSpace": { c in
            let mode = try c.attributes.string("mode", default: "DCR")
            guard mode == "DCR" || mode == "CRD" else { throw c.error("mode is \"\(mode)\", expected DCR or CRD") }
            return DepthSpace(mode == "DCR" ? .depthToSpaceDCR : .depthToSpaceCRD, blockSize: try c.attributes.require(c.attributes.int("blocksize"), "blocksize"))
        },
        "SpaceToDepth": { c in
            let mode = try c.attributes.string("mode", default: "DCR")
            guard mode == "DCR" || mode == "CRD" else { throw c.error("mode is \"\(mode)\", expected DCR or CRD") }
            return DepthSpace(mode == "DCR" ? .spaceToDepthDCR : .spaceToDepthCRD, blockSize: try c.attributes.require(c.attributes.int("blocksize"), "blocksize"))
        },
        "ArgMax": { c in try argExtreme(c, isMax: true) },
        "ArgMin": { c in try argExtreme(c, isMax: false) },
        "InstanceNormalization": { c in InstanceNormalization(epsilon: Double(try c.attributes.float("epsilon", default: 1e-5))) },
        "LayerNormalization": { c in
            let stash = try c.attributes.int("stash_type", default: 1)
            guard let dtype = DType(rawValue: stash), dtype.isFloatingPoint else { throw c.error("stash_type \(stash) is not a floating-point type") }
            return LayerNormalization(axis: try c.attributes.int("axis", default: -1), epsilon: Double(try c.attributes.float("epsilon", default: 1e-5)), stashType: dtype)
        },
        "GroupNormalization": { c in
            GroupNormalization(groups: try c.attributes.require(c.attributes.int("num_groups"), "num_groups"),
                               epsilon: Double(try c.attributes.float("epsilon", default: 1e-5)))
        },
        "Pad": { c in
            let a = c.attributes
            let modeText = try a.string("mode", default: "constant")
            guard let mode = Movement.PadMode(rawValue: modeText) else {
                throw c.error("attribute 'mode' is '\(modeText)', expected constant, reflect, edge or wrap")
            }
            if c.opset < 11 {
                let pads = try a.ints("pads") ?? a.require(a.ints("paddings"), "pads")
                return Pad(mode: mode, pads: pads, value: Double(try a.float("value", default: 0)))
            }
            return Pad(mode: mode, pads: nil, value: 0)
        },
        "Cast": { c in
            let to = try c.attributes.require(c.attributes.int("to"), "to")
            guard let dtype = DType(rawValue: to) else { throw c.error("attribute 'to' is ONNX type \(to), which is not supported") }
            let mode = try c.attributes.string("round_mode") ?? "up"
            guard let rounding = MiniFloat.E8M0Rounding(rawValue: mode) else { throw c.error("round_mode '\(mode)' is not one of up, down, nearest") }
            return Cast(to: dtype, saturate: try c.attributes.flag("saturate", default: true), e8m0Rounding: rounding)
        },
    ]
}

extension ONNXOps {
    static func argExtreme(_ c: OpContext, isMax: Bool) throws -> ArgExtreme {
        let a = c.attributes
        return ArgExtreme(isMax: isMax, axis: try a.int("axis", default: 0), keepDims: try a.flag("keepdims", default: true),
                          selectLast: try a.flag("select_last_index", default: false))
    }
}
