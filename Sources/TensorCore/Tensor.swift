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
    /// What owns the bytes (the storage this one is a window of, or memory adopted from a
    /// loader), kept alive by it; nil when this storage owns its bytes.
    private let owner: AnyObject?

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

    /// Bytes that `owner` holds and frees (a loader's decoded weights, adopted without a copy):
    /// `base` must be 64-byte aligned and stay valid for `byteCount` bytes while `owner` lives.
    public init(adopting base: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        precondition(Int(bitPattern: base) % 64 == 0, "adopted storage must be 64-byte aligned")
        self.byteCount = byteCount
        self.base = base
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
    /// Set when this value is not a tensor but an ONNX sequence or optional (`TensorContainer`);
    /// such a value has shape `[0]` and no elements of its own, and `dtype` is its tensors'. A
    /// string tensor holds its elements here too (with its own shape, and no raw bytes).
    public let container: TensorContainer?

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The number of bytes the elements occupy.
    public var byteCount: Int { count * dtype.byteSize }
    /// The rank (number of dimensions).
    public var rank: Int { shape.count }

    /// A zero-filled tensor (of empty strings for `.string`).
    public init(zeros shape: [Int], dtype: DType = .float32) {
        self.shape = shape
        self.dtype = dtype
        storage = TensorStorage(byteCount: shape.reduce(1, *) * dtype.byteSize)
        container = dtype == .string ? .strings(Array(repeating: "", count: shape.reduce(1, *))) : nil
    }

    /// A view of existing storage, which must hold at least `shape.product × dtype.byteSize` bytes.
    public init(shape: [Int], dtype: DType, storage: TensorStorage) {
        precondition(shape.reduce(1, *) * dtype.byteSize <= storage.byteCount, "storage too small for view")
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        container = nil
    }

    /// An ONNX sequence of tensors whose element type is `dtype` (every item must have it).
    public init(sequence items: [Tensor], dtype: DType) {
        shape = [0]
        self.dtype = dtype
        storage = TensorStorage(byteCount: 0)
        container = .sequence(items)
    }

    /// An ONNX optional: `value` (a tensor or a sequence), or none; `dtype` is its tensors'
    /// element type.
    public init(optional value: Tensor?, dtype: DType) {
        shape = [0]
        self.dtype = dtype
        storage = TensorStorage(byteCount: 0)
        container = .optional(value)
    }

    /// A string tensor of this shape (`strings.count` must be its element count).
    public init(strings: [String], shape: [Int]) {
        precondition(shape.reduce(1, *) == strings.count, "shape \(shape) needs \(shape.reduce(1, *)) strings, got \(strings.count)")
        self.shape = shape
        dtype = .string
        storage = TensorStorage(byteCount: 0)
        container = .strings(strings)
    }

    /// The elements of a string tensor, in row-major order; nil for any other value.
    public var strings: [String]? {
        if case .strings(let s)? = container { return s }
        return nil
    }

    /// This value with `transform` applied to each tensor it holds: itself when a tensor (or
    /// strings), a sequence's items, an optional's value; the element type follows the result's.
    public func mappingTensors(_ transform: (Tensor) -> Tensor) -> Tensor {
        switch container {
        case .sequence(let items)?:
            let mapped = items.map { $0.mappingTensors(transform) }
            return Tensor(sequence: mapped, dtype: mapped.first?.dtype ?? transform(Tensor(zeros: [0], dtype: dtype)).dtype)
        case .optional(let value)?:
            let mapped = value?.mappingTensors(transform)
            return Tensor(optional: mapped, dtype: mapped?.dtype ?? transform(Tensor(zeros: [0], dtype: dtype)).dtype)
        case .strings?, nil: return transform(self)
        }
    }

    /// The items of a sequence, or nil for any other value.
    public var sequenceItems: [Tensor]? {
        if case .sequence(let items)? = container { return items }
        return nil
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
        if let strings { return Tensor(strings: strings, shape: newShape) }
        guard container == nil else { return self }
        return Tensor(shape: newShape, dtype: dtype, storage: storage)
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
        switch container {
        case .sequence(let items)?: return Tensor(sequence: items.map { $0.copied() }, dtype: dtype)
        case .optional(let value)?: return Tensor(optional: value?.copied(), dtype: dtype)
        case .strings(let s)?: return Tensor(strings: s, shape: shape)
        case nil: return Tensor(shape: shape, dtype: dtype, storage: TensorStorage(copying: storage.base, byteCount: byteCount))
        }
    }

    /// `copied()`, written into a storage of `pool` that nothing else holds and that fits (at least
    /// the bytes needed, at most twice), when there is one; else into new storage. Outputs handed
    /// back run after run reuse the buffers their callers let go of, instead of new memory whose
    /// pages are faulted in on every run (a GPT-2 step's 25 outputs, 75 MB).
    public func copied(reusing pool: inout [TensorStorage]) -> Tensor {
        guard container == nil, byteCount > 0 else { return copied() }
        for i in pool.indices where pool[i].byteCount >= byteCount && pool[i].byteCount <= 2 * byteCount {
            guard isKnownUniquelyReferenced(&pool[i]) else { continue }
            let reused = pool[i]
            reused.base.copyMemory(from: storage.base, byteCount: byteCount)
            pool.remove(at: i)
            return Tensor(shape: shape, dtype: dtype, storage: reused)
        }
        return copied()
    }

    public var description: String {
        switch container {
        case .sequence(let items)?: return "Sequence<\(dtype)>(\(items.count) items)"
        case .optional(let value)?: return value.map { "Optional(\($0))" } ?? "Optional<\(dtype)>(none)"
        case .strings(let s)?: return "Tensor<string>\(shape) [" + (s.count <= 8 ? s.map { "\"\($0)\"" }.joined(separator: ", ") : "…") + "]"
        case nil: break
        }
        let shown = count <= 8 ? doubles().map { "\($0)" }.joined(separator: ", ") : "…"
        return "Tensor<\(dtype)>\(shape) [\(shown)]"
    }
}

/// What a value holds outside raw storage (`Tensor.container`): an ONNX sequence or optional, or
/// a string tensor's elements.
public indirect enum TensorContainer: Sendable {
    /// A sequence: tensors of one element type, each of its own shape.
    case sequence([Tensor])
    /// An optional: a tensor or a sequence, or none.
    case optional(Tensor?)
    /// A string tensor's elements in row-major order (its shape is the tensor's).
    case strings([String])
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
