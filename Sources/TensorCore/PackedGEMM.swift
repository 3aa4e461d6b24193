import CTargetFeatures
import Foundation

/// Touchstone's own single-precision product for convolutions: `C = A·B (+ bias) → activation`,
/// with A (the weights) packed once and B read where it lies.
///
/// A register tile of `rowTile × columnTile` (8 × 48) outputs lives in 24 sixteen-lane
/// accumulators through a whole depth block, so each step does 24 fused multiply-adds for three
/// vector loads of B and eight broadcasts of A; a last panel of at most 32 or 16 columns uses a
/// narrower tile. B is not copied: each step reads its row through a table of row offsets, which
/// serves a plain matrix and a convolution's shifted image alike (`PanelSource`). Blocking: for
/// each depth block and each group of `blockPanels` column panels, every 8-row slice of A (8 KB)
/// stays in L1 while it meets those panels. The activation is applied to each tile while it is
/// still in cache, so C is written once.
///
/// Summation order: each depth block is one fused multiply-add chain from zero, the blocks' sums
/// are added to C in turn, and the bias last. The blocks are those of onnxruntime's MLAS
/// convolutions (`depthBlock(columns:depth:)`), so that a convolution gives onnxruntime's
/// single-threaded CPU result bit for bit where both sum this way; that matters to QDQ models,
/// where a last-bit difference before a QuantizeLinear can move a value to the next integer.
public enum PackedGEMM {
    /// Rows of A (output channels) per register tile and per packed panel: 8 divides the channel
    /// counts of nearly every CNN layer, so little of the tile is padding.
    public static let rowTile = 8
    /// Columns of B (output pixels) per register tile.
    public static let columnTile = 48
    /// Depth (rows of B) per block for a product of `columns` output columns (pixels): 128, or
    /// deeper when the columns are fewer than the depth and narrow, doubled while halving a
    /// 128-column panel still covers them (down to 16 columns) — the blocking MLAS uses.
    static func depthBlock(columns: Int, depth: Int) -> Int {
        var block = 128, panel = 128
        if columns < depth {
            while panel > 16 && panel / 2 >= columns {
                block *= 2
                panel /= 2
            }
        }
        return block
    }
    /// Column panels that each A slice meets while it is in L1.
    static let blockPanels = 4
    /// `C[m, n] = A[m, k]·B[k, n] + bias[m]`, then `activation`, for every element of C.
    /// - c: row stride `ldc`; fully overwritten (rows `0..<a.rows`, columns `0..<b.columns`).
    /// - outputColumns: the columns that are real outputs, which choose the depth blocks (fewer than
    ///   `b.columns` when B is a convolution's extended grid); all of them when nil.
    /// - grid: where B's columns go when they are a convolution's extended grid: then only the real
    ///   outputs are written, each at its pixel (`GridColumns`), and `ldc` is the output plane's size.
    /// - residual: a matrix laid out as C that is added to it after the bias and before the
    ///   activation (a residual connection's Add, fused): `C = act(A·B + bias + R)`, rounded as the
    ///   separate steps would be.
    /// - blockEnds: where each depth block ends (ascending, the last `a.depth`; a block may be
    ///   empty) instead of the uniform blocks of `depthBlock`: a convolution with the taps that read
    ///   only padding left out (`Conv2D.TapRegions`) keeps the blocks of the whole depth this way.
    /// - streamB: B is a plain matrix that comes from memory, read once per product (a linear
    ///   layer's weight; a pointwise convolution's input planes of at least 512 pixels): the first
    ///   row panel asks for each block's rows ahead of the tiles that read them (`compute`).
    /// - rowPanelsOuter: on one thread, one row panel at a time over all the columns, so that C is
    ///   written 8 rows at a time from start to end instead of every row a group of column panels
    ///   at a time (`Conv2D` asks for it where that measured faster; the sums are the same).
    public static func multiply(
        _ a: PackedMatrix, _ b: PanelSource, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>?, activation: Activation?, threads: Int, scratch: Scratch? = nil, outputColumns: Int? = nil,
        grid: GridColumns? = nil, residual: UnsafePointer<Float>? = nil, blockEnds: [Int]? = nil, streamB: Bool = false,
        rowPanelsOuter: Bool = false
    ) {
        let m = a.rows, n = b.columns
        if m == 0 || n == 0 { return }
        let kc = blockEnds.map { ends in zip(ends, [0] + ends).reduce(1) { max($0, $1.0 - $1.1) } }
            ?? min(a.depth, depthBlock(columns: outputColumns ?? n, depth: a.depth))
        if let grid, a.depth == 0 || a.kernel == .blas {
            // The whole grid into a scratch matrix, then its real columns to their pixels. (The
            // tiles below write the real outputs themselves.)
            let owned = scratch == nil ? UnsafeMutablePointer<Float>.allocate(capacity: m * n) : nil
            defer { owned?.deallocate() }
            let whole = owned ?? scratch.unsafelyUnwrapped.floats(m * n, slot: 2)
            multiply(a, b, c: whole, ldc: n, bias: bias, activation: residual == nil ? activation : nil, threads: threads,
                     scratch: scratch, outputColumns: outputColumns, blockEnds: blockEnds)
            for i in 0..<m {
                grid.scatter(whole + i * n, columns: 0..<n, to: c + i * ldc)
                if let residual { finish(c + i * ldc, residual + i * ldc, count: ldc, activation) }
            }
            return
        }
        if a.depth == 0 || a.kernel == .blas {
            blasMultiply(a, b, c: c, ldc: ldc, bias: bias, activation: activation, threads: threads, scratch: scratch,
                         residual: residual, depthBlock: kc, blockEnds: blockEnds)
            return
        }
        let rowPanels = (m + rowTile - 1) / rowTile
        let columnPanels = (n + columnTile - 1) / columnTile
        // Matrix-vector products (a squeeze-excitation block's fully connected layers, a batch-1
        // classifier) read each weight once: split from 32K products, not 128K.
        let parts = m * n * a.depth < (n <= 4 ? 1 << 15 : 1 << 17) ? 1 : max(1, threads)
        // Per part: a tail panel buffer, two row tables, the padded bias and an edge tile, from the
        // session's scratch so that steady-state runs neither allocate nor fault pages in.
        let layout = WorkLayout(depth: kc, rowPanels: rowPanels, panels: b.packed ? blockPanels : 1, gridGroup: grid != nil && kc < a.depth)
        let work = scratch?.floats(layout.floats * parts, slot: 0)
            ?? UnsafeMutableRawPointer.allocate(byteCount: layout.floats * parts * 4, alignment: 64).bindMemory(to: Float.self, capacity: layout.floats * parts)
        defer { if scratch == nil { work.deallocate() } }
        let box = UncheckedBox((c, bias, work, residual))
        func run(_ part: Int, rows: Range<Int>, columns: Range<Int>) {
            let (c, bias, work, residual) = box.value
            compute(a, b, c: c, ldc: ldc, bias: bias, activation: activation, rowPanels: rows, columnPanels: columns,
                    work: UnsafeMutableRawPointer(work + part * layout.floats), layout: layout, grid: grid, residual: residual,
                    blockEnds: blockEnds, streamB: streamB)
        }
        if parts == 1 && rowPanelsOuter && grid == nil {
            for i in 0..<rowPanels { run(0, rows: i..<(i + 1), columns: 0..<columnPanels) }
        } else if parts == 1 {
            run(0, rows: 0..<rowPanels, columns: 0..<columnPanels)
        } else if m < n && busiest(columnPanels, columnTile, n, parts) * m * 9 <= busiest(rowPanels, rowTile, m, parts) * n * 10 {
            // Split the columns (many pixels) when they outnumber the rows, unless splitting the
            // output channels (each part then reading all of B) leaves the busiest part at least
            // 10% less work: five column panels over two threads (a 14×14 convolution's extended grid)
            // left one thread 128 of 224 columns. With at least as many rows as columns the rows
            // are split, so that each part reads half of A, the larger operand, rather than all of
            // it: ResNet-50's 256→1024 1×1 layer at 14×14 (196 columns, a 1 MB A) on two threads,
            // alone, 0.44 → 0.37 ms; 1024→256 likewise.
            Parallel.forEachChunk(parts, threads: parts) { range in
                for p in range { run(p, rows: 0..<rowPanels, columns: (columnPanels * p / parts)..<(columnPanels * (p + 1) / parts)) }
            }
        } else {
            Parallel.forEachChunk(parts, threads: parts) { range in
                for p in range { run(p, rows: (rowPanels * p / parts)..<(rowPanels * (p + 1) / parts), columns: 0..<columnPanels) }
            }
        }
    }

    /// The most of `total` rows (or columns) that one of `parts` parts gets when `panels` panels of
    /// `tile` are split as `multiply` splits them.
    static func busiest(_ panels: Int, _ tile: Int, _ total: Int, _ parts: Int) -> Int {
        (0..<parts).reduce(0) { most, p in max(most, min(total, tile * (panels * (p + 1) / parts)) - tile * (panels * p / parts)) }
    }

    /// The `.blas` path: B gathered into a plain matrix when it is a row table, one `sgemm`
    /// (`GEMM.gemm`, split over `threads`) per depth block, each added to C (the first written),
    /// then bias, residual and activation row by row.
    ///
    /// The depth blocks are the tiles' (MLAS's): one `sgemm` over the whole depth sums in
    /// OpenBLAS's own blocks, which on a 960-deep pointwise convolution measured 1.6× the RMS
    /// error of onnxruntime's (3.2e-7 against 2.1e-7 of the output's RMS, FP64 reference); block
    /// by block the sums are onnxruntime's.
    static func blasMultiply(
        _ a: PackedMatrix, _ b: PanelSource, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>?, activation: Activation?, threads: Int, scratch: Scratch?, residual: UnsafePointer<Float>? = nil,
        depthBlock: Int, blockEnds: [Int]? = nil
    ) {
        let m = a.rows, n = b.columns, k = a.depth
        if k > 0 {
            var gathered: UnsafeMutablePointer<Float>?
            var source = b.base, ldb = b.rowStride
            if b.offsets != nil {
                let dst = scratch?.floats(k * n, slot: 0)
                    ?? UnsafeMutableRawPointer.allocate(byteCount: k * n * 4, alignment: 64).bindMemory(to: Float.self, capacity: k * n)
                if scratch == nil { gathered = dst }
                for r in 0..<k { b.copyRow(r, to: dst + r * n) }
                source = UnsafePointer(dst)
                ldb = n
            }
            defer { gathered?.deallocate() }
            var p0 = 0, block = 0
            while p0 < k {
                let kc = blockEnds.map { $0[block] - p0 } ?? min(max(depthBlock, 1), k - p0)
                block += 1
                if kc == 0 { continue }
                GEMM.gemm(transA: false, transB: false, m: m, n: n, k: kc, alpha: 1, a: a.rowMajor + p0, lda: k, b: source + p0 * ldb,
                          ldb: ldb, beta: p0 == 0 ? 0 : 1, c: c, ldc: ldc, threads: threads)
                p0 += kc
            }
        }
        let box = UncheckedBox((c, residual))
        Parallel.forEachChunk(m, threads: m * n < 1 << 16 ? 1 : threads) { range in
            let (c, residual) = box.value
            for i in range {
                let row = c + i * ldc
                if k == 0 { row.update(repeating: 0, count: n) }
                if let value = bias?[i], value != 0 { for j in 0..<n { row[j] += value } }
                finish(row, residual.map { $0 + i * ldc }, count: n, activation)
            }
        }
    }

    /// Where one part's working memory goes, in floats from a 64-byte-aligned start.
    struct WorkLayout {
        let tail: Int, rowTable: Int, packedTable: Int, bias: Int, edge: Int, group: Int, floats: Int
        /// The depth block.
        let depth: Int
        /// Whether `group` holds the sums of a group of column panels (`groupStride` floats per row
        /// of A) until its last depth block, when B is a convolution's extended grid summed in
        /// several blocks.
        let gridGroup: Bool
        static let groupStride = blockPanels * columnTile
        /// - panels: column panels the copy buffer holds (1: a narrow last panel; more: whole blocks).
        init(depth: Int, rowPanels: Int, panels: Int, gridGroup: Bool = false) {
            self.depth = depth
            self.gridGroup = gridGroup
            tail = 0
            rowTable = depth * columnTile * panels
            packedTable = rowTable + depth * 2  // Int is two floats wide
            bias = packedTable + depth * 2
            edge = (bias + rowPanels * rowTile + 15) / 16 * 16
            group = edge + rowTile * columnTile
            floats = group + (gridGroup ? rowPanels * rowTile * Self.groupStride : 0)
        }
    }

    static func compute(
        _ a: PackedMatrix, _ b: PanelSource, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>?, activation: Activation?, rowPanels: Range<Int>, columnPanels: Range<Int>,
        work: UnsafeMutableRawPointer, layout: WorkLayout, grid: GridColumns? = nil, residual: UnsafePointer<Float>? = nil,
        blockEnds: [Int]? = nil, streamB: Bool = false
    ) {
        let m = a.rows, n = b.columns, k = a.depth
        let mr = rowTile, nr = columnTile
        let floats = work.assumingMemoryBound(to: Float.self)
        let tail = floats + layout.tail, edge = floats + layout.edge, paddedBias = floats + layout.bias
        let rowTable = (work + layout.rowTable * 4).assumingMemoryBound(to: Int.self)
        let packedTable = (work + layout.packedTable * 4).assumingMemoryBound(to: Int.self)
        for r in 0..<min(k, layout.depth) { packedTable[r] = r * nr }
        // Bias padded to whole row panels (the tile reads 8 starting values).
        if let bias {
            paddedBias.update(repeating: 0, count: rowPanels.upperBound * mr)
            paddedBias.update(from: bias, count: m)
        }
        let bounds = Bounds(activation)
        // An extended grid summed in several depth blocks: each group of column panels is summed
        // in `group` (rows of `groupStride`), and after its last block its real outputs go to their
        // pixels (with the residual and activation) while they are in cache.
        let gridGroup = layout.gridGroup ? grid : nil
        let group = floats + layout.group, ldg = WorkLayout.groupStride
        // A weight times activations reads each block of a plain B from memory (a decoder step's
        // few tokens are bound by that stream alone); its rows lie a row stride apart, each on
        // another page, where the hardware's prefetchers do not follow. So the first row panel
        // asks for the next block's lines as its tiles (or the copy into panels) read each row of
        // this one (`ahead`): for a few row panels (a decoder step) and for many (an encoder's
        // 128 tokens: BERT-base at batch 1 measured 241–277 ms without, 198–203 with).
        let streaming = streamB && b.offsets == nil && grid == nil && blockEnds == nil
        // Panels read from a copy instead of in place: all of them when B's stride would alias in
        // cache (unless a single row panel reads each value of B once), else a last panel
        // narrower than a tile when reading past its end is not safe.
        let lastPanel = (n + nr - 1) / nr - 1
        let copyAll = b.packed && !(streaming && rowPanels.count == 1), copyTail = n % nr != 0 && !b.readableTail
        // A last panel of at most `narrowColumns` columns (the last pixels of a 7×7 or 14×14 image)
        // goes column by column with the rows in the lanes (`narrowPanel`), read in place.
        let narrow = grid == nil && n % nr != 0 && n % nr <= narrowColumns ? lastPanel : -1
        func copied(_ j: Int) -> Bool { j != narrow && (copyAll || (copyTail && j == lastPanel)) }
        func copySlot(_ j: Int, _ j0: Int, _ kc: Int) -> UnsafeMutablePointer<Float> { tail + (copyAll ? (j - j0) * kc * nr : 0) }

        var j0 = columnPanels.lowerBound
        while j0 < columnPanels.upperBound {
            var j1 = min(columnPanels.upperBound, j0 + blockPanels)
            // A narrow last panel that would be a group of its own joins the group before it, whose
            // A slices it then reads while they are in cache (read in a group of their own, the
            // four columns of a 14×14 image re-read all of A: a 256→256 3×3 layer's 2.4 MB).
            if j1 == narrow && narrow + 1 == columnPanels.upperBound && !copyAll { j1 += 1 }
            var p0 = 0, block = 0
            while p0 < k {
                let kc = blockEnds.map { $0[block] - p0 } ?? min(layout.depth, k - p0)
                block += 1
                if kc == 0 { continue }
                b.rowOffsets(from: p0, count: kc, into: rowTable)
                let accumulate = p0 > 0, last = p0 + kc == k
                // Floats from each row read to the same place in the next block: the next depth
                // block of these panels, or after the last one the first of the next panels. (The
                // next block may hold fewer rows, or none: prefetching past B is harmless.)
                let ahead = !streaming ? 0 : !last ? kc * b.rowStride : j1 < columnPanels.upperBound ? (j1 - j0) * nr - p0 * b.rowStride : 0
                for j in j0..<j1 where copied(j) {
                    let column0 = j * nr, width = min(nr, n - column0)
                    let panel = copySlot(j, j0, kc)
                    // The lanes past the last column are zeroed: whatever stale bits they held
                    // (subnormals above all) would slow every multiply-add that reads them.
                    for r in 0..<kc {
                        let row = b.base + rowTable[r] + column0
                        if ahead != 0 { prefetch(row + ahead, floats: width) }
                        copy(panel + r * nr, row, width)
                        zero(panel + r * nr + width, nr - width)
                    }
                }
                // With a residual the clamp waits until it has been added.
                let tileBounds = last && residual == nil ? bounds : nil
                // Whole sixteen-lane 8×48 tiles that store into C add the residual themselves, then
                // the activation when it is a clamp.
                let fuseResidual = last && residual != nil && gridGroup == nil && a.kernel == .tiles16 && (activation == nil || bounds != nil)
                // The last panel of at most `narrowColumns` columns: its B values gathered once per
                // depth block into the panel's unused copy slot (`narrowColumns` floats a row), then
                // `narrowPanels` row panels at a time (`narrowPanel`), right after those panels'
                // tiles, while their A slices are still in cache (a 512→512 3×3 layer's A is 9.4 MB;
                // read again after all the row panels, it came from memory, and each B value was a
                // line of its own, read once per four row panels).
                let narrowHere = (j0..<j1).contains(narrow)
                let narrowB = copySlot(narrow, j0, kc), narrowColumn0 = narrow * nr, narrowCount = n - narrowColumn0
                if narrowHere {
                    for r in 0..<kc {
                        let row = b.base + rowTable[r] + narrowColumn0
                        for col in 0..<narrowColumns { narrowB[r * narrowColumns + col] = col < narrowCount ? row[col] : 0 }
                    }
                }
                // The narrow columns (one of a 7×7 image's 49, four of a 14×14 image's 196) ride
                // along with the group's first tiles, one column each (`tile8x49`), where every row
                // panel is whole and nothing follows the store.
                let foldNarrow = narrowHere && narrow - j0 >= narrowCount && m % mr == 0 && a.kernel == .tiles16 && residual == nil
                    && (activation == nil || bounds != nil)
                for i in rowPanels {
                    let rows = min(mr, m - i * mr)
                    let ap = a.panel(i) + p0 * mr
                    let rowBias: UnsafePointer<Float>? = last && bias != nil ? UnsafePointer(paddedBias + i * mr) : nil
                    for j in j0..<j1 where j != narrow {
                        let columns = min(nr, n - j * nr)
                        let fromCopy = copied(j)
                        let bp = fromCopy ? UnsafePointer(copySlot(j, j0, kc)) : b.base + j * nr
                        let table = UnsafePointer(fromCopy ? packedTable : rowTable)
                        let tileAhead = i == rowPanels.lowerBound && !fromCopy ? ahead : 0
                        // The first tile of a row panel asks for the next panel's A slice (into L2)
                        // as it reads its own: a large layer's weights (ResNet's last 3×3, 9.4 MB)
                        // come from memory, one panel's slice a whole panel's depth from the next,
                        // where the hardware's prefetchers do not follow.
                        let nextA = j == j0 && i + 1 < rowPanels.upperBound ? k * mr : 0
                        // On an extended grid of one depth block, a tile whose columns are all real
                        // outputs side by side in one row (most tiles of a wide first convolution)
                        // stores at their pixels like a tile of a plain C; the others go below.
                        let pixel = gridGroup == nil && rows == mr && columns == nr ? grid?.pixel(ofRun: (j * nr)..<(j * nr + columns)) : nil
                        if last, let residual {
                            // The residual this tile adds after its sums, asked for (into L2) before
                            // them: read after the multiply-adds, each row's lines came from memory
                            // (a 1×1 64→256 layer at 56×56 with its residual: 15% of its time).
                            let pixels = grid?.pixels(of: (j * nr)..<(j * nr + columns)) ?? ((j * nr)..<(j * nr + columns))
                            for r in 0..<rows { prefetch(residual + (i * mr + r) * ldc + pixels.lowerBound, floats: pixels.count) }
                        }
                        if let grid, gridGroup == nil, pixel == nil {
                            // One depth block: the tile goes to the edge tile, and its real outputs
                            // on to their pixels.
                            tile(a.kernel, columns: columns, ap, bp, rows: table, depth: kc, edge, ldc: nr, bias: rowBias, accumulate: false, bounds: tileBounds,
                                 nextA: nextA)
                            grid.scatterTile(edge, ld: nr, rows: rows, columns: (j * nr)..<(j * nr + columns), to: c + i * mr * ldc, ldc: ldc,
                                             residual: residual.map { $0 + i * mr * ldc }, activation: activation, activate: tileBounds == nil)
                            continue
                        }
                        // Where the tile's first output lies in its row of C.
                        let outColumn = pixel ?? j * nr
                        let (cp, ldcp) = gridGroup == nil ? (c + i * mr * ldc + outColumn, ldc) : (group + i * mr * ldg + (j - j0) * nr, ldg)
                        // Whole tiles write C directly; partial ones go through the edge tile.
                        let direct = rows == mr && (columns == 48 || columns == 32 || columns == 16)
                        let target = direct ? cp : edge, ldt = direct ? ldcp : nr
                        if !direct && accumulate {
                            zero(edge, mr * nr)
                            for r in 0..<rows { copy(edge + r * nr, cp + r * ldcp, columns) }
                        }
                        if rows < mr && a.kernel == .tiles16 && columns == nr {
                            // A last row panel of 1 to 7 rows (a decoder step's token or two) in
                            // tiles of four rows and of one: no multiply-adds on padding rows.
                            var r = 0
                            while r < rows {
                                let four = rows - r >= 4
                                let (ar, tr, br) = (ap + r, target + r * ldt, rowBias.map { $0 + r })
                                if four {
                                    tile4x48(ar, bp, rows: table, depth: kc, tr, ldc: ldt, bias: br, accumulate: accumulate, bounds: tileBounds)
                                } else {
                                    tile1x48(ar, bp, rows: table, depth: kc, tr, bias: br, accumulate: accumulate, bounds: tileBounds)
                                }
                                r += four ? 4 : 1
                            }
                        } else if foldNarrow && j - j0 < narrowCount && direct && columns == 48 {
                            let t = j - j0
                            tile8x49(ap, bp, rows: table, depth: kc, target, ldc: ldt, bias: rowBias, accumulate: accumulate, bounds: tileBounds,
                                     ahead: tileAhead, nextA: nextA, last: UnsafePointer(narrowB + t), lastStride: narrowColumns,
                                     lastColumn: narrowColumn0 + t - outColumn)
                        } else if fuseResidual && direct && columns == 48 {
                            // The residual and a clamp in the tile's stores, while its sums are in
                            // registers, instead of a pass over them after.
                            tile8x48(ap, bp, rows: table, depth: kc, target, ldc: ldt, bias: rowBias, accumulate: accumulate, bounds: bounds,
                                     ahead: tileAhead, nextA: nextA, residual: residual.map { $0 + i * mr * ldc + outColumn })
                            continue  // past the residual's pass below, which the stores have done
                        } else {
                            tile(a.kernel, columns: columns, ap, bp, rows: table, depth: kc, target, ldc: ldt, bias: rowBias, accumulate: accumulate,
                                 bounds: tileBounds, ahead: tileAhead, nextA: nextA)
                        }
                        if !direct {
                            for r in 0..<rows { copy(cp + r * ldcp, edge + r * nr, columns) }
                        }
                        if last, let grid = gridGroup {
                            // The group's last block: this tile's real outputs to their pixels.
                            grid.scatterTile(cp, ld: ldcp, rows: rows, columns: (j * nr)..<(j * nr + columns), to: c + i * mr * ldc, ldc: ldc,
                                             residual: residual.map { $0 + i * mr * ldc }, activation: activation, activate: tileBounds == nil)
                        } else if last, residual != nil || (tileBounds == nil && activation != nil) {
                            for r in 0..<rows { finish(cp + r * ldc, residual.map { $0 + (i * mr + r) * ldc + outColumn }, count: columns, activation) }
                        }
                    }
                    let nth = i - rowPanels.lowerBound
                    if narrowHere && !foldNarrow && (nth % narrowPanels == narrowPanels - 1 || i + 1 == rowPanels.upperBound) {
                        let panels = (i - nth % narrowPanels)..<(i + 1)
                        narrowPanel(
                            a, depth: p0..<(p0 + kc), panels: panels, UnsafePointer(narrowB), columns: narrowCount, c + narrowColumn0, ldc: ldc,
                            bias: last && bias != nil ? UnsafePointer(paddedBias) : nil, accumulate: accumulate, bounds: tileBounds)
                        if last, residual != nil || (tileBounds == nil && activation != nil) {
                            for row in (panels.lowerBound * mr)..<min(m, panels.upperBound * mr) {
                                let at = row * ldc + narrowColumn0
                                finish(c + at, residual.map { $0 + at }, count: narrowCount, activation)
                            }
                        }
                    }
                }
                p0 += kc
            }
            j0 = j1
        }
    }

    /// The narrowest sixteen-lane register tile that covers `columns` (at most 48): 8×16, 8×32 or 8×48.
    @inline(__always)
    static func tile(
        columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?, ahead: Int = 0, nextA: Int = 0
    ) {
        if columns <= 16 {
            tile8x16(a, b, rows: rows, depth: depth, c, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds)
        } else if columns <= 32 {
            tile8x32(a, b, rows: rows, depth: depth, c, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds)
        } else {
            tile8x48(a, b, rows: rows, depth: depth, c, ldc: ldc, bias: bias, accumulate: accumulate, bounds: bounds, ahead: ahead, nextA: nextA)
        }
    }

    /// `c += residual` (when given), then the activation, over `count` floats.
    @inline(__always)
    static func finish(_ c: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?, count: Int, _ activation: Activation?) {
        if let residual {
            finish(c, from: c, residual, count: count, activation)
        } else {
            activation?.apply(c, count: count)
        }
    }

    /// `dst = activation(src + residual)` over `count` floats: the sum and a clamp (ReLU, Clip) in
    /// one pass, other activations in a second. The same bits as adding the residual in one pass and
    /// applying the activation in another (each lane is the same float sum, then the same clamp as
    /// `Activation.apply`). Every input vector is read before the output vector that overlaps it is
    /// written, so `dst` may be `src` or `residual`.
    @inline(__always)
    static func finish(
        _ dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, _ residual: UnsafePointer<Float>, count: Int, _ activation: Activation?
    ) {
        typealias V = SIMD16<Float>
        let bounds = Bounds(activation), clamp = bounds != nil
        let low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        @inline(__always) func sum(_ i: Int) -> V {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self) + UnsafeRawPointer(residual + i).loadUnaligned(as: V.self)
            return clamp ? v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high) : v
        }
        if count >= 16 {
            // A ragged end is the last whole vector, overlapping the one before, computed first.
            let end = count - 16, last = sum(end)
            var i = 0
            while i < end {
                UnsafeMutableRawPointer(dst + i).storeBytes(of: sum(i), as: V.self)
                i += 16
            }
            UnsafeMutableRawPointer(dst + end).storeBytes(of: last, as: V.self)
        } else {
            var v = V(), r = V()
            for j in 0..<count { v[j] = src[j]; r[j] = residual[j] }
            v += r
            if clamp { v = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high) }
            for j in 0..<count { dst[j] = v[j] }
        }
        if !clamp { activation?.apply(dst, count: count) }
    }

    /// Widest last panel that `narrowPanel` computes.
    static let narrowColumns = 4

    /// Row panels that one `narrowPanel` call covers.
    static let narrowPanels = 8

    /// The last `columns` (at most `narrowColumns`) columns of C for up to `narrowPanels` row
    /// panels, over one depth block: eight-lane multiply-adds with the rows in the lanes, one chain
    /// per panel and column (a 16-wide tile would spend on one column as long as on 32 more). Each
    /// output is the same fused chain from zero as in the tiles, then C, the bias (`bias`, padded,
    /// given with the last block) and the clamp in the same order, so the bits are the tiles'. `b`
    /// holds the block's B values of these columns, `narrowColumns` floats per row of the block,
    /// zero past `columns`.
    ///
    /// A pass keeps eight or sixteen chains in flight, each A vector loaded once for all of the
    /// pass's columns: one column over eight panels (a 7×7 image's 49th pixel), two columns over
    /// four, or, with 32 vector registers (AVX-512, NEON), three or four columns over four. Before,
    /// each column went alone over four panels: four chains waited on the multiply-add's latency
    /// and A was read once per column (a 512→512 3×3 convolution at 7×7 spent 4.7% of its time
    /// here, on 1 of its 49 columns). A single column with whole row panels and nothing after the
    /// store now goes with the tile before it instead (`tile8x49`).
    @inline(never)
    static func narrowPanel(
        _ a: PackedMatrix, depth: Range<Int>, panels: Range<Int>, _ b: UnsafePointer<Float>, columns: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?
    ) {
        typealias V = SIMD8<Float>
        let q = panels.lowerBound, last = panels.upperBound - 1
        // Panel `p` of the call's A slices; unused chains repeat the last panel and are dropped.
        @inline(__always) func slice(_ p: Int) -> UnsafeRawPointer {
            UnsafeRawPointer(a.panel(min(q + p, last)) + depth.lowerBound * rowTile)
        }
        @inline(__always) func store(_ sums: V, panel p: Int, column: Int) {
            guard p < panels.count, column < columns else { return }
            for r in 0..<rowTile {
                let row = (q + p) * rowTile + r
                guard row < a.rows else { break }
                var v = sums[r]
                let out = c + row * ldc + column
                if accumulate { v += out.pointee }
                if let bias { v += bias[row] }
                if let bounds {
                    if v < bounds.low { v = bounds.low }
                    if v > bounds.high { v = bounds.high }
                }
                out.pointee = v
            }
        }
        let wide = TOUCHSTONE_TARGET_AVX512F != 0 || TOUCHSTONE_TARGET_AARCH64 != 0
        var column = 0
        while column < columns {
            let left = columns - column
            if left == 1 {
                let (a0, a1, a2, a3, a4, a5, a6, a7) = (slice(0), slice(1), slice(2), slice(3), slice(4), slice(5), slice(6), slice(7))
                var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V(), c6 = V(), c7 = V()
                var bp = b + column
                for k in 0..<depth.count {
                    let o = k &* 32, bv = V(repeating: bp[0])
                    c0.addProduct(a0.load(fromByteOffset: o, as: V.self), bv); c1.addProduct(a1.load(fromByteOffset: o, as: V.self), bv)
                    c2.addProduct(a2.load(fromByteOffset: o, as: V.self), bv); c3.addProduct(a3.load(fromByteOffset: o, as: V.self), bv)
                    c4.addProduct(a4.load(fromByteOffset: o, as: V.self), bv); c5.addProduct(a5.load(fromByteOffset: o, as: V.self), bv)
                    c6.addProduct(a6.load(fromByteOffset: o, as: V.self), bv); c7.addProduct(a7.load(fromByteOffset: o, as: V.self), bv)
                    bp += narrowColumns
                }
                store(c0, panel: 0, column: column); store(c1, panel: 1, column: column); store(c2, panel: 2, column: column)
                store(c3, panel: 3, column: column); store(c4, panel: 4, column: column); store(c5, panel: 5, column: column)
                store(c6, panel: 6, column: column); store(c7, panel: 7, column: column)
                column += 1
            } else if wide && left > 2 {
                for g in stride(from: 0, to: panels.count, by: 4) {
                    let (a0, a1, a2, a3) = (slice(g), slice(g + 1), slice(g + 2), slice(g + 3))
                    var c00 = V(), c01 = V(), c02 = V(), c03 = V(), c10 = V(), c11 = V(), c12 = V(), c13 = V()
                    var c20 = V(), c21 = V(), c22 = V(), c23 = V(), c30 = V(), c31 = V(), c32 = V(), c33 = V()
                    var bp = b + column
                    for k in 0..<depth.count {
                        let o = k &* 32
                        let b0 = V(repeating: bp[0]), b1 = V(repeating: bp[1]), b2 = V(repeating: bp[2]), b3 = V(repeating: bp[3])
                        let x0 = a0.load(fromByteOffset: o, as: V.self)
                        c00.addProduct(x0, b0); c01.addProduct(x0, b1); c02.addProduct(x0, b2); c03.addProduct(x0, b3)
                        let x1 = a1.load(fromByteOffset: o, as: V.self)
                        c10.addProduct(x1, b0); c11.addProduct(x1, b1); c12.addProduct(x1, b2); c13.addProduct(x1, b3)
                        let x2 = a2.load(fromByteOffset: o, as: V.self)
                        c20.addProduct(x2, b0); c21.addProduct(x2, b1); c22.addProduct(x2, b2); c23.addProduct(x2, b3)
                        let x3 = a3.load(fromByteOffset: o, as: V.self)
                        c30.addProduct(x3, b0); c31.addProduct(x3, b1); c32.addProduct(x3, b2); c33.addProduct(x3, b3)
                        bp += narrowColumns
                    }
                    let (j0, j1, j2, j3) = (column, column + 1, column + 2, column + 3)
                    store(c00, panel: g, column: j0); store(c01, panel: g, column: j1); store(c02, panel: g, column: j2); store(c03, panel: g, column: j3)
                    store(c10, panel: g + 1, column: j0); store(c11, panel: g + 1, column: j1); store(c12, panel: g + 1, column: j2); store(c13, panel: g + 1, column: j3)
                    store(c20, panel: g + 2, column: j0); store(c21, panel: g + 2, column: j1); store(c22, panel: g + 2, column: j2); store(c23, panel: g + 2, column: j3)
                    store(c30, panel: g + 3, column: j0); store(c31, panel: g + 3, column: j1); store(c32, panel: g + 3, column: j2); store(c33, panel: g + 3, column: j3)
                }
                column += 4
            } else {
                for g in stride(from: 0, to: panels.count, by: 4) {
                    let (a0, a1, a2, a3) = (slice(g), slice(g + 1), slice(g + 2), slice(g + 3))
                    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
                    var bp = b + column
                    for k in 0..<depth.count {
                        let o = k &* 32
                        let b0 = V(repeating: bp[0]), b1 = V(repeating: bp[1])
                        let x0 = a0.load(fromByteOffset: o, as: V.self); c00.addProduct(x0, b0); c01.addProduct(x0, b1)
                        let x1 = a1.load(fromByteOffset: o, as: V.self); c10.addProduct(x1, b0); c11.addProduct(x1, b1)
                        let x2 = a2.load(fromByteOffset: o, as: V.self); c20.addProduct(x2, b0); c21.addProduct(x2, b1)
                        let x3 = a3.load(fromByteOffset: o, as: V.self); c30.addProduct(x3, b0); c31.addProduct(x3, b1)
                        bp += narrowColumns
                    }
                    store(c00, panel: g, column: column); store(c01, panel: g, column: column + 1)
                    store(c10, panel: g + 1, column: column); store(c11, panel: g + 1, column: column + 1)
                    store(c20, panel: g + 2, column: column); store(c21, panel: g + 2, column: column + 1)
                    store(c30, panel: g + 3, column: column); store(c31, panel: g + 3, column: column + 1)
                }
                column += 2
            }
        }
    }

    /// Asks for the cache lines of `floats` floats from `p` (`touchstone_prefetch`: into L2, a
    /// hint that never faults, wherever `p` points).
    @inline(__always)
    static func prefetch(_ p: UnsafePointer<Float>, floats: Int) {
        let raw = UnsafeRawPointer(p), bytes = floats &* 4
        var offset = 0
        while offset < bytes {
            touchstone_prefetch(raw + offset)
            offset &+= 64
        }
        // A run not aligned to a line ends on one more.
        touchstone_prefetch(raw + (bytes &- 1))
    }

    /// Copies `count` floats (a short run) without a library call; the buffers must not overlap.
    @inline(__always)
    static func copy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
        // The buffers do not overlap, so a ragged end can be one more vector that overlaps the
        // last one (rewriting the same values) instead of single floats.
        if count >= 16 {
            var i = 0
            while i + 16 <= count {
                UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                i += 16
            }
            if i < count {
                let e = count - 16
                UnsafeMutableRawPointer(dst + e).storeBytes(of: UnsafeRawPointer(src + e).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
            }
        } else if count >= 8 {
            let e = count - 8
            UnsafeMutableRawPointer(dst).storeBytes(of: UnsafeRawPointer(src).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dst + e).storeBytes(of: UnsafeRawPointer(src + e).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        } else {
            for i in 0..<count { dst[i] = src[i] }
        }
    }

    /// Copies every `stride`-th float: `dst[j] = src[j·stride]` for `j` in `0..<count`, reading no
    /// further than `src[(count − 1)·stride]`. Stride 2 (the phases of a stride-2 convolution) splits
    /// sixteen-float loads into their even lanes; other strides go one value at a time.
    @inline(__always)
    static func copy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int, stride: Int) {
        if stride == 1 { return copy(dst, src, count) }
        var j = 0
        if stride == 2 {
            // A load at 2j covers src[2j ..< 2j + 16]; the last float it may touch is src[2(count − 1)].
            while j + 8 < count {
                let v = UnsafeRawPointer(src + 2 &* j).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(dst + j).storeBytes(of: VectorMath.evens(v), as: SIMD8<Float>.self)
                j += 8
            }
        }
        var s = src + j &* stride
        while j < count { dst[j] = s.pointee; s += stride; j += 1 }
    }

    /// Sets `count` floats (a short run) to 0 without a library call.
    @inline(__always)
    static func zero(_ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        while i + 16 <= count { UnsafeMutableRawPointer(dst + i).storeBytes(of: SIMD16<Float>(), as: SIMD16<Float>.self); i += 16 }
        while i < count { dst[i] = 0; i += 1 }
    }

    /// Clamping bounds that a tile applies as it stores its last depth block (ReLU, ReLU6, Clip).
    struct Bounds {
        let low: Float, high: Float

        /// The bounds that are the activation, or nil when it is not a clamp.
        init?(_ activation: Activation?) {
            switch activation {
            case .relu: (low, high) = (0, .infinity)
            case .clip(let lo, let hi): (low, high) = (lo, hi)
            default: return nil
            }
        }
    }

    @inline(__always)
    static func store(
        _ v: inout SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ bias: Float?,
        _ clamp: Bool, _ low: SIMD16<Float>, _ high: SIMD16<Float>
    ) {
        store(&v, p, accumulate, bias, nil, clamp, low, high)
    }

    /// `store` with a residual `shift` bytes past `p` (when given) added after the bias, before
    /// the clamp: the same bits as storing the sum and adding the residual in a pass of its own.
    @inline(__always)
    static func store(
        _ v: inout SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ bias: Float?, _ shift: Int?,
        _ clamp: Bool, _ low: SIMD16<Float>, _ high: SIMD16<Float>
    ) {
        let raw = UnsafeMutableRawPointer(p)
        if accumulate { v += raw.loadUnaligned(as: SIMD16<Float>.self) }
        if let bias { v += SIMD16(repeating: bias) }
        if let shift { v += UnsafeRawPointer(raw).loadUnaligned(fromByteOffset: shift, as: SIMD16<Float>.self) }
        // Comparisons are false for NaN, which therefore passes through as Clip requires.
        if clamp { v = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high) }
        raw.storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// The 8×48 register tile: `C[0..<8, 0..<48] (+)= A·B` over `depth` steps; step k reads
    /// 8 values of the packed A slice and B's 48 floats at `b + rows[k]`; `bias`, given with the last
    /// depth block, is added to each row after the sum, and `bounds`, when given, clamp the stored results.
    /// `ahead` (floats from each row of B) and `nextA` (from the A slice) ask for what a later tile
    /// reads, one line of A per two steps, so that a whole slice is asked for over the tile.
    ///
    /// Compiled for size (`@_optimize(size)`): optimized for speed, the loop was unrolled twice and
    /// all eight broadcasts of the next step hoisted ahead of the multiply-adds, which left 35
    /// vectors live in 32 registers and spilled about ten accumulators to the stack per step
    /// (106 stack moves in the loop). Intel's cores hid that; on an AMD Zen 4 core (EPYC, its
    /// 512-bit operations split in two) a 512→512 3×3 convolution at 7×7 took 2.66 ms, against
    /// 2.24 without the spills (onnxruntime 2.07), and 64→64 at 56×56 2.67 → 2.19 (2.09).
    @inline(never) @_optimize(size)
    static func tile8x48(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?, ahead: Int = 0, nextA: Int = 0,
        residual: UnsafePointer<Float>? = nil
    ) {
        typealias V = SIMD16<Float>
        let i0 = bias?[0]; var c0a = V(), c0b = V(), c0c = V()
        let i1 = bias?[1]; var c1a = V(), c1b = V(), c1c = V()
        let i2 = bias?[2]; var c2a = V(), c2b = V(), c2c = V()
        let i3 = bias?[3]; var c3a = V(), c3b = V(), c3c = V()
        let i4 = bias?[4]; var c4a = V(), c4b = V(), c4c = V()
        let i5 = bias?[5]; var c5a = V(), c5b = V(), c5c = V()
        let i6 = bias?[6]; var c6a = V(), c6b = V(), c6c = V()
        let i7 = bias?[7]; var c7a = V(), c7b = V(), c7c = V()
        var ap = a
        for k in 0..<depth {
            let row = b + rows[k], bp = UnsafeRawPointer(row)
            if ahead != 0 { prefetch(row + ahead, floats: 48) }
            // Unconditional (with no next slice it asks for A's own line): a branch here cost
            // more than the request.
            touchstone_prefetch(ap + nextA)
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
            let b2 = bp.loadUnaligned(fromByteOffset: 128, as: V.self)
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
        let shift = residual.map { UnsafeRawPointer(c).distance(to: UnsafeRawPointer($0)) }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        store(&c0a, c + 0 * ldc, accumulate, i0, shift, clamp, low, high); store(&c0b, c + 0 * ldc + 16, accumulate, i0, shift, clamp, low, high); store(&c0c, c + 0 * ldc + 32, accumulate, i0, shift, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, shift, clamp, low, high); store(&c1b, c + 1 * ldc + 16, accumulate, i1, shift, clamp, low, high); store(&c1c, c + 1 * ldc + 32, accumulate, i1, shift, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, shift, clamp, low, high); store(&c2b, c + 2 * ldc + 16, accumulate, i2, shift, clamp, low, high); store(&c2c, c + 2 * ldc + 32, accumulate, i2, shift, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, shift, clamp, low, high); store(&c3b, c + 3 * ldc + 16, accumulate, i3, shift, clamp, low, high); store(&c3c, c + 3 * ldc + 32, accumulate, i3, shift, clamp, low, high)
        store(&c4a, c + 4 * ldc, accumulate, i4, shift, clamp, low, high); store(&c4b, c + 4 * ldc + 16, accumulate, i4, shift, clamp, low, high); store(&c4c, c + 4 * ldc + 32, accumulate, i4, shift, clamp, low, high)
        store(&c5a, c + 5 * ldc, accumulate, i5, shift, clamp, low, high); store(&c5b, c + 5 * ldc + 16, accumulate, i5, shift, clamp, low, high); store(&c5c, c + 5 * ldc + 32, accumulate, i5, shift, clamp, low, high)
        store(&c6a, c + 6 * ldc, accumulate, i6, shift, clamp, low, high); store(&c6b, c + 6 * ldc + 16, accumulate, i6, shift, clamp, low, high); store(&c6c, c + 6 * ldc + 32, accumulate, i6, shift, clamp, low, high)
        store(&c7a, c + 7 * ldc, accumulate, i7, shift, clamp, low, high); store(&c7b, c + 7 * ldc + 16, accumulate, i7, shift, clamp, low, high); store(&c7c, c + 7 * ldc + 32, accumulate, i7, shift, clamp, low, high)
    }

    /// `tile8x48` and one more column: C's column `lastColumn` (counted from `c`) for the panel's
    /// 8 rows from `last` (that column's B value of each step, `lastStride` floats apart), its 8
    /// sums in the lanes of one eight-lane accumulator (A's 8 values of a step as a vector, times
    /// the broadcast B value). For a product 49 columns wide (a 7×7 image's outputs), or 196 (a
    /// 14×14 image's, four narrow columns over four tiles): the columns that `narrowPanel` would
    /// compute after the tiles, re-reading the A slices from L2 (a 512→512 3×3 layer's 9.4 MB),
    /// ride along with tiles instead. Each output is the same fused chain, then C, the bias and
    /// the clamp, so the bits are `narrowPanel`'s.
    @inline(never) @_optimize(size)
    static func tile8x49(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?, ahead: Int, nextA: Int,
        last: UnsafePointer<Float>, lastStride: Int, lastColumn: Int
    ) {
        typealias V = SIMD16<Float>
        let i0 = bias?[0]; var c0a = V(), c0b = V(), c0c = V()
        let i1 = bias?[1]; var c1a = V(), c1b = V(), c1c = V()
        let i2 = bias?[2]; var c2a = V(), c2b = V(), c2c = V()
        let i3 = bias?[3]; var c3a = V(), c3b = V(), c3c = V()
        let i4 = bias?[4]; var c4a = V(), c4b = V(), c4c = V()
        let i5 = bias?[5]; var c5a = V(), c5b = V(), c5c = V()
        let i6 = bias?[6]; var c6a = V(), c6b = V(), c6c = V()
        let i7 = bias?[7]; var c7a = V(), c7b = V(), c7c = V()
        var column = SIMD8<Float>()
        var ap = a, lp = last
        for k in 0..<depth {
            let row = b + rows[k], bp = UnsafeRawPointer(row)
            if ahead != 0 { prefetch(row + ahead, floats: 48) }
            touchstone_prefetch(ap + nextA)
            column.addProduct(UnsafeRawPointer(ap).load(as: SIMD8<Float>.self), SIMD8(repeating: lp[0]))
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
            let b2 = bp.loadUnaligned(fromByteOffset: 128, as: V.self)
            let a0 = V(repeating: ap[0]); c0a.addProduct(a0, b0); c0b.addProduct(a0, b1); c0c.addProduct(a0, b2)
            let a1 = V(repeating: ap[1]); c1a.addProduct(a1, b0); c1b.addProduct(a1, b1); c1c.addProduct(a1, b2)
            let a2 = V(repeating: ap[2]); c2a.addProduct(a2, b0); c2b.addProduct(a2, b1); c2c.addProduct(a2, b2)
            let a3 = V(repeating: ap[3]); c3a.addProduct(a3, b0); c3b.addProduct(a3, b1); c3c.addProduct(a3, b2)
            let a4 = V(repeating: ap[4]); c4a.addProduct(a4, b0); c4b.addProduct(a4, b1); c4c.addProduct(a4, b2)
            let a5 = V(repeating: ap[5]); c5a.addProduct(a5, b0); c5b.addProduct(a5, b1); c5c.addProduct(a5, b2)
            let a6 = V(repeating: ap[6]); c6a.addProduct(a6, b0); c6b.addProduct(a6, b1); c6c.addProduct(a6, b2)
            let a7 = V(repeating: ap[7]); c7a.addProduct(a7, b0); c7b.addProduct(a7, b1); c7c.addProduct(a7, b2)
            ap += 8
            lp += lastStride
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        store(&c0a, c + 0 * ldc, accumulate, i0, nil, clamp, low, high); store(&c0b, c + 0 * ldc + 16, accumulate, i0, nil, clamp, low, high); store(&c0c, c + 0 * ldc + 32, accumulate, i0, nil, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, nil, clamp, low, high); store(&c1b, c + 1 * ldc + 16, accumulate, i1, nil, clamp, low, high); store(&c1c, c + 1 * ldc + 32, accumulate, i1, nil, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, nil, clamp, low, high); store(&c2b, c + 2 * ldc + 16, accumulate, i2, nil, clamp, low, high); store(&c2c, c + 2 * ldc + 32, accumulate, i2, nil, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, nil, clamp, low, high); store(&c3b, c + 3 * ldc + 16, accumulate, i3, nil, clamp, low, high); store(&c3c, c + 3 * ldc + 32, accumulate, i3, nil, clamp, low, high)
        store(&c4a, c + 4 * ldc, accumulate, i4, nil, clamp, low, high); store(&c4b, c + 4 * ldc + 16, accumulate, i4, nil, clamp, low, high); store(&c4c, c + 4 * ldc + 32, accumulate, i4, nil, clamp, low, high)
        store(&c5a, c + 5 * ldc, accumulate, i5, nil, clamp, low, high); store(&c5b, c + 5 * ldc + 16, accumulate, i5, nil, clamp, low, high); store(&c5c, c + 5 * ldc + 32, accumulate, i5, nil, clamp, low, high)
        store(&c6a, c + 6 * ldc, accumulate, i6, nil, clamp, low, high); store(&c6b, c + 6 * ldc + 16, accumulate, i6, nil, clamp, low, high); store(&c6c, c + 6 * ldc + 32, accumulate, i6, nil, clamp, low, high)
        store(&c7a, c + 7 * ldc, accumulate, i7, nil, clamp, low, high); store(&c7b, c + 7 * ldc + 16, accumulate, i7, nil, clamp, low, high); store(&c7c, c + 7 * ldc + 32, accumulate, i7, nil, clamp, low, high)
        for r in 0..<8 {
            let out = c + r * ldc + lastColumn
            var v = column[r]
            if accumulate { v += out.pointee }
            if let bias { v += bias[r] }
            if let bounds {
                if v < bounds.low { v = bounds.low }
                if v > bounds.high { v = bounds.high }
            }
            out.pointee = v
        }
    }

    /// Rows 0–3 of an 8-row A panel over 48 columns: `tile8x48`'s sums for those rows (the same
    /// fused chain per output, then C, the bias and the clamp), for a panel with fewer than 8 rows.
    @inline(never)
    static func tile4x48(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?
    ) {
        typealias V = SIMD16<Float>
        let i0 = bias?[0]; var c0a = V(), c0b = V(), c0c = V()
        let i1 = bias?[1]; var c1a = V(), c1b = V(), c1c = V()
        let i2 = bias?[2]; var c2a = V(), c2b = V(), c2c = V()
        let i3 = bias?[3]; var c3a = V(), c3b = V(), c3c = V()
        var ap = a
        for k in 0..<depth {
            let bp = UnsafeRawPointer(b + rows[k])
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
            let b2 = bp.loadUnaligned(fromByteOffset: 128, as: V.self)
            let a0 = V(repeating: ap[0]); c0a.addProduct(a0, b0); c0b.addProduct(a0, b1); c0c.addProduct(a0, b2)
            let a1 = V(repeating: ap[1]); c1a.addProduct(a1, b0); c1b.addProduct(a1, b1); c1c.addProduct(a1, b2)
            let a2 = V(repeating: ap[2]); c2a.addProduct(a2, b0); c2b.addProduct(a2, b1); c2c.addProduct(a2, b2)
            let a3 = V(repeating: ap[3]); c3a.addProduct(a3, b0); c3b.addProduct(a3, b1); c3c.addProduct(a3, b2)
            ap += rowTile
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        store(&c0a, c + 0 * ldc, accumulate, i0, clamp, low, high); store(&c0b, c + 0 * ldc + 16, accumulate, i0, clamp, low, high); store(&c0c, c + 0 * ldc + 32, accumulate, i0, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, clamp, low, high); store(&c1b, c + 1 * ldc + 16, accumulate, i1, clamp, low, high); store(&c1c, c + 1 * ldc + 32, accumulate, i1, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, clamp, low, high); store(&c2b, c + 2 * ldc + 16, accumulate, i2, clamp, low, high); store(&c2c, c + 2 * ldc + 32, accumulate, i2, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, clamp, low, high); store(&c3b, c + 3 * ldc + 16, accumulate, i3, clamp, low, high); store(&c3c, c + 3 * ldc + 32, accumulate, i3, clamp, low, high)
    }

    /// Row 0 of an 8-row A panel over 48 columns, as `tile4x48` for one row: one fused chain per
    /// output, as in the tiles, so the bits are theirs.
    @inline(never)
    static func tile1x48(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?
    ) {
        typealias V = SIMD16<Float>
        let i0 = bias?[0]; var c0a = V(), c0b = V(), c0c = V()
        var ap = a
        for k in 0..<depth {
            let bp = UnsafeRawPointer(b + rows[k])
            let a0 = V(repeating: ap[0])
            c0a.addProduct(a0, bp.loadUnaligned(fromByteOffset: 0, as: V.self))
            c0b.addProduct(a0, bp.loadUnaligned(fromByteOffset: 64, as: V.self))
            c0c.addProduct(a0, bp.loadUnaligned(fromByteOffset: 128, as: V.self))
            ap += rowTile
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        store(&c0a, c, accumulate, i0, clamp, low, high); store(&c0b, c + 16, accumulate, i0, clamp, low, high); store(&c0c, c + 32, accumulate, i0, clamp, low, high)
    }

    /// The 8×32 register tile: `C[0..<8, 0..<32] (+)= A·B` over `depth` steps; step k reads
    /// 8 values of the packed A slice and B's 32 floats at `b + rows[k]`; `bias`, given with the last
    /// depth block, is added to each row after the sum, and `bounds`, when given, clamp the stored results.
    @inline(never)
    static func tile8x32(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?
    ) {
        typealias V = SIMD16<Float>
        let i0 = bias?[0]; var c0a = V(), c0b = V()
        let i1 = bias?[1]; var c1a = V(), c1b = V()
        let i2 = bias?[2]; var c2a = V(), c2b = V()
        let i3 = bias?[3]; var c3a = V(), c3b = V()
        let i4 = bias?[4]; var c4a = V(), c4b = V()
        let i5 = bias?[5]; var c5a = V(), c5b = V()
        let i6 = bias?[6]; var c6a = V(), c6b = V()
        let i7 = bias?[7]; var c7a = V(), c7b = V()
        var ap = a
        for k in 0..<depth {
            let bp = UnsafeRawPointer(b + rows[k])
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
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
        store(&c0a, c + 0 * ldc, accumulate, i0, clamp, low, high); store(&c0b, c + 0 * ldc + 16, accumulate, i0, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, clamp, low, high); store(&c1b, c + 1 * ldc + 16, accumulate, i1, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, clamp, low, high); store(&c2b, c + 2 * ldc + 16, accumulate, i2, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, clamp, low, high); store(&c3b, c + 3 * ldc + 16, accumulate, i3, clamp, low, high)
        store(&c4a, c + 4 * ldc, accumulate, i4, clamp, low, high); store(&c4b, c + 4 * ldc + 16, accumulate, i4, clamp, low, high)
        store(&c5a, c + 5 * ldc, accumulate, i5, clamp, low, high); store(&c5b, c + 5 * ldc + 16, accumulate, i5, clamp, low, high)
        store(&c6a, c + 6 * ldc, accumulate, i6, clamp, low, high); store(&c6b, c + 6 * ldc + 16, accumulate, i6, clamp, low, high)
        store(&c7a, c + 7 * ldc, accumulate, i7, clamp, low, high); store(&c7b, c + 7 * ldc + 16, accumulate, i7, clamp, low, high)
    }

    /// The 8×16 register tile: `C[0..<8, 0..<16] (+)= A·B` over `depth` steps; step k reads
    /// 8 values of the packed A slice and B's 16 floats at `b + rows[k]`; `bias`, given with the last
    /// depth block, is added to each row after the sum, and `bounds`, when given, clamp the stored results.
    @inline(never)
    static func tile8x16(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, accumulate: Bool, bounds: Bounds?
    ) {
        typealias V = SIMD16<Float>
        let i0 = bias?[0]; var c0a = V()
        let i1 = bias?[1]; var c1a = V()
        let i2 = bias?[2]; var c2a = V()
        let i3 = bias?[3]; var c3a = V()
        let i4 = bias?[4]; var c4a = V()
        let i5 = bias?[5]; var c5a = V()
        let i6 = bias?[6]; var c6a = V()
        let i7 = bias?[7]; var c7a = V()
        var ap = a
        for k in 0..<depth {
            let bp = UnsafeRawPointer(b + rows[k])
            let b0 = bp.loadUnaligned(fromByteOffset: 0, as: V.self)
            let a0 = V(repeating: ap[0]); c0a.addProduct(a0, b0)
            let a1 = V(repeating: ap[1]); c1a.addProduct(a1, b0)
            let a2 = V(repeating: ap[2]); c2a.addProduct(a2, b0)
            let a3 = V(repeating: ap[3]); c3a.addProduct(a3, b0)
            let a4 = V(repeating: ap[4]); c4a.addProduct(a4, b0)
            let a5 = V(repeating: ap[5]); c5a.addProduct(a5, b0)
            let a6 = V(repeating: ap[6]); c6a.addProduct(a6, b0)
            let a7 = V(repeating: ap[7]); c7a.addProduct(a7, b0)
            ap += 8
        }
        let clamp = bounds != nil, low = V(repeating: bounds?.low ?? 0), high = V(repeating: bounds?.high ?? 0)
        store(&c0a, c + 0 * ldc, accumulate, i0, clamp, low, high)
        store(&c1a, c + 1 * ldc, accumulate, i1, clamp, low, high)
        store(&c2a, c + 2 * ldc, accumulate, i2, clamp, low, high)
        store(&c3a, c + 3 * ldc, accumulate, i3, clamp, low, high)
        store(&c4a, c + 4 * ldc, accumulate, i4, clamp, low, high)
        store(&c5a, c + 5 * ldc, accumulate, i5, clamp, low, high)
        store(&c6a, c + 6 * ldc, accumulate, i6, clamp, low, high)
        store(&c7a, c + 7 * ldc, accumulate, i7, clamp, low, high)
    }
}

/// A matrix packed once for `PackedGEMM` (the A operand): rows in zero-padded panels of
/// `PackedGEMM.rowTile`, each panel stored depth-major (`panel[k][row]`), so that the kernel reads
/// it front to back.
///
/// For the `.blas` kernel the matrix is kept row-major instead, as `sgemm` reads it.
public final class PackedMatrix: @unchecked Sendable {
    public let rows: Int
    public let depth: Int
    /// The kernel the layout is for; `PackedGEMM.multiply` runs that kernel.
    public let kernel: PackedGEMM.Kernel
    let storage: TensorStorage

    /// Packs the row-major `[rows, depth]` matrix at `a` with row stride `rowStride` for `kernel`.
    public convenience init(_ a: UnsafePointer<Float>, rows: Int, depth: Int, rowStride: Int, kernel: PackedGEMM.Kernel = PackedGEMM.selected) {
        self.init(a, rows: rows, depth: depth, rowStride: rowStride, kernel: kernel, scratch: nil)
    }

    /// Bytes the packed form of a `[rows, depth]` matrix takes for `kernel`.
    static func byteCount(rows: Int, depth: Int, kernel: PackedGEMM.Kernel) -> Int {
        let mr = PackedGEMM.rowTile
        return (kernel.isTiles ? (rows + mr - 1) / mr * mr : rows) * depth * MemoryLayout<Float>.stride
    }

    /// Packs into `scratch`'s slot 3 when given (a matrix packed on every run, such as a
    /// MatMul's activations), else into storage of its own.
    /// - threads: row panels packed in parallel (each panel is one thread's; the layout does not
    ///   depend on the split).
    init(_ a: UnsafePointer<Float>, rows: Int, depth: Int, rowStride: Int, kernel: PackedGEMM.Kernel, scratch: Scratch?, threads: Int = 1) {
        let mr = PackedGEMM.rowTile
        let panels = (rows + mr - 1) / mr
        self.rows = rows
        self.depth = depth
        self.kernel = kernel
        let bytes = Self.byteCount(rows: rows, depth: depth, kernel: kernel)
        storage = scratch?.storage(bytes, slot: 3) ?? TensorStorage(byteCount: bytes)
        let p: UnsafeMutablePointer<Float>
        switch kernel {
        case .tiles16, .tiles8, .tiles4:
            p = storage.base.assumingMemoryBound(to: Float.self)
            let box = UncheckedBox((p, a))
            Parallel.forEachChunk(panels, threads: rows * depth < 1 << 16 ? 1 : threads) { range in
                let (p, a) = box.value
                for panel in range {
                    // Whole panels eight depth steps at a time: eight rows' vectors turned in registers.
                    var k0 = 0
                    let src = a + panel * mr * rowStride, dst = p + panel * mr * depth, count = min(mr, rows - panel * mr)
                    while k0 + 8 <= depth {
                        Self.transposed8(src + k0, rowStride: rowStride, rows: count, into: dst + k0 * mr)
                        k0 += 8
                    }
                    for r in (panel * mr)..<(panel * mr + mr) {
                        let dst = p + panel * mr * depth + r % mr
                        if r < rows {
                            let src = a + r * rowStride
                            for k in k0..<depth { dst[k * mr] = src[k] }
                        } else {
                            // The last panel's padding rows are zero (reused scratch holds earlier values).
                            for k in k0..<depth { dst[k * mr] = 0 }
                        }
                    }
                }
            }
        case .blas:
            p = storage.base.assumingMemoryBound(to: Float.self)
            for r in 0..<rows { (p + r * depth).update(from: a + r * rowStride, count: depth) }
        }
    }

    /// Eight floats of eight rows (`rowStride` apart; rows from `rows` on read as zeros), written
    /// depth-major: `dst[k·8 + r] = src[r·rowStride + k]` for k, r < 8. Three rounds of unzipping pairs of rows: row k of a
    /// round takes the even lanes of rows 2k and 2k + 1, row 4 + k their odd lanes; read as one
    /// 64-element sequence indexed `8·row + lane`, a round rotates the index right by one bit, so
    /// three rounds swap row and lane.
    @inline(__always)
    static func transposed8(_ src: UnsafePointer<Float>, rowStride: Int, rows: Int, into dst: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        @inline(__always) func row(_ r: Int) -> V { r < rows ? UnsafeRawPointer(src + r * rowStride).loadUnaligned(as: V.self) : V() }
        @inline(__always) func evens(_ a: V, _ b: V) -> V { V(a[0], a[2], a[4], a[6], b[0], b[2], b[4], b[6]) }
        @inline(__always) func odds(_ a: V, _ b: V) -> V { V(a[1], a[3], a[5], a[7], b[1], b[3], b[5], b[7]) }
        var (v0, v1, v2, v3, v4, v5, v6, v7) = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
        for _ in 0..<3 {
            (v0, v1, v2, v3, v4, v5, v6, v7) = (evens(v0, v1), evens(v2, v3), evens(v4, v5), evens(v6, v7),
                                                odds(v0, v1), odds(v2, v3), odds(v4, v5), odds(v6, v7))
        }
        let out = UnsafeMutableRawPointer(dst)
        out.storeBytes(of: v0, toByteOffset: 0, as: V.self); out.storeBytes(of: v1, toByteOffset: 32, as: V.self)
        out.storeBytes(of: v2, toByteOffset: 64, as: V.self); out.storeBytes(of: v3, toByteOffset: 96, as: V.self)
        out.storeBytes(of: v4, toByteOffset: 128, as: V.self); out.storeBytes(of: v5, toByteOffset: 160, as: V.self)
        out.storeBytes(of: v6, toByteOffset: 192, as: V.self); out.storeBytes(of: v7, toByteOffset: 224, as: V.self)
    }

    /// This matrix, a convolution's weights with `all` taps per input channel (depth `c·all +
    /// tap`), without the taps not in `taps` (ascending): the weights of a region of the output
    /// over which the other taps read only padding (`Conv2D.TapRegions`). Packed on first use and
    /// kept with this matrix, since the regions are the same on every run: DeepLabV3's ASPP
    /// (960→256 3×3 at dilations 12 and 24 on a 33×33 map, eight regions each) had repacked 3.9
    /// to 5.9 MB of weights per region per run, 4–6 ms of its two layers' 49–51 (one thread);
    /// kept, they hold 40/9 and 25/9 times those layers' weights more (64 MB). What would take the
    /// kept selections past six times this matrix's size (large kernels, many regions) is packed
    /// into `scratch` on every call instead.
    func keeping(taps: [Int], of all: Int, threads: Int, scratch: Scratch) -> PackedMatrix {
        let depthRows = { (0..<(self.depth / all)).flatMap { c in taps.map { c * all + $0 } } }
        let bytes = Self.byteCount(rows: rows, depth: depth / all * taps.count, kernel: kernel)
        selectionLock.lock()
        defer { selectionLock.unlock() }
        if let kept = selections[taps] { return kept }
        guard keptBytes + bytes <= 6 * storage.byteCount else {
            return PackedMatrix(self, depthRows: depthRows(), storage: scratch.storage(bytes, slot: 4), threads: threads)
        }
        let kept = PackedMatrix(self, depthRows: depthRows(), storage: TensorStorage(byteCount: bytes), threads: threads)
        selections[taps] = kept
        keptBytes += bytes
        return kept
    }

    /// The selections of `keeping(taps:of:threads:scratch:)`, by their taps, and their bytes.
    private var selections: [[Int]: PackedMatrix] = [:]
    private var keptBytes = 0
    private let selectionLock = NSLock()

    /// The columns `depthRows` of `a` (of its depth; ascending) packed for `a.kernel` into `storage`.
    private init(_ a: PackedMatrix, depthRows: [Int], storage: TensorStorage, threads: Int) {
        let mr = PackedGEMM.rowTile
        rows = a.rows
        depth = depthRows.count
        kernel = a.kernel
        self.storage = storage
        let box = UncheckedBox((storage.base.assumingMemoryBound(to: Float.self), UnsafePointer(a.storage.base.assumingMemoryBound(to: Float.self))))
        let (rows, depth, from) = (rows, depth, a.depth)
        if kernel.isTiles {
            // Panel by panel, eight rows (one 32-byte step of the panel) per kept column.
            let panels = (rows + mr - 1) / mr
            Parallel.forEachChunk(panels, threads: panels * depth < 1 << 14 ? 1 : threads) { range in
                let (p, a) = box.value
                for i in range {
                    let src = a + i * mr * from, dst = p + i * mr * depth
                    for (l, k) in depthRows.enumerated() {
                        UnsafeMutableRawPointer(dst + l * mr).storeBytes(of: UnsafeRawPointer(src + k * mr).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                    }
                }
            }
        } else {
            let (p, a) = box.value
            for r in 0..<rows {
                for (l, k) in depthRows.enumerated() { p[r * depth + l] = a[r * from + k] }
            }
        }
    }

    /// The row-major matrix (`.blas` layout).
    var rowMajor: UnsafePointer<Float> { UnsafePointer(storage.base.assumingMemoryBound(to: Float.self)) }

    /// Bytes held.
    public var byteCount: Int { storage.byteCount }

    @inline(__always) func panel(_ i: Int) -> UnsafePointer<Float> {
        UnsafePointer(storage.base.assumingMemoryBound(to: Float.self)) + i * PackedGEMM.rowTile * depth
    }
}

/// Where the columns of a product go when B is a convolution's extended grid (`Conv2D`'s shifted
/// image): column q is pixel `(q / gridWidth, q % gridWidth)`, a real output when that x is below
/// `width`, stored at `y·width + x` of its output row; the other columns are dropped.
public struct GridColumns: Sendable {
    public let gridWidth: Int, width: Int

    public init(gridWidth: Int, width: Int) {
        self.gridWidth = gridWidth
        self.width = width
    }

    /// Calls `body(pixel, column, count)` for each run of real outputs among `columns`: `count`
    /// of them, the first at `pixel` of the output row and at `column` counted from
    /// `columns.lowerBound`.
    @inline(__always)
    func forEachRun(_ columns: Range<Int>, _ body: (_ pixel: Int, _ column: Int, _ count: Int) -> Void) {
        var q = columns.lowerBound
        var y = q / gridWidth, rowStart = y * gridWidth
        while q < columns.upperBound {
            let end = min(columns.upperBound, rowStart + width)
            if end > q { body(y * width + (q - rowStart), q - columns.lowerBound, end - q) }
            y += 1
            rowStart += gridWidth
            q = rowStart
        }
    }

    /// The pixels from the first real output among `columns` to the last (the rows' other pixels
    /// between them included).
    @inline(__always)
    func pixels(of columns: Range<Int>) -> Range<Int> {
        func pixel(_ q: Int) -> Int {
            let y = q / gridWidth
            return y * width + min(q - y * gridWidth, width)
        }
        let lo = pixel(columns.lowerBound)
        return lo..<max(lo, pixel(columns.upperBound))
    }

    /// The pixel of the first of `columns` when all of them are real outputs of one output row
    /// (no column past the row's end), else nil.
    @inline(__always)
    func pixel(ofRun columns: Range<Int>) -> Int? {
        let y = columns.lowerBound / gridWidth, x = columns.lowerBound - y * gridWidth
        return x + columns.count <= width ? y * width + x : nil
    }

    /// A tile's real outputs to their pixels: `rows` rows of sums `ld` apart (`sums[0]` is column
    /// `columns.lowerBound`) to the planes `ldc` apart at `c`, each run given the residual and
    /// activation on the way (`PackedGEMM.finish(_:from:_:count:_:)`: one pass with ReLU or Clip),
    /// or without a residual the activation first when `activate` (the tile has not clamped). The
    /// runs are the same for every row: found once (a division each), then copied row by row.
    @inline(__always)
    func scatterTile(
        _ sums: UnsafeMutablePointer<Float>, ld: Int, rows: Int, columns: Range<Int>, to c: UnsafeMutablePointer<Float>, ldc: Int,
        residual: UnsafePointer<Float>?, activation: Activation?, activate: Bool
    ) {
        forEachRun(columns) { pixel, column, count in
            for r in 0..<rows {
                let out = c + r * ldc + pixel, src = sums + r * ld + column
                if residual == nil, activate, let activation { activation.apply(src, count: count) }
                if let residual {
                    PackedGEMM.finish(out, from: src, residual + r * ldc + pixel, count: count, activation)
                } else {
                    PackedGEMM.copy(out, src, count)
                }
            }
        }
    }

    /// Copies the real outputs among `columns` of one row of the product (`src[0]` is column
    /// `columns.lowerBound`) to their pixels in `dst`.
    @inline(__always)
    func scatter(_ src: UnsafePointer<Float>, columns: Range<Int>, to dst: UnsafeMutablePointer<Float>) {
        forEachRun(columns) { pixel, column, count in PackedGEMM.copy(dst + pixel, src + column, count) }
    }
}

/// The B operand of `PackedGEMM.multiply`, read in place: row r's columns are contiguous floats
/// starting at `base + offset(r)`.
public struct PanelSource {
    public let base: UnsafePointer<Float>
    public let columns: Int
    let offsets: UnsafePointer<Int>?
    let rowStride: Int
    /// Whether every row may be read up to a whole tile past its last column (the extra values
    /// land in columns that are dropped); otherwise a narrow last panel is copied out first.
    let readableTail: Bool
    /// Whether B is copied into panels block by block instead of read in place: for row strides
    /// that are multiples of 2 KB, whose rows would all fall in a few cache sets (a 1024-wide
    /// matrix read in place ran at half speed).
    var packed: Bool { offsets == nil && (rowStride * MemoryLayout<Float>.stride) % 2048 == 0 }

    init(base: UnsafePointer<Float>, columns: Int, offsets: UnsafePointer<Int>?, rowStride: Int, readableTail: Bool) {
        self.base = base
        self.columns = columns
        self.offsets = offsets
        self.rowStride = rowStride
        self.readableTail = readableTail
    }

    /// A row-major matrix with the given row stride.
    public static func matrix(_ base: UnsafePointer<Float>, columns: Int, rowStride: Int) -> PanelSource {
        PanelSource(base: base, columns: columns, offsets: nil, rowStride: rowStride, readableTail: false)
    }

    /// Copies row `r`'s columns to `dst`.
    func copyRow(_ r: Int, to dst: UnsafeMutablePointer<Float>) {
        PackedGEMM.copy(dst, base + (offsets?[r] ?? r * rowStride), columns)
    }

    /// Rows at arbitrary offsets from `base`, each readable `PackedGEMM.columnTile` floats past
    /// `columns` (a convolution's shifted image, whose buffer ends in slack).
    public static func rows(_ base: UnsafePointer<Float>, offsets: UnsafePointer<Int>, columns: Int) -> PanelSource {
        PanelSource(base: base, columns: columns, offsets: offsets, rowStride: 0, readableTail: true)
    }

    @inline(__always) func rowOffsets(from row0: Int, count: Int, into table: UnsafeMutablePointer<Int>) {
        if let offsets {
            table.update(from: offsets + row0, count: count)
        } else {
            for r in 0..<count { table[r] = (row0 + r) * rowStride }
        }
    }
}
