import Foundation
import Testing
@testable import Layers
@testable import Runtime
import TensorCore

let runtimeRepoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// String tensors and the regular expressions of `RegexFullMatch`.
@Suite struct StringTests {
    struct RegexCase: Decodable {
        let pattern: String
        let text: String
        let match: Bool
    }

    /// Every case of `ModelZoo/data/regex_cases.json` (42 patterns × 83 texts, decided by Python's
    /// `re.fullmatch` in ASCII mode: `make_regex_cases.py`) matches as the reference says.
    @Test func regexAgreesWithPythonsFullMatch() throws {
        let url = runtimeRepoRoot.appendingPathComponent("ModelZoo/data/regex_cases.json")
        let cases = try JSONDecoder().decode([RegexCase].self, from: Data(contentsOf: url))
        #expect(cases.count > 3000, "run ModelZoo/scripts/make_regex_cases.py")
        var compiled: [String: Regex] = [:]
        var wrong: [String] = []
        for c in cases {
            let regex = try compiled[c.pattern] ?? Regex(c.pattern)
            compiled[c.pattern] = regex
            if regex.fullMatch(c.text) != c.match { wrong.append("/\(c.pattern)/ on '\(c.text)': expected \(c.match)") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(cases.count) differ: \(wrong.prefix(5))")
        #expect(cases.contains { $0.match } && cases.contains { !$0.match })
    }

    /// Patterns that make a backtracking matcher take exponential time (so no reference runs them
    /// on long texts) finish here, with the results their meaning gives: nothing but a's cannot
    /// end in b or c.
    @Test func nestedRepetitionsRunInLinearTime() throws {
        let long = String(repeating: "a", count: 5000)
        for p in ["(a*)*b", "(a|a)*c", "(a+)+b", "((a|aa)+)+c"] {
            let r = try Regex(p)
            #expect(!r.fullMatch(long), "\(p)")
            #expect(r.fullMatch(long + String(p.last ?? "b")), "\(p)")
        }
    }

    @Test func unsupportedSyntaxIsAnError() {
        for p in ["(?i)abc", "[[:alpha:]]", "\\p{L}", "a{1001}", "(ab", "ab)", "*a", "[z-a]", "a{3,2}", "[abc", "\\1", "a**", "a{2}{3}", "((x{1000}){1000})"] {
            #expect(throws: LayerError.self, "\(p)") { _ = try Regex(p) }
        }
    }

    /// Python's `str.split` (the node tests' reference): whitespace runs, or each delimiter,
    /// at most maxsplit times, the remainder kept as it is.
    @Test func splitFollowsPython() {
        let whitespace = StringSplit(delimiter: nil, maxSplit: 1)
        #expect(whitespace.split("  a b c  ") == ["a", "b c  "])
        #expect(StringSplit(delimiter: "", maxSplit: nil).split(" a\tb\n c ") == ["a", "b", "c"])
        #expect(StringSplit(delimiter: "--", maxSplit: nil).split("a----b--") == ["a", "", "b", ""])
        #expect(StringSplit(delimiter: "-", maxSplit: 1).split("a--b") == ["a", "-b"])
        #expect(StringSplit(delimiter: nil, maxSplit: nil).split("   ") == [])
    }

    /// Strings through a session: Equal and RegexFullMatch write bools into the arena, StringConcat
    /// makes strings, a Reshape passes them on; a numeric op given strings is refused by name.
    @Test func stringsRunThroughASession() throws {
        let names = ["A", "B", "eq", "C", "R", "match", "bad"]
        let graph = Graph(
            valueNames: names, constants: [3: Tensor(shape: [1], scalars: [Int64(-1)])],
            nodes: [
                Node(name: "equal", layer: BinaryLayer(.equal, opType: "Equal"), inputs: [0, 1], outputs: [2]),
                Node(name: "concat", layer: StringConcat(), inputs: [0, 1], outputs: [4]),
                Node(name: "flat", layer: ShapeOnly(.reshape(allowZero: false), opType: "Reshape"), inputs: [4, 3], outputs: [6]),
                Node(name: "regex", layer: try RegexFullMatch(pattern: "[a-z]+\\.(com|net)"), inputs: [6], outputs: [5]),
            ],
            inputs: [(0, ValueDeclaration(name: "A", dtype: .string, dimensions: [.fixed(2), .fixed(2)])),
                     (1, ValueDeclaration(name: "B", dtype: .string, dimensions: [.fixed(2)]))],
            outputs: [(2, ValueDeclaration(name: "eq", dtype: .bool, dimensions: nil)), (5, ValueDeclaration(name: "match", dtype: .bool, dimensions: nil)),
                      (6, ValueDeclaration(name: "bad", dtype: .string, dimensions: nil))])
        let session = Session(model: Model(graph: graph, format: "test", source: nil, opset: 20), options: SessionOptions(threads: 1))
        let a = Tensor(strings: ["abc", ".com", "x", "def"], shape: [2, 2]), b = Tensor(strings: ["abc", ".net"], shape: [2])
        let out = try session.run(["A": a, "B": b])
        #expect(out["eq"]?.scalars(as: Bool.self) == [true, false, false, false])
        #expect(out["bad"]?.strings == ["abcabc", ".com.net", "xabc", "def.net"] && out["bad"]?.shape == [4])
        #expect(out["match"]?.scalars(as: Bool.self) == [false, false, false, true])
        let relu = Graph(
            valueNames: ["A", "Y"], constants: [:], nodes: [Node(name: "relu", layer: ActivationLayer(.relu), inputs: [0], outputs: [1])],
            inputs: [(0, ValueDeclaration(name: "A", dtype: .string, dimensions: nil))], outputs: [(1, ValueDeclaration(name: "Y", dtype: .string, dimensions: nil))])
        let e = #expect(throws: ExecutionError.self) {
            try Session(model: Model(graph: relu, format: "test", source: nil, opset: 20), options: SessionOptions(threads: 1)).run(["A": a])
        }
        #expect(e?.description.contains("relu") == true && e?.description.contains("string") == true)
    }
}
