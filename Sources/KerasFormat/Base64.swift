import TensorCore

/// Decodes frugally-deep's weight arrays: little-endian float32 values, base64-encoded, the text
/// split into chunks (1,024 characters as its converter writes them; any split is accepted).
/// Chunks are decoded one after another into the floats, never joined into one string.
enum Base64Floats {
    /// Each byte's sextet value, or −1 for a byte outside the alphabet.
    static let table: [Int16] = {
        var t = [Int16](repeating: -1, count: 256)
        for (i, b) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(b)] = Int16(i) }
        return t
    }()

    /// The decoded byte count the chunks hold (checked before anything is allocated).
    static func byteCount(_ chunks: [String]) -> Int {
        var characters = 0, padding = 0
        for c in chunks {
            for b in c.utf8 {
                if b == UInt8(ascii: "=") { padding += 1 } else if !isWhitespace(b) { characters += 1 }
            }
        }
        return (characters + padding) / 4 * 3 - padding
    }

    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// The floats, or nil when a character is not base64 or the text does not hold `count` floats
    /// (callers check `byteCount` first, before anything is allocated).
    static func decode(_ chunks: [String], count: Int) -> [Float]? {
        var out = [Float]()
        out.reserveCapacity(count)
        var word: UInt32 = 0, bytesInWord = 0
        var quad: UInt32 = 0, sextets = 0
        func emit(_ byte: UInt32) {
            word |= byte << (8 * UInt32(bytesInWord))
            bytesInWord += 1
            if bytesInWord == 4 {
                out.append(Float(bitPattern: word))
                word = 0
                bytesInWord = 0
            }
        }
        for chunk in chunks {
            for b in chunk.utf8 {
                if isWhitespace(b) { continue }
                if b == UInt8(ascii: "=") {
                    // Padding: flush the bytes the partial quad holds.
                    if sextets == 2 { emit((quad >> 4) & 0xFF) }
                    if sextets == 3 { emit((quad >> 10) & 0xFF); emit((quad >> 2) & 0xFF) }
                    sextets = 0
                    quad = 0
                    continue
                }
                let v = table[Int(b)]
                guard v >= 0 else { return nil }
                quad = quad << 6 | UInt32(v)
                sextets += 1
                if sextets == 4 {
                    emit((quad >> 16) & 0xFF)
                    emit((quad >> 8) & 0xFF)
                    emit(quad & 0xFF)
                    quad = 0
                    sextets = 0
                }
            }
        }
        return out.count == count ? out : nil
    }
}
