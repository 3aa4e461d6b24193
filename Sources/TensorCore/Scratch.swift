/// Reusable scratch memory for kernels (im2col columns, packed tiles).
///
/// One per session: it grows to the largest request and is then reused, so steady-state runs
/// allocate nothing. Not thread-safe; a session runs one inference at a time.
public final class Scratch: @unchecked Sendable {
    private var storage = TensorStorage(byteCount: 0)

    public init() {}

    /// Bytes currently reserved.
    public var byteCount: Int { storage.byteCount }

    /// A buffer of at least `count` floats, valid until the next call.
    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = count * MemoryLayout<Float>.stride
        if storage.byteCount < bytes { storage = TensorStorage(byteCount: bytes) }
        return storage.base.assumingMemoryBound(to: Float.self)
    }
}
