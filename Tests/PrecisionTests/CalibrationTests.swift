import Foundation
import JSONC
import Testing
import Touchstone
import TouchstoneTesting

/// Seeded values with a long tail (|N(0,1)|³), like activations after a few layers.
func tailedValues(_ n: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in
        let u1 = max(rng.unit(), 1e-12), u2 = rng.unit()
        let g = (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
        return Float(g * g * g.magnitude)
    }
}

func histogram(_ values: [Float], bins: Int = 2048) -> MagnitudeHistogram {
    var h = MagnitudeHistogram(range: values.map(\.magnitude).max() ?? 0, bins: bins)
    values.withUnsafeBufferPointer { h.add($0) }
    return h
}

@Suite("calibration")
struct CalibrationTests {
    @Test(arguments: [50_000, 3_000, 700]) func percentileIsWithinOneBinOfTheExactOne(count: Int) {
        let v = tailedValues(count, seed: 1)
        let h = histogram(v)
        let sorted = v.map { Double($0.magnitude) }.sorted()
        for p in [50.0, 99.0, 99.9, 99.99, 100] {
            // The exact percentile with linear interpolation between ranks (numpy's default).
            let r = p / 100 * Double(sorted.count - 1)
            let k = Int(r), f = r - Double(k)
            let exact = k + 1 < sorted.count ? sorted[k] + f * (sorted[k + 1] - sorted[k]) : sorted[k]
            #expect(abs(Double(h.percentile(p)) - exact) <= h.binWidth, "p\(p) of \(count)")
        }
    }

    /// The entropy method against a direct transcription of the published procedure: explicit
    /// P and Q arrays per candidate, group edges at g·i/128 computed in floating point.
    @Test func entropyMatchesADirectTranscription() {
        for seed in [2, 3, 4] as [UInt64] {
            let v = tailedValues(20_000, seed: seed)
            let h = histogram(v)
            var bins = h.counts.map(Double.init)
            bins[0] = bins[1]
            var bestI = 0, best = Double.infinity
            for i in 128...bins.count {
                var p = Array(bins[0..<i])
                p[i - 1] += bins[i...].reduce(0, +)
                var groupOf = [Int](repeating: -1, count: i)
                for j in 0..<i where bins[j] != 0 {
                    var g = 0
                    while g + 1 < 128 && Double(j) >= Double(g + 1) * Double(i) / 128 { g += 1 }
                    groupOf[j] = g
                }
                var sums = [Double](repeating: 0, count: 128), members = [Double](repeating: 0, count: 128)
                for j in 0..<i where groupOf[j] >= 0 { sums[groupOf[j]] += bins[j]; members[groupOf[j]] += 1 }
                var q = [Double](repeating: 0, count: i)
                for j in 0..<i where groupOf[j] >= 0 { q[j] = sums[groupOf[j]] / members[groupOf[j]] }
                let sp = p.reduce(0, +), sq = q.reduce(0, +)
                var kl = 0.0
                for j in 0..<i where p[j] > 0 { kl += q[j] == 0 ? .infinity : p[j] / sp * Foundation.log((p[j] / sp) / (q[j] / sq)) }
                if kl <= best { best = kl; bestI = i }
            }
            let expected = Double(bestI) * h.binWidth
            // The same candidate i: amax is returned as a Float (relative rounding ≤ 6e-8), while
            // a neighbouring candidate would differ by a whole bin (1/2048 of the range).
            #expect(abs(Double(h.entropyThreshold()) - expected) <= 1e-6 * expected, "seed \(seed)")
            // A long tail: the threshold clips it.
            #expect(h.entropyThreshold() < h.range)
        }
    }

    /// The mse method's amax, judged by the real squared error of quantizing the raw values: it
    /// must be within 1% of the best of a fine brute-force search.
    @Test func mseThresholdNearlyMinimizesTheRealError() {
        let v = tailedValues(20_000, seed: 5)
        let h = histogram(v)
        func realError(_ amax: Float) -> Double {
            let s = amax / 127
            return v.reduce(0.0) { acc, x in
                let d = Double(Simulate.fakeQuantize(x, scale: s) - x)
                return acc + d * d
            }
        }
        let chosen = realError(h.mseThreshold())
        var best = Double.infinity
        for k in 1...400 { best = min(best, realError(h.range * Float(k) / 400)) }
        #expect(chosen <= best * 1.01, "chosen \(chosen), brute force \(best)")
    }

    @Test func meanRoundingErrorOverWholePeriodsIsOneTwelfth() {
        let s = 0.25
        #expect(abs(MagnitudeHistogram.meanRoundingError(0, 10 * s, step: s) - s * s / 12) < 1e-15)
        // Over [0, s/2] the error is x itself: mean x² = (s/2)²/3.
        #expect(abs(MagnitudeHistogram.meanRoundingError(0, s / 2, step: s) - s * s / 12) < 1e-15)
        #expect(abs(MagnitudeHistogram.meanRoundingError(0, s / 4, step: s) - s * s / 48) < 1e-15)
    }

    @Test func shardedHistogramsMergeToTheWhole() throws {
        let v = tailedValues(30_000, seed: 6)
        let range = v.map(\.magnitude).max() ?? 0
        let whole = histogram(v)
        var parts: [MagnitudeHistogram] = []
        for k in 0..<3 {
            var h = MagnitudeHistogram(range: range)
            // Interleaved shards, each in reverse order: order and split must not matter.
            let mine = Array(stride(from: k, to: v.count, by: 3).map { v[$0] }.reversed())
            mine.withUnsafeBufferPointer { h.add($0) }
            parts.append(h)
        }
        var merged = parts[0]
        for p in parts.dropFirst() { try merged.merge(p) }
        #expect(merged == whole)
        #expect(throws: CalibrationError.self) { try merged.merge(MagnitudeHistogram(range: range * 2)) }
    }

    /// NaN and ±inf are left out of histograms (Int(NaN) trapped for an infinite value), and a
    /// subnormal range does not make 0 × ∞ a bin index.
    @Test func nonFiniteValuesAreLeftOut() {
        var h = MagnitudeHistogram(range: 4, bins: 8)
        [Float.nan, .infinity, -.infinity, 1, -3.9, 100].withUnsafeBufferPointer { h.add($0) }
        #expect(h.total == 3 && h.counts[2] == 1 && h.counts[7] == 2)
        var tiny = MagnitudeHistogram(range: .leastNonzeroMagnitude, bins: 2048)
        [Float(0), 1, .leastNonzeroMagnitude].withUnsafeBufferPointer { tiny.add($0) }
        #expect(tiny.total == 3)
    }

    /// Merge parts with absurd sample totals or counts are refused, not overflowed.
    @Test func absurdPartsAreRefused() throws {
        let a = CalibrationPart(samples: 1 << 62, maxima: ["x": 1], histograms: nil)
        #expect(throws: CalibrationError.self) { _ = try CalibrationPart.merge([a, a]) }
        let h = MagnitudeHistogram(range: 1, counts: [Int.max - 1, 0])
        var g = h
        #expect(throws: CalibrationError.self) { try g.merge(h) }
        for text in [#"{"format": "touchstone-calibration-part", "pass": 1, "samples": 1e300, "tensors": {}}"#,
                     #"{"format": "touchstone-calibration-part", "pass": 1, "samples": 2.5, "tensors": {}}"#,
                     #"{"format": "touchstone-calibration-part", "pass": 1, "samples": 3, "tensors": {"x": {"max": 1e300}}}"#] {
            #expect(throws: CalibrationError.self) { _ = try CalibrationPart(json: try JSON.parse(Data(text.utf8), path: "part.json"), source: "part.json") }
        }
    }
}

@Suite("calibration caches")
struct CalibrationCacheTests {
    @Test func handWrittenTensorRTCacheIsReadAsWritten() throws {
        let text = """
            TRT-8601-EntropyCalibration2
            images: 3c010204
            layer (Unnamed Layer* 3) [Convolution]_output: 3f800000
            a:b: c: 3d800000

            """
        let cache = try CalibrationCache(tensorRTText: text)
        #expect(cache.algorithm == "EntropyCalibration2" && cache.version == "8601")
        #expect(cache.scales["images"] == 1 / Float(127))
        #expect(abs((cache.ranges["images"] ?? 0) - 1) < 1e-6)
        #expect(cache.scales["layer (Unnamed Layer* 3) [Convolution]_output"] == 1)
        #expect(cache.scales["a:b: c"] == 0.0625)
        // Written back: the same lines, sorted by name.
        let back = try CalibrationCache(tensorRTText: cache.tensorRTText)
        #expect(back == cache)
        #expect(cache.tensorRTText.hasPrefix("TRT-8601-EntropyCalibration2\n"))
        #expect(cache.tensorRTText.contains("images: 3c010204\n"))
    }

    @Test func writtenCachesReadBackIdentically() throws {
        let ranges: [String: Float] = ["x": 3.25, "conv out: [1]": 0.001234, "y": 1e-8]
        let cache = CalibrationCache(method: .percentile, ranges: ranges)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ts-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["c.cache", "c.json"] {
            let url = dir.appendingPathComponent(name)
            try cache.write(to: url)
            let back = try CalibrationCache(contentsOf: url)
            #expect(back.scales == cache.scales, "\(name)")
            #expect(back.algorithm == cache.algorithm)
        }
        #expect(try CalibrationCache(contentsOf: dir.appendingPathComponent("c.json")).method == .percentile)
    }

    @Test func malformedCachesGiveErrorsThatSayWhere() {
        #expect(throws: CalibrationError.self) { try CalibrationCache(tensorRTText: "TRT-EntropyCalibration2\n") }
        #expect(throws: CalibrationError.self) { try CalibrationCache(tensorRTText: "TRT-8601-MinMaxCalibration\nx 3c010204\n") }
        #expect(throws: CalibrationError.self) { try CalibrationCache(tensorRTText: "TRT-8601-MinMaxCalibration\nx: 3c0102\n") }
        #expect(throws: CalibrationError.self) { try CalibrationCache(tensorRTText: "TRT-8601-MinMaxCalibration\nx: 7f800000\n") }
        do {
            _ = try CalibrationCache(tensorRTText: "TRT-8601-MinMaxCalibration\nx: 3c010204\nx: zz010204\n", source: "c.cache")
            Issue.record("expected an error")
        } catch let e as CalibrationError {
            #expect(e.message.contains("c.cache:3"))
        } catch { Issue.record("\(error)") }
    }
}
