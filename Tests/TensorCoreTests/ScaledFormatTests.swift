import Foundation
import Testing
import TensorCore
import TouchstoneTesting

/// The scaled formats (FP8 with a scale, NVFP4, MXFP8/MXFP4, blocked INT4) and the FP8 tensor-core
/// accumulation model against numpy with ml_dtypes (`ModelZoo/scripts/scaled_formats_reference.py`,
/// an independent implementation of the same definitions): every output bit for bit.
@Suite("Scaled formats and FP8 accumulation against numpy")
struct ScaledFormatTests {
    static let reference: Result<[String: Tensor], Error> = Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("scaled-\(UUID().uuidString).npz")
        defer { try? FileManager.default.removeItem(at: out) }
        let (code, log) = try tool("python3", ["ModelZoo/scripts/scaled_formats_reference.py", out.path])
        guard code == 0 else { throw MiniFloatTests.TestFailure("scaled_formats_reference.py failed (it needs numpy and ml_dtypes): \(log)") }
        return try NPZ.read(contentsOf: out)
    }

    static let formats: [MiniFloat] = [.e4m3fn, .e5m2, .e2m1fn]

    func format(_ spec: [Float]) -> ScaledFormat {
        let p = Array(spec.dropFirst(3))
        switch Int(spec[0]) {
        case 0: return .fp8(Self.formats[Int(p[0])], scale: p[1])
        case 1: return .nvfp4(globalScale: p[0])
        case 2: return .mx(Self.formats[Int(p[0])])
        default: return .int4(blockSize: Int(p[0]), symmetric: p[1] != 0, halfScales: p[2] != 0)
        }
    }

    @Test func quantizeDequantizeMatches() throws {
        let z = try Self.reference.get()
        var cases = 0
        while let x = z["case\(cases)_x"], let y = z["case\(cases)_y"], let spec = z["case\(cases)_spec"]?.scalars(as: Float.self) {
            let f = format(spec)
            let mine = BlockQuantization.quantized(x, format: f, axis: Int(spec[1]), spansRest: spec[2] != 0).scalars(as: Float.self)
            let theirs = y.scalars(as: Float.self)
            let wrong = zip(mine, theirs).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
            #expect(wrong.isEmpty, "case \(cases) \(f) shape \(x.shape): \(wrong.count) of \(theirs.count) differ, e.g. \(wrong.prefix(3).map { "[\($0.offset)] \($0.element.0) vs \($0.element.1)" })")
            // The formats change the values: a case that passed values through unchanged would test nothing.
            #expect(zip(mine, x.scalars(as: Float.self)).contains { $0 != $1 }, "case \(cases) changed nothing")
            cases += 1
        }
        #expect(cases == 14)
    }

    @Test func fp8AccumulationMatchesTheModel() throws {
        let z = try Self.reference.get()
        var cases = 0
        while let a = z["acc\(cases)_a"], let b = z["acc\(cases)_b"], let y = z["acc\(cases)_y"], let spec = z["acc\(cases)_spec"]?.scalars(as: Float.self) {
            let model = FP8Accumulator.tensorCore(groupSize: Int(spec[0]), fractionBits: Int(spec[1]), promotionInterval: spec[2] == 0 ? nil : Int(spec[2]))
            let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
            let products = FP8Products(activationFormat: .e4m3fn, activationScale: 1, weightFormat: .e4m3fn, weightScales: [1], accumulator: model)
            let out = Tensor(zeros: [m, n])
            FP8Accumulation.matmul(a, b, into: out, m: m, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0, products: products, threads: 2)
            let mine = out.scalars(as: Float.self), theirs = y.scalars(as: Float.self)
            let wrong = zip(mine, theirs).filter { $0.0.bitPattern != $0.1.bitPattern }
            #expect(wrong.isEmpty, "case \(cases) (\(model)): \(wrong.count) of \(theirs.count) differ, e.g. \(wrong.prefix(3))")
            // The model loses something against float64 sums, or it would not be a model of anything.
            let exact = (0..<m * n).map { idx -> Double in
                let (i, j) = (idx / n, idx % n)
                return (0..<k).reduce(0.0) { $0 + Double(a.scalars(as: Float.self)[i * k + $1]) * Double(b.scalars(as: Float.self)[$1 * n + j]) }
            }
            #expect(zip(mine, exact).contains { Double($0) != $1 }, "case \(cases): every sum exact")
            cases += 1
        }
        #expect(cases == 4)
    }

    @Test func scaledWeightsRecoverTheirCodes() {
        // Operands stored as code × scale (as the FP8 policies leave them) give the same sums as the
        // codes themselves times the scales.
        let k = 64, n = 3
        let codes = (0..<k * n).map { MiniFloat.e4m3fn.round(Float(($0 * 37) % 29) / 7 - 2) }
        let acts = (0..<k).map { MiniFloat.e4m3fn.round(Float(($0 * 11) % 17) / 5 - 1.5) }
        let scales: [Float] = [0.013, 0.7, 3.1]
        let scaled = (0..<k * n).map { codes[$0] * scales[$0 % n] }
        let p = FP8Products(activationFormat: .e4m3fn, activationScale: 0.25, weightFormat: .e4m3fn, weightScales: scales, accumulator: .hopper)
        let y = Tensor(zeros: [1, n]), reference = Tensor(zeros: [1, n])
        FP8Accumulation.matmul(Tensor(shape: [1, k], scalars: acts.map { $0 * 0.25 }), Tensor(shape: [k, n], scalars: scaled), into: y, m: 1, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0, products: p, threads: 1)
        let unit = FP8Products(activationFormat: .e4m3fn, activationScale: 1, weightFormat: .e4m3fn, weightScales: [1], accumulator: .hopper)
        FP8Accumulation.matmul(Tensor(shape: [1, k], scalars: acts), Tensor(shape: [k, n], scalars: codes), into: reference, m: 1, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0, products: unit, threads: 1)
        let r = reference.scalars(as: Float.self)
        #expect(y.scalars(as: Float.self) == (0..<n).map { (0.25 * scales[$0]) * r[$0] })
    }
}
