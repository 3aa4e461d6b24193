import Foundation

/// The `.npz` format: a zip archive of `.npy` members (`np.savez`). Members stored without
/// compression and members compressed with deflate (`np.savez_compressed`) are both read;
/// writing stores without compression.
public enum NPZ {
    /// Reads every array of an `.npz` file, keyed by member name without the `.npy` suffix.
    public static func read(contentsOf url: URL) throws -> [String: Tensor] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TensorFileError(path: url.path, "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: url.path)
    }

    /// Decodes `.npz` bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String) throws -> [String: Tensor] {
        let b = [UInt8](data)
        func u16(_ o: Int) throws -> Int {
            guard o >= 0, o <= b.count - 2 else { throw TensorFileError(path: path, "is a truncated zip archive") }
            return Int(b[o]) | Int(b[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int { try u16(o) | (try u16(o + 2)) << 16 }
        func u64(_ o: Int) throws -> Int { try u32(o) | (try u32(o + 4)) << 32 }
        // End of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes.
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 22 - 65535) {
            if b[i] == 0x50, b[i + 1] == 0x4B, b[i + 2] == 5, b[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw TensorFileError(path: path, "is not a zip archive (no end-of-central-directory record)") }
        var entries = try u16(eocd + 10)
        var cdOffset = try u32(eocd + 16)
        // ZIP64: the locator sits just before the EOCD record.
        if (entries == 0xFFFF || cdOffset == 0xFFFF_FFFF), eocd >= 20, try u32(eocd - 20) == 0x0706_4B50 {
            let z64 = try u64(eocd - 12)
            guard z64 >= 0, z64 <= b.count - 56 else { throw TensorFileError(path: path, "has a broken ZIP64 record") }
            guard try u32(z64) == 0x0606_4B50 else { throw TensorFileError(path: path, "has a broken ZIP64 record") }
            entries = try u64(z64 + 32)
            cdOffset = try u64(z64 + 48)
        }
        guard entries >= 0, entries <= b.count / 46 else { throw TensorFileError(path: path, "claims \(entries) zip entries, more than the file can hold") }
        var result: [String: Tensor] = [:]
        var p = cdOffset
        for _ in 0..<entries {
            guard try u32(p) == 0x0201_4B50 else { throw TensorFileError(path: path, "has a corrupt zip central directory") }
            let method = try u16(p + 10)
            var compressedSize = try u32(p + 20)
            var size = try u32(p + 24)
            let nameLength = try u16(p + 28), extraLength = try u16(p + 30), commentLength = try u16(p + 32)
            var localOffset = try u32(p + 42)
            guard p + 46 + nameLength <= b.count else { throw TensorFileError(path: path, "is a truncated zip archive") }
            let name = String(decoding: b[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            // ZIP64 extended information replaces the fields that read 0xFFFFFFFF, in order.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try u16(e), len = try u16(e + 2)
                if id == 1 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF { size = try u64(q); q += 8 }
                    if compressedSize == 0xFFFF_FFFF { compressedSize = try u64(q); q += 8 }
                    if localOffset == 0xFFFF_FFFF { localOffset = try u64(q); q += 8 }
                }
                e += 4 + len
            }
            p = extraEnd + commentLength
            guard localOffset >= 0, localOffset <= b.count - 30, try u32(localOffset) == 0x0403_4B50 else {
                throw TensorFileError(path: path, "member \(name) has no local header")
            }
            // ZIP64 fields are read from the file: every offset and size is checked without
            // overflowing (a size near Int64.max trapped).
            let start = localOffset + 30 + (try u16(localOffset + 26)) + (try u16(localOffset + 28))
            let (end, overflow) = start.addingReportingOverflow(compressedSize)
            guard start >= 0, compressedSize >= 0, size >= 0, !overflow, end <= b.count else {
                throw TensorFileError(path: path, "member \(name) is truncated or declares impossible sizes")
            }
            let raw = Data(b[start..<(start + compressedSize)])
            let member: Data
            switch method {
            case 0: member = raw
            case 8:
                do { try MemoryBudget.check(size, "member \(name), inflated") } catch let e as MemoryBudgetError { throw TensorFileError(path: path, e.description) }
                member = try Inflate.decompress(raw, expectedSize: size, path: "\(path):\(name)")
            default: throw TensorFileError(path: path, "member \(name) uses zip compression method \(method); only stored (0) and deflate (8) are supported")
            }
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            guard result[key] == nil else { throw TensorFileError(path: path, "holds two members named \(name)") }
            result[key] = try NPY.decode(member, path: "\(path):\(name)")
        }
        return result
    }

    /// Encodes arrays as an uncompressed `.npz` archive, members in key order.
    public static func encode(_ arrays: [String: Tensor]) -> Data {
        var out = Data()
        var central = Data()
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16((v >> 16) & 0xFFFF) }
        for key in arrays.keys.sorted() {
            guard let tensor = arrays[key] else { continue }
            let body = NPY.encode(tensor)
            let name = Array((key + ".npy").utf8)
            let crc = CRC32.checksum(body)
            let offset = out.count
            let common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(Int(crc)) + le32(body.count) + le32(body.count) + le16(name.count) + le16(0)
            out.append(contentsOf: [0x50, 0x4B, 3, 4] + common + name)
            out.append(body)
            central.append(contentsOf: [0x50, 0x4B, 1, 2] + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + name)
        }
        let cdStart = out.count
        out.append(central)
        out.append(contentsOf: [0x50, 0x4B, 5, 6] + le16(0) + le16(0) + le16(arrays.count) + le16(arrays.count) + le32(central.count) + le32(cdStart) + le16(0))
        return out
    }

    /// Writes arrays to an `.npz` file.
    public static func write(_ arrays: [String: Tensor], to url: URL) throws {
        do { try encode(arrays).write(to: url) } catch {
            throw TensorFileError(path: url.path, "cannot be written (\(error.localizedDescription))")
        }
    }
}

/// CRC-32 (IEEE 802.3), as zip archives use.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in data { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
