import CTargetFeatures
/// Geometry of a 2-D convolution (or a 1-D one with `inHeight == kernelHeight == 1`).
///
/// Input `[N, C, H, W]`, weight `[M, C/groups, KH, KW]`, output `[N, M, OH, OW]` with
/// `OH = (H + padTop + padBottom − dilationH·(KH − 1) − 1) / strideH + 1` (likewise OW).
public struct Conv2DGeometry: Sendable, Equatable {
    public var batch: Int
    public var inChannels: Int, inHeight: Int, inWidth: Int
    public var outChannels: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int
    public var padTop: Int, padLeft: Int
    public var groups: Int

    public init(
        batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int, outHeight: Int, outWidth: Int,
        kernelHeight: Int, kernelWidth: Int, strideH: Int, strideW: Int, dilationH: Int, dilationW: Int,
        padTop: Int, padLeft: Int, groups: Int
    ) {
        self.batch = batch
        self.inChannels = inChannels; self.inHeight = inHeight; self.inWidth = inWidth
        self.outChannels = outChannels; self.outHeight = outHeight; self.outWidth = outWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft
        self.groups = groups
    }

    /// Calls `body(xOffset, wOffset)` for each tap of output element (n, m, oy, ox) that lies
    /// inside the input (padding taps skipped), in the direct loops' order (input channel of m's
    /// group, kernel row, kernel column): the offsets of the input element and of the weight that
    /// multiplies it, in NCHW and `[M, C/groups, kh, kw]`.
    @inline(__always)
    public func forEachTap(n: Int, m: Int, oy: Int, ox: Int, _ body: (Int, Int) -> Void) {
        let cg = inChannels / groups, mg = outChannels / groups
        for ci in 0..<cg {
            let c = (m / mg) * cg + ci
            for ky in 0..<kernelHeight {
                let iy = oy * strideH - padTop + ky * dilationH
                if iy < 0 || iy >= inHeight { continue }
                for kx in 0..<kernelWidth {
                    let ix = ox * strideW - padLeft + kx * dilationW
                    if ix < 0 || ix >= inWidth { continue }
                    body(((n * inChannels + c) * inHeight + iy) * inWidth + ix, ((m * cg + ci) * kernelHeight + ky) * kernelWidth + kx)
                }
            }
        }
    }

    /// Whether each group has one input channel (depthwise, possibly with a channel multiplier).
    public var isDepthwise: Bool { groups == inChannels && groups > 1 }

    /// The kernel rows and columns (`ky0...ky1`, `kx0...kx1`) whose taps read the image for some
    /// output; the others read only padding for every output (a dilated convolution whose dilation
    /// reaches past a small map: DeepLabV3's ASPP at dilation 36 on a 33×33 map reads the image
    /// with its centre tap alone). nil when some row or column reads nothing in between (not
    /// one box), or when none does.
    public var liveTaps: (ky: ClosedRange<Int>, kx: ClosedRange<Int>)? {
        func live(_ k: Int, _ out: Int, _ stride: Int, _ pad: Int, _ dilation: Int, _ size: Int) -> Bool {
            // Input positions k·dilation − pad + o·stride for o in 0..<out meet [0, size).
            let first = k * dilation - pad, last = first + (out - 1) * stride
            guard out > 0, last >= 0, first < size else { return false }
            if stride == 1 { return true }
            // The first o whose position is at least 0, and whether it is still inside.
            let o = first >= 0 ? 0 : (-first + stride - 1) / stride
            return o < out && first + o * stride < size
        }
        let ys = (0..<kernelHeight).filter { live($0, outHeight, strideH, padTop, dilationH, inHeight) }
        let xs = (0..<kernelWidth).filter { live($0, outWidth, strideW, padLeft, dilationW, inWidth) }
        guard let y0 = ys.first, let y1 = ys.last, let x0 = xs.first, let x1 = xs.last,
              ys.count == y1 - y0 + 1, xs.count == x1 - x0 + 1 else { return nil }
        return (y0...y1, x0...x1)
    }

    /// This geometry with the kernel cut to the given rows and columns (the padding before them
    /// moved into the kernel's offset); nil when that would need negative padding.
    public func cutting(ky: ClosedRange<Int>, kx: ClosedRange<Int>) -> Conv2DGeometry? {
        var g = self
        g.kernelHeight = ky.count
        g.kernelWidth = kx.count
        g.padTop = padTop - ky.lowerBound * dilationH
        g.padLeft = padLeft - kx.lowerBound * dilationW
        return g.padTop >= 0 && g.padLeft >= 0 ? g : nil
    }
    /// Whether the convolution is a plain matrix product over the input (1×1, stride 1, no padding).
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0
            && outHeight == inHeight && outWidth == inWidth
    }
    /// Multiply-adds of the whole convolution.
    public var multiplyAdds: Int {
        batch * outChannels * outHeight * outWidth * (inChannels / groups) * kernelHeight * kernelWidth
    }
}

/// im2col: the patches of a convolution's input as the columns of a `[C·KH·KW, OH·OW]` matrix,
/// zeros where a patch reaches into the padding.
enum PatchColumns {
    /// Writes row `(c, ky, kx)` of the matrix at `columns + row·rowStride` for `src` `[channels, H, W]`.
    static func fill<T: Numeric>(from src: UnsafePointer<T>, channels: Int, geometry g: Conv2DGeometry, into columns: UnsafeMutablePointer<T>, rowStride: Int) {
        var row = 0
        for ci in 0..<channels {
            let image = src + ci * g.inHeight * g.inWidth
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let dst = columns + row * rowStride
                    for oy in 0..<g.outHeight {
                        let iy = oy * g.strideH - g.padTop + ky * g.dilationH
                        for ox in 0..<g.outWidth {
                            let ix = ox * g.strideW - g.padLeft + kx * g.dilationW
                            dst[oy * g.outWidth + ox] = iy >= 0 && iy < g.inHeight && ix >= 0 && ix < g.inWidth ? image[iy * g.inWidth + ix] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }
}

/// 2-D convolution in FP32: im2col + GEMM in general, GEMM directly for 1×1, a direct kernel for
/// depthwise. Bias and activation are applied in one pass over each output plane.
public enum Conv2D {
    /// Runs the convolution.
    /// - input `[N, C, H, W]` float32; weight `[M, C/groups, KH, KW]`; bias `[M]` or nil;
    ///   output `[N, M, OH, OW]`, fully overwritten.
    /// - residual: a tensor of the output's shape added after the bias, before the activation (a
    ///   residual connection's Add, fused; the same bits as the separate Add).
    public static func forward(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, scratch: Scratch, threads: Int, packed: PackedConvWeights? = nil, residual: Tensor? = nil
    ) {
        let res = residual.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        if g.isDepthwise {
            depthwise(input: input, weight: weight, bias: bias, output: output, geometry: g, activation: res == nil ? activation : nil,
                      threads: threads, packed: packed)
            if let res { PackedGEMM.finish(output.storage.base.assumingMemoryBound(to: Float.self), res, count: output.count, activation) }
            return
        }
        let weights = packed ?? PackedConvWeights(weight, groups: g.groups)
        let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
        let plane = g.outHeight * g.outWidth
        let inPlane = g.inHeight * g.inWidth
        let inp = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let out = output.storage.base.assumingMemoryBound(to: Float.self)
        let biasPtr = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        // At a batch of at least two images per thread (or one per thread when they divide evenly),
        // each thread takes whole images, with a scratch of its own: no barrier between the copy
        // of an image and its product, and each thread's image stays in its own caches. Each
        // image's product is split over threads or not with the same bits.
        // The layout and the padding-tap cut depend on the geometry alone: made once here, not
        // per thread. Outputs at most 16 wide gather their patches into a compact matrix (below);
        // wider ones multiply the extended grid.
        let shifted = ShiftedImage(g)
        let gridColumns = shifted.rowStride != g.outWidth && g.outWidth <= 16 ? plane : shifted.columns
        let regions = g.isPointwise ? nil : TapRegions(g, gridColumns: gridColumns)
        let parts = min(threads, g.batch)
        if parts > 1 && (g.batch % parts == 0 || g.batch >= 4 * parts) {
            let workers = scratch.workers(parts)
            Parallel.forEachChunk(parts, threads: parts) { range in
                for p in range { run((g.batch * p / parts)..<(g.batch * (p + 1) / parts), scratch: workers[p], threads: 1) }
            }
        } else {
            run(0..<g.batch, scratch: scratch, threads: threads)
        }

        func run(_ images: Range<Int>, scratch: Scratch, threads: Int) {
            if g.isPointwise {
                // At most 16 deep, each output costs so few multiply-adds that writing C is most
                // of the work; with several images (whose outputs, written one after the other,
                // are no longer in cache) C is written 8 rows at a time rather than all of its
                // rows a few panels at a time. Inside the models at batch 8, one thread (profiles,
                // median of 3): SqueezeNet's two 16→64 layers at 55×55 1.56 → 0.85 and 1.36 → 0.82
                // ms, MobileNetV2's 16→96 at 112×112 5.76 → 4.41 (the depthwise layer reading it
                // 4.91 → 5.20). At batch 1, or alone with its output in cache (16→64 at 55×55,
                // batch 8: 0.67 → 0.85), it measured slower.
                let rowPanelsOuter = g.batch > 1 && cg <= 16
                // Planes of at least 512 pixels put each row of B (an input channel) 2 KB or more
                // from the next, where the hardware's prefetchers do not follow: the product asks
                // for the next panels' lines as it reads these (`streamB`, as for a linear layer's
                // weight). One thread, batch 8, 8 alternating rounds: MobileNetV2's 32→16 at
                // 112×112 2.69 → 1.82 ms, 16→96 there 8.29 → 6.30, 96→24 at 56×56 2.05 → 1.39,
                // 144→24 2.82 → 2.57; 576→96 at 14×14 (rows 784 bytes apart) 1.82 → 1.91, so not
                // there. At 27×27 and 28×28 (profiles inside the models, batch 8, two rounds):
                // SqueezeNet's 256→32 1.17–1.34 → 1.00–1.11 ms, ResNet-50's nine 28×28 pointwise
                // layers 91.4–92.0 → 89.2–89.5, GoogLeNet's eight 17.3–18.0 → 16.1–16.2,
                // MobileNetV2's six 5.2–5.3 → 5.0; at batch 1 the same within noise.
                let streamB = plane >= 512
                for n in images {
                    for grp in 0..<g.groups {
                        let src = inp + (n * g.inChannels + grp * cg) * inPlane
                        let offset = (n * g.outChannels + grp * mg) * plane
                        PackedGEMM.multiply(
                            weights.groups[grp], PanelSource.matrix(src, columns: plane, rowStride: plane), c: out + offset,
                            ldc: plane, bias: biasPtr.map { $0 + grp * mg }, activation: activation, threads: threads, scratch: scratch,
                            residual: res.map { $0 + offset }, streamB: streamB, rowPanelsOuter: rowPanelsOuter)
                    }
                }
                return
            }
            if let regions {
                for n in images {
                    for grp in 0..<g.groups {
                        let offset = (n * g.outChannels + grp * mg) * plane
                        regions.forward(
                            inp + (n * g.inChannels + grp * cg) * inPlane, weights.groups[grp], out + offset, bias: biasPtr.map { $0 + grp * mg },
                            activation: activation, residual: res.map { $0 + offset }, scratch: scratch, threads: threads)
                    }
                }
                return
            }
            let offsets = shifted.rowOffsets()
            defer { offsets.deallocate() }
            let image = scratch.floats(shifted.floats, slot: 1)
            // Only the real outputs of the extended grid are kept, unless it has no extra columns.
            let grid = shifted.rowStride != g.outWidth ? GridColumns(gridWidth: shifted.rowStride, width: g.outWidth) : nil
            // Outputs at most 16 wide lose a large share of the grid to its extra columns (7 of 9 real
            // in a 3×3 convolution of a 7×7 image, 14 of 16 at 14×14): there the real patches are
            // first gathered into a compact [C·KH·KW, OH·OW] matrix, so that the tiles compute only
            // real outputs (the same sums in the same order, so the same bits). ResNet-18's 512→512
            // 3×3 convolutions at 7×7 took ~0.9× the grid's time this way. At 14×14 it was no faster
            // on an Intel Emerald Rapids core, and on an AMD Zen 4 core 256→256 alone 2.47 → 2.31
            // ms (7 alternating rounds; ResNet-18 0.95–0.98); at 28×28 (1.014) the gathered matrix
            // (3.6 MB for 128→128) no longer pays for itself.
            let compact = grid != nil && g.outWidth <= 16
            if let bands = bandCount(threads: threads) {
                runInBands(bands, images, image: image, offsets: offsets, grid: grid, compact: compact, scratch: scratch)
                return
            }
            let stride = compactStride(plane)
            let matrix = compact ? scratch.floats(weights.groups[0].depth * stride + 16, slot: 3) : image
            for n in images {
                for grp in 0..<g.groups {
                    shifted.fill(from: inp + (n * g.inChannels + grp * cg) * inPlane, into: image, threads: threads)
                    let offset = (n * g.outChannels + grp * mg) * plane
                    if compact { shifted.gather(image, offsets: offsets, rows: weights.groups[grp].depth, into: matrix, stride: stride, threads: threads) }
                    let source = compact
                        ? PanelSource.matrix(matrix, columns: plane, rowStride: stride)
                        : PanelSource.rows(image, offsets: offsets, columns: shifted.columns)
                    PackedGEMM.multiply(
                        weights.groups[grp], source, c: out + offset, ldc: plane,
                        bias: biasPtr.map { $0 + grp * mg }, activation: activation, threads: threads, scratch: scratch,
                        outputColumns: plane, grid: compact ? nil : grid, residual: res.map { $0 + offset })
                }
            }
        }

        /// The row stride of a compact patch matrix of `pixels` columns: whole 64-byte lines, so that
        /// the tiles' loads of B (48 columns from a multiple of 48) never straddle two lines (a
        /// 14×14 image's 196 floats a row left three rows in four straddling), and never a
        /// multiple of 2 KB, whose rows would share a few cache sets (`PanelSource.packed`).
        /// Alone, batch 1, one thread, four alternating rounds of 400 runs (an Intel Xeon, its
        /// fastest run): 256→256 3×3 at 14×14 1.67 → 1.64 ms, 512→512 at 7×7 1.63 → 1.60.
        func compactStride(_ pixels: Int) -> Int {
            let stride = (pixels + 15) / 16 * 16
            return stride * MemoryLayout<Float>.stride % 2048 == 0 ? stride + 16 : stride
        }

        /// The bands of output rows that `threads` threads take of one image's product, or nil
        /// where `PackedGEMM.multiply` splits it better (or not at all): by output channels when
        /// they are at least as many as the pixels (each thread then reads half of the weights, the
        /// larger operand), whole when the product is small, and always on the `.blas` path
        /// (OpenBLAS's sums of a product depend on its width).
        func bandCount(threads: Int) -> Int? {
            let depth = weights.groups[0].depth
            guard threads > 1, weights.groups[0].kernel.isTiles, g.outHeight >= 2, mg < plane, mg * plane * depth >= 1 << 17 else { return nil }
            return min(threads, g.outHeight)
        }

        /// One image's product split by bands of output rows, each band a thread's from the padded
        /// image to its outputs: the image is filled in one region (each thread its band's rows),
        /// then each thread gathers its band's patches (outputs at most 16 wide) and multiplies them
        /// on its own scratch. Split by output columns inside `PackedGEMM.multiply` instead, each
        /// thread read B rows that the other thread had written (the copy was split by channels)
        /// and waited at three barriers per convolution: DenseNet-121's 128→32 3×3 layers at 14×14
        /// ran no faster on two threads than on one (0.16–0.20 ms against 0.18; onnxruntime 0.078
        /// against 0.151). The depth blocks are the whole product's, so the sums are the same.
        func runInBands(
            _ bands: Int, _ images: Range<Int>, image: UnsafeMutablePointer<Float>, offsets: UnsafeMutablePointer<Int>,
            grid: GridColumns?, compact: Bool, scratch: Scratch
        ) {
            let depth = weights.groups[0].depth
            let kc = min(depth, PackedGEMM.depthBlock(columns: plane, depth: depth))
            let blockEnds = Array(Swift.stride(from: kc, to: depth, by: kc)) + [depth]
            let workers = scratch.workers(bands)
            // Band b's outputs are rows oy0 ..< oy1; it fills the image's rows from oy0 (its own
            // outputs' first tap row) up to the next band's (the last band to the end).
            func outputRows(_ b: Int) -> Range<Int> { (g.outHeight * b / bands)..<(g.outHeight * (b + 1) / bands) }
            let box = UncheckedBox((image, offsets, out))
            for n in images {
                for grp in 0..<g.groups {
                    let src = inp + (n * g.inChannels + grp * cg) * inPlane
                    let offset = (n * g.outChannels + grp * mg) * plane
                    Parallel.forEachChunk(bands, threads: bands) { range in
                        let (image, _, _) = box.value
                        for b in range {
                            let rows = outputRows(b).lowerBound..<(b == bands - 1 ? shifted.phaseHeight : outputRows(b + 1).lowerBound)
                            shifted.fill(from: src, into: image, rows: rows, last: b == bands - 1)
                        }
                    }
                    Parallel.forEachChunk(bands, threads: bands) { range in
                        let (image, offsets, out) = box.value
                        for b in range {
                            let rows = outputRows(b), pixels = rows.count * g.outWidth
                            let first = UnsafePointer(image + rows.lowerBound * shifted.rowStride)
                            let source: PanelSource
                            if compact {
                                let stride = compactStride(pixels)
                                let matrix = workers[b].floats(depth * stride + 16, slot: 3)
                                shifted.gather(first, offsets: offsets, rows: depth, outputRows: rows.count, into: matrix, stride: stride, threads: 1)
                                source = PanelSource.matrix(matrix, columns: pixels, rowStride: stride)
                            } else {
                                source = PanelSource.rows(first, offsets: offsets, columns: rows.count * shifted.rowStride)
                            }
                            let at = offset + rows.lowerBound * g.outWidth
                            PackedGEMM.multiply(
                                weights.groups[grp], source, c: out + at, ldc: plane,
                                bias: biasPtr.map { $0 + grp * mg }, activation: activation, threads: 1, scratch: workers[b],
                                outputColumns: pixels, grid: compact ? nil : grid, residual: res.map { $0 + at }, blockEnds: blockEnds)
                        }
                    }
                }
            }
        }
    }

    /// A convolution whose taps read only padding for a large share of its outputs (a large
    /// dilation on a small map: DeepLabV3's ASPP at dilations 12 and 24 on a 33×33 map), computed
    /// without those taps: the output plane is cut into rectangles within which each tap reads the
    /// image for every output or for none, and each rectangle is a product of the weights' live
    /// taps (`PackedMatrix.keeping(taps:of:threads:scratch:)`) with its patches of live taps (gathered from the input).
    ///
    /// The same bits as the whole product: a tap over padding adds `w·0` to the sum, and a fused
    /// chain that starts at +0 is never −0 unless a product underflows to −0 (a round-to-nearest
    /// sum is −0 only when both addends are, or when it underflows), so leaving those terms out
    /// changes nothing but, in that case alone, the sign of a zero sum (as leaving out the kernel
    /// rows that read only padding, `liveTaps`, does); and the depth blocks stay those of the whole
    /// depth (`blockEnds`), so each block's chain and the order the blocks are added in are
    /// unchanged.
    struct TapRegions {
        struct Region {
            let rows: Range<Int>, columns: Range<Int>
            /// The live taps (`ky·KW + kx`), ascending.
            let taps: [Int]
        }

        let g: Conv2DGeometry
        let regions: [Region]

        /// The cut, or nil when it would not save at least a quarter of the work of a product
        /// over `gridColumns` columns with every tap (the extended grid, or the compact matrix of
        /// outputs at most 16 wide). A rectangle whose taps are not all live packs its own weights,
        /// counted as 16 more columns of work.
        init?(_ g: Conv2DGeometry, gridColumns: Int) {
            guard g.outHeight > 0, g.outWidth > 0 else { return nil }
            // Without allocating: the live tap-output pairs per axis bound the work from below;
            // ordinary convolutions (a pixel of padding, no dilation) stop here.
            func livePairs(_ out: Int, _ kernel: Int, _ stride: Int, _ pad: Int, _ dilation: Int, _ size: Int) -> Int {
                (0..<kernel).reduce(0) { $0 + Self.liveOutputs($1, out: out, stride: stride, pad: pad, dilation: dilation, size: size).count }
            }
            let liveY = livePairs(g.outHeight, g.kernelHeight, g.strideH, g.padTop, g.dilationH, g.inHeight)
            let liveX = livePairs(g.outWidth, g.kernelWidth, g.strideW, g.padLeft, g.dilationW, g.inWidth)
            guard liveY * liveX * 4 < g.kernelHeight * g.kernelWidth * gridColumns * 3 else { return nil }
            let ys = Self.bands(out: g.outHeight, kernel: g.kernelHeight, stride: g.strideH, pad: g.padTop, dilation: g.dilationH, size: g.inHeight)
            let xs = Self.bands(out: g.outWidth, kernel: g.kernelWidth, stride: g.strideW, pad: g.padLeft, dilation: g.dilationW, size: g.inWidth)
            guard ys.count > 1 || xs.count > 1 else { return nil }
            let all = g.kernelHeight * g.kernelWidth
            var regions: [Region] = [], work = 0
            for (rows, kys) in ys {
                for (columns, kxs) in xs {
                    let taps = kys.flatMap { ky in kxs.map { ky * g.kernelWidth + $0 } }
                    regions.append(Region(rows: rows, columns: columns, taps: taps))
                    work += taps.count * (rows.count * columns.count + (taps.count == all ? 0 : 16))
                }
            }
            guard work * 4 < all * gridColumns * 3 else { return nil }
            self.g = g
            self.regions = regions
        }

        /// The outputs `o` in `0..<out` whose kernel position `k` reads the image along one axis:
        /// position `o·stride − pad + k·dilation` in `0..<size`.
        static func liveOutputs(_ k: Int, out: Int, stride: Int, pad: Int, dilation: Int, size: Int) -> Range<Int> {
            let lo = min(out, max(0, ceilDiv(pad - k * dilation, stride)))
            return lo..<min(out, max(lo, ceilDiv(size + pad - k * dilation, stride)))
        }

        /// The bands of outputs `0..<out` along one axis within which each kernel position `k`
        /// reads the image (position `o·stride − pad + k·dilation` in `0..<size`) for every output
        /// or for none, each with the positions that do.
        static func bands(out: Int, kernel: Int, stride: Int, pad: Int, dilation: Int, size: Int) -> [(Range<Int>, [Int])] {
            let live = (0..<kernel).map { liveOutputs($0, out: out, stride: stride, pad: pad, dilation: dilation, size: size) }
            let cuts = Set([0, out] + live.flatMap { [$0.lowerBound, $0.upperBound] }).sorted()
            return zip(cuts, cuts.dropFirst()).map { b0, b1 in (b0..<b1, (0..<kernel).filter { live[$0].contains(b0) }) }
        }

        /// One group of one image: `src` `[C/groups, H, W]`, `a` the group's packed weights,
        /// `out` (and `residual`) its `[M/groups, OH, OW]` planes.
        func forward(
            _ src: UnsafePointer<Float>, _ a: PackedMatrix, _ out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
            activation: Activation?, residual: UnsafePointer<Float>?, scratch: Scratch, threads: Int
        ) {
            let all = g.kernelHeight * g.kernelWidth, channels = a.depth / all
            let plane = g.outHeight * g.outWidth, inPlane = g.inHeight * g.inWidth
            // The whole product's depth blocks (`Conv2D.forward` gives it every output as columns).
            let block = min(a.depth, PackedGEMM.depthBlock(columns: plane, depth: a.depth))
            for region in regions {
                let taps = region.taps
                let liveDepth = channels * taps.count
                // Where each block of the whole depth ends among the kept rows.
                let blockEnds = Swift.stride(from: block, to: a.depth, by: block).map { p in
                    p / all * taps.count + taps.count(where: { $0 < p % all })
                } + [liveDepth]
                let live = taps.count == all ? a : a.keeping(taps: taps, of: all, threads: threads, scratch: scratch)
                let h = region.rows.count, w = region.columns.count, pixels = h * w
                let matrix = scratch.floats(max(1, liveDepth * pixels), slot: 3)
                let box = UncheckedBox(matrix)
                let g = self.g
                Parallel.forEachChunk(liveDepth, threads: liveDepth * pixels > 1 << 15 ? threads : 1, grain: 16) { range in
                    let matrix = box.value
                    for l in range {
                        let c = l / taps.count, tap = taps[l % taps.count], ky = tap / g.kernelWidth, kx = tap % g.kernelWidth
                        let iy = region.rows.lowerBound * g.strideH - g.padTop + ky * g.dilationH
                        let ix = region.columns.lowerBound * g.strideW - g.padLeft + kx * g.dilationW
                        let line = src + c * inPlane + iy * g.inWidth + ix
                        for y in 0..<h {
                            let row = line + y * g.strideH * g.inWidth, dst = matrix + l * pixels + y * w
                            if g.strideW == 1 { PackedGEMM.copy(dst, row, w) } else { PackedGEMM.copy(dst, row, w, stride: g.strideW) }
                        }
                    }
                }
                let b = PanelSource.matrix(matrix, columns: pixels, rowStride: pixels)
                let corner = region.rows.lowerBound * g.outWidth + region.columns.lowerBound
                if w == g.outWidth {
                    // Whole output rows: the product writes them in place.
                    PackedGEMM.multiply(
                        live, b, c: out + corner, ldc: plane, bias: bias, activation: activation, threads: threads, scratch: scratch,
                        residual: residual.map { $0 + corner }, blockEnds: blockEnds)
                    continue
                }
                let product = scratch.floats(a.rows * pixels, slot: 2)
                PackedGEMM.multiply(
                    live, b, c: product, ldc: pixels, bias: bias, activation: residual == nil ? activation : nil, threads: threads,
                    scratch: scratch, blockEnds: blockEnds)
                for m in 0..<a.rows {
                    for y in 0..<h {
                        let at = m * plane + corner + y * g.outWidth
                        PackedGEMM.copy(out + at, product + m * pixels + y * w, w)
                        if let residual { PackedGEMM.finish(out + at, residual + at, count: w, activation) }
                    }
                }
            }
        }
    }

    /// The layout that turns a strided, dilated, padded convolution into a product whose B rows are
    /// contiguous runs of memory.
    ///
    /// The zero-padded image is split into `strideH × strideW` phases,
    /// `phase[py][px][i][j] = padded[i·strideH + py][j·strideW + px]`, each `phaseHeight × phaseWidth`
    /// (only the phases that some tap reads are stored).
    /// Output `(y, x)` reads tap `(ky, kx)` at `phase[ky·dH mod sH][kx·dW mod sW][y + ky·dH / sH][x + kx·dW / sW]`,
    /// so over the extended grid of outputs `q = y·rowStride + x` (x running to `rowStride`, of
    /// which the first `outWidth` are real) each tap reads consecutive floats. The extra columns
    /// read neighbouring rows (or, at the very end, a slack of zeros) and are dropped.
    ///
    /// Consecutive rows of a phase overlap by `shared` columns, where the zeros of one row's right
    /// padding are the next row's left padding: a 3×3 convolution with a pixel of padding stores
    /// rows `W + 1` floats apart, not `W + 2`, so its grid has one extra column per row instead of
    /// two (28×28: 812 columns instead of 840). Each output still reads every tap, zeros included,
    /// so the sums are the same.
    struct ShiftedImage {
        let g: Conv2DGeometry
        let channels: Int, phaseHeight: Int, phaseWidth: Int
        /// Columns of padding shared by consecutive rows of every stored phase.
        let shared: Int
        /// The phases (`py·strideW + px`) that some tap reads, in order; only these are stored (a
        /// 1×1 convolution of stride 2 reads one phase of four).
        let usedPhases: [Int]

        init(_ g: Conv2DGeometry) {
            self.g = g
            channels = g.inChannels / g.groups
            phaseHeight = g.outHeight + (g.kernelHeight - 1) * g.dilationH / g.strideH
            phaseWidth = g.outWidth + (g.kernelWidth - 1) * g.dilationW / g.strideW
            var used = Set<Int>()
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth { used.insert((ky * g.dilationH % g.strideH) * g.strideW + kx * g.dilationW % g.strideW) }
            }
            usedPhases = used.sorted()
            var overlap = phaseWidth - g.outWidth
            for phase in usedPhases {
                let (lo, hi) = Self.imageColumns(g, phaseWidth: phaseWidth, px: phase % g.strideW)
                overlap = min(overlap, lo, phaseWidth - hi)
            }
            // Only where it saves a sixteen-column vector of the grid (the tiles' granularity): at
            // 14×14 both widths need 224 columns, and rows 16 floats apart (every kx = 0 tap's
            // loads aligned) measured 5% faster than 15.
            func vectors(_ width: Int) -> Int { (g.outHeight * width + 15) / 16 }
            shared = overlap > 0 && vectors(phaseWidth - overlap) < vectors(phaseWidth) ? overlap : 0
        }

        /// The columns `[lo, hi)` of column phase `px` that hold image columns: column `j` is image
        /// column `j·strideW + px − padLeft`, which must lie in `0..<inWidth`.
        static func imageColumns(_ g: Conv2DGeometry, phaseWidth pw: Int, px: Int) -> (Int, Int) {
            let lo = min(pw, max(0, ceilDiv(g.padLeft - px, g.strideW)))
            return (lo, max(lo, min(pw, ceilDiv(g.inWidth + g.padLeft - px, g.strideW))))
        }

        /// Phases stored per channel.
        var phases: Int { usedPhases.count }
        /// The distance between rows of a stored phase: the extended grid's width.
        var rowStride: Int { phaseWidth - shared }
        /// Floats per stored phase: its rows `rowStride` apart, the last one whole.
        var phaseSize: Int { phaseHeight * rowStride + shared }
        /// Columns of the extended grid.
        var columns: Int { g.outHeight * rowStride }
        /// Floats of the phased image, with the slack that the last extended columns read.
        var floats: Int { channels * phases * phaseSize + rowStride + PackedGEMM.columnTile }

        /// Start of each B row `(c, ky, kx)` in the phased image. The caller deallocates.
        func rowOffsets() -> UnsafeMutablePointer<Int> {
            let kh = g.kernelHeight, kw = g.kernelWidth
            let offsets = UnsafeMutablePointer<Int>.allocate(capacity: max(1, channels * kh * kw))
            for c in 0..<channels {
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let dy = ky * g.dilationH, dx = kx * g.dilationW
                        let phase = usedPhases.firstIndex(of: (dy % g.strideH) * g.strideW + dx % g.strideW) ?? 0
                        offsets[(c * kh + ky) * kw + kx] = (c * phases + phase) * phaseSize + (dy / g.strideH) * rowStride + dx / g.strideW
                    }
                }
            }
            return offsets
        }

        /// Writes the real columns of B rows `0..<rows` (`image + offsets[r]`, over the extended
        /// grid) as the rows of a `[rows, OH·OW]` matrix, `stride` floats apart (at least OH·OW;
        /// `compactStride`). Each output row goes as whole sixteen-float vectors in increasing
        /// address order, the part past its end rewritten by the next one; `dst` has 16 floats of
        /// slack for the last. Split over threads by B rows, each thread's last row copied exactly,
        /// so that no vector spills into another thread's rows. `outputRows` (all when nil)
        /// gathers the patches of that many output rows from `image`.
        func gather(
            _ image: UnsafePointer<Float>, offsets: UnsafePointer<Int>, rows: Int, outputRows: Int? = nil, into dst: UnsafeMutablePointer<Float>,
            stride: Int, threads: Int
        ) {
            let ow = g.outWidth, oh = outputRows ?? g.outHeight, pw = rowStride
            let box = UncheckedBox(dst)
            Parallel.forEachChunk(rows, threads: rows * oh * ow > 1 << 15 ? threads : 1, grain: 16) { range in
                let dst = box.value
                for r in range {
                    var out = UnsafeMutableRawPointer(dst + r * stride)
                    var line = UnsafeRawPointer(image + offsets[r])
                    // A row's last vector spills up to 15 floats past its end, further than the
                    // next row when rows are short (a 2×2 output): rows whose spill could reach
                    // past the chunk are copied exactly, every line.
                    let exact = range.upperBound < rows && r * stride + oh * ow + 16 > range.upperBound * stride
                    for _ in 0..<oh {
                        if exact {
                            PackedGEMM.copy(out.assumingMemoryBound(to: Float.self), line.assumingMemoryBound(to: Float.self), ow)
                        } else {
                            var i = 0
                            repeat {
                                out.storeBytes(of: line.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self), toByteOffset: i * 4, as: SIMD16<Float>.self)
                                i += 16
                            } while i < ow
                        }
                        out += ow * 4
                        line += pw * 4
                    }
                }
            }
        }

        /// Writes the phased, padded copy of `src` (`[C/groups, H, W]`) into `dst`, slack zeroed.
        /// Each row is written whole, in increasing order: its last `shared` zeros are the next
        /// row's first, which that row rewrites with the same zeros.
        func fill(from src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, threads: Int) {
            let planes = channels * phases
            let box = UncheckedBox(dst)
            Parallel.forEachChunk(planes, threads: planes * phaseSize > 1 << 16 ? threads : 1, grain: 4) { range in
                fill(from: src, into: box.value, planes: range, rows: 0..<phaseHeight, last: true)
            }
            PackedGEMM.zero(dst + planes * phaseSize, rowStride + PackedGEMM.columnTile)
        }

        /// Rows `rows` of every stored phase, for a band of output rows: the last row of a band
        /// that is not `last` stops where the next row starts, so that bands filled at once write
        /// disjoint floats; the `last` band zeroes the slack too.
        func fill(from src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, rows: Range<Int>, last: Bool) {
            fill(from: src, into: dst, planes: 0..<(channels * phases), rows: rows, last: last)
            if last { PackedGEMM.zero(dst + channels * phases * phaseSize, rowStride + PackedGEMM.columnTile) }
        }

        private func fill(from src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, planes: Range<Int>, rows: Range<Int>, last: Bool) {
            let sh = g.strideH, sw = g.strideW, ih = g.inHeight, iw = g.inWidth, pw = phaseWidth, rs = rowStride
            for plane in planes {
                let phase = usedPhases[plane % phases]
                let c = plane / phases, py = phase / sw, px = phase % sw
                let image = src + c * ih * iw
                let (lo, hi) = Self.imageColumns(g, phaseWidth: pw, px: px)
                for i in rows {
                    let row = dst + plane * phaseSize + i * rs
                    // The shared zeros past a band's last row are the next band's to write.
                    let width = last || i + 1 < rows.upperBound ? pw : rs
                    let iy = i * sh + py - g.padTop
                    if iy < 0 || iy >= ih {
                        PackedGEMM.zero(row, width)
                        continue
                    }
                    PackedGEMM.zero(row, lo)
                    let line = image + iy * iw + (lo * sw + px - g.padLeft)
                    PackedGEMM.copy(row + lo, line, hi - lo, stride: sw)
                    PackedGEMM.zero(row + hi, width - hi)
                }
            }
        }
    }

    /// Direct depthwise convolution: each group reads one input channel and writes
    /// `outChannels / groups` output channels.
    /// - input `[N, C, H, W]`, weight `[M, 1, KH, KW]`, output `[N, M, OH, OW]`.
    /// - packed: the weights laid out by `PackedConvWeights(depthwise:)`, when the caller keeps them.
    ///
    /// Convolutions with one output channel per input channel on planes that `ChannelBlocks`
    /// suits go to the channel-blocked kernel (`depthwiseChannelBlocked`); wider planes and channel
    /// multipliers to the row kernel (`depthwiseRows`), which fills its vectors along image rows.
    /// With AVX-512 (the row kernel's 32-wide tiles) outputs 48 or more wide go to the row kernel
    /// too: measured alone, one thread, 3×3 from 56 wide 0.25 against 0.28–0.30 ms blocked (144
    /// channels), from 112 to 56 0.41 against 0.44 (96), from 48 wide 0.12 against 0.14 (96); at
    /// 38 wide the two were equal, and below that, or 5×5 with stride 2 to 38 wide, the blocked
    /// kernel was faster (28 wide, 192 channels: 0.08 against 0.12). With AVX-512, stride-2 layers
    /// at least 14 wide (`halvesRows`) go to `depthwiseHalving`, which splits the columns in
    /// registers instead of copying them into phases or transposing them: alone, one thread,
    /// medians of 500 runs, 144×56×56 → 28 3×3 0.21 → 0.14 ms (blocked before), 96×112×112 → 56
    /// 0.45–0.48 → 0.41 (rows before), 72×56×56 → 28 5×5 0.12–0.13 → 0.10; 192×28×28 → 14 0.08 →
    /// 0.07, and 7 wide (576×14×14) 0.07 blocked against 0.09. All three give the same bits.
    public static func depthwise(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, threads: Int, packed: PackedConvWeights? = nil
    ) {
        if TOUCHSTONE_TARGET_AVX512F != 0 && halvesRows(g) {
            depthwiseHalving(input: input, weight: weight, bias: bias, output: output, geometry: g, activation: activation, threads: threads)
        } else if g.outChannels == g.groups && ChannelBlocks.suits(inHeight: g.inHeight, inWidth: g.inWidth, outHeight: g.outHeight, outWidth: g.outWidth)
            && (TOUCHSTONE_TARGET_AVX512F == 0 || g.outWidth < 48) {
            depthwiseChannelBlocked(
                input: input, weight: weight, bias: bias, output: output, geometry: g, activation: activation, threads: threads,
                blocks: packed?.channelBlocks)
        } else {
            depthwiseRows(input: input, weight: weight, bias: bias, output: output, geometry: g, activation: activation, threads: threads)
        }
    }

    /// The row kernel of `depthwise`.
    ///
    /// Each input plane is copied, a few rows ahead of the tiles that read them, into a zero-padded
    /// scratch plane split into `strideW` column phases (`phase[p][y][j] = padded[y][j·strideW + p]`), so that every tap of every
    /// stride reads contiguous memory and the kernel needs no bounds checks. Then tiles of four rows
    /// by eight outputs accumulate all KH·KW taps in registers and are written once; the activation
    /// follows over the plane while it is in cache.
    static func depthwiseRows(
        input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry,
        activation: Activation?, threads: Int
    ) {
        let mult = g.outChannels / g.groups
        let ih = g.inHeight, iw = g.inWidth, oh = g.outHeight, ow = g.outWidth
        let kh = g.kernelHeight, kw = g.kernelWidth, sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let inBase = UnsafePointer(input.storage.base.assumingMemoryBound(to: Float.self))
        let wBase = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self))
        let outBase = output.storage.base.assumingMemoryBound(to: Float.self)
        let biasPtr = bias.map { UnsafePointer($0.storage.base.assumingMemoryBound(to: Float.self)) }
        // Padded extent: every tap of every output (rounded up to whole pairs of vectors) lies inside it.
        let owPadded = (ow + 15) / 16 * 16
        let ph = (oh - 1) * sh + (kh - 1) * dh + 1
        let phaseWidth = owPadded + ((kw - 1) * dw) / sw + 1
        let phaseSize = ph * phaseWidth
        let planes = g.batch * g.outChannels
        // Column offsets of each kernel column: which phase, and where in it.
        let taps = (0..<kw).map { kx in (phase: (kx * dw) % sw, offset: (kx * dw) / sw) }
        // Columns j of phase p that hold image columns: padded column j·sw + p is image column
        // j·sw + p − padLeft, which must lie in 0..<iw.
        let phaseColumns = (0..<sw).map { p -> (Int, Int) in
            let lo = min(phaseWidth, max(0, ceilDiv(g.padLeft - p, sw)))
            return (lo, max(lo, min(phaseWidth, ceilDiv(iw + g.padLeft - p, sw))))
        }
        // Offset of every tap (ky, kx) from the window's first element, in the phased scratch.
        let tapCount = kh * kw
        let tapOffsets = UnsafeMutablePointer<Int>.allocate(capacity: tapCount)
        defer { tapOffsets.deallocate() }
        for ky in 0..<kh {
            for kx in 0..<kw { tapOffsets[ky * kw + kx] = taps[kx].phase * phaseSize + ky * dh * phaseWidth + taps[kx].offset }
        }
        Parallel.forEachChunk(planes, threads: planes * oh * ow * kh * kw > 1 << 15 ? threads : 1) { range in
            // Zeroed once: every plane overwrites the same image cells and leaves the padding alone.
            // The slack past the last phase: a tile's last vector may read up to 15 floats past a
            // row's end (into lanes it does not store).
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: phaseSize * sw + 32)
            scratch.initialize(repeating: 0, count: phaseSize * sw + 32)
            defer { scratch.deallocate() }
            var loadedPlane = -1, filledRows = 0
            for pIndex in range {
                let n = pIndex / g.outChannels, m = pIndex % g.outChannels
                let c = n * g.inChannels + m / mult
                if c != loadedPlane {
                    loadedPlane = c
                    filledRows = 0
                }
                let src = inBase + c * ih * iw
                // Fills the scratch's padded rows up to `end` ([H, W] => sw phases of [ph,
                // phaseWidth], zero outside the image) just before the tiles that read them, so that
                // they are read while in L1. (The whole plane first, 52 KB for a 112-wide map, had
                // left L1 before its tiles came back to it: MobileNetV2's 112-wide 3×3 layer alone
                // 0.25 → 0.21 ms.)
                @inline(__always) func fill(through end: Int) {
                    let end = min(end, ph)
                    while filledRows < end {
                        let y = filledRows, iy = y - g.padTop
                        filledRows += 1
                        if iy < 0 || iy >= ih { continue }
                        let line = src + iy * iw
                        for p in 0..<sw {
                            let dst = scratch + p * phaseSize + y * phaseWidth
                            let (lo, hi) = phaseColumns[p]
                            PackedGEMM.copy(dst + lo, line + (lo &* sw &+ p &- g.padLeft), hi - lo, stride: sw)
                        }
                    }
                }
                let wk = wBase + m * kh * kw
                let b = SIMD8<Float>(repeating: biasPtr?[m] ?? 0)
                let dst = outBase + pIndex * oh * ow
                let rowStep = sh * phaseWidth
                // Eight accumulators per tile hide the FMA latency even on 7- or 14-wide planes,
                // and each broadcast weight serves eight loads: a tile is two groups of four output
                // rows, each group one vector wide, or one group two vectors wide. Where the height
                // is not a multiple of four the last group overlaps the one before it (it
                // recomputes, bit for bit, the rows they share).
                var y = 0
                while y < oh && oh >= 4 {
                    y = min(y, max(0, oh - 8))
                    let y2 = min(y + 4, oh - 4)
                    fill(through: (y2 + 3) * sh + (kh - 1) * dh + 1)
                    var x = 0
                    // The four-row tile at x for both row groups (one where they coincide).
                    @inline(__always) func fourRows(wide: Bool) {
                        @inline(__always) func tile(_ row: Int) {
                            let input = scratch + row * rowStep + x, output = dst + row * ow + x
                            if wide {
                                Self.depthwiseTile4x2Wide(input, rowStep: rowStep, taps: tapOffsets, tapCount: tapCount,
                                                          weights: wk, bias: b, output: output, outputStride: ow, width: ow - x)
                            } else {
                                Self.depthwiseTile4x2(input, rowStep: rowStep, taps: tapOffsets, tapCount: tapCount,
                                                      weights: wk, bias: b, output: output, outputStride: ow, width: ow - x)
                            }
                        }
                        tile(y)
                        if y2 != y { tile(y2) }
                    }
                    // Sixteen-lane vectors where the target has them (with the rows filled just
                    // ahead, the 112-wide layer above 0.24 → 0.21 ms).
                    while TOUCHSTONE_TARGET_AVX512F != 0 && ow - x > 16 {
                        fourRows(wide: true)
                        x += 32
                    }
                    while ow - x > 8 {
                        fourRows(wide: false)
                        x += 16
                    }
                    if x < ow {
                        Self.depthwiseTile8x1(
                            scratch + y * rowStep + x, scratch + y2 * rowStep + x, rowStep: rowStep,
                            taps: tapOffsets, tapCount: tapCount, weights: wk, bias: b,
                            output: dst + y * ow + x, dst + y2 * ow + x, outputStride: ow, width: ow - x)
                    }
                    y += 8
                }
                // Planes under four rows: one row at a time, two vectors per step.
                if y < oh { fill(through: ph) }
                while y < oh {
                    let rowBase = scratch + y * rowStep
                    let row = dst + y * ow
                    var x = 0
                    while x < ow {
                        var a0 = b, a1 = b
                        let r = rowBase + x
                        for k in 0..<tapCount {
                            let q = UnsafeRawPointer(r + tapOffsets[k])
                            let wv = SIMD8<Float>(repeating: wk[k])
                            a0 = VectorMath.fma(wv, q.loadUnaligned(as: SIMD8<Float>.self), a0)
                            a1 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), a1)
                        }
                        Self.store(a0, to: row + x, count: min(8, ow - x))
                        if x + 8 < ow { Self.store(a1, to: row + x + 8, count: min(8, ow - x - 8)) }
                        x += 16
                    }
                    y += 1
                }
                // Over the whole plane, which leaves few ragged ends for the activation's vectors.
                activation?.apply(dst, count: oh * ow)
            }
        }
    }

    /// Four output rows by sixteen columns (`width` > 8 of them written) of one depthwise plane:
    /// `input` is the first tap of the tile's first row in the phased scratch.
    @inline(__always)
    private static func depthwiseTile4x2(
        _ input: UnsafePointer<Float>, rowStep: Int, taps: UnsafePointer<Int>, tapCount: Int,
        weights: UnsafePointer<Float>, bias: SIMD8<Float>, output: UnsafeMutablePointer<Float>, outputStride: Int, width: Int
    ) {
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias, c0 = bias, c1 = bias, c2 = bias, c3 = bias
        let s = 4 * rowStep
        for k in 0..<tapCount {
            let q = UnsafeRawPointer(input + taps[k])
            let wv = SIMD8<Float>(repeating: weights[k])
            a0 = VectorMath.fma(wv, q.loadUnaligned(as: SIMD8<Float>.self), a0)
            c0 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), c0)
            a1 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: s, as: SIMD8<Float>.self), a1)
            c1 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: s + 32, as: SIMD8<Float>.self), c1)
            a2 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 2 * s, as: SIMD8<Float>.self), a2)
            c2 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 2 * s + 32, as: SIMD8<Float>.self), c2)
            a3 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 3 * s, as: SIMD8<Float>.self), a3)
            c3 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 3 * s + 32, as: SIMD8<Float>.self), c3)
        }
        let n = min(8, width - 8), o = outputStride
        store(a0, to: output, count: 8)
        store(c0, to: output + 8, count: n)
        store(a1, to: output + o, count: 8)
        store(c1, to: output + o + 8, count: n)
        store(a2, to: output + 2 * o, count: 8)
        store(c2, to: output + 2 * o + 8, count: n)
        store(a3, to: output + 3 * o, count: 8)
        store(c3, to: output + 3 * o + 8, count: n)
    }

    /// Four output rows by thirty-two columns (`width` > 16 of them written) of one depthwise plane,
    /// in sixteen-lane vectors: `depthwiseTile4x2` twice as wide, the same sums.
    @inline(__always)
    private static func depthwiseTile4x2Wide(
        _ input: UnsafePointer<Float>, rowStep: Int, taps: UnsafePointer<Int>, tapCount: Int,
        weights: UnsafePointer<Float>, bias: SIMD8<Float>, output: UnsafeMutablePointer<Float>, outputStride: Int, width: Int
    ) {
        typealias V = SIMD16<Float>
        let b = V(repeating: bias[0])
        var a0 = b, a1 = b, a2 = b, a3 = b, c0 = b, c1 = b, c2 = b, c3 = b
        let s = 4 * rowStep
        for k in 0..<tapCount {
            let q = UnsafeRawPointer(input + taps[k])
            let wv = V(repeating: weights[k])
            a0 = VectorMath.fma(wv, q.loadUnaligned(as: V.self), a0)
            c0 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 64, as: V.self), c0)
            a1 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: s, as: V.self), a1)
            c1 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: s + 64, as: V.self), c1)
            a2 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 2 * s, as: V.self), a2)
            c2 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 2 * s + 64, as: V.self), c2)
            a3 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 3 * s, as: V.self), a3)
            c3 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 3 * s + 64, as: V.self), c3)
        }
        let n = min(16, width - 16), o = outputStride
        @inline(__always) func put(_ lo: V, _ hi: V, _ row: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(row).storeBytes(of: lo, as: V.self)
            if n == 16 {
                UnsafeMutableRawPointer(row + 16).storeBytes(of: hi, as: V.self)
            } else {
                for j in 0..<n { row[16 + j] = hi[j] }
            }
        }
        put(a0, c0, output)
        put(a1, c1, output + o)
        put(a2, c2, output + 2 * o)
        put(a3, c3, output + 3 * o)
    }

    /// Two groups of four output rows by eight columns (`width` of them written, up to 8) of one
    /// depthwise plane, the groups starting at `input0` and `input1` in the phased scratch.
    @inline(__always)
    private static func depthwiseTile8x1(
        _ input0: UnsafePointer<Float>, _ input1: UnsafePointer<Float>, rowStep: Int, taps: UnsafePointer<Int>,
        tapCount: Int, weights: UnsafePointer<Float>, bias: SIMD8<Float>,
        output output0: UnsafeMutablePointer<Float>, _ output1: UnsafeMutablePointer<Float>, outputStride: Int, width: Int
    ) {
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias, c0 = bias, c1 = bias, c2 = bias, c3 = bias
        let s = 4 * rowStep
        for k in 0..<tapCount {
            let p = UnsafeRawPointer(input0 + taps[k]), q = UnsafeRawPointer(input1 + taps[k])
            let wv = SIMD8<Float>(repeating: weights[k])
            a0 = VectorMath.fma(wv, p.loadUnaligned(as: SIMD8<Float>.self), a0)
            c0 = VectorMath.fma(wv, q.loadUnaligned(as: SIMD8<Float>.self), c0)
            a1 = VectorMath.fma(wv, p.loadUnaligned(fromByteOffset: s, as: SIMD8<Float>.self), a1)
            c1 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: s, as: SIMD8<Float>.self), c1)
            a2 = VectorMath.fma(wv, p.loadUnaligned(fromByteOffset: 2 * s, as: SIMD8<Float>.self), a2)
            c2 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 2 * s, as: SIMD8<Float>.self), c2)
            a3 = VectorMath.fma(wv, p.loadUnaligned(fromByteOffset: 3 * s, as: SIMD8<Float>.self), a3)
            c3 = VectorMath.fma(wv, q.loadUnaligned(fromByteOffset: 3 * s, as: SIMD8<Float>.self), c3)
        }
        let n = min(8, width), o = outputStride
        store(a0, to: output0, count: n)
        store(c0, to: output1, count: n)
        store(a1, to: output0 + o, count: n)
        store(c1, to: output1 + o, count: n)
        store(a2, to: output0 + 2 * o, count: n)
        store(c2, to: output1 + 2 * o, count: n)
        store(a3, to: output0 + 3 * o, count: n)
        store(c3, to: output1 + 3 * o, count: n)
    }

    /// Stores the first `count` (1...8) lanes of `v`.
    @inline(__always)
    private static func store(_ v: SIMD8<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
        if count == 8 {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
        } else {
            for j in 0..<count { p[j] = v[j] }
        }
    }

    /// The naive reference twin: direct loops, Double accumulation.
    public static func reference(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor, geometry g: Conv2DGeometry, activation: Activation?) {
        let x = input.scalars(as: Float.self), w = weight.scalars(as: Float.self)
        let b = bias?.scalars(as: Float.self)
        output.withUnsafeMutableBufferPointer(as: Float.self) { out in
            for n in 0..<g.batch {
                for m in 0..<g.outChannels {
                    for y in 0..<g.outHeight {
                        for xo in 0..<g.outWidth {
                            var acc = Double(b?[m] ?? 0)
                            g.forEachTap(n: n, m: m, oy: y, ox: xo) { xi, wi in acc += Double(x[xi]) * Double(w[wi]) }
                            let v = Float(acc)
                            out[((n * g.outChannels + m) * g.outHeight + y) * g.outWidth + xo] = activation?.apply(v) ?? v
                        }
                    }
                }
            }
        }
    }
}

/// `ceil(a / b)` for positive `b`, correct for negative `a`.
@inlinable public func ceilDiv(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? (a + b - 1) / b : -((-a) / b)
}

/// `floor(a / b)` for positive `b`, correct for negative `a`.
@inlinable public func floorDiv(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? a / b : -((-a + b - 1) / b)
}

/// A convolution's weights packed once for `PackedGEMM`: one packed `[M/groups, C/groups·KH·KW]`
/// matrix per group.
public final class PackedConvWeights: @unchecked Sendable {
    public let groups: [PackedMatrix]
    /// A depthwise weight `[C, 1, KH, KW]` in blocks of sixteen channels, tap-major
    /// (`[C/16][KH·KW][16]`, zero past the last channel), for `Conv2D.depthwiseChannelBlocked`.
    let channelBlocks: [Float]?

    /// - weight: `[M, C/groups, KH, KW]` float32 (or `[M, C/groups, KW]`).
    /// - kernel: the product kernel the layout is for (the process's choice unless a test picks).
    public init(_ weight: Tensor, groups: Int, kernel: PackedGEMM.Kernel = PackedGEMM.selected) {
        let m = weight.shape[0] / groups
        let depth = weight.shape.dropFirst().reduce(1, *)
        let w = UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self))
        self.groups = (0..<groups).map { PackedMatrix(w + $0 * m * depth, rows: m, depth: depth, rowStride: depth, kernel: kernel) }
        channelBlocks = nil
    }

    /// Lays out a depthwise weight `[C, 1, KH, KW]` (or `[C, 1, KW]`) float32, one output channel
    /// per group, for the channel-blocked kernel.
    public init(depthwise weight: Tensor) {
        groups = []
        channelBlocks = Conv2D.channelBlocks(weight.scalars(as: Float.self), channels: weight.shape[0], taps: weight.shape.dropFirst(2).reduce(1, *))
    }

    /// Bytes held.
    public var byteCount: Int { groups.reduce(0) { $0 + $1.byteCount } }
}

