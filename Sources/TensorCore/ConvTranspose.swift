/// Geometry of a transposed convolution with one to three spatial axes, held as three (missing
/// leading axes have size 1, kernel 1, stride 1).
///
/// Input `[N, C, *in]`, weight `[C, M/groups, *kernel]`, output `[N, M, *out]`; input position `i`
/// and kernel tap `k` feed output position `i·stride − padBegin + k·dilation` on each axis, which is
/// dropped when it falls outside `0..<out`.
public struct ConvTransposeGeometry: Sendable, Equatable {
    public var batch: Int, inChannels: Int, outChannels: Int, groups: Int
    public var input: [Int], output: [Int], kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int]

    /// Spatial arrays of length 1 to 3 are padded at the front to length 3.
    public init(
        batch: Int, inChannels: Int, outChannels: Int, groups: Int,
        input: [Int], output: [Int], kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int]
    ) {
        func three(_ a: [Int], _ fill: Int) -> [Int] { [Int](repeating: fill, count: max(0, 3 - a.count)) + a }
        self.batch = batch
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.groups = groups
        self.input = three(input, 1)
        self.output = three(output, 1)
        self.kernel = three(kernel, 1)
        self.strides = three(strides, 1)
        self.dilations = three(dilations, 1)
        self.padBegin = three(padBegin, 0)
    }

    public var inputPlane: Int { input.product }
    public var outputPlane: Int { output.product }
    public var kernelSize: Int { kernel.product }
    /// Multiply-adds of the whole operation (every input value times every tap of its group).
    public var multiplyAdds: Int { batch * inChannels * inputPlane * (outChannels / groups) * kernelSize }
}

/// Transposed convolution as a product and a scatter: for each image and group,
/// `columns[(M/g)·K, P] = W_gᵀ · X_g` (`W_g` is `[C/g, (M/g)·K]` as stored, `X_g` is `[C/g, P]` for
/// `P` input positions), then every column value is added to the output position it feeds
/// (col2im). Input positions are taken in slabs so that the column buffer stays small.
public enum TransposedConv {
    public static func forward(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: ConvTransposeGeometry, threads: Int
    ) {
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        let k = g.kernelSize, p = g.inputPlane, q = g.outputPlane
        let rows = mg * k
        // Input positions per slab: whole innermost rows, about 4 M floats of columns at most.
        let rowLength = g.input[2]
        let slabRows = max(1, min(p / max(rowLength, 1), (1 << 22) / max(rows * rowLength, 1)))
        let slab = slabRows * rowLength
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * slab, 1))
        defer { columns.deallocate() }
        let x = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let w = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self))
        let y = output.storage.base.assumingMemoryBound(to: Float.self)
        let b = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        let box = UncheckedBox((columns, y))
        for n in 0..<g.batch {
            // Bias first; the scatter adds onto it.
            for m in 0..<g.outChannels {
                (y + (n * g.outChannels + m) * q).update(repeating: b?[m] ?? 0, count: q)
            }
            for grp in 0..<g.groups {
                let xg = x + (n * g.inChannels + grp * cg) * p
                let wg = w + grp * cg * rows
                var start = 0
                while start < p {
                    let count = min(slab, p - start)
                    GEMM.gemm(
                        transA: true, transB: false, m: rows, n: count, k: cg, alpha: 1, a: wg, lda: rows,
                        b: xg + start, ldb: p, beta: 0, c: columns, ldc: count, threads: threads)
                    let first = start
                    // Each output channel's taps write only that channel's plane.
                    Parallel.forEachChunk(mg, threads: rows * count > 1 << 15 ? threads : 1) { range in
                        let (columns, y) = box.value
                        for ml in range {
                            let plane = y + (n * g.outChannels + grp * mg + ml) * q
                            scatter(columns + ml * k * count, count: count, first: first, into: plane, g)
                        }
                    }
                    start += count
                }
            }
        }
    }

    /// Adds the `K` column rows of one output channel (`count` input positions from `first`) into
    /// its output plane.
    static func scatter(_ columns: UnsafePointer<Float>, count: Int, first: Int, into plane: UnsafeMutablePointer<Float>, _ g: ConvTransposeGeometry) {
        let (ih, iw) = (g.input[1], g.input[2])
        let (od, oh, ow) = (g.output[0], g.output[1], g.output[2])
        let (kd, kh, kw) = (g.kernel[0], g.kernel[1], g.kernel[2])
        var tap = 0
        for a in 0..<kd {
            for bb in 0..<kh {
                for c in 0..<kw {
                    let row = columns + tap * count
                    tap += 1
                    // Input rows (depth, height) of this slab; each row's columns are contiguous.
                    var pos = 0
                    while pos < count {
                        let index = first + pos
                        let z = index / (ih * iw), yy = (index / iw) % ih, x0 = index % iw
                        let length = min(iw - x0, count - pos)
                        let oz = z * g.strides[0] - g.padBegin[0] + a * g.dilations[0]
                        let oy = yy * g.strides[1] - g.padBegin[1] + bb * g.dilations[1]
                        if oz >= 0 && oz < od && oy >= 0 && oy < oh {
                            let out = plane + (oz * oh + oy) * ow
                            let sw = g.strides[2], offset = c * g.dilations[2] - g.padBegin[2]
                            // Input columns whose output column lies in 0..<ow.
                            let lo = max(x0, offset < 0 ? (-offset + sw - 1) / sw : 0)
                            let hi = min(x0 + length, ow - offset <= 0 ? 0 : (ow - offset - 1) / sw + 1)
                            if lo < hi {
                                let src = row + pos - x0
                                var o = lo * sw + offset
                                for xi in lo..<hi {
                                    out[o] += src[xi]
                                    o += sw
                                }
                            }
                        }
                        pos += length
                    }
                }
            }
        }
    }

    /// The naive reference twin: every input value times every tap, Double accumulation. Also
    /// the FP64 policy's kernel, with `T` = Double (all tensors of that type).
    public static func reference<T: BinaryFloatingPoint & TensorScalar>(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: ConvTransposeGeometry, as type: T.Type = Float.self
    ) {
        let x = input.scalars(as: T.self), w = weight.scalars(as: T.self)
        let b = bias?.scalars(as: T.self)
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        let q = g.outputPlane, k = g.kernelSize
        var acc = [Double](repeating: 0, count: g.batch * g.outChannels * q)
        for n in 0..<g.batch {
            for m in 0..<g.outChannels { for o in 0..<q { acc[(n * g.outChannels + m) * q + o] = Double(b?[m] ?? 0) } }
            for c in 0..<g.inChannels {
                let grp = c / cg
                for i in 0..<g.inputPlane {
                    let pos = [i / (g.input[1] * g.input[2]), (i / g.input[2]) % g.input[1], i % g.input[2]]
                    let xv = Double(x[(n * g.inChannels + c) * g.inputPlane + i])
                    for ml in 0..<mg {
                        for t in 0..<k {
                            let tapPos = [t / (g.kernel[1] * g.kernel[2]), (t / g.kernel[2]) % g.kernel[1], t % g.kernel[2]]
                            var o = 0, inside = true
                            for axis in 0..<3 {
                                let v = pos[axis] * g.strides[axis] - g.padBegin[axis] + tapPos[axis] * g.dilations[axis]
                                if v < 0 || v >= g.output[axis] { inside = false }
                                o = o * g.output[axis] + v
                            }
                            if !inside { continue }
                            let wv = Double(w[(c * mg + ml) * k + t])
                            acc[(n * g.outChannels + grp * mg + ml) * q + o] += xv * wv
                        }
                    }
                }
            }
        }
        output.withUnsafeMutableBufferPointer(as: T.self) { out in
            for i in 0..<acc.count { out[i] = T(acc[i]) }
        }
    }
}
