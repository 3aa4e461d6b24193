import Layers
import Runtime
import TensorCore

extension ONNXOps {
    static func resizeMode(_ c: OpContext) throws -> ResizeTaps.Mode {
        let text = try c.attributes.string("mode", default: "nearest")
        // Upsample-7 and Resize-10 spell linear "linear"; some exporters wrote "bilinear".
        guard let m = ResizeTaps.Mode(rawValue: text == "bilinear" ? "linear" : text) else {
            throw c.error("attribute 'mode' is '\(text)', expected nearest, linear or cubic")
        }
        return m
    }

    static let resizeOps: [String: Builder] = [
        "Upsample": { c in
            let mode = try resizeMode(c)
            guard mode != .cubic else { throw c.error("Upsample supports nearest and linear only") }
            // Upsample: asymmetric coordinates, nearest rounds down.
            let scales = c.opset < 9 ? try c.attributes.require(c.attributes.floats("scales"), "scales").map(Double.init) : nil
            return Resize(isUpsample: true, mode: mode, transform: .asymmetric, nearest: .floor, attributeScales: scales,
                          roiInput: nil, scalesInput: c.opset < 9 ? nil : 1, sizesInput: nil)
        },
        "Resize": { c in
            let a = c.attributes
            let mode = try resizeMode(c)
            if c.opset < 11 {
                // Resize-10 behaves as Upsample-9.
                return Resize(mode: mode, transform: .asymmetric, nearest: .floor, roiInput: nil, scalesInput: 1, sizesInput: nil)
            }
            let ctText = try a.string("coordinate_transformation_mode", default: "half_pixel")
            guard let ct = ResizeTaps.CoordinateTransform(rawValue: ctText) else {
                throw c.error("attribute 'coordinate_transformation_mode' is '\(ctText)', which is not supported")
            }
            let nmText = try a.string("nearest_mode", default: "round_prefer_floor")
            guard let nm = ResizeTaps.NearestRounding(rawValue: nmText) else {
                throw c.error("attribute 'nearest_mode' is '\(nmText)', expected round_prefer_floor, round_prefer_ceil, floor or ceil")
            }
            let policy = try a.string("keep_aspect_ratio_policy", default: "stretch")
            guard ["stretch", "not_larger", "not_smaller"].contains(policy) else {
                throw c.error("attribute 'keep_aspect_ratio_policy' is '\(policy)', expected stretch, not_larger or not_smaller")
            }
            return Resize(
                mode: mode, transform: ct, nearest: nm, cubicA: Double(try a.float("cubic_coeff_a", default: -0.75)),
                excludeOutside: try a.flag("exclude_outside", default: false), antialias: try a.flag("antialias", default: false),
                extrapolation: Double(try a.float("extrapolation_value", default: 0)), axes: try a.ints("axes"),
                keepAspectRatio: policy, roiInput: 1, scalesInput: 2, sizesInput: 3)
        },
    ]
}
