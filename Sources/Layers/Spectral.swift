import Foundation
import TensorCore

/// Sizes of a transform are capped: a direct DFT of n points costs n² products per signal.
let transformLengthLimit = 1 << 20

/// A scalar integer input known when planning (DFT's dft_length and axis, STFT's frame sizes);
/// nil when the node leaves it out (`present` false).
func scalarInt(_ constants: [Tensor?], _ i: Int, _ what: String, present: Bool) throws -> Int? {
    guard present else { return nil }
    let v = try constantInts(constants, i, what)
    guard v.count == 1 else { throw LayerError("\(what) has \(v.count) values, expected one") }
    return v[0]
}

/// ONNX `DFT` (opsets 17 and 20): the transform along `axis` of a real (`[…, 1]`) or complex
/// (`[…, 2]`) input; inverse, one-sided (RFFT) and inverse one-sided (IRFFT, a real output).
/// dft_length (and, from opset 20, axis) must be known when planning. `Fourier.transform`, in
/// Float (Double for float64).
public struct DFT: Layer {
    public var opType: String { "DFT" }
    public let inverse: Bool, onesided: Bool
    /// The axis attribute (opset 17); nil reads input 2 (default −2).
    public let axisAttribute: Int?
    public init(inverse: Bool, onesided: Bool, axisAttribute: Int?) {
        self.inverse = inverse
        self.onesided = onesided
        self.axisAttribute = axisAttribute
    }

    struct Geometry {
        let outer: Int, length: Int, inner: Int, parts: Int, n: Int, kind: Fourier.Kind, shape: [Int]
    }

    func geometry(_ x: TensorType, _ inputs: [TensorType?], _ constants: [Tensor?]) throws -> Geometry {
        let r = x.shape.count
        guard r >= 2, let parts = x.shape.last, parts == 1 || parts == 2 else {
            throw LayerError("input has shape \(x.shape), expected [signal…, 1 or 2]")
        }
        let given = try axisAttribute ?? scalarInt(constants, 2, "axis", present: inputs.count > 2 && inputs[2] != nil) ?? -2
        let axis = try normalizedAxis(given, rank: r)
        guard axis < r - 1 else { throw LayerError("axis \(given) is the real/imaginary axis") }
        let length = x.shape[axis]
        let kind: Fourier.Kind = inverse && onesided ? .inverseReal : .complex(inverse: inverse, onesided: onesided)
        if onesided && !inverse && parts != 1 { throw LayerError("a one-sided forward DFT takes a real input ([…, 1])") }
        if kind == .inverseReal && parts != 2 { throw LayerError("a one-sided inverse DFT takes a complex input ([…, 2])") }
        let n = try scalarInt(constants, 1, "dft_length", present: inputs.count > 1 && inputs[1] != nil) ?? (kind == .inverseReal ? 2 * (length - 1) : length)
        guard n > 0 && n <= transformLengthLimit else { throw LayerError("dft_length \(n) is outside 1…\(transformLengthLimit)") }
        var shape = x.shape
        switch kind {
        case .complex: shape[axis] = onesided ? n / 2 + 1 : n; shape[r - 1] = 2
        case .inverseReal: shape[axis] = n; shape[r - 1] = 1
        }
        _ = try checkedProduct(shape, "output")
        return Geometry(outer: x.shape[..<axis].reduce(1, *), length: length, inner: x.shape[(axis + 1)..<(r - 1)].reduce(1, *),
                        parts: parts, n: n, kind: kind, shape: shape)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "input")
        try requireFloat(x, "input")
        return [TensorType(x.dtype, try geometry(x, inputs, constants).shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "input")
        let g = try geometry(TensorType(x.dtype, x.shape), types(of: inputs), inputs)
        func run<T: BinaryFloatingPoint & TensorScalar>(_: T.Type) {
            let y = Fourier.transform(x.scalars(as: T.self), outer: g.outer, length: g.length, inner: g.inner, parts: g.parts, n: g.n, kind: g.kind)
            Tensor(shape: outputs[0].shape, scalars: y.values).convert(into: outputs[0])
        }
        if x.dtype == .float64 { run(Double.self) } else { run(Float.self) }
    }
}

/// ONNX `STFT`: frames of `frame_length` every `frame_step` samples of signal `[batch, length,
/// 1 or 2]` (or `[batch, length]`, a real signal, as PyTorch exports `torch.stft` and onnxruntime
/// accepts), each times the window (ones when absent) and transformed; one-sided by default.
/// Output `[batch, frames, bins, 2]`. frame_step and frame_length must be known when planning.
public struct STFT: Layer {
    public var opType: String { "STFT" }
    public let onesided: Bool
    public init(onesided: Bool) { self.onesided = onesided }

    func sizes(_ x: TensorType, _ inputs: [TensorType?], _ constants: [Tensor?]) throws -> (step: Int, length: Int, frames: Int) {
        guard x.shape.count == 2 || x.shape.count == 3 && (x.shape[2] == 1 || x.shape[2] == 2) else {
            throw LayerError("signal has shape \(x.shape), expected [batch, length, 1 or 2] or [batch, length]")
        }
        guard let step = try scalarInt(constants, 1, "frame_step", present: true), step > 0 else { throw LayerError("frame_step must be a positive scalar") }
        let window = inputs.count > 2 ? inputs[2] : nil
        let length = try scalarInt(constants, 3, "frame_length", present: inputs.count > 3 && inputs[3] != nil) ?? window?.shape.first ?? x.shape[1]
        guard length > 0, length <= min(x.shape[1], transformLengthLimit) else { throw LayerError("frame_length \(length) is outside 1…\(x.shape[1])") }
        if let window, window.shape != [length] { throw LayerError("window has shape \(window.shape), expected [\(length)]") }
        if onesided && x.shape.count == 3 && x.shape[2] != 1 { throw LayerError("a one-sided STFT takes a real signal ([batch, length, 1])") }
        return (step, length, (x.shape[1] - length) / step + 1)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "signal")
        try requireFloat(x, "signal")
        let s = try sizes(x, inputs, constants)
        return [TensorType(x.dtype, [x.shape[0], s.frames, onesided ? s.length / 2 + 1 : s.length, 2])]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "signal")
        let s = try sizes(TensorType(x.dtype, x.shape), types(of: inputs), inputs)
        let (batch, total, parts) = (x.shape[0], x.shape[1], x.shape.count == 3 ? x.shape[2] : 1)
        func run<T: BinaryFloatingPoint & TensorScalar>(_: T.Type) {
            let v = x.scalars(as: T.self)
            let window = (inputs.count > 2 ? inputs[2] : nil)?.scalars(as: T.self) ?? [T](repeating: 1, count: s.length)
            // Windowed frames as [batch·frames, length, 1, parts].
            var frames = [T](repeating: 0, count: batch * s.frames * s.length * parts)
            for b in 0..<batch {
                for f in 0..<s.frames {
                    for p in 0..<s.length {
                        for c in 0..<parts {
                            frames[((b * s.frames + f) * s.length + p) * parts + c] = v[(b * total + f * s.step + p) * parts + c] * window[p]
                        }
                    }
                }
            }
            let y = Fourier.transform(frames, outer: batch * s.frames, length: s.length, inner: 1, parts: parts, n: s.length,
                                      kind: .complex(inverse: false, onesided: onesided))
            Tensor(shape: outputs[0].shape, scalars: y.values).convert(into: outputs[0])
        }
        if x.dtype == .float64 { run(Double.self) } else { run(Float.self) }
    }
}

/// ONNX `MelWeightMatrix`: `[⌊dft_length/2⌋ + 1, num_mel_bins]` triangular filters on the mel scale
/// (mel = 2595·log10(1 + f/700)) between the edge frequencies, each filter's corners at the
/// spectrogram bins ⌊(dft_length + 1)·f / sample_rate⌋ of num_mel_bins + 2 points evenly spaced in
/// mel, as ONNX's reference computes them. All inputs known when planning.
public struct MelWeightMatrix: Layer {
    public var opType: String { "MelWeightMatrix" }
    public let dtype: DType
    public init(dtype: DType) { self.dtype = dtype }

    func values(_ constants: [Tensor?]) throws -> (shape: [Int], values: [Double]) {
        guard let mels = try scalarInt(constants, 0, "num_mel_bins", present: true), let dft = try scalarInt(constants, 1, "dft_length", present: true),
              let rate = try scalarInt(constants, 2, "sample_rate", present: true) else {
            throw LayerError("num_mel_bins, dft_length and sample_rate are required")
        }
        func edge(_ i: Int, _ what: String) throws -> Double {
            guard i < constants.count, let t = constants[i], t.count == 1 else {
                throw LayerError.needs([i], "\(what) must be a scalar known before running")
            }
            return t.doubles()[0]
        }
        let low = try edge(3, "lower_edge_hertz"), high = try edge(4, "upper_edge_hertz")
        guard mels > 0, mels <= 1 << 16, dft > 0, dft <= transformLengthLimit, rate > 0, low >= 0, high > low, high.isFinite else {
            throw LayerError("num_mel_bins \(mels), dft_length \(dft), sample_rate \(rate), edges \(low)…\(high) Hz are not a valid filter bank")
        }
        let bins = dft / 2 + 1
        let lowMel = 2595 * log10(1 + low / 700), highMel = 2595 * log10(1 + high / 700)
        let step = (highMel - lowMel) / Double(mels + 2)
        let corners = try (0..<(mels + 2)).map { i -> Int in
            let hz = 700 * (pow(10, (Double(i) * step + lowMel) / 2595) - 1)
            let bin = (Double(dft + 1) * hz / Double(rate)).rounded(.down)
            guard bin >= 0 && bin < Double(bins) else { throw LayerError("a filter corner falls at bin \(bin), outside 0..<\(bins)") }
            return Int(bin)
        }
        var out = [Double](repeating: 0, count: bins * mels)
        for i in 0..<mels {
            let (left, center, right) = (corners[i], corners[i + 1], corners[i + 2])
            if center == left { out[center * mels + i] = 1 } else if left <= center {
                for j in left...center { out[j * mels + i] = Double(j - left) / Double(center - left) }
            }
            if right > center { for j in center..<right { out[j * mels + i] = Double(right - j) / Double(right - center) } }
        }
        return ([bins, mels], out)
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(dtype, try values(constants).shape)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let v = try values(inputs)
        Tensor(shape: v.shape, scalars: v.values).convert(into: outputs[0])
    }
}
