import CTargetFeatures

/// Vectorised transcendental functions for the activation kernels.
///
/// `exp` reduces x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two parts so the reduction is exact to
/// float precision) and evaluates a degree-7 polynomial for e^r; against Double `exp` over [-87, 88]
/// its error stays within 2 ulp (VectorMathTests checks it). Sigmoid and tanh are built on it.
///
/// The vector type is SIMD16 (512 bits): on this AVX-512 core x·sigmoid(x) ran at 0.48 ns per
/// element against 0.63 with SIMD8 (a standalone loop over 64 K floats, best of 50); an AVX2 build
/// splits each operation in two 256-bit halves.
public enum VectorMath {
    public typealias V = SIMD16<Float>
    public typealias VI = SIMD16<Int32>
    static var width: Int { V.scalarCount }

    @inline(__always)
    public static func exp(_ x0: V) -> V {
        let hi = V(repeating: 88.72283935546875), lo = V(repeating: -104)
        let overflow = x0 .> hi, underflow = x0 .< lo, nan = x0 .!= x0
        var x = x0.replacing(with: hi, where: overflow).replacing(with: lo, where: underflow)
        x = x.replacing(with: 0, where: nan)
        let (p, t) = reduced(x)
        // Scale by 2^n in two halves so each factor is a normal float (covers overflow to the
        // largest float and gradual underflow into subnormals).
        let ni = unsafeBitCast(t, to: VI.self) &- 0x4B40_0000
        let n1 = ni &>> 1, n2 = ni &- n1
        let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: V.self)
        let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: V.self)
        return (p * s1 * s2).replacing(with: .infinity, where: overflow).replacing(with: 0, where: underflow).replacing(with: x0, where: nan)
    }

    /// The shared core of `exp` and `sigmoid`: x = n·ln2 + r with |r| ≤ ln2/2, returning e^r and
    /// `t`, whose low mantissa bits hold 0x4B40_0000 + n. x must already be clamped to a finite range.
    ///
    /// n = round(x / ln2) by the 1.5·2^23 trick: adding it rounds to an integer (to nearest even)
    /// and leaves n in the low mantissa bits (Swift's generic SIMD `rounded` and Float→Int
    /// conversions work lane by lane; these stay vector instructions). ln2 is split in two parts so
    /// that the reduction is exact to float precision. e^r ≈ 1 + r + r²/2 + … + r⁷/5040 (Horner);
    /// the first omitted term is below 1e-7 of e^r.
    @inline(__always)
    static func reduced(_ x: V) -> (expR: V, t: V) {
        let magic = V(repeating: 12582912)
        let t = fma(x, V(repeating: 1.44269504088896341), magic)
        let n = t - magic
        var r = fma(n, V(repeating: -0.693359375), x)
        r = fma(n, V(repeating: 2.12194440e-4), r)
        var p = V(repeating: 1.0 / 5040)
        p = fma(p, r, V(repeating: 1.0 / 720))
        p = fma(p, r, V(repeating: 1.0 / 120))
        p = fma(p, r, V(repeating: 1.0 / 24))
        p = fma(p, r, V(repeating: 1.0 / 6))
        p = fma(p, r, V(repeating: 0.5))
        p = fma(p, r, V(repeating: 1))
        p = fma(p, r, V(repeating: 1))
        return (p, t)
    }

    /// erf(x), NaN-preserving; within 1.6 ulps of the correctly rounded value (VectorMathTests
    /// measures it against Double `erf`), where the C library's `erff` is called one element at a
    /// time (28 ms of BERT-base's GELUs at 128 tokens).
    ///
    /// Two polynomials fitted for this kernel (Chebyshev least squares in Double, coefficients
    /// rounded to Float, evaluated with fused multiply-adds):
    /// - |x| < 0.921875: erf(x) = x·(c0 + t·P(t)), t = x², P of degree 5; c0 = 2/√π is split in a
    ///   high and a low part and the product formed as fma(x, c0hi, x·(c0lo + t·P)), so that only
    ///   the last operation rounds a value of the result's size (at most 1.07 ulps).
    /// - up to 3.9375: erf(|x|) = 1 − Q(|x| − 2.4296875), Q ≈ erfc of degree 14 (absolute error
    ///   below 1e-8, so 1 − Q errs at most 1.5 ulps); beyond it erfc < 2^-25 and erf rounds to ±1.
    @inline(__always)
    public static func erf(_ x: V) -> V {
        let magnitude = VI(repeating: 0x7FFF_FFFF), signBit = VI(repeating: Int32.min)
        let bits = unsafeBitCast(x, to: VI.self)
        let a = unsafeBitCast(bits & magnitude, to: V.self)
        let t = x * x
        // Horner's rule written out (an array of coefficients here was allocated per call).
        var p = fma(V(repeating: 8.392699237447232e-05), t, V(repeating: -0.0008148509077727795))
        p = fma(p, t, V(repeating: 0.005201592575758696))
        p = fma(p, t, V(repeating: -0.026859648525714874))
        p = fma(p, t, V(repeating: 0.11283700913190842))
        p = fma(p, t, V(repeating: -0.37612634897232056))
        let s = fma(t, p, V(repeating: -5.904751176899481e-08))
        // The sign bit of x put back: erf(−0) is −0 (the sum −0 + 0 would give +0).
        let small = unsafeBitCast(unsafeBitCast(fma(x, V(repeating: 1.128379225730896), x * s), to: VI.self) | (bits & signBit), to: V.self)
        let u = a - V(repeating: 2.4296875)
        var q = fma(V(repeating: -1.2256965646884055e-06), u, V(repeating: 5.632104489450285e-07))
        q = fma(q, u, V(repeating: 1.8178930986323394e-05))
        q = fma(q, u, V(repeating: -3.226430271752179e-05))
        q = fma(q, u, V(repeating: -6.895534170325845e-05))
        q = fma(q, u, V(repeating: 0.00032437205663882196))
        q = fma(q, u, V(repeating: -0.0004374593554530293))
        q = fma(q, u, V(repeating: -0.00036656815791502595))
        q = fma(q, u, V(repeating: 0.0030226174276322126))
        q = fma(q, u, V(repeating: -0.007339909672737122))
        q = fma(q, u, V(repeating: 0.010986329056322575))
        q = fma(q, u, V(repeating: -0.011099188588559628))
        q = fma(q, u, V(repeating: 0.007485168520361185))
        q = fma(q, u, V(repeating: -0.00308059505186975))
        q = fma(q, u, V(repeating: 0.0005901589174754918))
        let tail = (V(repeating: 1) - q).replacing(with: 1, where: a .> V(repeating: 3.9375))
        let signed = unsafeBitCast(unsafeBitCast(tail, to: VI.self) | (bits & signBit), to: V.self)
        return small.replacing(with: signed, where: a .>= V(repeating: 0.921875))
    }

    /// 1 / (1 + e^-x), NaN-preserving.
    ///
    /// e^−x by `exp`'s reduction and polynomial (`reduced`) but a leaner scale, since instruction
    /// count is what limits its speed: −x is clamped to [−86, 89], where e^−x needs neither
    /// gradual underflow, a split scale nor special cases.
    /// Below −86, 1 + e^−x rounds to 1 anyway; above 88.4 the scale 2^128 is +infinity and the
    /// result 0 (exactly so for x = −∞; the true values there are below 4e-39).
    /// Error: at most 1.52 ulps over ±[1e-6, 86], mean 0.29 (SigmoidULPTests); the correction of
    /// the sum's rounding costs about 6% of efficientnet_b0's time in a build without FMA.
    @inline(__always)
    public static func sigmoid(_ x: V) -> V {
        let low = V(repeating: -86), high = V(repeating: 89)
        var z = -x
        z = z.replacing(with: low, where: z .< low).replacing(with: high, where: z .> high)
        let (p, t) = reduced(z)
        // t's low bits hold 0x4B40_0000 + n; shifted by 23 they leave n·2^23, and adding the bias
        // makes 2^n (n = 128 gives the bits of +infinity).
        let scale = unsafeBitCast((unsafeBitCast(t, to: VI.self) &<< 23) &+ (127 &<< 23), to: V.self)
        let e = p * scale, one = V(repeating: 1)
        // 1 + e rounds away up to half an ulp of a number near 2 (four ulps of a result near 0.5);
        // its rounding error δ is kept (TwoSum, exact) and the quotient corrected to 1/(s + δ):
        // with fused multiply-add through the exact residual 1 − y0·s, else to first order.
        // Near x = 0 this took the error from 2 ulps to a correctly rounded quotient.
        let s = one + e
        let bb = s - one
        let delta = (one - (s - bb)) + (e - bb)
        let y0 = one / s
        var y: V
        if fusedMultiplyAdd {
            var r = fma(-y0, s, one)
            r = fma(-y0, delta, r)
            y = fma(y0, r, y0)
        } else {
            y = y0 - y0 * (y0 * delta)
        }
        y = y.replacing(with: 0, where: s .== V(repeating: .infinity))
        return y.replacing(with: x, where: x .!= x)
    }

    /// Whether this build may use fused multiply-add instructions (see `CTargetFeatures`).
    static var fusedMultiplyAdd: Bool { TOUCHSTONE_TARGET_FMA != 0 }

    /// `a·b + c`: fused where the build has the instruction, else a multiply and an add (a fused
    /// operation without the instruction would be a library call per lane).
    @inline(__always)
    static func fma(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
        fusedMultiplyAdd ? c.addingProduct(a, b) : a * b + c
    }

    /// `fma` eight lanes wide. (Concrete widths, not one generic function: a generic body binds to
    /// the SIMD protocol's lane-by-lane operations.)
    @inline(__always)
    static func fma(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> {
        fusedMultiplyAdd ? c.addingProduct(a, b) : a * b + c
    }

    /// The even lanes of `a` then those of `b` (`unzip`'s first half). Written lane by lane, which
    /// the compiler turns into one two-source shuffle; the standard library's `evenHalf` is a loop
    /// that stays a call with a scalar insert per lane.
    @inline(__always)
    static func evens(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(a[0], a[2], a[4], a[6], a[8], a[10], a[12], a[14], b[0], b[2], b[4], b[6], b[8], b[10], b[12], b[14])
    }

    /// The odd lanes of `a` then those of `b`.
    @inline(__always)
    static func odds(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(a[1], a[3], a[5], a[7], a[9], a[11], a[13], a[15], b[1], b[3], b[5], b[7], b[9], b[11], b[13], b[15])
    }

    /// Lanes 1 to 15 of `a`, then lane 0 of `b`.
    @inline(__always)
    static func shiftedDown(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], b[0])
    }

    /// The even lanes of `v`.
    @inline(__always)
    static func evens(_ v: SIMD16<Float>) -> SIMD8<Float> {
        SIMD8(v[0], v[2], v[4], v[6], v[8], v[10], v[12], v[14])
    }

    /// tanh(x) = 2·sigmoid(2x) − 1, and for |x| < √0.2 ≈ 0.447, where that subtraction would cancel,
    /// the series x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − 1382x¹¹/155925 + 21844x¹³/6081075 (the
    /// next term is below 10⁻⁸ of the value there). Measured over ±[10⁻⁴, 10]: within 6 float ulps
    /// (`VectorMathTests`); with the series only to x⁵ below |x| = 0.05 it was 28 ulps.
    @inline(__always)
    public static func tanh(_ x: V) -> V {
        let t = V(repeating: 2) * sigmoid(V(repeating: 2) * x) - V(repeating: 1)
        let x2 = x * x
        var p = V(repeating: Float(21844.0 / 6081075))
        p = p * x2 + V(repeating: Float(-1382.0 / 155925))
        p = p * x2 + V(repeating: Float(62.0 / 2835))
        p = p * x2 + V(repeating: Float(-17.0 / 315))
        p = p * x2 + V(repeating: Float(2.0 / 15))
        p = p * x2 + V(repeating: Float(-1.0 / 3))
        let small = x + x * (x2 * p)
        return t.replacing(with: small, where: x2 .< V(repeating: 0.2))
    }

    /// `dst[i] = f(src[i])` over `count` floats, a vector at a time.
    /// `src` and `dst` may be the same buffer.
    ///
    /// `f` is a generic value rather than a closure: each call is specialised for its function
    /// type, so the function body is inlined into the loop. Closures were not inlined here, and
    /// the call per vector (its argument passed through memory) cost ~1.3 ns per element, more
    /// than HardSwish's arithmetic by an order of magnitude.
    @inline(__always)
    public static func map<F: VectorFunction>(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int, _ f: F) {
        if count < width {
            var v = V(repeating: 0)
            for j in 0..<count { v[j] = src[j] }
            let r = f(v)
            for j in 0..<count { dst[j] = r[j] }
            return
        }
        // A ragged end is the last whole vector, overlapping the one before; it is read before
        // anything is written, so that it holds inputs even when `dst` is `src`.
        let end = count - width
        let last = UnsafeRawPointer(src + end).loadUnaligned(as: V.self)
        var i = 0
        while i + 2 * width <= count {
            let v0 = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
            let v1 = UnsafeRawPointer(src + i + width).loadUnaligned(as: V.self)
            let r0 = f(v0), r1 = f(v1)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: r0, as: V.self)
            UnsafeMutableRawPointer(dst + i + width).storeBytes(of: r1, as: V.self)
            i += 2 * width
        }
        if i + width <= count {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: f(v), as: V.self)
            i += width
        }
        if i < count { UnsafeMutableRawPointer(dst + end).storeBytes(of: f(last), as: V.self) }
    }
}

/// A lane-wise function of eight floats, for `VectorMath.map`.
public protocol VectorFunction {
    func callAsFunction(_ v: VectorMath.V) -> VectorMath.V
}
