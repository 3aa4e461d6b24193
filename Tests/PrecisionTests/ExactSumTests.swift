import Foundation
import Testing
@testable import Precision

@Suite("exact sums")
struct ExactSumTests {
    @Test func knownSums() {
        func sum(_ xs: [Double]) -> Double { var s = ExactSum(); for x in xs { s.add(x) }; return s.value }
        #expect(sum([1e16, 1, -1e16]) == 1)  // Double addition gives 0
        #expect(sum([1, 0x1p-60, -1]) == 0x1p-60)
        #expect(sum([0x1p1023, 0x1p1023, -0x1p1023]) == 0x1p1023)  // an intermediate beyond Double's range
        #expect(sum([.leastNonzeroMagnitude, .leastNonzeroMagnitude]) == 2 * .leastNonzeroMagnitude)
        #expect(sum([-3.5, 1.25]) == -2.25)
        #expect(sum([]) == 0)
        // Ties to even: 1 + 2^-53 is halfway between 1 and its successor; the sum stays 1, and a
        // further 2^-100 pushes it up.
        #expect(sum([1, 0x1p-53]) == 1)
        #expect(sum([1, 0x1p-53, 0x1p-100]) == 1 + 0x1p-52)
        #expect(sum([.infinity, 1]) == .infinity)
        #expect(sum([.infinity, -.infinity]).isNaN)
    }

    /// Text a partial report could carry that no sum of Doubles makes is refused, not trusted: a
    /// digit beyond 2^32 (the sign digit's too) would overflow the carries.
    @Test func serializedFormIsChecked() {
        #expect(ExactSum(serialized: "67:9223372036854775807") == nil)
        #expect(ExactSum(serialized: "3:4294967296") == nil)
        #expect(ExactSum(serialized: "68:1") == nil)
        #expect(ExactSum(serialized: "x") == nil)
        #expect(ExactSum(serialized: "1033:1,67:-1").map { $0.value } == nil)  // index beyond the digits
        let s = ExactSum(-2.5)
        #expect(ExactSum(serialized: s.serialized)?.value == -2.5)
    }

    @Test func orderDoesNotMatterAndMergesAgree() {
        var rng = SystemRandomNumberGenerator()
        let xs = (0..<5000).map { _ in Double.random(in: -1...1, using: &rng) * Double(sign: .plus, exponent: Int.random(in: -60...60, using: &rng), significand: 1) }
        var a = ExactSum(), b = ExactSum()
        for x in xs { a.add(x) }
        for x in xs.shuffled() { b.add(x) }
        #expect(a == b && a.value == b.value)
        // Three shards merged, each summing every third value.
        var merged = ExactSum()
        for shard in 0..<3 {
            var part = ExactSum()
            for i in stride(from: shard, to: xs.count, by: 3) { part.add(xs[i]) }
            merged.add(ExactSum(serialized: part.serialized) ?? ExactSum())
        }
        #expect(merged.value == a.value)
        // Within one unit in the last place of a compensated (Neumaier) sum.
        var s = 0.0, c = 0.0
        for x in xs {
            let t = s + x
            c += abs(s) >= abs(x) ? (s - t) + x : (x - t) + s
            s = t
        }
        #expect(abs(a.value - (s + c)) <= (s + c).ulp)
    }
}
