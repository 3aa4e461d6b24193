import Foundation

/// Resampling along one axis: for each output index, the input indices it reads and their weights.
///
/// Every ONNX Resize/Upsample mode is separable, so an N-D resize is a sequence of 1-D passes.
public struct ResizeTaps: Sendable, Equatable {
    /// `taps[o]` lists `(inputIndex, weight)` for output index `o`; an index of -1 means the
    /// extrapolation value (tf_crop_and_resize outside the image).
    public var taps: [[(Int, Double)]]
    public var inputLength: Int

    public static func == (a: ResizeTaps, b: ResizeTaps) -> Bool {
        a.inputLength == b.inputLength && a.taps.count == b.taps.count
            && zip(a.taps, b.taps).allSatisfy { x, y in x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 } }
    }

    public enum Mode: String, Sendable { case nearest, linear, cubic }
    public enum CoordinateTransform: String, Sendable {
        case halfPixel = "half_pixel", halfPixelSymmetric = "half_pixel_symmetric", pytorchHalfPixel = "pytorch_half_pixel"
        case alignCorners = "align_corners", asymmetric, tfCropAndResize = "tf_crop_and_resize"
    }
    public enum NearestRounding: String, Sendable {
        case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
    }

    /// Taps for one axis of length `input` resized to `output` with `scale` (as given, or output/input).
    /// `roi` is (start, end) in normalised coordinates for tf_crop_and_resize.
    public static func make(
        input: Int, output: Int, scale: Double, mode: Mode, transform: CoordinateTransform, nearest: NearestRounding,
        cubicA: Double, excludeOutside: Bool, antialias: Bool, roi: (Double, Double)
    ) -> ResizeTaps {
        var taps: [[(Int, Double)]] = []
        taps.reserveCapacity(output)
        let inF = Double(input), outF = Double(output)
        for o in 0..<output {
            let x = Double(o)
            var xo: Double
            switch transform {
            case .halfPixel: xo = (x + 0.5) / scale - 0.5
            case .halfPixelSymmetric:
                let adjustment = outF / (scale * inF)
                let center = inF / 2
                xo = center * (1 - adjustment) + (x + 0.5) / scale - 0.5
            case .pytorchHalfPixel: xo = output > 1 ? (x + 0.5) / scale - 0.5 : 0
            // The resized length here is input·scale before flooring, as ONNX's reference computes it.
            case .alignCorners: xo = output == 1 ? 0 : x * (inF - 1) / (scale * inF - 1)
            case .asymmetric: xo = x / scale
            case .tfCropAndResize:
                xo = output > 1 ? roi.0 * (inF - 1) + x * (roi.1 - roi.0) * (inF - 1) / (outF - 1) : 0.5 * (roi.0 + roi.1) * (inF - 1)
                if xo < 0 || xo > inF - 1 { taps.append([(-1, 1)]); continue }
            }
            switch mode {
            case .nearest:
                var i: Double
                switch nearest {
                case .roundPreferFloor: i = xo == xo.rounded(.down) + 0.5 ? xo.rounded(.down) : xo.rounded()
                case .roundPreferCeil: i = (xo + 0.5).rounded(.down)
                case .floor: i = xo.rounded(.down)
                case .ceil: i = xo.rounded(.up)
                }
                taps.append([(min(max(Int(i), 0), input - 1), 1)])
            case .linear, .cubic:
                // base and ratio ∈ (0, 1]: an exact integer position reads base + 1 with weight 1.
                var base = Int(xo.rounded(.down))
                var ratio = xo - Double(base)
                if ratio == 0 { ratio = 1; base -= 1 }
                let s = antialias ? min(scale, 1) : 1
                var start: Int, weights: [Double]
                if mode == .linear {
                    start = Int((-1 / s).rounded(.down)) + 1
                    let n = 2 - 2 * start
                    weights = (0..<n).map { j in max(0, 1 - abs((Double(start + j) - ratio) * s)) }
                } else {
                    start = Int((-2 / s).rounded(.down)) + 1
                    let n = 2 - 2 * start
                    weights = (0..<n).map { j in cubic(abs((Double(start + j) - ratio) * s), cubicA) }
                }
                var list: [(Int, Double)] = []
                for (j, w) in weights.enumerated() {
                    let idx = base + start + j
                    if excludeOutside && (idx < 0 || idx >= input) { continue }
                    list.append((min(max(idx, 0), input - 1), w))
                }
                // Antialias and exclude_outside renormalise; plain linear/cubic weights already sum to 1.
                if antialias || excludeOutside {
                    let total = list.reduce(0) { $0 + $1.1 }
                    if total != 0 { list = list.map { ($0.0, $0.1 / total) } }
                }
                taps.append(list)
            }
        }
        return ResizeTaps(taps: taps, inputLength: input)
    }

    static func cubic(_ t: Double, _ a: Double) -> Double {
        if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
        if t < 2 { return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
        return 0
    }
}

/// N-D resampling by successive 1-D passes.
public enum Resample {
    /// Resizes `x` (float32 or float64) into `out`; `taps[axis]` is nil for axes left as they are.
    public static func apply(_ x: Tensor, taps: [ResizeTaps?], extrapolation: Double, into out: Tensor) {
        var current = x.dtype == .float64 ? x.doubles() : x.scalars(as: Float.self).map(Double.init)
        var shape = x.shape
        for (axis, t) in taps.enumerated() {
            guard let t else { continue }
            let outer = shape[..<axis].product, inner = shape[(axis + 1)...].product
            let inLen = shape[axis], outLen = t.taps.count
            var next = [Double](repeating: 0, count: outer * outLen * inner)
            for o in 0..<outer {
                for (j, list) in t.taps.enumerated() {
                    let dst = (o * outLen + j) * inner
                    for (idx, w) in list {
                        if idx < 0 {
                            for i in 0..<inner { next[dst + i] = extrapolation }
                            continue
                        }
                        let src = (o * inLen + idx) * inner
                        for i in 0..<inner { next[dst + i] += w * current[src + i] }
                    }
                }
            }
            current = next
            shape[axis] = outLen
        }
        Tensor(shape: shape, scalars: current).convert(into: out)
    }
}
