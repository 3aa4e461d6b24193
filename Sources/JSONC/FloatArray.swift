import Foundation

/// Float32 values decoded from a file, in memory of their own that a tensor can adopt without a
/// copy (`TensorStorage(adopting:)`): 64-byte-aligned heap memory for small arrays, a page-aligned
/// anonymous mapping for large ones. Immutable once made.
public final class FloatArray: @unchecked Sendable, RandomAccessCollection, Equatable, CustomStringConvertible {
    public let count: Int
    /// The first value; 64-byte aligned, valid for `count` values (and at least 64 bytes).
    public let base: UnsafeMutableRawPointer
    /// The bytes mapped at `base`, or 0 when `base` is heap memory.
    let mappedBytes: Int

    init(base: UnsafeMutableRawPointer, count: Int, mappedBytes: Int) {
        self.base = base
        self.count = count
        self.mappedBytes = mappedBytes
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        let base = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(64, values.count * 4), alignment: 64)
        values.withUnsafeBytes { base.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(base), byteCount: $0.count) }
        self.init(base: base, count: values.count, mappedBytes: 0)
    }

    deinit {
        if mappedBytes > 0 { munmap(base, mappedBytes) } else { base.deallocate() }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(i: Int) -> Float {
        precondition(i >= 0 && i < count, "index \(i) outside \(count) floats")
        return base.load(fromByteOffset: 4 * i, as: Float.self)
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: count))
    }

    /// The values as a Swift array (a copy).
    public var array: [Float] { withUnsafeBufferPointer { Array($0) } }

    /// Equal values, as `[Float]`'s `==` compares them.
    public static func == (a: FloatArray, b: FloatArray) -> Bool {
        a === b || a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.elementsEqual(y) } }
    }

    public var description: String { "FloatArray(\(count) values)" }
}

/// Bytes appended at the end of a growing buffer that becomes a `FloatArray`. Small buffers grow
/// on the heap; past `heapLimit` the bytes move once into an anonymous mapping of the size the
/// caller expects at most (`reserve(expected:)`: the text left to read bounds it), which is
/// then filled in place and cut to its pages at the end, so that a 400 MB weight is neither copied
/// while it grows nor held twice. (Advising the mapping into 2 MB pages made VGG16's loading 2.4×
/// slower on a virtual machine: the kernel zeroed fresh huge pages the host had to fault in.)
struct FloatArrayBuilder: ~Copyable {
    static let heapLimit = 1 << 18
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes written.
    var used = 0
    private var mappedBytes = 0

    init() {
        capacity = 256
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        if mappedBytes > 0 { munmap(base, mappedBytes) } else { base.deallocate() }
    }

    static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// Makes room for `bytes` more bytes; `expected` is how many bytes in all the array may
    /// reach (a hint). Throws when memory cannot be had.
    mutating func reserve(_ bytes: Int, expected: Int) throws {
        let (needed, overflow) = used.addingReportingOverflow(bytes)
        guard !overflow else { throw BuilderError.tooLarge }
        guard needed > capacity else { return }
        let target = max(needed, min(capacity.multipliedReportingOverflow(by: 2).partialValue, Int.max / 2))
        if mappedBytes == 0 && target <= Self.heapLimit {
            let grown = UnsafeMutableRawPointer.allocate(byteCount: target, alignment: 64)
            grown.copyMemory(from: base, byteCount: used)
            base.deallocate()
            base = grown
            capacity = target
            return
        }
        let page = Self.pageSize
        guard max(target, expected) <= Int.max - page else { throw BuilderError.tooLarge }
        // The whole expected size first (address space only); where that much cannot be mapped
        // (an address-space limit), just what is needed now, grown again later.
        var mapped: (UnsafeMutableRawPointer, Int)?
        for wanted in Set([max(target, expected), target]).sorted(by: >) {
            let size = (wanted + page - 1) / page * page
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            if let p, p != MAP_FAILED {
                mapped = (p, size)
                break
            }
        }
        guard let (p, size) = mapped else { throw BuilderError.noMemory(target) }
        p.copyMemory(from: base, byteCount: used)
        if mappedBytes > 0 { munmap(base, mappedBytes) } else { base.deallocate() }
        base = p
        capacity = size
        mappedBytes = size
    }

    /// The bytes written, as floats (`used` must be a multiple of 4): small arrays copied to
    /// their exact size, a mapping cut to the pages it uses.
    consuming func finish() -> FloatArray {
        let count = used / 4
        let array: FloatArray
        if mappedBytes == 0 {
            let exact = UnsafeMutableRawPointer.allocate(byteCount: max(64, used), alignment: 64)
            exact.copyMemory(from: base, byteCount: used)
            base.deallocate()
            array = FloatArray(base: exact, count: count, mappedBytes: 0)
        } else {
            let page = Self.pageSize
            let kept = max(page, (used + page - 1) / page * page)
            if kept < mappedBytes { munmap(base + kept, mappedBytes - kept) }
            array = FloatArray(base: base, count: count, mappedBytes: kept)
        }
        discard self
        return array
    }

    enum BuilderError: Error {
        case tooLarge
        case noMemory(Int)
    }
}
