import Foundation

/// The most memory that sizes read from a file may ask for, checked before anything is allocated:
/// a tensor's declared shape, the sum of a plan's intermediate tensors, an `.npz` member's inflated
/// size, a seeded input. A 200-byte model asking for a 16 GB tensor is refused with a clear error
/// instead of being allocated.
///
/// The limit is, in order: what `set(_:)` was given (the command line's `--max-memory`), the
/// `TOUCHSTONE_MAX_MEMORY` environment variable, or half the machine's physical memory.
/// Sizes take a suffix: `K`, `M`, `G`, `T` (powers of 1024; `KiB`, `MiB`, … and `KB`, `MB`, …
/// as powers of 1000).
public enum MemoryBudget {
    public static let environmentVariable = "TOUCHSTONE_MAX_MEMORY"

    /// Half the physical memory: room for the process's other needs and the rest of the machine.
    public static var defaultBytes: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory / 2) }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var explicit: Int?
    nonisolated(unsafe) private static var fromEnvironment: Result<Int?, MemoryBudgetError>?

    /// The budget in bytes. An unparsable `TOUCHSTONE_MAX_MEMORY` makes `validate()` throw; here it
    /// counts as the default.
    public static var bytes: Int {
        lock.lock()
        defer { lock.unlock() }
        if let explicit { return explicit }
        if case .success(let v?) = environmentValue() { return v }
        return defaultBytes
    }

    /// Where the budget came from, for messages.
    public static var source: String {
        lock.lock()
        defer { lock.unlock() }
        if explicit != nil { return "--max-memory" }
        if case .success(_?) = environmentValue() { return environmentVariable }
        return "half the physical memory; raise it with --max-memory or \(environmentVariable)"
    }

    /// Sets the budget (the command line's `--max-memory`).
    public static func set(_ bytes: Int) {
        lock.lock()
        explicit = bytes
        lock.unlock()
    }

    /// Throws when `TOUCHSTONE_MAX_MEMORY` is set but not a size.
    public static func validate() throws {
        lock.lock()
        defer { lock.unlock() }
        if case .failure(let e) = environmentValue() { throw e }
    }

    private static func environmentValue() -> Result<Int?, MemoryBudgetError> {
        if let fromEnvironment { return fromEnvironment }
        let r: Result<Int?, MemoryBudgetError>
        if let text = ProcessInfo.processInfo.environment[environmentVariable] {
            if let v = parse(text) { r = .success(v) } else {
                r = .failure(MemoryBudgetError("\(environmentVariable)='\(text)' is not a size (e.g. 4G, 512M, 1500000000)"))
            }
        } else {
            r = .success(nil)
        }
        fromEnvironment = r
        return r
    }

    /// Parses `4G`, `512MiB`, `1.5GB`, `1000000`: a positive size in bytes, at most 2^62.
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024), ("TiB", 1024 * 1024 * 1024 * 1024),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12),
            ("K", 1024), ("M", 1024 * 1024), ("G", 1024 * 1024 * 1024), ("T", 1024 * 1024 * 1024 * 1024), ("B", 1),
        ]
        var number = Substring(t), scale = 1.0
        for (suffix, s) in units where t.uppercased().hasSuffix(suffix.uppercased()) {
            number = t.dropLast(suffix.count)
            scale = s
            break
        }
        guard let v = Double(number.trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0 else { return nil }
        let bytes = v * scale
        guard bytes >= 1, bytes <= Double(1 << 62) else { return nil }
        return Int(bytes)
    }

    /// `n` bytes for messages: "16 GiB", "512 MiB", "300 bytes".
    public static func describe(_ n: Int) -> String {
        let units = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (name, size) in units where n >= size {
            let v = Double(n) / Double(size)
            return v >= 100 || v == v.rounded() ? "\(Int(v.rounded())) \(name)" : String(format: "%.1f %@", v, name)
        }
        return "\(n) bytes"
    }

    /// The bytes of `count` elements of `dtype`, or nil on overflow.
    public static func bytes(count: Int, dtype: DType) -> Int? {
        let (b, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        return overflow || count < 0 ? nil : b
    }

    /// `a + b`, saturating at Int.max (sizes that are summed before a check must not wrap).
    public static func sum(_ a: Int, _ b: Int) -> Int {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : s
    }

    /// Throws unless `bytes` (nil: an overflowing size) fits the budget; `what` says what asked.
    public static func check(_ bytes: Int?, _ what: @autoclosure () -> String) throws {
        let limit = self.bytes
        guard let bytes, bytes <= limit else {
            let size = bytes.map { describe($0) } ?? "more than 2^63 bytes"
            throw MemoryBudgetError("\(what()) needs \(size), over the memory budget of \(describe(limit)) (\(source))")
        }
    }
}

/// A size over the memory budget, or an unusable budget.
public struct MemoryBudgetError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
