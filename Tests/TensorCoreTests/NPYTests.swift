import Foundation
import Testing
@testable import TensorCore

/// The repository root, found from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let npyFixtures = repoRoot.appendingPathComponent("ModelZoo/data/npy")

@Suite("numpy file formats")
struct NPYTests {
    /// Values numpy wrote next to the fixtures (values.json), as Doubles.
    static let expected: [String: (dtype: String, shape: [Int], values: [Double])] = {
        guard let data = try? Data(contentsOf: npyFixtures.appendingPathComponent("values.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else { return [:] }
        return json.mapValues { ($0["dtype"] as? String ?? "", $0["shape"] as? [Int] ?? [], $0["values"] as? [Double] ?? []) }
    }()

    @Test(arguments: ["f32", "f64", "f16", "i64", "i32", "i8", "u8", "u32", "u64", "bool", "scalar", "empty"])
    func readsWhatNumpyWrote(name: String) throws {
        let want = try #require(Self.expected[name], "values.json lacks \(name); run ModelZoo/scripts/make_npy_fixtures.py")
        let t = try NPY.read(contentsOf: npyFixtures.appendingPathComponent("\(name).npy"))
        #expect(t.dtype.description == want.dtype)
        #expect(t.shape == want.shape)
        if name == "i64" {
            // Beyond 2^53 Doubles are inexact; compare the integers.
            #expect(t.int64s() == [-(1 << 62), 0, 7, 1 << 40])
        } else if t.dtype == .float64 {
            // JSON text round-trips doubles only to within an ulp or so through Foundation's parser.
            for (a, b) in zip(t.doubles(), want.values) { #expect(abs(a - b) <= 1e-15 * abs(b)) }
        } else {
            // Narrower types: the value numpy printed, rounded back to the type, is exact.
            #expect(t.doubles() == Tensor(shape: [want.values.count], scalars: want.values).converted(to: t.dtype).doubles())
        }
    }

    @Test func roundTripsEveryDType() throws {
        for dtype in DType.allCases where dtype != .string {
            let t = Tensor.random(shape: [2, 3], dtype: dtype, seed: 5)
            let back = try NPY.decode(NPY.encode(t), path: "memory")
            if dtype == .bfloat16 || dtype.miniFloatFormat != nil {
                // numpy has no bfloat16 or FP8: written as float32, which holds every value exactly.
                #expect(back.dtype == .float32 && back.scalars(as: Float.self) == t.converted(to: .float32).scalars(as: Float.self))
                continue
            }
            if dtype.bitWidth < 8 {
                // numpy has no 4- or 2-bit integers: written as int8 or uint8, one value a byte.
                #expect(back.dtype == (dtype.isUnsigned ? .uint8 : .int8) && back.int64s() == t.int64s())
                continue
            }
            #expect(back.dtype == dtype && back.shape == [2, 3])
            #expect(back.withUnsafeBytes { Array($0) } == t.withUnsafeBytes { Array($0) })
        }
    }

    /// Strings as numpy's `<U` arrays: UTF-32, zero-padded to the longest (`<U3` here), read back;
    /// a code point beyond Unicode is an error, not a trap.
    @Test func stringsRoundTripAsUnicodeArrays() throws {
        let t = Tensor(strings: ["a", "", "d\u{e9}f", "\u{1F600}"], shape: [2, 2])
        let data = NPY.encode(t)
        #expect(String(decoding: data[10..<60], as: UTF8.self).contains("'descr': '<U3'"))
        let back = try NPY.decode(data, path: "memory")
        #expect(back.dtype == .string && back.shape == [2, 2] && back.strings == t.strings)
        var bad = [UInt8](data)
        bad[bad.count - 4 ..< bad.count] = [0, 0, 0x11, 0]  // 0x110000
        #expect(throws: TensorFileError.self) { _ = try NPY.decode(Data(bad), path: "memory") }
    }

    /// A tensor of rank 100,000 (a header over version 1.0's 65,535 bytes) is written as version
    /// 2.0, with its data 64-byte aligned, and reads back; it was a trap.
    @Test func veryHighRankUsesVersion2() throws {
        let t = Tensor(shape: [Int](repeating: 1, count: 100_000), scalars: [Float(3.5)])
        let data = NPY.encode(t)
        let bytes = [UInt8](data)
        #expect(bytes[6] == 2 && bytes[7] == 0)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        #expect((12 + headerLength) % 64 == 0 && bytes.count == 12 + headerLength + 4)
        let back = try NPY.decode(data, path: "memory")
        #expect(back.shape.count == 100_000 && back.scalars(as: Float.self) == [3.5])
    }

    /// ZIP64 records and offsets from the file near Int64.max, or negative, are refused with a
    /// typed error instead of overflowing into a trap.
    @Test func hostileZip64FieldsAreRefused() throws {
        let good = [UInt8](NPZ.encode(["a": Tensor(shape: [2], scalars: [Float(1), 2])]))
        let eocd = good.count - 22
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> (8 * UInt64($0))) & 0xFF) } }
        for z64: UInt64 in [UInt64(Int64.max), UInt64(Int64.max) - 1, UInt64.max, 1 << 40] {
            // A ZIP64 end-of-central-directory locator pointing far away, and an EOCD asking for it.
            var b = Array(good[..<eocd])
            b += le(0x0706_4B50, 4) + le(0, 4) + le(z64, 8) + le(1, 4)
            var record = Array(good[eocd...])
            record.replaceSubrange(10..<12, with: le(0xFFFF, 2))
            record.replaceSubrange(16..<20, with: le(0xFFFF_FFFF, 4))
            b += record
            #expect(throws: TensorFileError.self) { _ = try NPZ.decode(Data(b), path: "hostile.npz") }
        }
        // A central directory whose local-header offset is near 2^32.
        var b = good
        if let cd = (0..<(b.count - 4)).first(where: { b[$0] == 0x50 && b[$0 + 1] == 0x4B && b[$0 + 2] == 1 && b[$0 + 3] == 2 }) {
            b.replaceSubrange((cd + 42)..<(cd + 46), with: le(0xFFFF_FFF0, 4))
            #expect(throws: TensorFileError.self) { _ = try NPZ.decode(Data(b), path: "hostile.npz") }
        } else {
            Issue.record("no central directory in the encoded archive")
        }
    }

    /// Files that are not what their header says: bytes after the data, a fortran_order that is
    /// neither True nor False, two members of one name.
    @Test func filesThatContradictTheirHeaders() throws {
        let good = NPY.encode(Tensor(shape: [2], scalars: [Float(1), 2]))
        _ = try NPY.decode(good, path: "good.npy")
        #expect(throws: TensorFileError.self) { _ = try NPY.decode(good + Data([0, 0, 0, 0]), path: "trailing.npy") }
        let text = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "'fortran_order': False", with: "'fortran_order': Maybe")
        #expect(throws: TensorFileError.self) { _ = try NPY.decode(Data(text.utf8), path: "order.npy") }
        let archive = [UInt8](NPZ.encode(["a": Tensor(shape: [2], scalars: [Float(1), 2]), "b": Tensor(shape: [2], scalars: [Float(3), 4])]))
        // Rename member b.npy to a.npy (same length) in its local and central headers.
        var twice = archive
        for i in 0..<(twice.count - 5) where twice[i] == UInt8(ascii: "b") && twice[i + 1] == UInt8(ascii: ".") && twice[i + 2] == UInt8(ascii: "n") {
            twice[i] = UInt8(ascii: "a")
        }
        do {
            _ = try NPZ.decode(Data(twice), path: "twice.npz")
            Issue.record("an archive with two members named a.npy was read")
        } catch let e as TensorFileError {
            #expect(e.description.contains("two members"), "\(e)")
        }
    }

    @Test func memorySizesParse() {
        #expect(MemoryBudget.parse("4G") == 4 << 30)
        #expect(MemoryBudget.parse("512MiB") == 512 << 20)
        #expect(MemoryBudget.parse("1.5GB") == 1_500_000_000)
        #expect(MemoryBudget.parse("1000") == 1000)
        #expect(MemoryBudget.parse(" 2 k ") == 2048)
        for bad in ["", "lots", "-1G", "0", "nan", "inf", "1e30", "G", "5X"] { #expect(MemoryBudget.parse(bad) == nil, "\(bad)") }
        #expect(MemoryBudget.describe(16 << 30) == "16 GiB" && MemoryBudget.describe(300) == "300 bytes" && MemoryBudget.describe(1536 << 20) == "1.5 GiB")
        #expect(MemoryBudget.sum(Int.max, 1) == Int.max)
    }

    @Test func readsStoredAndCompressedNPZ() throws {
        let stored = try NPZ.read(contentsOf: npyFixtures.appendingPathComponent("stored.npz"))
        #expect(Set(stored.keys) == ["a", "b"])
        #expect(stored["a"]?.scalars(as: Float.self) == Self.expected["f32"]?.values.map { Float($0) })
        #expect(stored["b"]?.int64s() == [-(1 << 62), 0, 7, 1 << 40])
        let compressed = try NPZ.read(contentsOf: npyFixtures.appendingPathComponent("compressed.npz"))
        #expect(compressed["a"]?.scalars(as: Float.self) == Self.expected["f32"]?.values.map { Float($0) })
        #expect(compressed["big"]?.shape == [64, 50])
        let big = compressed["big"]?.scalars(as: Float.self) ?? []
        #expect(big == (Self.expected["big"]?.values.map { Float($0) } ?? []), "decompressed values differ from numpy's")
    }

    @Test func npzRoundTrip() throws {
        let arrays = ["x": Tensor.random(shape: [4, 5], dtype: .float32, seed: 1), "y/z": Tensor(shape: [2], scalars: [Int64(3), -4])]
        let back = try NPZ.decode(NPZ.encode(arrays), path: "memory")
        #expect(back["x"]?.scalars(as: Float.self) == arrays["x"]?.scalars(as: Float.self))
        #expect(back["y/z"]?.int64s() == [3, -4])
    }

    @Test func rejectsWhatItCannotRead() throws {
        #expect(throws: TensorFileError.self) { try NPY.read(contentsOf: npyFixtures.appendingPathComponent("fortran.npy")) }
        #expect(throws: TensorFileError.self) { try NPY.read(contentsOf: npyFixtures.appendingPathComponent("bigendian.npy")) }
        let good = try Data(contentsOf: npyFixtures.appendingPathComponent("f32.npy"))
        do {
            _ = try NPY.decode(good.prefix(good.count - 3), path: "cut.npy")
            Issue.record("a truncated file was accepted")
        } catch let e as TensorFileError {
            #expect(e.description.contains("truncated"))
        }
        #expect(throws: TensorFileError.self) { try NPY.decode(Data("not numpy at all".utf8), path: "x.npy") }
        // A header claiming 2^40 elements must fail before allocating.
        var huge = Data(NPY.magic + [1, 0])
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }\n"
        huge.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        huge.append(contentsOf: Array(header.utf8))
        #expect(throws: TensorFileError.self) { try NPY.decode(huge, path: "huge.npy") }
        #expect(throws: TensorFileError.self) { try NPZ.decode(Data([0x50, 0x4B, 3, 4, 0, 0]), path: "bad.npz") }
    }
}

@Suite("dtype conversion")
struct ConvertTests {
    /// float32 → bfloat16 rounds to the nearer of the two neighbouring bfloat16 values (ties to the
    /// even one), checked by comparing distances in Double, for random bit patterns and exact ties.
    @Test func bfloat16RoundsToNearestEven() {
        var g = SeededGenerator(seed: 16)
        var patterns = (0..<20_000).map { _ in UInt32(truncatingIfNeeded: g.next()) }
        patterns += [0x3F80_8000, 0x3F81_8000, 0x7F7F_FFFF, 0x0000_8000, 0x8000_0001]  // ties, largest finite, subnormals
        for bits in patterns {
            let f = Float(bitPattern: bits)
            guard f.isFinite else { continue }
            let down = Float(bitPattern: bits & 0xFFFF_0000), up = Float(bitPattern: (bits & 0xFFFF_0000) &+ 0x1_0000)
            let got = BFloat16(f).floatValue
            let dDown = abs(Double(f) - Double(down)), dUp = abs(Double(f) - Double(up))
            let want: Float = dDown < dUp ? down : dUp < dDown ? up : ((bits >> 16) & 1 == 0 ? down : up)
            #expect(got.bitPattern == want.bitPattern || (got.isInfinite && !up.isFinite), "\(f): got \(got), expected \(want)")
        }
        #expect(BFloat16(Float.nan).floatValue.isNaN)
        // π's bfloat16 neighbours are 3.125 and 3.140625 (ulp 2^-6 in [2, 4)).
        let t = Tensor(shape: [2], scalars: [Float(1), Float.pi]).converted(to: .bfloat16)
        #expect(t.converted(to: .float32).scalars(as: Float.self) == [1, 3.140625])
    }

    @Test func castSemantics() {
        let x = Tensor(shape: [5], scalars: [Float(1.9), -1.9, 0, 3e9, .nan])
        #expect(x.converted(to: .int64).int64s() == [1, -1, 0, 3_000_000_000, 0])
        #expect(x.converted(to: .bool).scalars(as: Bool.self) == [true, true, false, true, true])
        // IEEE binary16 bit patterns: 0.1 rounds to 0x2E66, 65520 overflows to +inf (0x7C00).
        let h = Tensor(shape: [2], scalars: [Float(0.1), 65520]).converted(to: .float16).scalars(as: Float16.self)
        #expect(h.map(\.bitPattern) == [0x2E66, 0x7C00])
        #expect(Tensor(shape: [2], scalars: [Int64(300), -1]).converted(to: .uint8).scalars(as: UInt8.self) == [44, 255])
    }
}
