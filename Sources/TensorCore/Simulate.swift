/// Reduced-precision formats simulated in float32 storage.
public enum ReducedFormat: Sendable, Hashable {
    case float16, bfloat16
    /// NVIDIA's TensorFloat-32: float32's exponent, 10 explicit mantissa bits (the operands of
    /// tensor-core products when TF32 is allowed).
    case tensorFloat32
}

/// What rounding a tensor to a reduced format did to it.
public struct RoundingCounts: Sendable, Equatable {
    /// Values rounded.
    public var total = 0
    /// Finite values that became ±infinity (beyond 65504 for float16).
    public var overflows = 0
    /// Non-zero values that became zero.
    public var flushedToZero = 0
    /// Values whose result is subnormal in the format.
    public var subnormals = 0
    /// Infinities and NaNs in the result.
    public var nonFinite = 0

    public init() {}

    public static func += (a: inout RoundingCounts, b: RoundingCounts) {
        a.total += b.total
        a.overflows += b.overflows
        a.flushedToZero += b.flushedToZero
        a.subnormals += b.subnormals
        a.nonFinite += b.nonFinite
    }
}

/// The kernels of simulated reduced precision: rounding to float16/bfloat16 and TensorRT-style
/// symmetric INT8 quantize-dequantize, all on float32 tensors.
public enum Simulate {
    /// Rounds one value to the nearest float16 (ties to even), returned as a Float.
    @inlinable public static func half(_ x: Float) -> Float { Float(Float16(x)) }

    /// Rounds one value to the nearest bfloat16 (ties to even), returned as a Float.
    @inlinable public static func bfloat(_ x: Float) -> Float { BFloat16(x).floatValue }

    /// Rounds one value to the nearest TF32 value (10 mantissa bits, ties to even), as a Float.
    /// Infinities and NaNs are kept; values beyond TF32's largest finite value become infinite.
    @inlinable public static func tf32(_ x: Float) -> Float {
        guard x.isFinite else { return x }
        let bits = x.bitPattern
        let rounded = (bits &+ 0xFFF &+ ((bits >> 13) & 1)) & ~UInt32(0x1FFF)
        return Float(bitPattern: rounded)
    }

    /// Rounds every value of a float32 tensor in place and counts overflows and underflows.
    @discardableResult
    public static func round(_ t: Tensor, to format: ReducedFormat) -> RoundingCounts {
        precondition(t.dtype == .float32, "Simulate.round works on float32 tensors")
        let p = t.storage.base.assumingMemoryBound(to: Float.self)
        var c = RoundingCounts()
        c.total = t.count
        // float16's smallest normal is 2^-14; bfloat16 shares float32's exponent range.
        let smallestNormal: Float = format == .float16 ? 0x1p-14 : Float.leastNormalMagnitude
        for i in 0..<t.count {
            let x = p[i]
            let r: Float
            switch format {
            case .float16: r = half(x)
            case .bfloat16: r = bfloat(x)
            case .tensorFloat32: r = tf32(x)
            }
            p[i] = r
            if !r.isFinite {
                c.nonFinite += 1
                if x.isFinite { c.overflows += 1 }
            } else if r == 0 {
                if x != 0 { c.flushedToZero += 1 }
            } else if r.magnitude < smallestNormal {
                c.subnormals += 1
            }
        }
        return c
    }

    /// One value quantized to int8 with `scale` (round half to even, clamp to [−128, 127]) and
    /// dequantized: TensorRT's symmetric quantization with zero point 0.
    @inlinable public static func fakeQuantize(_ x: Float, scale: Float) -> Float {
        let q = (x / scale).rounded(.toNearestOrEven)
        // NaN stays NaN through min/max here, as in QuantizeLinear's saturation of a float.
        return Swift.min(Swift.max(q, -128), 127) * scale
    }

    /// Quantize-dequantize of a float32 tensor with one scale, from `source` into `destination`.
    /// Returns how many values fell outside the range (were clipped).
    @discardableResult
    public static func fakeQuantize(_ source: Tensor, into destination: Tensor, scale: Float) -> Int {
        let s = UnsafePointer(source.storage.base.assumingMemoryBound(to: Float.self))
        let d = destination.storage.base.assumingMemoryBound(to: Float.self)
        let n = source.count
        var clipped = 0
        var i = 0
        // 16 lanes at a time: the same division, rounding and clamp as the scalar form.
        let vs = SIMD16<Float>(repeating: scale), lo = SIMD16<Float>(repeating: -128), hi = SIMD16<Float>(repeating: 127)
        var outside = SIMD16<Int32>(repeating: 0)
        while i + 16 <= n {
            let x = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD16<Float>.self)
            let q = (x / vs).rounded(.toNearestOrEven)
            outside &+= SIMD16<Int32>(repeating: 0).replacing(with: 1, where: (q .> hi) .| (q .< lo))
            let c = q.replacing(with: hi, where: q .> hi).replacing(with: lo, where: q .< lo)
            UnsafeMutableRawPointer(d + i).storeBytes(of: c * vs, as: SIMD16<Float>.self)
            i += 16
        }
        clipped += Int(outside.wrappedSum())
        while i < n {
            let q = (s[i] / scale).rounded(.toNearestOrEven)
            if q > 127 || q < -128 { clipped += 1 }
            d[i] = Swift.min(Swift.max(q, -128), 127) * scale
            i += 1
        }
        return clipped
    }

    /// Per-channel symmetric quantize-dequantize of a weight: the scale of channel `c` along `axis`
    /// is `max|w_c| / 127` (a channel of zeros keeps scale 1 and stays zero).
    public static func fakeQuantizePerChannel(_ weight: Tensor, axis: Int) -> (values: Tensor, scales: [Float]) {
        let w = weight.scalars(as: Float.self)
        let channels = weight.shape[axis]
        let inner = weight.shape[(axis + 1)...].reduce(1, *)
        let scales = channelAmax(weight, axis: axis).map { $0 > 0 ? $0 / 127 : 1 }
        var out = w
        for i in 0..<w.count { out[i] = fakeQuantize(w[i], scale: scales[(i / inner) % channels]) }
        return (Tensor(shape: weight.shape, scalars: out), scales)
    }

    /// The largest magnitude of each channel along `axis` of a float tensor (NaN ignored).
    public static func channelAmax(_ t: Tensor, axis: Int) -> [Float] {
        let w = t.scalars(as: Float.self)
        let channels = t.shape[axis], inner = t.shape[(axis + 1)...].reduce(1, *)
        var amax = [Float](repeating: 0, count: channels)
        for i in 0..<w.count { let c = (i / inner) % channels; amax[c] = Swift.max(amax[c], w[i].magnitude) }
        return amax
    }

    /// The largest magnitude of a float tensor (NaN ignored; 0 when empty).
    public static func amax(_ t: Tensor) -> Float { t.scalars(as: Float.self).reduce(0) { Swift.max($0, $1.magnitude) } }
}
