import Foundation

/// The window functions of ONNX's signal ops.
public enum Window {
    public enum Kind: Sendable { case hann, hamming, blackman }

    /// `size` values of the window, periodic (the period is `size`, as for a DFT) or symmetric (the
    /// period is `size − 1`), computed in Double: Hann `0.5 − 0.5·cos(2πn/N)`, Hamming
    /// `25/46 − 21/46·cos(2πn/N)`, Blackman `0.42 − 0.5·cos(2πn/N) + 0.08·cos(4πn/N)`.
    public static func values(_ kind: Kind, size: Int, periodic: Bool) -> [Double] {
        let period = Double(periodic ? size : size - 1)
        return (0..<size).map { n in
            let x = 2 * Double.pi * Double(n) / period
            switch kind {
            case .hann: return 0.5 - 0.5 * Foundation.cos(x)
            case .hamming: return 25.0 / 46 - 21.0 / 46 * Foundation.cos(x)
            case .blackman: return 0.42 - 0.5 * Foundation.cos(x) + 0.08 * Foundation.cos(2 * x)
            }
        }
    }
}

/// The discrete Fourier transforms of ONNX's `DFT` and `STFT`, direct (O(n²)) sums in T with
/// twiddle factors computed in Double from k·n mod N and rounded to T.
public enum Fourier {
    public enum Kind: Sendable, Equatable {
        /// Complex to complex, forward or (`inverse`, scaled by 1/N) backward; `onesided` keeps
        /// the bins 0…⌊N/2⌋.
        case complex(inverse: Bool, onesided: Bool)
        /// One-sided spectrum (bins 0…⌊N/2⌋, the rest implied by conjugate symmetry) to the real
        /// signal.
        case inverseReal
    }

    /// Transforms `x` seen as `[outer, length, inner, parts]` (parts 1: real, 2: real and
    /// imaginary) along its second axis with `n` points (the signal cropped or zero-padded);
    /// returns `[outer, outLength, inner, 1 or 2]`, `outLength` as `Kind` gives it.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func transform<T: BinaryFloatingPoint>(
        _ x: [T], outer: Int, length: Int, inner: Int, parts: Int, n: Int, kind: Kind
    ) -> (values: [T], outLength: Int, outParts: Int) {
        let outLength: Int, outParts: Int
        switch kind {
        case .complex(_, let onesided): (outLength, outParts) = (onesided ? n / 2 + 1 : n, 2)
        case .inverseReal: (outLength, outParts) = (n, 1)
        }
        let forward: Bool
        switch kind {
        case .complex(let inverse, _): forward = !inverse
        case .inverseReal: forward = false
        }
        let cosines = (0..<n).map { T(Foundation.cos(2 * Double.pi * Double($0) / Double(n))) }
        let sines = (0..<n).map { T((forward ? -1 : 1) * Foundation.sin(2 * Double.pi * Double($0) / Double(n))) }
        let scale: T = forward ? 1 : T(1) / T(n)
        var out = [T](repeating: 0, count: outer * outLength * inner * outParts)
        var re = [T](repeating: 0, count: n), im = re
        for o in 0..<outer {
            for i in 0..<inner {
                // The n input points as complex values.
                for p in 0..<n {
                    re[p] = 0
                    im[p] = 0
                }
                switch kind {
                case .complex:
                    for p in 0..<Swift.min(n, length) {
                        let base = ((o * length + p) * inner + i) * parts
                        re[p] = x[base]
                        if parts == 2 { im[p] = x[base + 1] }
                    }
                case .inverseReal:
                    // Bins 0…⌊n/2⌋ given (zeros past the input), the rest their mirrored conjugates.
                    for p in 0...(n / 2) where p < length {
                        let base = ((o * length + p) * inner + i) * parts
                        re[p] = x[base]
                        if parts == 2 { im[p] = x[base + 1] }
                    }
                    if n / 2 + 1 < n {
                        for p in (n / 2 + 1)..<n {
                            re[p] = re[n - p]
                            im[p] = -im[n - p]
                        }
                    }
                }
                for k in 0..<outLength {
                    var sr: T = 0, si: T = 0
                    for p in 0..<n {
                        let t = (k * p) % n, c = cosines[t], s = sines[t]
                        // (re + i·im)(c + i·s)
                        sr += re[p] * c - im[p] * s
                        si += re[p] * s + im[p] * c
                    }
                    let base = ((o * outLength + k) * inner + i) * outParts
                    out[base] = sr * scale
                    if outParts == 2 { out[base + 1] = si * scale }
                }
            }
        }
        return (out, outLength, outParts)
    }
}
