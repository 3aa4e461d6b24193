/// Quantize-dequantize in the scaled low-precision formats of today's accelerators, simulated in
/// float32: each value becomes `scale · v` with `v` in the element format. Checked bit for bit
/// against numpy with ml_dtypes (`BlockQuantizationTests`, `ModelZoo/scripts/block_formats_reference.py`).
public enum ScaledFormat: Sendable, Hashable, CustomStringConvertible {
    /// FP8 (E4M3FN or E5M2) with one scale: `v = round(x / scale)`, saturating at the largest value
    /// (TensorRT's and Model Optimizer's FP8 Q/DQ).
    case fp8(MiniFloat, scale: Float)
    /// NVFP4: E2M1 values in blocks of 16, each block's scale an E4M3 value times the tensor's FP32
    /// `globalScale`: `blockScale = e4m3(amax_block / 6 / globalScale)`, `v = e2m1(x / (blockScale ·
    /// globalScale))`. Model Optimizer's global scale is `amax / (448 · 6)` of the tensor (weights) or of
    /// the calibrated range (activations).
    case nvfp4(globalScale: Float)
    /// OCP Microscaling (MX v1.0): blocks of 32 sharing an E8M0 scale `2^(⌊log2 amax_block⌋ − emax)`,
    /// emax the element format's largest exponent (8 for E4M3, 2 for E2M1); elements rounded to nearest
    /// even, saturating.
    case mx(MiniFloat)
    /// Integer weights in blocks of `blockSize`: symmetric (`scale = amax / 7`, v in −8…7) or
    /// asymmetric (`scale = (max − min) / 15`, zero point `round(−min / scale)` in 0…15, v − zp in
    /// −zp…15 − zp), round half to even, as AWQ/GPTQ-style round-to-nearest exports store them.
    /// With `halfScales` the scale is rounded to float16 (as those exports store it) and the
    /// dequantized value too.
    case int4(blockSize: Int, symmetric: Bool, halfScales: Bool)

    public var description: String {
        switch self {
        case let .fp8(f, s): return "\(f)(scale \(s))"
        case let .nvfp4(g): return "nvfp4(global \(g))"
        case let .mx(f): return f == .e2m1fn ? "mxfp4" : "mxfp8"
        case let .int4(b, s, _): return "int4(block \(b), \(s ? "symmetric" : "asymmetric"))"
        }
    }

    /// Values per block along the reduction axis (1 for per-tensor FP8).
    public var blockSize: Int {
        switch self {
        case .fp8: return 1
        case .nvfp4: return 16
        case .mx: return 32
        case let .int4(b, _, _): return max(1, b)
        }
    }

    /// The NVFP4 global scale of values whose largest magnitude is `amax`.
    public static func nvfp4GlobalScale(amax: Float) -> Float { amax > 0 && amax.isFinite ? amax / (448 * 6) : 1 }
}

public enum BlockQuantization {
    /// Quantize-dequantize `source` into `destination` (same shape, float32) in `format`, blocks
    /// running along `axis` (with `spansRest`, along the flattened `axis…` dimensions: a
    /// convolution weight's `C·kh·kw`); a last block shorter than the block size is a block of its
    /// own. Returns how many values saturated (were beyond the largest value of their block's
    /// scale; NaN counted too).
    @discardableResult
    public static func fakeQuantize(_ source: Tensor, into destination: Tensor, format: ScaledFormat, axis: Int, spansRest: Bool = false) -> Int {
        let shape = source.shape
        guard !shape.isEmpty else {
            return fakeQuantize(source.reshaped([1]), into: destination.reshaped([1]), format: format, axis: 0)
        }
        let a = min(max(axis, 0), shape.count - 1)
        let outer = shape[..<a].reduce(1, *)
        let length = spansRest ? shape[a...].reduce(1, *) : shape[a]
        let inner = spansRest ? 1 : shape[(a + 1)...].reduce(1, *)
        let x = UnsafePointer(source.storage.base.assumingMemoryBound(to: Float.self))
        let y = destination.storage.base.assumingMemoryBound(to: Float.self)
        let size = format.blockSize
        var saturated = 0
        var block = [Float](repeating: 0, count: max(1, size))
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var start = 0
                while start < length {
                    let count = min(size, length - start)
                    for p in 0..<count { block[p] = x[base + (start + p) * inner] }
                    saturated += quantizeBlock(&block, count: count, format)
                    for p in 0..<count { y[base + (start + p) * inner] = block[p] }
                    start += count
                }
            }
        }
        return saturated
    }

    /// FP8 quantize-dequantize with one scale per channel along `axis` (`scales[c]`), saturating;
    /// returns how many values saturated.
    @discardableResult
    public static func fakeQuantizePerChannel(_ source: Tensor, into destination: Tensor, format: MiniFloat, scales: [Float], axis: Int) -> Int {
        let shape = source.shape
        let channels = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        guard scales.count == channels else { return 0 }
        let x = UnsafePointer(source.storage.base.assumingMemoryBound(to: Float.self))
        let y = destination.storage.base.assumingMemoryBound(to: Float.self)
        var saturated = 0
        for i in 0..<source.count {
            let s = scales[(i / inner) % channels], q = x[i] / s
            if !(q.magnitude <= format.largest) { saturated += 1 }
            y[i] = format.round(q, saturate: true) * s
        }
        return saturated
    }

    /// A copy of `t` quantized-dequantized (see `fakeQuantize`).
    public static func quantized(_ t: Tensor, format: ScaledFormat, axis: Int, spansRest: Bool = false) -> Tensor {
        let out = Tensor(zeros: t.shape)
        fakeQuantize(t, into: out, format: format, axis: axis, spansRest: spansRest)
        return out
    }

    /// Quantizes `count` values of `block` in place; returns how many saturated.
    static func quantizeBlock(_ block: inout [Float], count: Int, _ format: ScaledFormat) -> Int {
        var amax: Float = 0, lo = Float.infinity, hi = -Float.infinity
        for p in 0..<count {
            let v = block[p]
            if v.isNaN { continue }
            amax = Swift.max(amax, v.magnitude)
            lo = Swift.min(lo, v)
            hi = Swift.max(hi, v)
        }
        var saturated = 0
        func element(_ v: Float, _ f: MiniFloat, _ scale: Float) -> Float {
            let q = v / scale
            if !(q.magnitude <= f.largest) { saturated += 1 }
            return f.round(q, saturate: true) * scale
        }
        switch format {
        case let .fp8(f, scale):
            for p in 0..<count { block[p] = element(block[p], f, scale) }
        case let .nvfp4(global):
            let blockScale = MiniFloat.e4m3fn.round(amax / 6 / global, saturate: true)
            let scale = blockScale * global
            guard scale > 0, scale.isFinite else {
                for p in 0..<count { block[p] = block[p].isNaN ? .nan : 0 }
                return 0
            }
            for p in 0..<count { block[p] = element(block[p], .e2m1fn, scale) }
        case let .mx(f):
            guard amax > 0, amax.isFinite else {
                for p in 0..<count where !block[p].isNaN { block[p] = amax.isFinite ? 0 : block[p] }
                return 0
            }
            let emax = f == .e2m1fn ? 2 : f == .e5m2 ? 15 : 8
            let e = Swift.max(-127, Swift.min(127, Int(amax.exponent) - emax))
            let scale = Float(sign: .plus, exponent: e, significand: 1)
            for p in 0..<count { block[p] = element(block[p], f, scale) }
        case let .int4(_, symmetric, halfScales):
            guard amax > 0, amax.isFinite else {
                for p in 0..<count where !block[p].isNaN { block[p] = 0 }
                return 0
            }
            var scale: Float, zero: Float = 0, qmin: Float = -8, qmax: Float = 7
            if symmetric {
                scale = amax / 7
            } else {
                let top = Swift.max(hi, 0), bottom = Swift.min(lo, 0)
                scale = (top - bottom) / 15
                qmin = 0
                qmax = 15
            }
            if halfScales { scale = Simulate.half(scale) }
            guard scale > 0 else {
                for p in 0..<count where !block[p].isNaN { block[p] = 0 }
                return 0
            }
            if !symmetric { zero = Swift.min(Swift.max((-Swift.min(lo, 0) / scale).rounded(.toNearestOrEven), 0), 15) }
            for p in 0..<count {
                let q = (block[p] / scale).rounded(.toNearestOrEven) + zero
                if q > qmax || q < qmin { saturated += 1 }
                let v = (Swift.min(Swift.max(q, qmin), qmax) - zero) * scale
                block[p] = halfScales ? Simulate.half(v) : v
            }
        }
        return saturated
    }
}
