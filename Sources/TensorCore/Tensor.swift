import Foundation

/// One 64-byte-aligned allocation that tensors view.
///
/// Storage is a reference type on purpose: the session's arena hands the same buffer to
/// successive tensors whose lifetimes do not overlap. A tensor returned to a caller owns its
/// storage alone and is never written again by the runtime.
public final class TensorStorage: @unchecked Sendable {
    /// Capacity in bytes.
    public let byteCount: Int
    @usableFromInline let base: UnsafeMutableRawPointer
    /// The storage this one is a window of (kept alive by it), or nil when it owns its bytes.
    private let owner: TensorStorage?

    /// Allocates `byteCount` zeroed bytes.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 64))
        owner = nil
    }

    /// A copy of `byteCount` bytes at `source` (no zeroing first: every byte is written).
    init(copying source: UnsafeRawPointer, byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
        base.copyMemory(from: source, byteCount: byteCount)
        if byteCount < 64 { (base + byteCount).initializeMemory(as: UInt8.self, repeating: 0, count: 64 - byteCount) }
        owner = nil
    }

    /// A window of `byteCount` bytes of `owner`, starting `byteOffset` (a multiple of 64) bytes in.
    public init(window owner: TensorStorage, byteOffset: Int, byteCount: Int) {
        precondition(byteOffset >= 0 && byteOffset % 64 == 0 && byteOffset + byteCount <= owner.byteCount, "window outside its storage")
        self.byteCount = byteCount
        base = owner.base + byteOffset
        self.owner = owner
    }

    deinit { if owner == nil { base.deallocate() } }
}

/// A dense, row-major (C order) tensor: a shape, a dtype and a view of storage.
///
/// Shapes are outermost first; images are `[N, C, H, W]`.
public struct Tensor: Sendable, CustomStringConvertible {
    /// The dimensions, outermost first. A scalar has shape `[]`.
    public let shape: [Int]
    /// The element type.
    public let dtype: DType
    /// The underlying buffer; it may be larger than the tensor needs.
    public let storage: TensorStorage

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The number of bytes the elements occupy.
    public var byteCount: Int { count * dtype.byteSize }
    /// The rank (number of dimensions).
    public var rank: Int { shape.count }

    /// A zero-filled tensor.
    public init(zeros shape: [Int], dtype: DType = .float32) {
        self.shape = shape
        self.dtype = dtype
        storage = TensorStorage(byteCount: shape.reduce(1, *) * dtype.byteSize)
    }

    /// A view of existing storage, which must hold at least `shape.product × dtype.byteSize` bytes.
    public init(shape: [Int], dtype: DType, storage: TensorStorage) {
        precondition(shape.reduce(1, *) * dtype.byteSize <= storage.byteCount, "storage too small for view")
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
    }

    /// A tensor holding `scalars` in row-major order; `scalars.count` must equal the shape's product.
    public init<T: TensorScalar>(shape: [Int], scalars: [T]) {
        precondition(shape.reduce(1, *) == scalars.count, "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.init(zeros: shape, dtype: T.dtype)
        scalars.withUnsafeBytes { src in
            if let s = src.baseAddress { storage.base.copyMemory(from: s, byteCount: src.count) }
        }
    }

    /// A rank-0 tensor.
    public init<T: TensorScalar>(scalar: T) { self.init(shape: [], scalars: [scalar]) }

    /// A tensor whose elements are the given raw little-endian bytes.
    public init(shape: [Int], dtype: DType, bytes: UnsafeRawBufferPointer) {
        self.init(zeros: shape, dtype: dtype)
        let n = min(bytes.count, byteCount)
        if n > 0, let s = bytes.baseAddress { storage.base.copyMemory(from: s, byteCount: n) }
    }

    /// The same storage seen with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, dtype: dtype, storage: storage)
    }

    /// The elements, converted to `T` when the dtype differs.
    public func scalars<T: TensorScalar>(as type: T.Type = T.self) -> [T] {
        if dtype == T.dtype {
            return withUnsafeBufferPointer(as: T.self) { Array($0) }
        }
        return converted(to: T.dtype).scalars(as: T.self)
    }

    /// The elements as Double, whatever the dtype.
    public func doubles() -> [Double] { scalars(as: Double.self) }

    /// The elements as Int64 (floats rounded toward zero).
    public func int64s() -> [Int64] { scalars(as: Int64.self) }

    /// Calls `body` with the elements; `T` must match the dtype.
    public func withUnsafeBufferPointer<T: TensorScalar, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dtype == dtype || (T.self == UInt8.self && dtype == .bool), "tensor is \(dtype), not \(T.dtype)")
        let p = storage.base.assumingMemoryBound(to: T.self)
        return try body(UnsafeBufferPointer(start: p, count: count))
    }

    /// Calls `body` with the elements for writing; `T` must match the dtype.
    public func withUnsafeMutableBufferPointer<T: TensorScalar, R>(as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dtype == dtype || (T.self == UInt8.self && dtype == .bool), "tensor is \(dtype), not \(T.dtype)")
        let p = storage.base.assumingMemoryBound(to: T.self)
        return try body(UnsafeMutableBufferPointer(start: p, count: count))
    }

    /// Calls `body` with the raw bytes of the elements.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: byteCount))
    }

    /// Calls `body` with the raw bytes of the elements for writing.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage.base, count: byteCount))
    }

    /// Copies this tensor's elements into `other`, which must have the same dtype and count.
    public func copy(into other: Tensor) {
        precondition(other.dtype == dtype && other.count == count)
        if other.storage === storage { return }
        other.storage.base.copyMemory(from: storage.base, byteCount: byteCount)
    }

    /// A copy with its own storage.
    public func copied() -> Tensor {
        Tensor(shape: shape, dtype: dtype, storage: TensorStorage(copying: storage.base, byteCount: byteCount))
    }

    public var description: String {
        let shown = count <= 8 ? doubles().map { "\($0)" }.joined(separator: ", ") : "…"
        return "Tensor<\(dtype)>\(shape) [\(shown)]"
    }
}

extension Sequence where Element == Int {
    /// The product of the elements (1 for an empty sequence).
    @inlinable public var product: Int { reduce(1, *) }
}

/// Row-major strides of a shape, in elements.
@inlinable public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}
