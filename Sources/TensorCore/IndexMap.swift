/// The element maps of the indexing ops: for each element an op writes, the flat offset it reads
/// (for the scatters, the offset each update goes to). Index values arrive resolved: non-negative
/// and within their dimension (`IndexMap.resolve`). `Movement.copyElements` and
/// `Movement.scatter` then move the bytes. Their reference is ONNX's node tests for these ops.
public enum IndexMap {
    /// An index value outside its dimension.
    public struct OutOfRange: Error, Equatable {
        public let value: Int64
        public let length: Int
    }

    /// Index values as offsets along their dimensions: negative values count from the end
    /// (`length(k)` is the length of the dimension value k indexes); others must lie within it.
    public static func resolve(_ values: [Int64], length: (Int) -> Int) throws(OutOfRange) -> [Int] {
        var out = [Int](repeating: 0, count: values.count)
        for (k, v) in values.enumerated() {
            let n = length(k)
            let i = v < 0 ? Int(v) + n : Int(clamping: v)
            guard i >= 0 && i < n else { throw OutOfRange(value: v, length: n) }
            out[k] = i
        }
        return out
    }

    /// GatherElements and ScatterElements: for each position of an index tensor of `indexShape`
    /// (whose dimensions off `axis` do not exceed `data`'s), the offset in `data` of the element
    /// with the same coordinates except along `axis`, where the index's value is taken.
    public static func alongAxis(_ indices: [Int], indexShape: [Int], data: [Int], axis: Int) -> [Int] {
        let ds = contiguousStrides(data), ks = contiguousStrides(indexShape)
        return indices.indices.map { k in
            var offset = 0
            for d in indexShape.indices {
                offset += (d == axis ? indices[k] : (k / ks[d]) % indexShape[d]) * ds[d]
            }
            return offset
        }
    }

    /// GatherND with `batchDims` b: indices `[*batch, *rest, k]` (`indexShape`) pick slices of
    /// data `[*batch, *index(k), *slice]`; for each element of the output `[*batch, *rest, *slice]`
    /// (`count` elements), its offset in data.
    public static func gatherND(_ indices: [Int], indexShape: [Int], data: [Int], batchDims b: Int, count: Int) -> [Int] {
        let k = indexShape[indexShape.count - 1]
        let xs = contiguousStrides(data)
        let slice = Swift.max(data[(b + k)...].reduce(1, *), 1)
        let perBatch = Swift.max(indexShape.dropLast().reduce(1, *) / Swift.max(1, indexShape[..<b].reduce(1, *)), 1)
        return (0..<count).map { j in
            let t = j / slice
            var offset = j % slice, rest = t / perBatch
            for d in stride(from: b - 1, through: 0, by: -1) {
                offset += (rest % data[d]) * xs[d]
                rest /= data[d]
            }
            for c in 0..<k { offset += indices[t * k + c] * xs[b + c] }
            return offset
        }
    }

    /// ScatterND: indices `[*rest, k]` name slices of data `[*index(k), *slice]`; for each of the
    /// `count` update elements `[*rest, *slice]`, the offset in data it goes to.
    public static func scatterND(_ indices: [Int], k: Int, data: [Int], count: Int) -> [Int] {
        let xs = contiguousStrides(data)
        let slice = Swift.max(data[k...].reduce(1, *), 1)
        return (0..<count).map { e in
            let t = e / slice
            var offset = e % slice
            for c in 0..<k { offset += indices[t * k + c] * xs[c] }
            return offset
        }
    }
}

extension Movement {
    /// ONNX `OneHot`: `out` is `[outer, depth, inner]`, `positions` `[outer, inner]` (truncated
    /// toward zero; negative ones count from `depth`), `values` `[off, on]` of out's dtype.
    public static func oneHot(_ positions: [Double], values: Tensor, into out: Tensor, depth: Int, inner: Int) {
        copyElements(from: values, into: out) { j in
            let i = j % inner, d = (j / inner) % depth, o = j / (inner * depth)
            var p = positions[o * inner + i].rounded(.towardZero)
            if p < 0 { p += Double(depth) }
            return p == Double(d) ? 1 : 0
        }
    }

    /// ONNX `Trilu`: `out` keeps the elements of `x` (`[…, rows, cols]`) on and above (`upper`)
    /// or on and below the k-th diagonal (`j − i ≥ k`, `j − i ≤ k`) and is zero elsewhere.
    public static func triangle(_ x: Tensor, into out: Tensor, rows: Int, cols: Int, k: Int, upper: Bool) {
        Tensor(zeros: out.shape, dtype: out.dtype).copy(into: out)
        copyElements(from: x, into: out) { e in
            let j = e % cols, i = (e / cols) % rows
            return (upper ? j - i >= k : j - i <= k) ? e : nil
        }
    }
}

extension Movement {
    /// ONNX `ReverseSequence`: `x` has its batch and time axes at 0 and 1 (either way round); for
    /// batch entry b, time steps `0..<lengths[b]` are reversed, the others copied.
    public static func reverseSequences(_ x: Tensor, into out: Tensor, lengths: [Int], batchAxis: Int, timeAxis: Int) {
        let inner = x.shape[2...].reduce(1, *), steps = x.shape[timeAxis], batches = x.shape[batchAxis]
        let batchStride = batchAxis == 0 ? steps * inner : inner, timeStride = timeAxis == 0 ? batches * inner : inner
        copyElements(from: x, into: out) { e in
            let b = (e / batchStride) % batches, t = (e / timeStride) % steps
            let source = t < lengths[b] ? lengths[b] - 1 - t : t
            return e + (source - t) * timeStride
        }
    }
}

extension IndexMap {
    /// `Compress`: for a tensor seen as `[outer, length, inner]`, the source offset of each output
    /// element `[outer, kept.count, inner]`, where `kept` lists the positions along the axis that
    /// stay.
    public static func compress(kept: [Int], outer: Int, length: Int, inner: Int) -> [Int] {
        var out = [Int]()
        out.reserveCapacity(outer * kept.count * inner)
        for o in 0..<outer { for k in kept { for i in 0..<inner { out.append((o * length + k) * inner + i) } } }
        return out
    }

    /// `Unique` over slices (one per position along the axis, or per element): `first` holds each
    /// distinct slice's first position, in order of first appearance or (`sorted`) ascending
    /// order of the slices compared element by element; `inverse` gives each position's distinct
    /// slice, `counts` how often each occurs.
    public static func unique<K: Comparable & Hashable>(_ slices: [[K]], sorted: Bool) -> (first: [Int], inverse: [Int], counts: [Int]) {
        var seen: [[K]: Int] = [:], first: [Int] = [], inverse = [Int](repeating: 0, count: slices.count)
        for (p, s) in slices.enumerated() {
            if let u = seen[s] { inverse[p] = u } else {
                seen[s] = first.count
                inverse[p] = first.count
                first.append(p)
            }
        }
        var order = Array(first.indices)
        if sorted {
            order.sort { a, b in slices[first[a]].lexicographicallyPrecedes(slices[first[b]]) }
        }
        var rank = [Int](repeating: 0, count: order.count)
        for (r, u) in order.enumerated() { rank[u] = r }
        var counts = [Int](repeating: 0, count: order.count)
        for p in inverse.indices {
            inverse[p] = rank[inverse[p]]
            counts[inverse[p]] += 1
        }
        return (order.map { first[$0] }, inverse, counts)
    }

    /// `TensorScatter`: the cache `[prefix…, maxLength, inner]` (prefix's first dimension the
    /// batch) takes update `[prefix…, length, inner]` at each batch entry's write position (modulo
    /// `maxLength` when `circular`): the target offset of each update element. A position that
    /// runs past the cache without `circular` throws.
    public static func tensorScatter(
        prefix: [Int], length: Int, maxLength: Int, inner: Int, writeIndices: [Int], circular: Bool
    ) throws(OutOfRange) -> [Int] {
        let outer = prefix.reduce(1, *), perBatch = prefix.isEmpty ? 1 : outer / Swift.max(prefix[0], 1)
        var out = [Int]()
        out.reserveCapacity(outer * length * inner)
        for o in 0..<outer {
            let start = writeIndices[o / Swift.max(perBatch, 1)]
            for s in 0..<length {
                var t = start + s
                if circular { t %= maxLength } else if t >= maxLength { throw OutOfRange(value: Int64(t), length: maxLength) }
                for i in 0..<inner { out.append((o * maxLength + t) * inner + i) }
            }
        }
        return out
    }
}
