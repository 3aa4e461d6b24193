/// B of `PackedGEMM` packed once, for a constant operand such as a linear layer's weight: the
/// columns in zero-padded panels of `PackedGEMM.columnTile`, each panel contiguous over the whole
/// depth (`panel[k][column]`), the panels one after another. `PackedGEMM.multiply` goes through
/// such a B one panel at a time, every depth block of it in turn, so B is read front to back.
///
/// Read in place, a `[K, N]` weight is met panel by panel, 192 bytes of each row at a time with
/// a stride of 4·N bytes: every row is on another page, and the hardware's prefetchers do not
/// follow. With one or a few row panels of A (a decoder step's 8 tokens), the product is then
/// bound by that stream: read in that order, GPT-2's 48 weights of one step (340 MB) came at
/// 9.5 GB/s on this project's machine, and front to back at 20 GB/s (30 in 2 MB pages, which
/// the packed storage asks for). onnxruntime's MLAS likewise packs a constant B when a session
/// is made.
///
/// The tiles read the same values in the same order either way, so a product gives the same bits
/// with B packed or in place. The packed copy is held beside the weight (the graph keeps the
/// weight for other formats and plans), so only products that gain from it use it
/// (`ConstantPanels` in Layers).
public final class PackedPanels: @unchecked Sendable {
    /// Rows of B (the product's depth).
    public let depth: Int
    /// Columns of B (the product's outputs per row).
    public let columns: Int
    let storage: TensorStorage

    /// Floats from one panel to the next.
    var panelStride: Int { depth * PackedGEMM.columnTile }

    /// Packs B = `b`, row-major `[depth, columns]`.
    public init(_ b: UnsafePointer<Float>, depth: Int, columns: Int) {
        let nr = PackedGEMM.columnTile
        let panels = (columns + nr - 1) / nr
        self.depth = depth
        self.columns = columns
        storage = TensorStorage(largeZeroed: panels * depth * nr * MemoryLayout<Float>.stride)  // zeroed: the padding stays 0
        let p = storage.base.assumingMemoryBound(to: Float.self)
        for j in 0..<panels {
            let panel = p + j * depth * nr, column0 = j * nr, width = min(nr, columns - column0)
            for k in 0..<depth { (panel + k * nr).update(from: b + k * columns + column0, count: width) }
        }
    }

    /// Packs the float32 matrix `weight` (B).
    public convenience init(_ weight: Tensor) {
        precondition(weight.dtype == .float32 && weight.rank == 2, "PackedPanels packs float32 matrices")
        self.init(UnsafePointer(weight.storage.base.assumingMemoryBound(to: Float.self)), depth: weight.shape[0], columns: weight.shape[1])
    }

    /// Bytes held.
    public var byteCount: Int { storage.byteCount }

    /// The panels as `PackedGEMM.multiply`'s B (valid while these panels are alive).
    public var source: PanelSource {
        PanelSource(base: UnsafePointer(storage.base.assumingMemoryBound(to: Float.self)), columns: columns, offsets: nil, rowStride: 0,
                    readableTail: true, panelStride: panelStride)
    }
}
