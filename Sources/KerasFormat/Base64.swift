import JSONC
import TensorCore

/// Decodes frugally-deep's weight arrays: little-endian float32 values, base64-encoded, the text
/// split into chunks (1,024 characters as its converter writes them; any split is accepted).
/// Chunks are decoded one after another into the floats, never joined into one string.
enum Base64Floats {
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
        var decoder = Base64FloatDecoder()
        for var chunk in chunks {
            let decoded = chunk.withUTF8 { text -> Bool in
                guard let p = text.baseAddress else { return true }
                do { return try decoder.feed(p, count: text.count) == nil } catch { return false }
            }
            if !decoded { return nil }
        }
        guard decoder.isComplete else { return nil }
        let values = decoder.finish()
        return values.count == count ? values.array : nil
    }
}
