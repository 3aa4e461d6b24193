/// Reusable scratch memory for kernels (im2col columns, packed tiles).
///
/// One per session: it grows to the largest request and is then reused, so steady-state runs
/// allocate nothing. Not thread-safe; a session runs one inference at a time.
public final class Scratch: @unchecked Sendable {
    private var storages = (0..<5).map { _ in TensorStorage(byteCount: 0) }

    public init() {}

    /// Bytes currently reserved.
    public var byteCount: Int { storages.reduce(0) { $0 + $1.byteCount } + workerScratch.reduce(0) { $0 + $1.byteCount } }

    private var workerScratch: [Scratch] = []

    /// A scratch of its own for each of `count` threads that work at once (each made on first
    /// use, on the caller's thread, and kept).
    func workers(_ count: Int) -> [Scratch] {
        while workerScratch.count < count { workerScratch.append(Scratch()) }
        return Array(workerScratch.prefix(count))
    }

    /// The storage of slot 0 to 4, at least `bytes` long, valid until the next call for that slot.
    func storage(_ bytes: Int, slot: Int) -> TensorStorage {
        if storages[slot].byteCount < bytes { storages[slot] = TensorStorage(byteCount: bytes) }
        return storages[slot]
    }

    /// A buffer of at least `count` floats in slot 0 to 4, valid until the next call for that slot.
    func floats(_ count: Int, slot: Int = 0) -> UnsafeMutablePointer<Float> {
        let bytes = count * MemoryLayout<Float>.stride
        if storages[slot].byteCount < bytes { storages[slot] = TensorStorage(byteCount: bytes) }
        return storages[slot].base.assumingMemoryBound(to: Float.self)
    }
}
