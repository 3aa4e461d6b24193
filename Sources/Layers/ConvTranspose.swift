import TensorCore

/// ONNX `ConvTranspose` for one to three spatial axes.
///
/// - X `[N, C, *in]` float; W `[C, M/group, *kernel]`; B `[M]` optional; Y `[N, M, *out]` with, per
///   axis, `out = stride·(in − 1) + output_padding + dilation·(kernel − 1) + 1 − padBegin − padEnd`,
///   or `output_shape` when given.
/// - `auto_pad` SAME_UPPER / SAME_LOWER without `pads`: `out = in·stride` (or `output_shape`) and the
///   total padding that implies is split with the smaller half at the beginning for SAME_UPPER, at
///   the end for SAME_LOWER (the rule of ONNX's reference implementation). Explicit pads with an
///   `output_shape` keep the pads; the output is then cut or zero-extended at the end.
public struct ConvTranspose: Layer {
    public var opType: String { "ConvTranspose" }
    public let kernelShape: [Int]?
    public let strides: [Int]?, dilations: [Int]?, pads: [Int]?, outputPadding: [Int]?, outputShape: [Int]?
    public let autoPad: AutoPad
    public let group: Int

    public init(
        kernelShape: [Int]?, strides: [Int]?, dilations: [Int]?, pads: [Int]?, outputPadding: [Int]?, outputShape: [Int]?,
        autoPad: AutoPad, group: Int
    ) throws {
        guard group >= 1 else { throw LayerError("group \(group) must be at least 1") }
        for (name, values) in [("strides", strides), ("dilations", dilations)] {
            if let v = values, !v.allSatisfy({ $0 >= 1 }) { throw LayerError("\(name) \(v) must all be at least 1") }
        }
        for (name, values) in [("pads", pads), ("output_padding", outputPadding)] {
            if let v = values, !v.allSatisfy({ $0 >= 0 }) { throw LayerError("\(name) \(v) must not be negative") }
        }
        self.kernelShape = kernelShape
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.outputPadding = outputPadding
        self.outputShape = outputShape
        self.autoPad = autoPad
        self.group = group
    }

    func geometry(_ x: [Int], _ w: [Int]) throws -> ConvTransposeGeometry {
        let n = x.count - 2
        guard (1...3).contains(n) else { throw LayerError("X has shape \(x): expected 1 to 3 spatial axes") }
        guard w.count == x.count else { throw LayerError("W has shape \(w), expected rank \(x.count) like X") }
        let kernel = kernelShape ?? Array(w[2...])
        guard kernel == Array(w[2...]) else { throw LayerError("kernel_shape \(kernel) does not match W's shape \(w)") }
        guard group >= 1 else { throw LayerError("group is \(group), expected a positive value") }
        guard w[0] == x[1], x[1] % group == 0 else {
            throw LayerError("X has \(x[1]) channels and W shape \(w) with group \(group): expected W[0] = C, divisible by group")
        }
        func perAxis(_ v: [Int]?, _ name: String, _ fill: Int, count: Int) throws -> [Int] {
            guard let v else { return [Int](repeating: fill, count: count) }
            guard v.count == count else { throw LayerError("\(name) \(v) has \(v.count) values, expected \(count)") }
            return v
        }
        let s = try perAxis(strides, "strides", 1, count: n), d = try perAxis(dilations, "dilations", 1, count: n)
        let op = try perAxis(outputPadding, "output_padding", 0, count: n)
        var requested = outputShape
        if let o = requested, o.count == n + 2 { requested = Array(o[2...]) }
        let wanted = try requested.map { try perAxis($0, "output_shape", 0, count: n) }
        let explicitPads = try pads.map { try perAxis($0, "pads", 0, count: 2 * n) } ?? []
        let limit = maxWindowAttribute
        guard s.allSatisfy({ $0 >= 1 && $0 <= limit }), d.allSatisfy({ $0 >= 1 && $0 <= limit }), op.allSatisfy({ $0 >= 0 && $0 <= limit }),
              explicitPads.allSatisfy({ $0 >= 0 && $0 <= limit }), (wanted ?? []).allSatisfy({ $0 >= 0 && $0 <= limit }), kernel.allSatisfy({ $0 <= limit })
        else {
            throw LayerError("strides \(s) and dilations \(d) must be 1 to 2^31 − 1; output_padding \(op), pads \(explicitPads) and output_shape \(wanted ?? []) 0 to 2^31 − 1")
        }
        let input = Array(x[2...])
        var full: [Int] = []
        for i in 0..<n {
            let span: Int = (kernel[i] - 1) * d[i] + 1
            let (stretched, overflow) = s[i].multipliedReportingOverflow(by: max(0, input[i] - 1))
            guard !overflow, stretched <= 1 << 48 else { throw LayerError("stride \(s[i]) × input size \(input[i]) is too large") }
            full.append(stretched + op[i] + span)
        }
        var begin = [Int](repeating: 0, count: n), out = full
        if pads == nil && (autoPad == .sameUpper || autoPad == .sameLower) {
            out = wanted ?? zip(input, s).map { $0 * $1 }
            for i in 0..<n {
                let total = full[i] - out[i]
                // Floor division (total may be negative when output_shape asks for more).
                let half = total >= 0 ? total / 2 : -((-total + 1) / 2)
                begin[i] = autoPad == .sameUpper ? half : total - half
            }
        } else {
            let p = autoPad == .valid ? [Int](repeating: 0, count: 2 * n) : try perAxis(pads, "pads", 0, count: 2 * n)
            begin = Array(p[..<n])
            if let wanted {
                out = wanted
            } else {
                for i in 0..<n { out[i] = full[i] - p[i] - p[i + n] }
            }
        }
        guard out.allSatisfy({ $0 >= 0 }) else { throw LayerError("the output shape \(out) would be negative") }
        return ConvTransposeGeometry(
            batch: x[0], inChannels: x[1], outChannels: w[1] * group, groups: group,
            input: input, output: out, kernel: kernel, strides: s, dilations: d, padBegin: begin)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        try requireFloat(x, "X")
        let g = try geometry(x.shape, w.shape)
        if inputs.count > 2, let b = inputs[2], b.shape != [g.outChannels] {
            throw LayerError("B has shape \(b.shape), expected [\(g.outChannels)]")
        }
        return [TensorType(x.dtype, [g.batch, g.outChannels] + g.output.suffix(x.shape.count - 2))]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try prepare(types(of: inputs), constants: [], format: .standard).run(inputs, outputs: outputs, context: context)
    }

    /// The format's accumulation is not simulated for transposed convolutions: they sum in float32
    /// (Double for float64 operands) whatever it says; their operands are still rounded or
    /// quantized by the policy.
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        let b = inputs.count > 2 ? inputs[2] : nil
        let g = try geometry(x.shape, w.shape)
        return ConvTransposeOp(
            geometry: g, float64: [x.dtype, w.dtype, b?.dtype].compactMap { $0 }.allSatisfy { $0 == .float64 }, roundsBeforeBias: format.roundsBeforeBias)
    }

    public func productAxes(activationRank: Int, weightRank: Int) -> ProductAxes? {
        ProductAxes(weightChannel: min(1, weightRank - 1), weightReduction: 0, activationReduction: 1)
    }

    public func multiplyAdds(_ inputs: [TensorType?]) -> Int {
        guard let x = inputs.first ?? nil, inputs.count > 1, let w = inputs[1], let g = try? geometry(x.shape, w.shape) else { return 0 }
        return g.multiplyAdds
    }
}

/// A transposed convolution ready to run.
struct ConvTransposeOp: PreparedOp {
    let geometry: ConvTransposeGeometry
    let float64: Bool
    /// Set: the sum is rounded to this format before the bias is added (`ComputeFormat`).
    let roundsBeforeBias: ReducedFormat?

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X"), w = try required(inputs, 1, "W")
        let b = inputs.count > 2 ? inputs[2] : nil
        if float64 {
            TransposedConv.reference(input: x, weight: w, bias: b, output: outputs[0], geometry: geometry, as: Double.self)
            return
        }
        if let format = roundsBeforeBias, let b, outputs[0].dtype == .float32 {
            try withFloat32([x, w], outputs[0]) { f, y in
                TransposedConv.forward(input: f[0]!, weight: f[1]!, bias: nil, output: y, geometry: geometry, threads: context.threads)
            }
            addBias(after: format, b, to: outputs[0], activation: nil, threads: context.threads)
            return
        }
        try withFloat32([x, w, b], outputs[0]) { f, y in
            TransposedConv.forward(input: f[0]!, weight: f[1]!, bias: f[2], output: y, geometry: geometry, threads: context.threads)
        }
    }
}
