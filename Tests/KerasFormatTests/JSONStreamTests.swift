import Foundation
import JSONC
import Testing

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
}
