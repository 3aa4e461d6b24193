import Foundation
import Testing
import TensorCore
import TouchstoneTesting

/// The 8- and 4-bit float formats against numpy with ml_dtypes (an independent implementation,
/// pinned through onnx): every bit pattern's value, and the rounding of some 21,000 float32 values
/// per format (random at every scale, the midpoints between neighbouring values and their float32
/// neighbours, ±0, ±inf, NaN, values beyond the largest), with and without saturation.
@Suite("FP8, FP4 and E8M0 against ml_dtypes")
struct MiniFloatTests {
    static let reference: Result<[String: Tensor], Error> = Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("minifloat-\(UUID().uuidString).npz")
        defer { try? FileManager.default.removeItem(at: out) }
        let (code, log) = try tool("python3", ["ModelZoo/scripts/minifloat_reference.py", out.path])
        guard code == 0 else { throw TestFailure("minifloat_reference.py failed (it needs numpy and ml_dtypes): \(log)") }
        return try NPZ.read(contentsOf: out)
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// Same value bit for bit, any NaN matching any NaN.
    func same(_ a: Float, _ b: Float) -> Bool { a.isNaN ? b.isNaN : a.bitPattern == b.bitPattern }

    @Test(arguments: MiniFloat.allCases)
    func everyBitPatternDecodes(format: MiniFloat) throws {
        let z = try Self.reference.get()
        let decoded = try #require(z["\(format.rawValue)_decoded"]).scalars(as: Float.self)
        #expect(decoded.count == 1 << format.bitWidth)
        var wrong: [String] = []
        for (c, v) in decoded.enumerated() where !same(format.decode(UInt8(c)), v) {
            wrong.append("\(c): \(format.decode(UInt8(c))) (ml_dtypes \(v))")
        }
        #expect(wrong.isEmpty, "\(format): \(wrong.count) patterns differ: \(wrong.prefix(5))")
    }

    @Test(arguments: MiniFloat.allCases)
    func roundingMatches(format: MiniFloat) throws {
        let z = try Self.reference.get()
        let x = try #require(z["\(format.rawValue)_inputs"]).scalars(as: Float.self)
        for (key, saturate) in [("bits", false), ("saturated", true)] {
            let bits = try #require(z["\(format.rawValue)_\(key)"]).scalars(as: UInt8.self)
            var wrong: [String] = []
            for (v, b) in zip(x, bits) {
                let mine = format.decode(format.encode(v, saturate: saturate)), theirs = format.decode(b)
                if !same(mine, theirs) { wrong.append("\(v) → \(mine) (ml_dtypes \(theirs))") }
            }
            #expect(x.count > 20_000)
            #expect(wrong.isEmpty, "\(format) \(key): \(wrong.count) of \(x.count) differ: \(wrong.prefix(5))")
        }
    }

    @Test func largestValues() {
        #expect(MiniFloat.e4m3fn.largest == 448 && MiniFloat.e4m3fnuz.largest == 240 && MiniFloat.e5m2.largest == 57344)
        #expect(MiniFloat.e5m2fnuz.largest == 57344 && MiniFloat.e2m1fn.largest == 6 && MiniFloat.e8m0fnu.largest == 0x1p127)
    }
}
