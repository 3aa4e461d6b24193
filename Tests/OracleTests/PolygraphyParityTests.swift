import Foundation
import JSONC
import Testing
import Touchstone
import TouchstoneTesting

let repoRoot = packageRoot

/// A JSON number, or the strings "nan", "inf", "-inf" the scripts write for non-finite values.
func jsonDouble(_ v: JSONValue?) -> Double? {
    if let n = v?.number { return n }
    switch v?.string {
    case "nan": return .nan
    case "inf": return .infinity
    case "-inf": return -.infinity
    default: return nil
    }
}

@Suite("Polygraphy parity")
struct PolygraphyParityTests {
    /// Polygraphy's own comparison function (`SimpleCompareFunc`, polygraphy pinned in
    /// ModelZoo/scripts/requirements.txt) judges 240 generated pairs for each of two seeds — float32, float16 against
    /// float32, float64 and int32; every error statistic; tolerances log-uniform and zero; planted
    /// NaNs, infinities and zeros in the reference — and Touchstone's comparison must give the
    /// same verdict on every one, and the same statistics: bitwise for max and median, and for
    /// the mean and quantile within 2 float32 units in the last place (numpy's pairwise float32
    /// summation is followed, but its SIMD loops may group some sums differently).
    @Test(arguments: [0, 1])
    func sameVerdictsAsPolygraphy(seed: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("polygraphy-verdicts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, log) = try tool("python3", ["ModelZoo/scripts/polygraphy_verdicts.py", dir.path, "--cases", "240", "--seed", String(seed + (Int(ProcessInfo.processInfo.environment["PARITY_SEED_OFFSET"] ?? "") ?? 0))])
        try #require(code == 0, "ModelZoo/scripts/polygraphy_verdicts.py failed (install the pinned polygraphy: pip install -r ModelZoo/scripts/requirements.txt): \(log)")
        let pairs = try NPZ.read(contentsOf: dir.appendingPathComponent("pairs.npz"))
        let cases = try #require(try JSON.parse(contentsOf: dir.appendingPathComponent("verdicts.json"))["cases"]?.array)
        #expect(cases.count == 240)
        var passes = 0, fails = 0
        for c in cases {
            let i = Int(try #require(c["index"]?.number))
            let cand = try #require(pairs["c\(i)"]), ref = try #require(pairs["r\(i)"])
            let stat = try #require(ErrorStatistic(rawValue: c["check_error_stat"]?.string ?? ""))
            let tolerance = Tolerance(
                atol: try #require(jsonDouble(c["atol"])), rtol: try #require(jsonDouble(c["rtol"])), errorStatistic: stat,
                quantile: try #require(jsonDouble(c["error_quantile"])), infinitiesCompareEqual: c["infinities_compare_equal"]?.bool ?? false)
            let result = Oracle.compare(cand, ref, name: "t", tolerance: tolerance)
            guard let expected = c["passed"]?.bool else {
                Issue.record("case \(i) has no verdict")
                continue
            }
            #expect(result.passed == expected, "case \(i) (\(cand.dtype) vs \(ref.dtype), \(stat), atol \(tolerance.atol), rtol \(tolerance.rtol)): Touchstone \(result.passed), Polygraphy \(expected)")
            if expected { passes += 1 } else { fails += 1 }
            func same(_ mine: Double, _ key: String, ulps: Float = 0) {
                guard let theirs = jsonDouble(c[key]) else { return }
                if theirs.isNaN || mine.isNaN {
                    #expect(theirs.isNaN && mine.isNaN, "case \(i) \(key): Touchstone \(mine), Polygraphy \(theirs)")
                } else if theirs.isInfinite || mine.isInfinite {
                    #expect(theirs == mine, "case \(i) \(key): Touchstone \(mine), Polygraphy \(theirs)")
                } else {
                    let bound = Double(ulps) * Double(Float(theirs.magnitude).ulp)
                    #expect((mine - theirs).magnitude <= bound, "case \(i) \(key): Touchstone \(mine), Polygraphy \(theirs)")
                }
            }
            same(result.absolute.max, "max_absdiff")
            same(result.relative.max, "max_reldiff")
            same(result.absolute.median, "median_absdiff")
            same(result.relative.median, "median_reldiff")
            same(result.absolute.mean, "mean_absdiff", ulps: 2)
            same(result.relative.mean, "mean_reldiff", ulps: 2)
            if stat == .quantile {
                same(result.absolute.quantile, "quantile_absdiff", ulps: 2)
                same(result.relative.quantile, "quantile_reldiff", ulps: 2)
            }
        }
        // Both verdicts occur often enough for the agreement to mean something.
        #expect(passes >= 60 && fails >= 60, "\(passes) pass and \(fails) fail")
    }
}
