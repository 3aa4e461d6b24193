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

/// N-D resampling by successive 1-D passes, axis by axis from the last to the first: the last
/// axis (contiguous, one gathered sum per output) is resized while the tensor is smallest when
/// upsampling, and the passes after it sum whole contiguous rows.
///
/// Each output element is `Σ w·x` over its taps, summed in tap order from zero in the element
/// type: Float for float32 tensors (the weights rounded to Float once, when the pass is made), as
/// FP32 backends resample; Double for float64. `reference` is the naive twin that reads the
/// Double taps directly.
public enum Resample {
    /// One axis's taps laid out for the kernel: output `j` reads `indices[starts[j]..<starts[j + 1]]`
    /// with the same-numbered `weights`; an index of -1 stands for the extrapolation value.
    public struct Pass: Sendable {
        public let axis: Int
        public let inputLength: Int
        public let outputLength: Int
        let starts: [Int]
        let indices: [Int]
        let weights: [Double]
        let weights32: [Float]

        public init(axis: Int, taps: ResizeTaps) {
            self.axis = axis
            inputLength = taps.inputLength
            outputLength = taps.taps.count
            var starts = [0], indices: [Int] = [], weights: [Double] = []
            starts.reserveCapacity(taps.taps.count + 1)
            for list in taps.taps {
                for (i, w) in list {
                    indices.append(i)
                    weights.append(w)
                }
                starts.append(indices.count)
            }
            self.starts = starts
            self.indices = indices
            self.weights = weights
            weights32 = weights.map { Float($0) }
        }

        func weights<T: BinaryFloatingPoint>(as _: T.Type) -> [T] {
            if T.self == Float.self, let w = weights32 as? [T] { return w }
            if T.self == Double.self, let w = weights as? [T] { return w }
            return weights.map { T($0) }
        }
    }

    /// The passes for `taps` (nil for axes left as they are).
    public static func passes(_ taps: [ResizeTaps?]) -> [Pass] {
        taps.enumerated().compactMap { axis, t in t.map { Pass(axis: axis, taps: $0) } }.reversed()
    }

    /// Resizes `x` of `shape` through `passes`; returns the result, whose shape is `shape` with each
    /// pass's axis of its output length.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func apply<T: BinaryFloatingPoint>(
        _ x: [T], shape: [Int], passes: [Pass], extrapolation: Double, threads: Int = 1
    ) -> [T] {
        var out = [T](repeating: 0, count: passes.reduce(shape) { s, p in var s = s; s[p.axis] = p.outputLength; return s }.product)
        out.withUnsafeMutableBufferPointer { apply(x, shape: shape, passes: passes, extrapolation: extrapolation, threads: threads, into: $0) }
        return out
    }

    /// `apply`, the last pass written into `final` (which must hold the output's count; any
    /// contents are overwritten).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func apply<T: BinaryFloatingPoint>(
        _ x: [T], shape: [Int], passes: [Pass], extrapolation: Double, threads: Int, into final: UnsafeMutableBufferPointer<T>
    ) {
        var current = x
        var shape = shape
        let fill = T(extrapolation)
        if passes.isEmpty {
            for i in 0..<min(x.count, final.count) { final[i] = x[i] }
            return
        }
        for (number, pass) in passes.enumerated() {
            let axis = pass.axis
            let outer = shape[..<axis].product, inner = shape[(axis + 1)...].product
            let inLen = pass.inputLength, outLen = pass.outputLength
            let w = pass.weights(as: T.self)
            let last = number == passes.count - 1
            var next = last ? [] : [T](repeating: 0, count: outer * outLen * inner)
            current.withUnsafeBufferPointer { src in
                next.withUnsafeMutableBufferPointer { scratch in
                    let dst = last ? final : scratch
                    pass.starts.withUnsafeBufferPointer { starts in
                        pass.indices.withUnsafeBufferPointer { idx in
                            w.withUnsafeBufferPointer { w in
                                guard let sb = src.baseAddress, let db = dst.baseAddress else { return }
                                if inner == 1 {
                                    // The last axis: one gathered sum per output, the same
                                    // additions in the same order, without the per-row set-up.
                                    Parallel.forEachChunk(outer, threads: threads, grain: max(1, 16_384 / max(outLen, 1))) { range in
                                        for o in range {
                                            let d = db + o * outLen, base = sb + o * inLen
                                            for j in 0..<outLen {
                                                var acc: T = 0
                                                for k in starts[j]..<starts[j + 1] {
                                                    if idx[k] < 0 { acc = fill } else { acc += w[k] * base[idx[k]] }
                                                }
                                                d[j] = acc
                                            }
                                        }
                                    }
                                    return
                                }
                                let rows = outer * outLen
                                Parallel.forEachChunk(rows, threads: threads, grain: max(1, 16_384 / max(inner, 1))) { range in
                                    for row in range {
                                        let o = row / outLen, j = row % outLen
                                        let d = db + row * inner
                                        if last { d.update(repeating: 0, count: inner) }
                                        let base = sb + o * inLen * inner
                                        for k in starts[j]..<starts[j + 1] {
                                            if idx[k] < 0 {
                                                for i in 0..<inner { d[i] = fill }
                                                continue
                                            }
                                            let s = base + idx[k] * inner, wk = w[k]
                                            for i in 0..<inner { d[i] += wk * s[i] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            current = next
            shape[axis] = outLen
        }
    }

    /// The naive twin: the Double taps applied to Double values, one output element at a time,
    /// axis by axis in `apply`'s order (the last first).
    public static func reference(_ x: [Double], shape: [Int], taps: [ResizeTaps?], extrapolation: Double) -> [Double] {
        var current = x
        var shape = shape
        for (axis, t) in taps.enumerated().reversed() {
            guard let t else { continue }
            let outer = shape[..<axis].product, inner = shape[(axis + 1)...].product
            let inLen = shape[axis], outLen = t.taps.count
            var next = [Double](repeating: 0, count: outer * outLen * inner)
            for o in 0..<outer {
                for (j, list) in t.taps.enumerated() {
                    for i in 0..<inner {
                        var sum = 0.0
                        for (idx, w) in list { sum = idx < 0 ? extrapolation : sum + w * current[(o * inLen + idx) * inner + i] }
                        next[(o * outLen + j) * inner + i] = sum
                    }
                }
            }
            current = next
            shape[axis] = outLen
        }
        return current
    }
}
