import Foundation

/// A DEFLATE (RFC 1951) decoder, for `.npz` files written by `np.savez_compressed`.
///
/// Written for clarity over speed; it checks every length and distance against the data so that
/// a corrupt stream ends in an error, never a crash.
enum Inflate {
    private struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        init(lengths: [Int]) {
            for l in lengths { counts[l] += 1 }
            counts[0] = 0
            var offsets = [Int](repeating: 0, count: 16)
            for i in 1..<16 { offsets[i] = offsets[i - 1] + counts[i - 1] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (s, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[l]] = s
                offsets[l] += 1
            }
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var pos = 0
        var bitBuffer = 0
        var bitCount = 0
        let path: String

        mutating func bits(_ n: Int) throws -> Int {
            while bitCount < n {
                guard pos < bytes.count else { throw TensorFileError(path: path, "is a truncated deflate stream") }
                bitBuffer |= Int(bytes[pos]) << bitCount
                pos += 1
                bitCount += 8
            }
            let v = bitBuffer & ((1 << n) - 1)
            bitBuffer >>= n
            bitCount -= n
            return v
        }

        mutating func decode(_ h: Huffman) throws -> Int {
            var code = 0, first = 0, index = 0
            for len in 1..<16 {
                code |= try bits(1)
                let count = h.counts[len]
                if code - count < first { return h.symbols[index + (code - first)] }
                index += count
                first += count
                first <<= 1
                code <<= 1
            }
            throw TensorFileError(path: path, "has an invalid Huffman code in its deflate stream")
        }
    }

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    /// Decompresses a raw deflate stream whose output is `expectedSize` bytes.
    static func decompress(_ data: Data, expectedSize: Int, path: String) throws -> Data {
        guard expectedSize >= 0, expectedSize <= max(1 << 20, data.count * 1032) else {
            throw TensorFileError(path: path, "claims \(expectedSize) uncompressed bytes, more than deflate can produce from \(data.count)")
        }
        var r = Reader(bytes: [UInt8](data), path: path)
        var out = [UInt8]()
        out.reserveCapacity(expectedSize)
        var last = 0
        repeat {
            last = try r.bits(1)
            let type = try r.bits(2)
            switch type {
            case 0:
                r.bitBuffer = 0
                r.bitCount = 0
                guard r.pos + 4 <= r.bytes.count else { throw TensorFileError(path: path, "is a truncated deflate stream") }
                let len = Int(r.bytes[r.pos]) | Int(r.bytes[r.pos + 1]) << 8
                r.pos += 4
                guard r.pos + len <= r.bytes.count else { throw TensorFileError(path: path, "is a truncated deflate stream") }
                out.append(contentsOf: r.bytes[r.pos..<(r.pos + len)])
                r.pos += len
            case 1:
                var lengths = [Int](repeating: 8, count: 288)
                for i in 144..<256 { lengths[i] = 9 }
                for i in 256..<280 { lengths[i] = 7 }
                try inflateBlock(&r, &out, Huffman(lengths: lengths), Huffman(lengths: [Int](repeating: 5, count: 30)), expectedSize)
            case 2:
                let hlit = try r.bits(5) + 257, hdist = try r.bits(5) + 1, hclen = try r.bits(4) + 4
                let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                var codeLengths = [Int](repeating: 0, count: 19)
                for i in 0..<hclen { codeLengths[order[i]] = try r.bits(3) }
                let lengthCode = Huffman(lengths: codeLengths)
                var lengths: [Int] = []
                while lengths.count < hlit + hdist {
                    let sym = try r.decode(lengthCode)
                    switch sym {
                    case 0..<16: lengths.append(sym)
                    case 16:
                        guard let prev = lengths.last else { throw TensorFileError(path: path, "has a bad deflate code-length repeat") }
                        lengths += [Int](repeating: prev, count: 3 + (try r.bits(2)))
                    case 17: lengths += [Int](repeating: 0, count: 3 + (try r.bits(3)))
                    default: lengths += [Int](repeating: 0, count: 11 + (try r.bits(7)))
                    }
                }
                guard lengths.count == hlit + hdist else { throw TensorFileError(path: path, "has too many deflate code lengths") }
                try inflateBlock(&r, &out, Huffman(lengths: Array(lengths[0..<hlit])), Huffman(lengths: Array(lengths[hlit...])), expectedSize)
            default:
                throw TensorFileError(path: path, "has an invalid deflate block type")
            }
            guard out.count <= expectedSize else { throw TensorFileError(path: path, "inflates to more than its declared \(expectedSize) bytes") }
        } while last == 0
        guard out.count == expectedSize else {
            throw TensorFileError(path: path, "inflates to \(out.count) bytes, the archive declares \(expectedSize)")
        }
        return Data(out)
    }

    private static func inflateBlock(_ r: inout Reader, _ out: inout [UInt8], _ lit: Huffman, _ dist: Huffman, _ limit: Int) throws {
        while true {
            let sym = try r.decode(lit)
            if sym < 256 {
                out.append(UInt8(sym))
            } else if sym == 256 {
                return
            } else {
                let li = sym - 257
                guard li < lengthBase.count else { throw TensorFileError(path: r.path, "has an invalid deflate length code") }
                let len = lengthBase[li] + (try r.bits(lengthExtra[li]))
                let di = try r.decode(dist)
                guard di < distBase.count else { throw TensorFileError(path: r.path, "has an invalid deflate distance code") }
                let d = distBase[di] + (try r.bits(distExtra[di]))
                guard d <= out.count, out.count + len <= limit else {
                    throw TensorFileError(path: r.path, "has a deflate back-reference outside the data")
                }
                let start = out.count - d
                for k in 0..<len { out.append(out[start + k]) }
            }
        }
    }
}
