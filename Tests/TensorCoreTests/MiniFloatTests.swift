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

    /// ONNX Cast into float8e8m0, each round_mode with and without saturation, against onnx's
    /// own rule (`onnx.numpy_helper.to_float8e8m0`).
    @Test(arguments: MiniFloat.E8M0Rounding.allCases)
    func e8m0CastMatchesONNX(mode: MiniFloat.E8M0Rounding) throws {
        let z = try Self.reference.get()
        let x = try #require(z["e8m0fnu_inputs"]).scalars(as: Float.self)
        for saturate in [false, true] {
            let want = try #require(z["e8m0cast_\(mode.rawValue)_\(saturate ? 1 : 0)"]).scalars(as: UInt8.self)
            var wrong: [String] = []
            for (v, w) in zip(x, want) {
                let mine = MiniFloat.e8m0Code(v, roundMode: mode, saturate: saturate)
                if mine != w { wrong.append("\(v) → \(mine) (onnx \(w))") }
            }
            #expect(want.count == x.count && wrong.isEmpty, "\(mode) saturate \(saturate): \(wrong.count) differ: \(wrong.prefix(5))")
        }
    }

    /// 4- and 2-bit tensors unpack from ONNX's packing and pack back to the same bytes.
    @Test func subByteTypesRoundTripTheirPacking() throws {
        let bytes: [UInt8] = [0x8F, 0x71, 0x2C, 0xE4, 0x05]
        for dtype in [DType.int4, .uint4, .float4e2m1, .int2, .uint2] {
            let count = dtype.bitWidth == 4 ? 9 : 19  // odd counts: the last byte is partly padding
            let t = try #require(Tensor.unpacking(bytes, shape: [count], dtype: dtype))
            var expected = bytes
            // The unused high bits of the last byte are not part of the tensor.
            let used = count * dtype.bitWidth - (bytes.count - 1) * 8
            expected[bytes.count - 1] &= UInt8((1 << used) - 1)
            #expect(t.packedBytes() == expected, "\(dtype)")
        }
        // Sign extension: 0xF in int4 is −1, 0x8 is −8; 0b11 in int2 is −1.
        let i4 = try #require(Tensor.unpacking([0x8F], shape: [2], dtype: .int4))
        #expect(i4.converted(to: .int64).int64s() == [-1, -8])
        let u4 = try #require(Tensor.unpacking([0x8F], shape: [2], dtype: .uint4))
        #expect(u4.converted(to: .int64).int64s() == [15, 8])
        let i2 = try #require(Tensor.unpacking([0b1110_0111], shape: [4], dtype: .int2))
        #expect(i2.converted(to: .int64).int64s() == [-1, 1, -2, -1])
        #expect(Tensor.unpacking([0x01], shape: [3], dtype: .int4) == nil, "too few bytes")
    }

    @Test func largestValues() {
        #expect(MiniFloat.e4m3fn.largest == 448 && MiniFloat.e4m3fnuz.largest == 240 && MiniFloat.e5m2.largest == 57344)
        #expect(MiniFloat.e5m2fnuz.largest == 57344 && MiniFloat.e2m1fn.largest == 6 && MiniFloat.e8m0fnu.largest == 0x1p127)
    }
}
