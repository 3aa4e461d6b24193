import Foundation

/// How a calibrator turns an activation's magnitudes into a range (amax).
public enum CalibrationMethod: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The largest |x| seen.
    case minmax
    /// A percentile of |x| over all values (from the histogram, within one bin).
    case percentile
    /// TensorRT's EntropyCalibration2: the threshold minimizing KL(P‖Q) of the histogram.
    case entropy
    /// The amax minimizing the expected squared INT8 quantization error over the histogram.
    case mse

    public var description: String { rawValue }

    /// Whether the method needs the second (histogram) pass.
    public var needsHistogram: Bool { self != .minmax }

    /// The algorithm name a TensorRT cache header carries for this method.
    public var tensorRTAlgorithm: String {
        switch self {
        case .entropy: return "EntropyCalibration2"
        // TensorRT has no calibrator of these names; its min-max calibrator reads a cache of any
        // scales, so that is the header they are written under (the JSON form keeps the method).
        case .minmax, .percentile, .mse: return "MinMaxCalibration"
        }
    }
}

/// A histogram of |x| for one activation tensor: `bins` equal bins over `[0, range]`, filled
/// after the range is known (the second streaming pass), so that counts from any split of the
/// data add up to the counts of the whole.
public struct MagnitudeHistogram: Sendable, Equatable {
    public static let defaultBins = 2048
    /// The upper end of the histogram: the largest |x| of the whole data set.
    public let range: Float
    public private(set) var counts: [Int]

    public init(range: Float, bins: Int = MagnitudeHistogram.defaultBins) {
        self.range = range
        counts = [Int](repeating: 0, count: bins)
    }

    public init(range: Float, counts: [Int]) {
        self.range = range
        self.counts = counts
    }

    public var binWidth: Double { Double(range) / Double(counts.count) }
    public var total: Int { counts.reduce(0, +) }

    /// Adds the magnitudes of `values`; values beyond the range land in the last bin.
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        let n = counts.count
        guard range > 0 else { counts[0] += values.count; return }
        let perUnit = Double(n) / Double(range)
        counts.withUnsafeMutableBufferPointer { c in
            for v in values {
                // NaN and ±inf are left out, as they are of the range (pass 1 counts them).
                guard v.isFinite else { continue }
                let x = Double(v.magnitude) * perUnit  // NaN only for 0 × ∞ (a subnormal range)
                let b = x.isNaN ? 0 : Int(Swift.min(x, Double(n - 1)))
                c[b] += 1
            }
        }
    }

    /// Adds another histogram of the same range and bin count.
    public mutating func merge(_ other: MagnitudeHistogram) throws {
        guard other.range == range, other.counts.count == counts.count else {
            throw CalibrationError("histograms of different ranges (\(range) and \(other.range)) or bin counts cannot be merged")
        }
        for i in counts.indices {
            let (sum, overflow) = counts[i].addingReportingOverflow(other.counts[i])
            guard !overflow else { throw CalibrationError("histogram counts overflow when merged") }
            counts[i] = sum
        }
    }

    /// The `p`-th percentile (0–100) of the magnitudes with linear interpolation between ranks
    /// (numpy's default): rank r = p/100 · (n − 1), value = v⌊r⌋ + frac(r)·(v⌊r⌋+1 − v⌊r⌋), each
    /// v taken at the middle of its bin (the largest value is the range itself), so the result is
    /// within half a bin of the exact one.
    public func percentile(_ p: Double) -> Float {
        let total = self.total
        guard total > 0 else { return 0 }
        let r = Swift.min(Swift.max(p, 0), 100) / 100 * Double(total - 1)
        let k = Int(r.rounded(.down)), frac = r - Double(k)
        func value(atRank rank: Int) -> Double {
            if rank >= total - 1 { return Double(range) }
            var cumulative = 0
            for (i, c) in counts.enumerated() {
                cumulative += c
                if cumulative > rank { return (Double(i) + 0.5) * binWidth }
            }
            return Double(range)
        }
        let lo = value(atRank: k)
        return Float(frac == 0 ? lo : lo + frac * (value(atRank: k + 1) - lo))
    }

    /// TensorRT's EntropyCalibration2 as NVIDIA has published it: the zero bin's count replaced by
    /// bin 1's; for each candidate of i = 128…bins bins, P = the first i bins with the tail's mass
    /// added to bin i−1, and Q = the first i bins (without the tail) merged into 128 equal groups
    /// (bin j in group ⌊128·j/i⌋), each group's count spread evenly over its non-empty bins; both
    /// normalized; the i of least KL(P‖Q) (the largest among equals) gives amax = i × bin width.
    public func entropyThreshold(quantizedBins: Int = 128) -> Float {
        var h = counts.map(Double.init)
        let n = h.count
        guard n > quantizedBins, range > 0 else { return range }
        h[0] = h[1]
        var suffix = [Double](repeating: 0, count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + h[i] }
        guard suffix[0] > 0 else { return range }
        var best = Double.infinity, bestI = n
        var groupSum = [Double](repeating: 0, count: quantizedBins), groupNonEmpty = [Int](repeating: 0, count: quantizedBins)
        for i in quantizedBins...n {
            for g in 0..<quantizedBins { groupSum[g] = 0; groupNonEmpty[g] = 0 }
            for j in 0..<i where h[j] != 0 {
                let g = j * quantizedBins / i
                groupSum[g] += h[j]
                groupNonEmpty[g] += 1
            }
            // Q's total is the mass of the first i bins; P's is everything.
            let totalQ = suffix[0] - suffix[i], totalP = suffix[0]
            var kl = 0.0
            for j in 0..<i {
                let pj = (j == i - 1 ? h[j] + suffix[i] : h[j]) / totalP
                guard pj > 0 else { continue }
                let g = j * quantizedBins / i
                let qj = h[j] != 0 && totalQ > 0 ? groupSum[g] / Double(groupNonEmpty[g]) / totalQ : 0
                kl += qj > 0 ? pj * Foundation.log(pj / qj) : .infinity
            }
            if kl <= best {
                best = kl
                bestI = i
            }
        }
        return Float(Double(bestI) * binWidth)
    }

    /// The amax among the bin edges i × bin width (i = 1…bins) that minimizes the expected squared
    /// error of INT8 quantization (scale amax/127) over the histogram, each bin's values taken as
    /// spread uniformly over the bin: rounding error inside the range, clipping error beyond it.
    public func mseThreshold() -> Float {
        let n = counts.count, w = binWidth
        guard range > 0, total > 0 else { return range }
        var best = Double.infinity, bestI = n
        for i in 1...n {
            let amax = Double(i) * w
            let s = amax / 127
            var err = 0.0
            for (b, c) in counts.enumerated() where c > 0 {
                let lo = Double(b) * w, hi = lo + w
                if b < i {
                    err += Double(c) * MagnitudeHistogram.meanRoundingError(lo, hi, step: s)
                } else {
                    // Clipped to amax: the mean of (x − amax)² over [lo, hi].
                    let a = lo - amax, z = hi - amax
                    err += Double(c) * (z * z * z - a * a * a) / (3 * (z - a))
                }
            }
            if err < best {
                best = err
                bestI = i
            }
        }
        return Float(Double(bestI) * w)
    }

    /// The mean of (x − step·round(x/step))² for x uniform on [lo, hi].
    public static func meanRoundingError(_ lo: Double, _ hi: Double, step s: Double) -> Double {
        // G(x) = ∫ from −s/2 to x of (t − s·round(t/s))² dt. Writing x = −s/2 + m·s + r with
        // 0 ≤ r < s: each whole period adds s³/12, and within a period the error runs from −s/2
        // to r − s/2.
        func integral(_ x: Double) -> Double {
            let shifted = x + s / 2
            let m = (shifted / s).rounded(.down)
            let e = shifted - m * s - s / 2
            return m * s * s * s / 12 + (e * e * e + s * s * s / 8) / 3
        }
        guard hi > lo else { let e = lo - s * (lo / s).rounded(); return e * e }
        return (integral(hi) - integral(lo)) / (hi - lo)
    }
}

/// A calibration problem: bad data, files or merges.
public struct CalibrationError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
