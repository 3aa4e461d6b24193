/// Data-movement kernels: they copy elements of any dtype without looking at them.
public enum Movement {
    /// Copies a strided view of `src` into the contiguous `dst`.
    /// `dst[i0, …, ik] = src[offset + Σ ij·strides[j]]` for the index space `dst.shape`.
    /// Strides are in elements and may be 0 (broadcast) or negative (reversed slices).
    /// - threads: copies of 1 MB or more are split over threads, by output rows (or, for a
    ///   blocked transpose, by the matrices of its outer axes); every element is copied once
    ///   whoever copies it.
    public static func stridedCopy(_ src: Tensor, offset: Int, strides: [Int], into dst: Tensor, threads: Int = 1) {
        precondition(strides.count == dst.shape.count && src.dtype == dst.dtype)
        let parts = dst.count * src.dtype.byteSize < 1 << 20 ? 1 : max(1, threads)
        switch src.dtype.byteSize {
        case 1: stridedCopy(src, offset, strides, dst, UInt8.self, parts)
        case 2: stridedCopy(src, offset, strides, dst, UInt16.self, parts)
        case 4: stridedCopy(src, offset, strides, dst, UInt32.self, parts)
        default: stridedCopy(src, offset, strides, dst, UInt64.self, parts)
        }
    }

    /// The source offset (with `strides`) of element `linear` of the index space `dims`, and its
    /// index.
    private static func locate(_ linear: Int, dims: [Int], strides: [Int]) -> (source: Int, index: [Int]) {
        var index = [Int](repeating: 0, count: dims.count), rest = linear, source = 0
        for k in dims.indices.reversed() {
            index[k] = rest % dims[k]
            rest /= dims[k]
            source += index[k] * strides[k]
        }
        return (source, index)
    }

    private static func stridedCopy<E>(_ src: Tensor, _ offset: Int, _ strides: [Int], _ dst: Tensor, _: E.Type, _ parts: Int) {
        let n = dst.count
        if n == 0 { return }
        let (dims, st) = Broadcast.coalesce(dst.shape, [strides, contiguousStrides(dst.shape)])
        let s = st[0]
        let box = UncheckedBox((UnsafePointer(src.storage.base.assumingMemoryBound(to: E.self)) + offset, dst.storage.base.assumingMemoryBound(to: E.self)))
        let inner = dims[dims.count - 1], si = s[dims.count - 1]
        if si != 1, inner > 1, let c = s.indices.last(where: { s[$0] == 1 && dims[$0] > 1 }) {
            // The outer axes' matrices, split over the parts.
            let last = dims.count - 1
            let others = dims.indices.filter { $0 != c && $0 != last }
            let matrices = others.reduce(1) { $0 * dims[$1] }
            Parallel.forEachChunk(matrices, threads: parts) { range in
                let (ps, pd) = box.value
                blockedTranspose(ps, pd, dims: dims, strides: s, contiguous: c, matrices: range, E.self)
            }
            return
        }
        let outer = n / inner
        let rowDims = Array(dims.dropLast()), rowStrides = Array(s.dropLast())
        Parallel.forEachChunk(outer, threads: parts) { rows in
            let (ps, pd) = box.value
            var (off, index) = locate(rows.lowerBound, dims: rowDims, strides: rowStrides)
            for o in rows {
                let d = pd + o * inner
                let x = ps + off
                if si == 1 {
                    d.update(from: x, count: inner)
                } else {
                    for i in 0..<inner { d[i] = x[i * si] }
                }
                var k = index.count - 1
                while k >= 0 {
                    index[k] += 1
                    off += s[k]
                    if index[k] < dims[k] { break }
                    off -= s[k] * dims[k]
                    index[k] = 0
                    k -= 1
                }
            }
        }
    }

    /// `stridedCopy` where the output's last axis is strided in the source and axis `c` is the
    /// source's contiguous one (a transpose of the last two axes, as attention's Kᵀ): those two
    /// axes are copied in 16 × 16 blocks, so that each block's source rows and destination rows
    /// stay in L1 (read element by element down a column, a 128 × 64 matrix ran at 4.6 GB/s).
    /// - matrices: which of the matrices over the other axes (in row-major order) to copy.
    private static func blockedTranspose<E>(
        _ ps: UnsafePointer<E>, _ pd: UnsafeMutablePointer<E>, dims: [Int], strides s: [Int], contiguous c: Int, matrices: Range<Int>, _: E.Type
    ) {
        if matrices.isEmpty { return }
        let last = dims.count - 1
        let ds = contiguousStrides(dims)
        let rows = dims[c], cols = dims[last], rowStride = ds[c], colStride = s[last]
        // The other axes, walked as an odometer from the first matrix of the range.
        let others = dims.indices.filter { $0 != c && $0 != last }
        let start = locate(matrices.lowerBound, dims: others.map { dims[$0] }, strides: others.map { s[$0] })
        var index = start.index
        var source = start.source, target = zip(index, others).reduce(0) { $0 + $1.0 * ds[$1.1] }
        let block = 16
        for _ in matrices {
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + block)
                var l0 = 0
                while l0 < cols {
                    let l1 = min(cols, l0 + block)
                    if MemoryLayout<E>.size == 4 && r1 - r0 == block && l1 - l0 == block {
                        for rr in stride(from: r0, to: r1, by: 8) {
                            for ll in stride(from: l0, to: l1, by: 8) {
                                transpose8x8(UnsafeRawPointer(ps + source + rr + ll * colStride), colStride * 4,
                                             UnsafeMutableRawPointer(pd + target + rr * rowStride + ll), rowStride * 4)
                            }
                        }
                    } else {
                        for r in r0..<r1 {
                            let d = pd + target + r * rowStride, x = ps + source + r
                            for l in l0..<l1 { d[l] = x[l * colStride] }
                        }
                    }
                    l0 = l1
                }
                r0 = r1
            }
            var k = others.count - 1
            while k >= 0 {
                let axis = others[k]
                index[k] += 1
                source += s[axis]
                target += ds[axis]
                if index[k] < dims[axis] { break }
                source -= s[axis] * dims[axis]
                target -= ds[axis] * dims[axis]
                index[k] = 0
                k -= 1
            }
        }
    }

    /// Transposes an 8 × 8 block of 4-byte elements: row i of `dst` (rows `dstRowBytes` apart) is
    /// column i of `src` (rows `srcRowBytes` apart). Three rounds of unzipping the rows in pairs
    /// (each row's even elements, then its odd ones) are a transpose of eight rows.
    @inline(__always)
    static func transpose8x8(_ src: UnsafeRawPointer, _ srcRowBytes: Int, _ dst: UnsafeMutableRawPointer, _ dstRowBytes: Int) {
        typealias V = SIMD8<UInt32>
        var v0 = src.loadUnaligned(as: V.self), v1 = (src + srcRowBytes).loadUnaligned(as: V.self)
        var v2 = (src + 2 * srcRowBytes).loadUnaligned(as: V.self), v3 = (src + 3 * srcRowBytes).loadUnaligned(as: V.self)
        var v4 = (src + 4 * srcRowBytes).loadUnaligned(as: V.self), v5 = (src + 5 * srcRowBytes).loadUnaligned(as: V.self)
        var v6 = (src + 6 * srcRowBytes).loadUnaligned(as: V.self), v7 = (src + 7 * srcRowBytes).loadUnaligned(as: V.self)
        for _ in 0..<3 {
            let p0 = SIMD16(lowHalf: v0, highHalf: v1), p1 = SIMD16(lowHalf: v2, highHalf: v3)
            let p2 = SIMD16(lowHalf: v4, highHalf: v5), p3 = SIMD16(lowHalf: v6, highHalf: v7)
            (v0, v1, v2, v3) = (p0.evenHalf, p1.evenHalf, p2.evenHalf, p3.evenHalf)
            (v4, v5, v6, v7) = (p0.oddHalf, p1.oddHalf, p2.oddHalf, p3.oddHalf)
        }
        dst.storeBytes(of: v0, as: V.self); (dst + dstRowBytes).storeBytes(of: v1, as: V.self)
        (dst + 2 * dstRowBytes).storeBytes(of: v2, as: V.self); (dst + 3 * dstRowBytes).storeBytes(of: v3, as: V.self)
        (dst + 4 * dstRowBytes).storeBytes(of: v4, as: V.self); (dst + 5 * dstRowBytes).storeBytes(of: v5, as: V.self)
        (dst + 6 * dstRowBytes).storeBytes(of: v6, as: V.self); (dst + 7 * dstRowBytes).storeBytes(of: v7, as: V.self)
    }

    /// `dst[c, r] = src[r, c]` for a row-major float matrix `src` of `rows × columns`: 8 × 8
    /// vector blocks, then the edges one value at a time.
    public static func transposeMatrix(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>) {
        let rows8 = rows / 8 * 8, columns8 = columns / 8 * 8
        for r in stride(from: 0, to: rows8, by: 8) {
            for c in stride(from: 0, to: columns8, by: 8) {
                transpose8x8(UnsafeRawPointer(src + r * columns + c), columns * 4, UnsafeMutableRawPointer(dst + c * rows + r), rows * 4)
            }
            for c in columns8..<columns { for i in r..<(r + 8) { dst[c * rows + i] = src[i * columns + c] } }
        }
        for r in rows8..<rows { for c in 0..<columns { dst[c * rows + r] = src[r * columns + c] } }
    }

    /// `dst = transpose(src, perm)`: `dst.shape[i] = src.shape[perm[i]]`.
    public static func transpose(_ src: Tensor, perm: [Int], into dst: Tensor, threads: Int = 1) {
        let st = contiguousStrides(src.shape)
        stridedCopy(src, offset: 0, strides: perm.map { st[$0] }, into: dst, threads: threads)
    }

    /// Broadcasts `src` to `dst.shape` (Expand, Tile's building block).
    public static func broadcast(_ src: Tensor, into dst: Tensor) {
        stridedCopy(src, offset: 0, strides: Broadcast.strides(of: src.shape, broadcastTo: dst.shape), into: dst)
    }

    /// Concatenates along `axis`: each input is `[outer, d_i, inner]`, the output `[outer, Σd_i, inner]`.
    /// - threads: the outer rows split over threads when the output is large (each row's copies are
    ///   one thread's; a copy's bytes do not depend on the split).
    public static func concat(_ inputs: [Tensor], axis: Int, into dst: Tensor, threads: Int = 1) {
        let shape = dst.shape
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *) * dst.dtype.byteSize
        let total = shape[axis] * inner
        var starts: [Int] = []
        var start = 0
        for t in inputs {
            starts.append(start)
            start += t.shape[axis] * inner
        }
        let box = UncheckedBox((inputs, dst, starts))
        Parallel.forEachChunk(outer, threads: outer * total < 1 << 20 ? 1 : threads) { rows in
            let (inputs, dst, starts) = box.value
            for (t, start) in zip(inputs, starts) {
                let chunk = t.shape[axis] * inner
                // An input that its producer already wrote in place (a window of `dst`, see the
                // runtime's plan) is not copied.
                let inPlace = outer == 1 && t.storage.base == dst.storage.base + start
                if chunk > 0 && !inPlace {
                    for o in rows {
                        (dst.storage.base + o * total + start).copyMemory(from: t.storage.base + o * chunk, byteCount: chunk)
                    }
                }
            }
        }
    }

    /// Splits along `axis` into `outputs`, the inverse of `concat`.
    public static func split(_ src: Tensor, axis: Int, into outputs: [Tensor]) {
        let shape = src.shape
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *) * src.dtype.byteSize
        let total = shape[axis] * inner
        var start = 0
        for t in outputs {
            let chunk = t.shape[axis] * inner
            if chunk > 0 {
                for o in 0..<outer {
                    (t.storage.base + o * chunk).copyMemory(from: src.storage.base + o * total + start, byteCount: chunk)
                }
            }
            start += chunk
        }
    }

    /// Gathers slices along `axis`: `src [outer, d, inner]`, indices (already made non-negative and
    /// checked to be `< d`) `[k]`, `dst [outer, k, inner]`.
    public static func gather(_ src: Tensor, axis: Int, indices: [Int], into dst: Tensor) {
        let shape = src.shape
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *) * src.dtype.byteSize
        let d = shape[axis]
        for o in 0..<outer {
            for (j, idx) in indices.enumerated() {
                (dst.storage.base + (o * indices.count + j) * inner)
                    .copyMemory(from: src.storage.base + (o * d + idx) * inner, byteCount: inner)
            }
        }
    }

    /// Pad modes.
    public enum PadMode: String, Sendable { case constant, reflect, edge, wrap }

    /// Pads `src` into `dst`: `dst.shape[i] = src.shape[i] + before[i] + after[i]`; negative pads crop.
    /// `constant` holds the fill element (zeros when nil). Constant padding fills and then copies
    /// whole rows of the innermost axis; the other modes pick each element's source
    /// (`padReference`, also the constant mode's twin).
    public static func pad(_ src: Tensor, before: [Int], mode: PadMode, constant: Tensor?, into dst: Tensor) {
        guard mode == .constant, src.shape.count > 0, dst.count > 0 else {
            padReference(src, before: before, mode: mode, constant: constant, into: dst)
            return
        }
        let rank = src.shape.count, esize = src.dtype.byteSize
        let inShape = src.shape, outShape = dst.shape, inStrides = contiguousStrides(inShape)
        let base = dst.storage.base
        if let c = constant, UnsafeRawBufferPointer(start: c.storage.base, count: esize).contains(where: { $0 != 0 }) {
            for o in 0..<dst.count { (base + o * esize).copyMemory(from: c.storage.base, byteCount: esize) }
        } else {
            base.initializeMemory(as: UInt8.self, repeating: 0, count: dst.count * esize)
        }
        // Output columns lo..<hi of each row come from source columns lo − b ..< hi − b.
        let width = outShape[rank - 1], b = before[rank - 1]
        let lo = Swift.max(0, b), hi = Swift.min(width, b + inShape[rank - 1])
        guard hi > lo else { return }
        var index = [Int](repeating: 0, count: rank - 1)
        for row in 0..<(dst.count / width) {
            var offset = lo - b, inside = true
            for k in 0..<(rank - 1) {
                let i = index[k] - before[k]
                if i < 0 || i >= inShape[k] { inside = false; break }
                offset += i * inStrides[k]
            }
            if inside { (base + (row * width + lo) * esize).copyMemory(from: src.storage.base + offset * esize, byteCount: (hi - lo) * esize) }
            var k = rank - 2
            while k >= 0 {
                index[k] += 1
                if index[k] < outShape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
    }

    /// The naive twin of `pad`: each output element's source element found on its own.
    public static func padReference(_ src: Tensor, before: [Int], mode: PadMode, constant: Tensor?, into dst: Tensor) {
        let rank = src.shape.count
        let inShape = src.shape, outShape = dst.shape
        let esize = src.dtype.byteSize
        let inStrides = contiguousStrides(inShape)
        let n = dst.count
        if n == 0 { return }
        var index = [Int](repeating: 0, count: rank)
        for o in 0..<n {
            var srcOffset = 0
            var inside = true
            for k in 0..<rank {
                var i = index[k] - before[k]
                let d = inShape[k]
                if i < 0 || i >= d {
                    switch mode {
                    case .constant: inside = false
                    case .edge: i = i < 0 ? 0 : d - 1
                    case .wrap: i = ((i % d) + d) % d
                    case .reflect:
                        if d == 1 { i = 0 } else {
                            let period = 2 * (d - 1)
                            i = ((i % period) + period) % period
                            if i >= d { i = period - i }
                        }
                    }
                }
                if !inside { break }
                srcOffset += i * inStrides[k]
            }
            let target = dst.storage.base + o * esize
            if inside {
                target.copyMemory(from: src.storage.base + srcOffset * esize, byteCount: esize)
            } else if let c = constant {
                target.copyMemory(from: c.storage.base, byteCount: esize)
            } else {
                target.initializeMemory(as: UInt8.self, repeating: 0, count: esize)
            }
            var k = rank - 1
            while k >= 0 {
                index[k] += 1
                if index[k] < outShape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
    }
}

extension Movement {
    /// Repeats `src` `repeats[i]` times along each axis into `dst` (`dst.shape[i] = src.shape[i]·repeats[i]`).
    public static func tile(_ src: Tensor, repeats: [Int], into dst: Tensor) {
        let (view, strides) = tileView(src.shape, repeats: repeats)
        stridedCopy(src, offset: 0, strides: strides, into: dst.reshaped(view))
    }

    /// Tile as a strided copy: output element (…, j_i, …) reads source element (…, j_i mod d_i, …),
    /// a walk of the output seen as `[r0, d0, r1, d1, …]` with stride 0 on each repeat axis.
    public static func tileView(_ shape: [Int], repeats: [Int]) -> (view: [Int], strides: [Int]) {
        let own = contiguousStrides(shape)
        var view: [Int] = [], strides: [Int] = []
        for (i, d) in shape.enumerated() {
            view += [repeats[i], d]
            strides += [0, own[i]]
        }
        return (view, strides)
    }

    /// Fills `dst` element by element from `src` (same dtype): element `j` of `dst` becomes element
    /// `source(j)` of `src`, or stays as it is when `source` returns nil. Bytes are copied, so every
    /// dtype is exact. The indexing ops (GatherElements, GatherND, TopK, OneHot, Trilu) use it.
    public static func copyElements(from src: Tensor, into dst: Tensor, _ source: (Int) throws -> Int?) rethrows {
        precondition(src.dtype == dst.dtype)
        let size = src.dtype.byteSize, s = src.storage.base, d = dst.storage.base
        for j in 0..<dst.count {
            if let i = try source(j) {
                precondition(i >= 0 && i < src.count, "element \(i) is outside the source")
                (d + j * size).copyMemory(from: s + i * size, byteCount: size)
            }
        }
    }

    /// Writes element `k` of `src` to element `target[k]` of `dst` (same dtype), later writes
    /// winning (the scatter ops without reduction).
    public static func placeElements(_ src: Tensor, into dst: Tensor, at target: [Int]) {
        precondition(src.dtype == dst.dtype && target.count <= src.count)
        let size = src.dtype.byteSize, s = src.storage.base, d = dst.storage.base
        for (k, p) in target.enumerated() {
            precondition(p >= 0 && p < dst.count, "element \(p) is outside the destination")
            (d + p * size).copyMemory(from: s + k * size, byteCount: size)
        }
    }
}

extension Movement {
    /// `Col2Im`: columns `[N, C·∏block, L]` summed back into images `[N, C, image…]`. Column
    /// row `c·∏block + k` (k a block position, row-major) at column `l` (a block's place in the
    /// grid of `blocks` per dimension, row-major) adds to the image at `l·stride − padBefore +
    /// k·dilation` when that lies inside. Sums run in T in order of k, then l.
    public static func col2im<T: BinaryFloatingPoint>(
        _ columns: [T], batch n: Int, channels c: Int, image: [Int], block: [Int], blocks: [Int],
        strides: [Int], dilations: [Int], padBefore: [Int]
    ) -> [T] {
        let d = image.count, blockCount = block.reduce(1, *), l = blocks.reduce(1, *), pixels = image.reduce(1, *)
        var out = [T](repeating: 0, count: n * c * pixels)
        var k = [Int](repeating: 0, count: d), g = [Int](repeating: 0, count: d)
        for b in 0..<n {
            for ch in 0..<c {
                for kk in 0..<blockCount {
                    var r = kk
                    for i in stride(from: d - 1, through: 0, by: -1) { k[i] = r % block[i]; r /= block[i] }
                    let row = ((b * c + ch) * blockCount + kk) * l
                    for ll in 0..<l {
                        var q = ll, offset = 0, inside = true
                        for i in stride(from: d - 1, through: 0, by: -1) { g[i] = q % blocks[i]; q /= blocks[i] }
                        for i in 0..<d {
                            let p = g[i] * strides[i] - padBefore[i] + k[i] * dilations[i]
                            if p < 0 || p >= image[i] { inside = false; break }
                            offset = offset * image[i] + p
                        }
                        if inside { out[(b * c + ch) * pixels + offset] += columns[row + ll] }
                    }
                }
            }
        }
        return out
    }
}
