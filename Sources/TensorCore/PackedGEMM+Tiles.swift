import CTargetFeatures

/// The register tiles for narrower vectors: the same 8-row × (16, 32 or 48)-column tile as
/// `tile8x48` and its siblings, computed as sub-tiles that fit sixteen 256-bit registers (AVX2) or
/// thirty-two 128-bit ones (NEON). Each output is the same fused multiply-add chain from zero over
/// the depth block, then C, the bias and the clamp in the same order, so every shape gives the
/// sixteen-lane tiles' bits.
extension PackedGEMM {
    /// The tile for `kernel`'s shape that covers `columns` (at most 48) of an 8-row panel.
    @inline(__always)
    static func tile(
        _ kernel: Kernel, columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?, ahead: Int = 0, nextA: Int = 0
    ) {
        switch kernel {
        case .tiles8:
            // Rows 0–3 and 4–7 of the panel (A's rows are eight apart in each depth step) over the
            // same columns in turn, so that the second reads B from L1; columns in 24s for 48, in
            // 16s below.
            let width = columns > 32 ? 24 : 16, parts = columns <= 16 ? 1 : 2
            for part in 0..<parts {
                let column = part * width
                for half in 0..<2 {
                    let a = a + 4 * half, c = c + 4 * half * ldc + column, bias = bias.map { $0 + 4 * half }
                    if width == 24 {
                        // The first half reads B from memory: it asks for the next block.
                        tile4x24(a, b + column, rows: rows, depth: depth, c, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds,
                                 ahead: half == 0 ? ahead : 0, nextA: part == 0 && half == 0 ? nextA : 0)
                    } else {
                        tile4x16(a, b + column, rows: rows, depth: depth, c, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds)
                    }
                }
            }
        case .tiles4:
            // Columns in 12s for 48, 12 + 12 + 8 for 32, 8 + 8 for 16.
            let width = columns > 32 ? 48 : columns > 16 ? 32 : 16, twelves = width == 16 ? 0 : width / 12
            for part in 0..<twelves {
                let column = 12 * part
                tile8x12(a, b + column, rows: rows, depth: depth, c + column, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds, ahead: ahead,
                         nextA: part == 0 ? nextA : 0)
            }
            var column = 12 * twelves
            while column < width {
                tile8x8(a, b + column, rows: rows, depth: depth, c + column, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds)
                column += 8
            }
        default:
            tile(columns: columns, a, b, rows: rows, depth: depth, c, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds, ahead: ahead, nextA: nextA)
        }
    }

    @inline(__always)
    static func store(
        _ v: inout SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ bias: Float?,
        _ clamp: Bool, _ low: SIMD8<Float>, _ high: SIMD8<Float>
    ) {
        let raw = UnsafeMutableRawPointer(p)
        if accumulate { v += raw.loadUnaligned(as: SIMD8<Float>.self) }
        if let bias { v += SIMD8(repeating: bias) }
        if clamp { v = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high) }
        raw.storeBytes(of: v, as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store(
        _ v: inout SIMD4<Float>, _ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ bias: Float?,
        _ clamp: Bool, _ low: SIMD4<Float>, _ high: SIMD4<Float>
    ) {
        let raw = UnsafeMutableRawPointer(p)
        if accumulate { v += raw.loadUnaligned(as: SIMD4<Float>.self) }
        if let bias { v += SIMD4(repeating: bias) }
        if clamp { v = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high) }
        raw.storeBytes(of: v, as: SIMD4<Float>.self)
    }

    /// `C[0..<4, 0..<24] (+)= A·B` in 12 eight-lane accumulators: step k reads 4 values of the
    /// packed A slice (row stride 8) and B's 24 floats at `b + rows[k]`.
    @inline(never)
    static func tile4x24(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?, ahead: Int = 0, nextA: Int = 0
    ) {
        typealias V = SIMD8<Float>
        var c0a = V(), c0b = V(), c0c = V()
        var c1a = V(), c1b = V(), c1c = V()
        var c2a = V(), c2b = V(), c2c = V()
        var c3a = V(), c3b = V(), c3c = V()
        var ap = a
        for k in 0..<depth {
            let row = b + rows[k], bp = UnsafeRawPointer(row)
            if ahead != 0 { prefetch(row + ahead, floats: 24) }
            if nextA != 0 && k & 1 == 0 { touchstone_prefetch(ap + nextA) }
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 32, as: V.self)
            let b2 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
            let a0 = V(repeating: ap[0]); c0a.addProduct(a0, b0); c0b.addProduct(a0, b1); c0c.addProduct(a0, b2)
            let a1 = V(repeating: ap[1]); c1a.addProduct(a1, b0); c1b.addProduct(a1, b1); c1c.addProduct(a1, b2)
            let a2 = V(repeating: ap[2]); c2a.addProduct(a2, b0); c2b.addProduct(a2, b1); c2c.addProduct(a2, b2)
            let a3 = V(repeating: ap[3]); c3a.addProduct(a3, b0); c3b.addProduct(a3, b1); c3c.addProduct(a3, b2)
            ap += 8
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        let i0 = bias?[0], i1 = bias?[1], i2 = bias?[2], i3 = bias?[3]
        store(&c0a, c + 0 * ldc, accumulate, i0, clamp, low, high); store(&c0b, c + 0 * ldc + 8, accumulate, i0, clamp, low, high); store(&c0c, c + 0 * ldc + 16, accumulate, i0, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, clamp, low, high); store(&c1b, c + 1 * ldc + 8, accumulate, i1, clamp, low, high); store(&c1c, c + 1 * ldc + 16, accumulate, i1, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, clamp, low, high); store(&c2b, c + 2 * ldc + 8, accumulate, i2, clamp, low, high); store(&c2c, c + 2 * ldc + 16, accumulate, i2, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, clamp, low, high); store(&c3b, c + 3 * ldc + 8, accumulate, i3, clamp, low, high); store(&c3c, c + 3 * ldc + 16, accumulate, i3, clamp, low, high)
    }

    /// `C[0..<4, 0..<16] (+)= A·B` in 8 eight-lane accumulators (as `tile4x24`, two vectors of B).
    @inline(never)
    static func tile4x16(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?
    ) {
        typealias V = SIMD8<Float>
        var c0a = V(), c0b = V(), c1a = V(), c1b = V(), c2a = V(), c2b = V(), c3a = V(), c3b = V()
        var ap = a
        for k in 0..<depth {
            let bp = UnsafeRawPointer(b + rows[k])
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 32, as: V.self)
            let a0 = V(repeating: ap[0]); c0a.addProduct(a0, b0); c0b.addProduct(a0, b1)
            let a1 = V(repeating: ap[1]); c1a.addProduct(a1, b0); c1b.addProduct(a1, b1)
            let a2 = V(repeating: ap[2]); c2a.addProduct(a2, b0); c2b.addProduct(a2, b1)
            let a3 = V(repeating: ap[3]); c3a.addProduct(a3, b0); c3b.addProduct(a3, b1)
            ap += 8
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        let i0 = bias?[0], i1 = bias?[1], i2 = bias?[2], i3 = bias?[3]
        store(&c0a, c + 0 * ldc, accumulate, i0, clamp, low, high); store(&c0b, c + 0 * ldc + 8, accumulate, i0, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, clamp, low, high); store(&c1b, c + 1 * ldc + 8, accumulate, i1, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, clamp, low, high); store(&c2b, c + 2 * ldc + 8, accumulate, i2, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, clamp, low, high); store(&c3b, c + 3 * ldc + 8, accumulate, i3, clamp, low, high)
    }

    /// `C[0..<8, 0..<12] (+)= A·B` in 24 four-lane accumulators: step k reads the 8 values of the
    /// packed A slice and B's 12 floats at `b + rows[k]`.
    @inline(never)
    static func tile8x12(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?, ahead: Int = 0, nextA: Int = 0
    ) {
        typealias V = SIMD4<Float>
        var c0a = V(), c0b = V(), c0c = V()
        var c1a = V(), c1b = V(), c1c = V()
        var c2a = V(), c2b = V(), c2c = V()
        var c3a = V(), c3b = V(), c3c = V()
        var c4a = V(), c4b = V(), c4c = V()
        var c5a = V(), c5b = V(), c5c = V()
        var c6a = V(), c6b = V(), c6c = V()
        var c7a = V(), c7b = V(), c7c = V()
        var ap = a
        for k in 0..<depth {
            let row = b + rows[k], bp = UnsafeRawPointer(row)
            if ahead != 0 { prefetch(row + ahead, floats: 12) }
            if nextA != 0 && k & 1 == 0 { touchstone_prefetch(ap + nextA) }
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 16, as: V.self)
            let b2 = bp.loadUnaligned(fromByteOffset: 32, as: V.self)
            let a0 = V(repeating: ap[0]); c0a.addProduct(a0, b0); c0b.addProduct(a0, b1); c0c.addProduct(a0, b2)
            let a1 = V(repeating: ap[1]); c1a.addProduct(a1, b0); c1b.addProduct(a1, b1); c1c.addProduct(a1, b2)
            let a2 = V(repeating: ap[2]); c2a.addProduct(a2, b0); c2b.addProduct(a2, b1); c2c.addProduct(a2, b2)
            let a3 = V(repeating: ap[3]); c3a.addProduct(a3, b0); c3b.addProduct(a3, b1); c3c.addProduct(a3, b2)
            let a4 = V(repeating: ap[4]); c4a.addProduct(a4, b0); c4b.addProduct(a4, b1); c4c.addProduct(a4, b2)
            let a5 = V(repeating: ap[5]); c5a.addProduct(a5, b0); c5b.addProduct(a5, b1); c5c.addProduct(a5, b2)
            let a6 = V(repeating: ap[6]); c6a.addProduct(a6, b0); c6b.addProduct(a6, b1); c6c.addProduct(a6, b2)
            let a7 = V(repeating: ap[7]); c7a.addProduct(a7, b0); c7b.addProduct(a7, b1); c7c.addProduct(a7, b2)
            ap += 8
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        let i0 = bias?[0], i1 = bias?[1], i2 = bias?[2], i3 = bias?[3], i4 = bias?[4], i5 = bias?[5], i6 = bias?[6], i7 = bias?[7]
        store(&c0a, c + 0 * ldc, accumulate, i0, clamp, low, high); store(&c0b, c + 0 * ldc + 4, accumulate, i0, clamp, low, high); store(&c0c, c + 0 * ldc + 8, accumulate, i0, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, clamp, low, high); store(&c1b, c + 1 * ldc + 4, accumulate, i1, clamp, low, high); store(&c1c, c + 1 * ldc + 8, accumulate, i1, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, clamp, low, high); store(&c2b, c + 2 * ldc + 4, accumulate, i2, clamp, low, high); store(&c2c, c + 2 * ldc + 8, accumulate, i2, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, clamp, low, high); store(&c3b, c + 3 * ldc + 4, accumulate, i3, clamp, low, high); store(&c3c, c + 3 * ldc + 8, accumulate, i3, clamp, low, high)
        store(&c4a, c + 4 * ldc, accumulate, i4, clamp, low, high); store(&c4b, c + 4 * ldc + 4, accumulate, i4, clamp, low, high); store(&c4c, c + 4 * ldc + 8, accumulate, i4, clamp, low, high)
        store(&c5a, c + 5 * ldc, accumulate, i5, clamp, low, high); store(&c5b, c + 5 * ldc + 4, accumulate, i5, clamp, low, high); store(&c5c, c + 5 * ldc + 8, accumulate, i5, clamp, low, high)
        store(&c6a, c + 6 * ldc, accumulate, i6, clamp, low, high); store(&c6b, c + 6 * ldc + 4, accumulate, i6, clamp, low, high); store(&c6c, c + 6 * ldc + 8, accumulate, i6, clamp, low, high)
        store(&c7a, c + 7 * ldc, accumulate, i7, clamp, low, high); store(&c7b, c + 7 * ldc + 4, accumulate, i7, clamp, low, high); store(&c7c, c + 7 * ldc + 8, accumulate, i7, clamp, low, high)
    }

    /// `C[0..<8, 0..<8] (+)= A·B` in 16 four-lane accumulators (as `tile8x12`, two vectors of B).
    @inline(never)
    static func tile8x8(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?
    ) {
        typealias V = SIMD4<Float>
        var c0a = V(), c0b = V(), c1a = V(), c1b = V(), c2a = V(), c2b = V(), c3a = V(), c3b = V()
        var c4a = V(), c4b = V(), c5a = V(), c5b = V(), c6a = V(), c6b = V(), c7a = V(), c7b = V()
        var ap = a
        for k in 0..<depth {
            let bp = UnsafeRawPointer(b + rows[k])
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 16, as: V.self)
            let a0 = V(repeating: ap[0]); c0a.addProduct(a0, b0); c0b.addProduct(a0, b1)
            let a1 = V(repeating: ap[1]); c1a.addProduct(a1, b0); c1b.addProduct(a1, b1)
            let a2 = V(repeating: ap[2]); c2a.addProduct(a2, b0); c2b.addProduct(a2, b1)
            let a3 = V(repeating: ap[3]); c3a.addProduct(a3, b0); c3b.addProduct(a3, b1)
            let a4 = V(repeating: ap[4]); c4a.addProduct(a4, b0); c4b.addProduct(a4, b1)
            let a5 = V(repeating: ap[5]); c5a.addProduct(a5, b0); c5b.addProduct(a5, b1)
            let a6 = V(repeating: ap[6]); c6a.addProduct(a6, b0); c6b.addProduct(a6, b1)
            let a7 = V(repeating: ap[7]); c7a.addProduct(a7, b0); c7b.addProduct(a7, b1)
            ap += 8
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        let i0 = bias?[0], i1 = bias?[1], i2 = bias?[2], i3 = bias?[3], i4 = bias?[4], i5 = bias?[5], i6 = bias?[6], i7 = bias?[7]
        store(&c0a, c + 0 * ldc, accumulate, i0, clamp, low, high); store(&c0b, c + 0 * ldc + 4, accumulate, i0, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, clamp, low, high); store(&c1b, c + 1 * ldc + 4, accumulate, i1, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, clamp, low, high); store(&c2b, c + 2 * ldc + 4, accumulate, i2, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, clamp, low, high); store(&c3b, c + 3 * ldc + 4, accumulate, i3, clamp, low, high)
        store(&c4a, c + 4 * ldc, accumulate, i4, clamp, low, high); store(&c4b, c + 4 * ldc + 4, accumulate, i4, clamp, low, high)
        store(&c5a, c + 5 * ldc, accumulate, i5, clamp, low, high); store(&c5b, c + 5 * ldc + 4, accumulate, i5, clamp, low, high)
        store(&c6a, c + 6 * ldc, accumulate, i6, clamp, low, high); store(&c6b, c + 6 * ldc + 4, accumulate, i6, clamp, low, high)
        store(&c7a, c + 7 * ldc, accumulate, i7, clamp, low, high); store(&c7b, c + 7 * ldc + 4, accumulate, i7, clamp, low, high)
    }
}
