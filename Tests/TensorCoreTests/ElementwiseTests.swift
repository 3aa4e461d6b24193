import Foundation
import Testing
@testable import TensorCore

/// Naive broadcasting: the input index of each output index.
func naiveIndex(_ outIndex: [Int], _ shape: [Int]) -> Int {
    let offset = outIndex.count - shape.count
    var idx = 0
    for (i, d) in shape.enumerated() { idx = idx * d + (d == 1 ? 0 : outIndex[offset + i]) }
    return idx
}

func allIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for d in shape { result = result.flatMap { prefix in (0..<d).map { prefix + [$0] } } }
    return result
}

@Suite("Elementwise and broadcasting")
struct ElementwiseTests {
    static func randomShapes(_ seed: Int) -> ([Int], [Int]) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 99)
        let rank = randomInt(0...4, &g)
        let full = (0..<rank).map { _ in randomInt(1...5, &g) }
        // Each operand drops leading dims and sets some dims to 1.
        func variant() -> [Int] {
            let drop = randomInt(0...rank, &g)
            return full.dropFirst(drop).map { g.next() % 3 == 0 ? 1 : $0 }
        }
        return (variant(), variant())
    }

    @Test(arguments: 0..<40)
    func binaryMatchesNaiveBroadcast(seed: Int) throws {
        let (sa, sb) = Self.randomShapes(seed)
        let out = try #require(Broadcast.shape([sa, sb]))
        var g = SeededGenerator(seed: UInt64(seed))
        let a = randomFloats(sa.product, &g), b = randomFloats(sb.product, &g).map { $0 + 2 }
        for op in [BinaryOp.add, .sub, .mul, .div, .max, .min] {
            let t = Tensor(zeros: out)
            Elementwise.binary(op, Tensor(shape: sa, scalars: a), Tensor(shape: sb, scalars: b), into: t)
            let want: [Float] = allIndices(out).map { i in
                let x = a[naiveIndex(i, sa)], y = b[naiveIndex(i, sb)]
                switch op {
                case .add: return x + y
                case .sub: return x - y
                case .mul: return x * y
                case .div: return x / y
                case .max: return Swift.max(x, y)
                default: return Swift.min(x, y)
                }
            }
            // The same single IEEE operation on the same operands: exact.
            expectClose(t.scalars(as: Float.self), want, atol: 0, "\(op) \(sa) \(sb)")
        }
    }

    @Test func integerAndComparison() {
        let a = Tensor(shape: [2, 3], scalars: [Int64(1), -7, 3, 4, 5, -6]), b = Tensor(shape: [3], scalars: [Int64(2), 2, -4])
        let sum = Tensor(zeros: [2, 3], dtype: .int64)
        Elementwise.binary(.add, a, b, into: sum)
        #expect(sum.int64s() == [3, -5, -1, 6, 7, -10])
        let q = Tensor(zeros: [2, 3], dtype: .int64)
        Elementwise.binary(.div, a, b, into: q)
        #expect(q.int64s() == [0, -3, 0, 2, 2, 1])  // C-style truncation, as ONNX Div on integers
        let lt = Tensor(zeros: [2, 3], dtype: .bool)
        Elementwise.binary(.less, a, b, into: lt)
        #expect(lt.scalars(as: Bool.self) == [true, true, false, false, false, true])
    }

    /// uint64 values at and above 2^63 (negative as Int64 bit patterns) order, divide and wrap as
    /// unsigned numbers; checked against Swift's own UInt64 arithmetic.
    @Test func unsigned64AboveTwoToThe63() {
        let xs: [UInt64] = [0, 1, 1 << 63, UInt64.max, (1 << 63) + 12345, 7, UInt64.max - 1]
        let ys: [UInt64] = [3, UInt64.max, 2, 1 << 63, 10, 1 << 62, UInt64.max]
        let a = Tensor(shape: [xs.count], scalars: xs), b = Tensor(shape: [ys.count], scalars: ys)
        func run(_ op: BinaryOp, _ dtype: DType) -> Tensor {
            let t = Tensor(zeros: [xs.count], dtype: dtype)
            Elementwise.binary(op, a, b, into: t)
            return t
        }
        #expect(run(.div, .uint64).scalars(as: UInt64.self) == zip(xs, ys).map { $0 / $1 })
        #expect(run(.mod, .uint64).scalars(as: UInt64.self) == zip(xs, ys).map { $0 % $1 })
        #expect(run(.max, .uint64).scalars(as: UInt64.self) == zip(xs, ys).map { max($0, $1) })
        #expect(run(.min, .uint64).scalars(as: UInt64.self) == zip(xs, ys).map { min($0, $1) })
        #expect(run(.add, .uint64).scalars(as: UInt64.self) == zip(xs, ys).map { $0 &+ $1 })
        #expect(run(.mul, .uint64).scalars(as: UInt64.self) == zip(xs, ys).map { $0 &* $1 })
        #expect(run(.less, .bool).scalars(as: Bool.self) == zip(xs, ys).map { $0 < $1 })
        #expect(run(.greaterOrEqual, .bool).scalars(as: Bool.self) == zip(xs, ys).map { $0 >= $1 })
        #expect(run(.bitShiftRight, .uint64).scalars(as: UInt64.self)[0] == 0)  // shift by 3
    }

    /// Int64.min / −1 and Int64.min mod −1 overflow: they give numpy's results (the quotient wraps
    /// to Int64.min, the remainder is 0) instead of trapping; the other values as Swift computes them.
    @Test func int64MinDividedByMinusOneDoesNotTrap() {
        let xs: [Int64] = [.min, .min, -7, 7, .max, .min]
        let ys: [Int64] = [-1, 1, 2, -2, -1, .min]
        let a = Tensor(shape: [xs.count], scalars: xs), b = Tensor(shape: [ys.count], scalars: ys)
        func run(_ op: BinaryOp) -> [Int64] {
            let t = Tensor(zeros: [xs.count], dtype: .int64)
            Elementwise.binary(op, a, b, into: t)
            return t.scalars(as: Int64.self)
        }
        #expect(run(.div) == [.min, .min, -3, -3, -.max, 1])
        #expect(run(.fmod) == [0, 0, -1, 1, 0, 0])
        #expect(run(.mod) == [0, 0, 1, -1, 0, 0])  // the divisor's sign, like Python
    }

    /// PRelu's one-pass kernel against its definition, `max(x, 0) + slope·min(x, 0)` per element
    /// with naive broadcasting; Where's select against the naive index rule. Bitwise: the same
    /// IEEE operations on the same operands.
    @Test(arguments: 0..<30)
    func preluAndSelectMatchNaiveBroadcast(seed: Int) throws {
        let (sa, sb) = Self.randomShapes(seed)
        let out = try #require(Broadcast.shape([sa, sb]))
        var g = SeededGenerator(seed: UInt64(seed) &+ 5)
        let x = randomFloats(out.product, &g), slope = randomFloats(sb.product, &g)
        let y = Tensor(zeros: out)
        Elementwise.prelu(Tensor(shape: out, scalars: x), Tensor(shape: sb, scalars: slope), into: y, walk: BroadcastWalk(output: out, operands: [out, sb]))
        let want: [Float] = allIndices(out).enumerated().map { i, idx in
            Swift.max(x[i], 0) + slope[naiveIndex(idx, sb)] * Swift.min(x[i], 0)
        }
        #expect(y.scalars(as: Float.self).map(\.bitPattern) == want.map(\.bitPattern), "prelu \(out) \(sb)")

        let flags = (0..<sa.product).map { _ in g.next() % 2 == 0 }
        let a = (0..<sb.product).map { Int16($0) }, b = (0..<out.product).map { Int16(-1 - $0) }
        let picked = Tensor(zeros: out, dtype: .int16)
        Elementwise.select(Tensor(shape: sa, scalars: flags), Tensor(shape: sb, scalars: a), Tensor(shape: out, scalars: b), into: picked)
        let chosen: [Int16] = allIndices(out).enumerated().map { i, idx in flags[naiveIndex(idx, sa)] ? a[naiveIndex(idx, sb)] : b[i] }
        #expect(picked.scalars(as: Int16.self) == chosen, "select \(sa) \(sb) \(out)")
    }

    /// PRelu on float16 computes in float32 and rounds once; that equals rounding after each of
    /// its four steps, because one of the two terms is always zero.
    @Test func preluInFloat16RoundsLikeItsSteps() {
        let xs: [Float] = [-3.3, -0.0, 0.0, 1e-5, -6e-5, 65504, -65504, .infinity, -.infinity, .nan, 2.7]
        let slope: [Float] = [0.1, -0.7, 3.1]
        let x = Tensor(shape: [xs.count, 1], scalars: xs).converted(to: .float16), s = Tensor(shape: [slope.count], scalars: slope).converted(to: .float16)
        let shape = [xs.count, slope.count]
        let y = Tensor(zeros: shape, dtype: .float16)
        Elementwise.prelu(x, s, into: y, walk: BroadcastWalk(output: shape, operands: [x.shape, s.shape]))
        let x16 = x.converted(to: .float32).scalars(as: Float.self), s16 = s.converted(to: .float32).scalars(as: Float.self)
        func r(_ v: Float) -> Float { Float(Float16(v)) }
        let want: [Float] = allIndices(shape).map { idx in
            let v = x16[idx[0]], k = s16[idx[1]]
            let neg = r(v.isNaN ? .nan : Swift.min(v, 0)), pos = r(v.isNaN ? .nan : Swift.max(v, 0))
            return r(pos + r(neg * k))
        }
        let got = y.converted(to: .float32).scalars(as: Float.self)
        #expect(got.map(\.bitPattern) == want.map(\.bitPattern))
    }

    @Test func coalescingKeepsOrder() {
        let (dims, st) = Broadcast.coalesce([2, 3, 4], [[12, 4, 1], [0, 4, 1]])
        #expect(dims == [2, 12] && st[0] == [12, 1] && st[1] == [0, 1])
    }
}

@Suite("Data movement")
struct MovementTests {
    @Test(arguments: 0..<20)
    func transposeMatchesNaive(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed))
        let rank = randomInt(1...5, &g)
        let shape = (0..<rank).map { _ in randomInt(1...4, &g) }
        let perm = Array(0..<rank).shuffled(using: &g)
        let x = Tensor(shape: shape, scalars: (0..<shape.product).map { Int32($0) })
        let y = Tensor(zeros: perm.map { shape[$0] }, dtype: .int32)
        Movement.transpose(x, perm: perm, into: y)
        let st = contiguousStrides(shape)
        let want = allIndices(y.shape).map { idx in Int32(zip(perm, idx).reduce(0) { $0 + st[$1.0] * $1.1 }) }
        #expect(y.scalars(as: Int32.self) == want)
    }

    /// Transposes whose last output axis is strided in the source (attention's Kᵀ and the like)
    /// go through 16 × 16 blocks, 4-byte elements through 8 × 8 vector transposes: sizes up to 40
    /// (whole blocks, partial blocks, both), 1-, 4- and 8-byte elements, against the index rule.
    @Test(arguments: 0..<24)
    func blockedTransposeMatchesNaive(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 501)
        let rank = randomInt(2...4, &g)
        let shape = (0..<rank).map { _ in randomInt(1...40, &g) }
        var perm = Array(0..<rank).shuffled(using: &g)
        if seed % 3 == 0 { perm = Array(0..<rank); perm.swapAt(rank - 1, rank - 2) }
        let st = contiguousStrides(shape)
        let outShape = perm.map { shape[$0] }
        let want = allIndices(outShape).map { idx in zip(perm, idx).reduce(0) { $0 + st[$1.0] * $1.1 } }
        let dtype: DType = [.int32, .int64, .uint8][seed % 3 == 0 ? 0 : seed % 3]
        let x: Tensor
        switch dtype {
        case .int64: x = Tensor(shape: shape, scalars: (0..<shape.product).map { Int64($0) })
        case .uint8: x = Tensor(shape: shape, scalars: (0..<shape.product).map { UInt8(truncatingIfNeeded: $0) })
        default: x = Tensor(shape: shape, scalars: (0..<shape.product).map { Int32($0) })
        }
        let y = Tensor(zeros: outShape, dtype: dtype)
        Movement.transpose(x, perm: perm, into: y)
        switch dtype {
        case .int64: #expect(y.scalars(as: Int64.self) == want.map { Int64($0) }, "\(shape) \(perm)")
        case .uint8: #expect(y.scalars(as: UInt8.self) == want.map { UInt8(truncatingIfNeeded: $0) }, "\(shape) \(perm)")
        default: #expect(y.scalars(as: Int32.self) == want.map { Int32($0) }, "\(shape) \(perm)")
        }
    }

    /// Transposes of 1 MB and more are split over threads (by output rows, or by the outer
    /// matrices of a blocked transpose, each part starting mid-odometer): attention's head split
    /// and Kᵀ at batch 8, a ragged split (7 matrices, 3 threads), and a reversed slice, with 1 to 3
    /// threads, against the index rule.
    @Test(arguments: [([8, 128, 12, 64], [0, 2, 1, 3]), ([8, 12, 128, 64], [0, 1, 3, 2]), ([7, 300, 130], [0, 2, 1]), ([5, 3, 70000], [1, 0, 2])])
    func threadedTransposesMatchTheIndexRule(shape: [Int], perm: [Int]) {
        let st = contiguousStrides(shape)
        let outShape = perm.map { shape[$0] }
        let want = allIndices(outShape).map { idx in Int32(zip(perm, idx).reduce(0) { $0 + st[$1.0] * $1.1 }) }
        let x = Tensor(shape: shape, scalars: (0..<shape.product).map { Int32($0) })
        for threads in 1...3 {
            let y = Tensor(zeros: outShape, dtype: .int32)
            Movement.transpose(x, perm: perm, into: y, threads: threads)
            #expect(y.scalars(as: Int32.self) == want, "\(shape) \(perm) \(threads) threads")
        }
        // A reversed slice of the last axis (negative stride), split over two threads.
        let reversed = Tensor(zeros: shape, dtype: .int32)
        Movement.stridedCopy(x, offset: shape.last! - 1, strides: st.dropLast() + [-1], into: reversed, threads: 2)
        let wantReversed = allIndices(shape).map { idx in Int32(zip(st.dropLast(), idx.dropLast()).reduce(0) { $0 + $1.0 * $1.1 } + shape.last! - 1 - idx.last!) }
        #expect(reversed.scalars(as: Int32.self) == wantReversed, "\(shape) reversed")
    }

    /// Tile against the index rule: output (…, j_i, …) holds input (…, j_i mod d_i, …).
    @Test(arguments: 0..<20)
    func tileMatchesNaive(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 77)
        let rank = randomInt(1...4, &g)
        let shape = (0..<rank).map { _ in randomInt(1...3, &g) }, repeats = (0..<rank).map { _ in randomInt(0...3, &g) }
        let x = Tensor(shape: shape, scalars: (0..<shape.product).map { Int32($0) })
        let y = Tensor(zeros: zip(shape, repeats).map { $0 * $1 }, dtype: .int32)
        Movement.tile(x, repeats: repeats, into: y)
        let st = contiguousStrides(shape)
        let want = allIndices(y.shape).map { idx in Int32(idx.indices.reduce(0) { $0 + st[$1] * (idx[$1] % shape[$1]) }) }
        #expect(y.scalars(as: Int32.self) == want, "shape \(shape) repeats \(repeats)")
    }

    @Test func stridedCopyWithNegativeSteps() {
        // x = arange(12).reshape(3, 4); x[::-1, 1::2] = [[9, 11], [5, 7], [1, 3]]
        let x = Tensor(shape: [3, 4], scalars: (0..<12).map { Float($0) })
        let y = Tensor(zeros: [3, 2])
        Movement.stridedCopy(x, offset: 2 * 4 + 1, strides: [-4, 2], into: y)
        #expect(y.scalars(as: Float.self) == [9, 11, 5, 7, 1, 3])
    }

    @Test func concatSplitRoundTrip() {
        let a = Tensor(shape: [2, 1, 3], scalars: (0..<6).map { Float($0) })
        let b = Tensor(shape: [2, 2, 3], scalars: (6..<18).map { Float($0) })
        let c = Tensor(zeros: [2, 3, 3])
        Movement.concat([a, b], axis: 1, into: c)
        #expect(c.scalars(as: Float.self) == [0, 1, 2, 6, 7, 8, 9, 10, 11, 3, 4, 5, 12, 13, 14, 15, 16, 17])
        let a2 = Tensor(zeros: [2, 1, 3]), b2 = Tensor(zeros: [2, 2, 3])
        Movement.split(c, axis: 1, into: [a2, b2])
        #expect(a2.scalars(as: Float.self) == a.scalars(as: Float.self) && b2.scalars(as: Float.self) == b.scalars(as: Float.self))
    }

    /// Constant padding by rows against its twin, element by element: random ranks, pads on
    /// both sides, negative pads that crop (whole rows and columns included), zero and non-zero fills.
    @Test(arguments: 0..<40)
    func constantPadMatchesItsTwin(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 300)
        let rank = randomInt(1...4, &g)
        let shape = (0..<rank).map { _ in randomInt(1...4, &g) }
        let before = shape.map { randomInt(-$0...2, &g) }
        let after = zip(shape, before).map { d, b in randomInt(-(d + b)...2, &g) }
        let out = (0..<rank).map { shape[$0] + before[$0] + after[$0] }
        let x = Tensor(shape: shape, scalars: (0..<shape.product).map { Int16($0 + 1) })
        for fill in [nil, Tensor(scalar: Int64(0)).converted(to: .int16), Tensor(scalar: Int64(-7)).converted(to: .int16)] {
            let y = Tensor(zeros: out, dtype: .int16), want = Tensor(zeros: out, dtype: .int16)
            Movement.pad(x, before: before, mode: .constant, constant: fill, into: y)
            Movement.padReference(x, before: before, mode: .constant, constant: fill, into: want)
            #expect(y.scalars(as: Int16.self) == want.scalars(as: Int16.self), "shape \(shape) before \(before) after \(after)")
        }
    }

    @Test func padModes() {
        // numpy.pad([1, 2, 3], (2, 3), mode): reflect [3 2 1 2 3 2 1 2], edge [1 1 1 2 3 3 3 3], wrap [2 3 1 2 3 1 2 3]
        let x = Tensor(shape: [3], scalars: [Float(1), 2, 3])
        let want: [Movement.PadMode: [Float]] = [
            .reflect: [3, 2, 1, 2, 3, 2, 1, 2], .edge: [1, 1, 1, 2, 3, 3, 3, 3], .wrap: [2, 3, 1, 2, 3, 1, 2, 3], .constant: [9, 9, 1, 2, 3, 9, 9, 9],
        ]
        for (mode, values) in want {
            let y = Tensor(zeros: [8])
            Movement.pad(x, before: [2], mode: mode, constant: Tensor(scalar: Float(9)), into: y)
            #expect(y.scalars(as: Float.self) == values, "\(mode)")
        }
    }
}

@Suite("Reductions and softmax")
struct ReduceTests {
    @Test func reduceOverAxes() {
        let x = Tensor(shape: [2, 3, 4], scalars: (0..<24).map { Float($0) })
        let s = Tensor(zeros: [2, 4])
        Reduce.reduce(.sum, x, axes: [1], into: s)
        // sum over the middle axis of arange(24).reshape(2,3,4)
        #expect(s.scalars(as: Float.self) == [12, 15, 18, 21, 48, 51, 54, 57])
        let m = Tensor(zeros: [3])
        Reduce.reduce(.max, x, axes: [0, 2], into: m)
        #expect(m.scalars(as: Float.self) == [15, 19, 23])
        let mean = Tensor(zeros: [1])
        Reduce.reduce(.mean, x, axes: [0, 1, 2], into: mean)
        #expect(mean.scalars(as: Float.self) == [11.5])
    }

    @Test func softmaxMatchesDefinition() {
        var g = SeededGenerator(seed: 3)
        let v = randomFloats(2 * 5 * 3, &g).map { $0 * 20 }
        let x = Tensor(shape: [2, 5, 3], scalars: v)
        let y = Tensor(zeros: [2, 5, 3])
        Reduce.softmax(x, into: y, outer: 2, axis: 5, inner: 3)
        let got = y.scalars(as: Float.self)
        for o in 0..<2 {
            for i in 0..<3 {
                let col = (0..<5).map { Double(v[(o * 5 + $0) * 3 + i]) }
                let total = col.map { exp($0) }.reduce(0, +)
                for a in 0..<5 {
                    #expect(abs(Double(got[(o * 5 + a) * 3 + i]) - exp(col[a]) / total) < 1e-6)
                }
            }
        }
    }
}

@Suite("Elementwise kernels split over threads")
struct ThreadedElementwiseTests {
    /// Binary ops over rows (a broadcast row operand, a broadcast column, a scalar) and over one
    /// long row (same shapes, coalesced), unary activations and erf in vector pieces, and
    /// LayerNorm-style group normalisation: 2 and 3 threads give the bits of 1, and the binary
    /// results equal the naive per-element expression (each element is computed alone).
    @Test func threadsGiveTheSameBits() {
        var g = SeededGenerator(seed: 5)
        let shape = [3, 181, 257]  // 139,551 elements: above the split threshold, ragged pieces
        let x = Tensor(shape: shape, scalars: randomFloats(shape.product, &g))
        let others: [[Int]] = [shape, [257], [181, 1], []]
        for op in [BinaryOp.add, .sub, .mul, .div] {
            for bShape in others {
                let b = Tensor(shape: bShape, scalars: randomFloats(bShape.product, &g).map { $0 + 3 })
                let walk = BroadcastWalk(output: shape, operands: [shape, bShape])
                var results: [[UInt32]] = []
                for threads in [1, 2, 3] {
                    let y = Tensor(zeros: shape)
                    Elementwise.binary(op, x, b, into: y, walk: walk, threads: threads)
                    results.append(y.scalars(as: Float.self).map(\.bitPattern))
                }
                #expect(results[1] == results[0] && results[2] == results[0], "\(op) with B \(bShape)")
                let xs = x.scalars(as: Float.self), bs = b.scalars(as: Float.self)
                let want: [Float] = (0..<shape.product).map { i in
                    let j = naiveIndex([i / (181 * 257), i / 257 % 181, i % 257], bShape)
                    switch op {
                    case .add: return xs[i] + bs[j]
                    case .sub: return xs[i] - bs[j]
                    case .mul: return xs[i] * bs[j]
                    default: return xs[i] / bs[j]
                    }
                }
                #expect(results[0] == want.map(\.bitPattern), "\(op) with B \(bShape) against the naive loop")
            }
        }
        for op in [UnaryOp.erf, .activation(.sigmoid), .activation(.swish)] {
            let outs = [1, 2, 3].map { threads -> [UInt32] in
                let y = Tensor(zeros: shape)
                Elementwise.unary(op, x, into: y, threads: threads)
                return y.scalars(as: Float.self).map(\.bitPattern)
            }
            #expect(outs[1] == outs[0] && outs[2] == outs[0], "\(op)")
        }
        let xs = x.scalars(as: Float.self), scale = randomFloats(257, &g), shift = randomFloats(257, &g)
        let normalised = [1, 2, 3].map { threads -> [UInt32] in
            var y = [Float](repeating: 0, count: xs.count)
            _ = Normalize.meanVariance(xs, into: &y, groups: 3 * 181, size: 257, epsilon: 1e-5, scale: scale, shift: shift, threads: threads)
            return y.map(\.bitPattern)
        }
        #expect(normalised[1] == normalised[0] && normalised[2] == normalised[0], "group normalisation")
    }
}
