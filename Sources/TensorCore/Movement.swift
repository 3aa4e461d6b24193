/// Data-movement kernels: they copy elements of any dtype without looking at them.
public enum Movement {
    /// Copies a strided view of `src` into the contiguous `dst`.
    /// `dst[i0, …, ik] = src[offset + Σ ij·strides[j]]` for the index space `dst.shape`.
    /// Strides are in elements and may be 0 (broadcast) or negative (reversed slices).
    public static func stridedCopy(_ src: Tensor, offset: Int, strides: [Int], into dst: Tensor) {
        precondition(strides.count == dst.shape.count && src.dtype == dst.dtype)
        switch src.dtype.byteSize {
        case 1: stridedCopy(src, offset, strides, dst, UInt8.self)
        case 2: stridedCopy(src, offset, strides, dst, UInt16.self)
        case 4: stridedCopy(src, offset, strides, dst, UInt32.self)
        default: stridedCopy(src, offset, strides, dst, UInt64.self)
        }
    }

    private static func stridedCopy<E>(_ src: Tensor, _ offset: Int, _ strides: [Int], _ dst: Tensor, _: E.Type) {
        let n = dst.count
        if n == 0 { return }
        let (dims, st) = Broadcast.coalesce(dst.shape, [strides, contiguousStrides(dst.shape)])
        let s = st[0]
        let ps = UnsafePointer(src.storage.base.assumingMemoryBound(to: E.self)) + offset
        let pd = dst.storage.base.assumingMemoryBound(to: E.self)
        let inner = dims[dims.count - 1], si = s[dims.count - 1]
        let outer = n / inner
        var index = [Int](repeating: 0, count: dims.count - 1)
        var off = 0
        for o in 0..<outer {
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

    /// `dst = transpose(src, perm)`: `dst.shape[i] = src.shape[perm[i]]`.
    public static func transpose(_ src: Tensor, perm: [Int], into dst: Tensor) {
        let st = contiguousStrides(src.shape)
        stridedCopy(src, offset: 0, strides: perm.map { st[$0] }, into: dst)
    }

    /// Broadcasts `src` to `dst.shape` (Expand, Tile's building block).
    public static func broadcast(_ src: Tensor, into dst: Tensor) {
        stridedCopy(src, offset: 0, strides: Broadcast.strides(of: src.shape, broadcastTo: dst.shape), into: dst)
    }

    /// Concatenates along `axis`: each input is `[outer, d_i, inner]`, the output `[outer, Σd_i, inner]`.
    public static func concat(_ inputs: [Tensor], axis: Int, into dst: Tensor) {
        let shape = dst.shape
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *) * dst.dtype.byteSize
        let total = shape[axis] * inner
        var start = 0
        for t in inputs {
            let chunk = t.shape[axis] * inner
            // An input that its producer already wrote in place (a window of `dst`, see the
            // runtime's plan) is not copied.
            let inPlace = outer == 1 && t.storage.base == dst.storage.base + start
            if chunk > 0 && !inPlace {
                for o in 0..<outer {
                    (dst.storage.base + o * total + start).copyMemory(from: t.storage.base + o * chunk, byteCount: chunk)
                }
            }
            start += chunk
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
