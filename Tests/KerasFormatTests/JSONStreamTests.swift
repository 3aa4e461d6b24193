import Foundation
@testable import JSONC
import Testing
import TensorCore

/// The streaming parser against json-c: the same tree for every Keras file here and beside the
/// checkout, except that the base64 arrays it decodes arrive as floats, which must be the bytes the
/// text encodes (checked against Foundation's base64 decoder).
@Suite("JSONStream against json-c")
struct JSONStreamTests {
    static func decodes(_ keys: [String]) -> Bool { keys.first == "trainable_params" || keys.last == "values" }

    /// Compares the two trees; returns how many float arrays were checked.
    func same(_ stream: JSONValue, _ reference: JSONValue, at path: String) -> Int {
        switch (stream, reference) {
        case (.floats(let f), .array(let chunks)):
            let text = chunks.compactMap(\.string).joined()
            let bytes = Data(base64Encoded: text) ?? Data()
            let want = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
            #expect(f.map(\.bitPattern) == want, "\(path)")
            return 1
        case (.object(let a), .object(let b)):
            #expect(Set(a.keys) == Set(b.keys), "\(path)")
            return a.keys.reduce(0) { n, k in n + (b[k].map { same(a[k] ?? .null, $0, at: path + "/" + k) } ?? 0) }
        case (.array(let a), .array(let b)):
            #expect(a.count == b.count, "\(path)")
            return zip(a, b).enumerated().reduce(0) { $0 + same($1.1.0, $1.1.1, at: "\(path)[\($1.0)]") }
        default:
            #expect(stream == reference, "\(path)")
            return 0
        }
    }

    @Test func kerasFilesParseAsJsonCParsesThem() throws {
        let dirs = [sharedFixtures, URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ModelZoo/keras")]
        var files = 0, arrays = 0
        for dir in dirs {
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".json") {
                let url = dir.appendingPathComponent(name)
                arrays += same(try JSONStream.parse(contentsOf: url, decodesFloats: Self.decodes), try JSON.parse(contentsOf: url), at: name)
                files += 1
            }
        }
        #expect(files >= 16 && arrays > 100)
    }

    /// Escapes, unicode (a surrogate pair), numbers, literals and nesting, small enough that
    /// the 4 MiB pieces are not what is tested: `parse(_ data:)` reads the same way.
    @Test func escapesNumbersAndLiterals() throws {
        let text = #"{"s": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00", "n": [-0.0, 1e-3, 12345678901234, -2.5E+2], "l": [true, false, null], "o": {"x": {}}, "e": []}"#
        let data = Data(text.utf8)
        #expect(try JSONStream.parse(data, path: "t", decodesFloats: { _ in false }) == JSON.parse(data, path: "t"))
        for bad in [#"{"a": 1"#, #"{"a": [1, 2}"#, #"{"a": "\x"}"#, #"{"a": 1} x"#, #"{"trainable_params": {"l": {"w": ["AAA!"]}}}"#,
                    #"{"trainable_params": {"l": {"w": ["AAAAAAA="]}}}"#] {
            #expect(throws: JSONError.self, "\(bad)") { try JSONStream.parse(Data(bad.utf8), path: "t", decodesFloats: Self.decodes) }
        }
    }

    /// Weight arrays of many sizes (a float to 300 KB, past the heap/mapping switch), their base64
    /// cut into chunks anywhere (inside quads too) with spaces inside, read in pieces of 1 byte to
    /// 4 MiB: every array decodes to the bytes it was made from (written by Foundation's encoder).
    @Test func base64ArraysDecodeWhereverTheTextIsCut() throws {
        var rng = SeededGenerator(seed: 18)
        var arrays: [[UInt32]] = []
        var text = #"{"trainable_params": {"#
        for (n, count) in [1, 2, 3, 192, 1000, 4097, 76_000].enumerated() {
            let words = (0..<count).map { _ in UInt32.random(in: .min ... .max, using: &rng) }
            arrays.append(words)
            // 4 bytes a float: the base64 ends in "", "==" or "=" by the count's remainder mod 3.
            let encoded = Array(words.withUnsafeBytes { Data($0) }.base64EncodedString().utf8)
            var chunks: [String] = []
            var at = 0
            while at < encoded.count {
                let end = min(encoded.count, at + Int.random(in: 1...1500, using: &rng))
                var chunk = Array(encoded[at..<end])
                if Bool.random(using: &rng) { chunk.insert(UInt8(ascii: " "), at: Int.random(in: 0...chunk.count, using: &rng)) }
                chunks.append("\"" + String(decoding: chunk, as: UTF8.self) + "\"")
                at = end
            }
            text += (n > 0 ? ", " : "") + "\"l\(n)\": {\"w\": [" + chunks.joined(separator: ", ") + "]}"
        }
        text += "}}"
        for piece in [1, 7, 4096, 1 << 22] {
            let tree = try JSONStream.parse(Data(text.utf8), path: "t", pieceSize: piece, decodesFloats: Self.decodes)
            for (n, words) in arrays.enumerated() {
                guard case .floats(let f)? = tree["trainable_params"]?["l\(n)"]?["w"] else {
                    Issue.record("l\(n) not decoded (pieces of \(piece))")
                    continue
                }
                #expect(f.map(\.bitPattern) == words, "l\(n), \(words.count) floats, pieces of \(piece)")
                #expect(Int(bitPattern: f.base) % 64 == 0)
            }
        }
    }

    /// The growing buffer past what it was told to expect (a file that grows while read): a
    /// mapping replaced by a larger one keeps every byte; heap buffers grow and shrink to size.
    @Test func floatBuilderGrowsPastItsReservation() throws {
        for expected in [0, 300_000, 1 << 20] {
            var b = FloatArrayBuilder()
            var written: [UInt32] = []
            while written.count < 600_000 {
                let k = min(5000, 600_000 - written.count)
                try b.reserve(4 * k, expected: expected)
                for j in 0..<k {
                    let w = UInt32(truncatingIfNeeded: (written.count + j) &* 2_654_435_761)
                    b.base.storeBytes(of: w, toByteOffset: b.used + 4 * j, as: UInt32.self)
                }
                written += (0..<k).map { UInt32(truncatingIfNeeded: (written.count + $0) &* 2_654_435_761) }
                b.used += 4 * k
            }
            let f = b.finish()
            #expect(f.count == written.count && f.map(\.bitPattern) == written, "expected \(expected)")
        }
    }
}
