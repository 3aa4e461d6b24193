// The fused multiply-add peak of one core for each vector width, measured: twelve independent
// accumulator chains (enough to cover four cycles of latency on two FMA ports), no memory traffic.
// GFLOP/s counts two per lane per multiply-add.

@inline(never)
func fmaChains16(_ steps: Int, _ seed: Float) -> Float {
    typealias V = SIMD16<Float>
    let x = V(repeating: seed), y = V(repeating: 1 - seed * 1e-7)
    var c0 = V(repeating: 1), c1 = c0 + 1, c2 = c0 + 2, c3 = c0 + 3, c4 = c0 + 4, c5 = c0 + 5
    var c6 = c0 + 6, c7 = c0 + 7, c8 = c0 + 8, c9 = c0 + 9, c10 = c0 + 10, c11 = c0 + 11
    for _ in 0..<steps {
        c0 = c0.addingProduct(c0, y); c1 = c1.addingProduct(c1, y); c2 = c2.addingProduct(c2, y); c3 = c3.addingProduct(c3, y)
        c4 = c4.addingProduct(c4, y); c5 = c5.addingProduct(c5, y); c6 = c6.addingProduct(c6, y); c7 = c7.addingProduct(c7, y)
        c8 = c8.addingProduct(c8, x); c9 = c9.addingProduct(c9, x); c10 = c10.addingProduct(c10, x); c11 = c11.addingProduct(c11, x)
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).sum()
}

@inline(never)
func fmaChains8(_ steps: Int, _ seed: Float) -> Float {
    typealias V = SIMD8<Float>
    let x = V(repeating: seed), y = V(repeating: 1 - seed * 1e-7)
    var c0 = V(repeating: 1), c1 = c0 + 1, c2 = c0 + 2, c3 = c0 + 3, c4 = c0 + 4, c5 = c0 + 5
    var c6 = c0 + 6, c7 = c0 + 7, c8 = c0 + 8, c9 = c0 + 9, c10 = c0 + 10, c11 = c0 + 11
    for _ in 0..<steps {
        c0 = c0.addingProduct(c0, y); c1 = c1.addingProduct(c1, y); c2 = c2.addingProduct(c2, y); c3 = c3.addingProduct(c3, y)
        c4 = c4.addingProduct(c4, y); c5 = c5.addingProduct(c5, y); c6 = c6.addingProduct(c6, y); c7 = c7.addingProduct(c7, y)
        c8 = c8.addingProduct(c8, x); c9 = c9.addingProduct(c9, x); c10 = c10.addingProduct(c10, x); c11 = c11.addingProduct(c11, x)
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).sum()
}

@inline(never)
func fmaChains4(_ steps: Int, _ seed: Float) -> Float {
    typealias V = SIMD4<Float>
    let x = V(repeating: seed), y = V(repeating: 1 - seed * 1e-7)
    var c0 = V(repeating: 1), c1 = c0 + 1, c2 = c0 + 2, c3 = c0 + 3, c4 = c0 + 4, c5 = c0 + 5
    var c6 = c0 + 6, c7 = c0 + 7, c8 = c0 + 8, c9 = c0 + 9, c10 = c0 + 10, c11 = c0 + 11
    for _ in 0..<steps {
        c0 = c0.addingProduct(c0, y); c1 = c1.addingProduct(c1, y); c2 = c2.addingProduct(c2, y); c3 = c3.addingProduct(c3, y)
        c4 = c4.addingProduct(c4, y); c5 = c5.addingProduct(c5, y); c6 = c6.addingProduct(c6, y); c7 = c7.addingProduct(c7, y)
        c8 = c8.addingProduct(c8, x); c9 = c9.addingProduct(c9, x); c10 = c10.addingProduct(c10, x); c11 = c11.addingProduct(c11, x)
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).sum()
}

/// GFLOP/s of one core's fused multiply-adds at `lanes` floats per vector (16, 8 or 4).
func fmaPeak(lanes: Int) -> Double {
    let steps = 20_000_000
    var sink: Float = 0
    let s = median({
        switch lanes {
        case 16: sink += fmaChains16(steps, 0.5)
        case 8: sink += fmaChains8(steps, 0.5)
        default: sink += fmaChains4(steps, 0.5)
        }
    }, repeats: 5)
    if sink == 42 { print("") }
    return 2.0 * Double(lanes * 12 * steps) / s / 1e9
}
