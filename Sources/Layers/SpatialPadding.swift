import TensorCore

/// How convolution and pooling pad their input (ONNX `auto_pad` with explicit `pads`).
public enum AutoPad: String, Sendable {
    case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID"
}

/// The largest kernel size, stride, dilation or pad a window accepts (2^31 − 1): larger values from
/// a file are refused rather than overflowing the window arithmetic.
public let maxWindowAttribute = Int(Int32.max)

/// Output size and padding of one spatial axis of a convolution or pooling window.
/// - Returns `(outSize, padBegin, padEnd)`.
func spatialAxis(
    input: Int, kernel: Int, stride: Int, dilation: Int, autoPad: AutoPad, pads: (Int, Int), ceilMode: Bool = false
) throws -> (Int, Int, Int) {
    guard kernel > 0, stride > 0, dilation > 0 else {
        throw LayerError("kernel \(kernel), stride \(stride) and dilation \(dilation) must all be positive")
    }
    // Bounded so that the window arithmetic below cannot overflow.
    guard kernel <= maxWindowAttribute, stride <= maxWindowAttribute, dilation <= maxWindowAttribute, pads.0 <= maxWindowAttribute,
          pads.1 <= maxWindowAttribute
    else {
        throw LayerError("kernel \(kernel), stride \(stride), dilation \(dilation) and pads \(pads) must not exceed 2^31 − 1")
    }
    let span = (kernel - 1) * dilation + 1
    switch autoPad {
    case .sameUpper, .sameLower:
        let out = (input + stride - 1) / stride
        let total = max(0, (out - 1) * stride + span - input)
        let small = total / 2, large = total - small
        return autoPad == .sameUpper ? (out, small, large) : (out, large, small)
    case .valid:
        guard input >= span else { throw LayerError("input size \(input) is smaller than the window \(span)") }
        return ((input - span) / stride + 1, 0, 0)
    case .notSet:
        let padded = input + pads.0 + pads.1
        guard padded >= span else { throw LayerError("padded input size \(padded) is smaller than the window \(span)") }
        var out = ceilMode ? (padded - span + stride - 1) / stride + 1 : (padded - span) / stride + 1
        // ONNX (like PyTorch) drops a last window that would start inside the end padding.
        if ceilMode && (out - 1) * stride >= input + pads.0 { out -= 1 }
        return (out, pads.0, pads.1)
    }
}

/// Spatial attributes shared by Conv and the pooling layers, for 1-D and 2-D windows.
public struct WindowAttributes: Sendable, Equatable {
    public var kernelShape: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    /// `[begin_0, begin_1, …, end_0, end_1, …]` as ONNX orders them.
    public var pads: [Int]
    public var autoPad: AutoPad
    public var ceilMode: Bool

    public init(kernelShape: [Int], strides: [Int]?, dilations: [Int]?, pads: [Int]?, autoPad: AutoPad, ceilMode: Bool = false) throws {
        let n = kernelShape.count
        guard n >= 1 else { throw LayerError("kernel_shape \(kernelShape) must have at least one axis") }
        self.kernelShape = kernelShape
        self.strides = strides ?? [Int](repeating: 1, count: n)
        self.dilations = dilations ?? [Int](repeating: 1, count: n)
        self.pads = pads ?? [Int](repeating: 0, count: 2 * n)
        self.autoPad = autoPad
        self.ceilMode = ceilMode
        guard self.strides.count == n, self.dilations.count == n, self.pads.count == 2 * n else {
            throw LayerError("strides \(self.strides), dilations \(self.dilations) and pads \(self.pads) do not match kernel_shape \(kernelShape)")
        }
        guard self.pads.allSatisfy({ $0 >= 0 }) else { throw LayerError("pads \(self.pads) must not be negative") }
    }

    /// Resolves every axis against an input's spatial size: `(out, padBegin, padEnd)` per axis.
    func resolveAxes(spatial: [Int]) throws -> [(out: Int, padBegin: Int, padEnd: Int)] {
        let n = kernelShape.count
        guard spatial.count == n else { throw LayerError("input has \(spatial.count) spatial dimensions, the window has \(n)") }
        return try (0..<n).map { i in
            try spatialAxis(input: spatial[i], kernel: kernelShape[i], stride: strides[i], dilation: dilations[i], autoPad: autoPad,
                            pads: (pads[i], pads[i + n]), ceilMode: ceilMode)
        }
    }

    /// Resolves the window against an input's spatial size (`[W]` or `[H, W]`), as 2-D:
    /// `(outH, outW, padTop, padLeft, padBottom, padRight, kh, kw, sh, sw, dh, dw)`.
    func resolve(spatial: [Int]) throws -> Resolved {
        let n = kernelShape.count
        guard spatial.count == n else { throw LayerError("input has \(spatial.count) spatial dimensions, the window has \(n)") }
        guard n <= 2 else { throw LayerError("only 1-D and 2-D windows are supported here, kernel_shape is \(kernelShape)") }
        var r = Resolved()
        if n == 1 {
            let (ow, pl, pr) = try spatialAxis(input: spatial[0], kernel: kernelShape[0], stride: strides[0], dilation: dilations[0], autoPad: autoPad, pads: (pads[0], pads[1]), ceilMode: ceilMode)
            r.inH = 1; r.inW = spatial[0]; r.outH = 1; r.outW = ow; r.padLeft = pl; r.padRight = pr
            r.kh = 1; r.kw = kernelShape[0]; r.sw = strides[0]; r.dw = dilations[0]
        } else {
            let (oh, pt, pb) = try spatialAxis(input: spatial[0], kernel: kernelShape[0], stride: strides[0], dilation: dilations[0], autoPad: autoPad, pads: (pads[0], pads[2]), ceilMode: ceilMode)
            let (ow, pl, pr) = try spatialAxis(input: spatial[1], kernel: kernelShape[1], stride: strides[1], dilation: dilations[1], autoPad: autoPad, pads: (pads[1], pads[3]), ceilMode: ceilMode)
            r.inH = spatial[0]; r.inW = spatial[1]; r.outH = oh; r.outW = ow
            r.padTop = pt; r.padBottom = pb; r.padLeft = pl; r.padRight = pr
            r.kh = kernelShape[0]; r.kw = kernelShape[1]; r.sh = strides[0]; r.sw = strides[1]; r.dh = dilations[0]; r.dw = dilations[1]
        }
        return r
    }

    struct Resolved {
        var inH = 1, inW = 1, outH = 1, outW = 1
        var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
        var kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1
        /// Output spatial shape in the window's rank.
        func outSpatial(rank: Int) -> [Int] { rank == 1 ? [outW] : [outH, outW] }
    }
}
