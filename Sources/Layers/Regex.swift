/// Regular expressions in RE2's syntax (the one ONNX's `RegexFullMatch` names), matched by a
/// Pike VM: the pattern is compiled to a program of character tests, splits and zero-width
/// assertions, and every thread advances through the text in step, so a match costs time linear
/// in the text's length times the program's size, whatever the pattern (no backtracking: a
/// hostile pattern cannot hang a run).
///
/// Supported: literals and escapes, `.` (anything but a newline), classes `[…]` and `[^…]` with
/// ranges, `\d \D \w \W \s \S` (ASCII, as RE2's), `\b \B ^ $`, groups `(…)` and `(?:…)`,
/// alternation, `* + ?` and `{n}`, `{n,}`, `{n,m}` (each lazy form too: a full match does not
/// depend on laziness). Repetition counts are at most 1,000 and programs at most 100,000
/// instructions, as RE2 bounds them. Not supported (an error): flags `(?i)`, named groups,
/// POSIX classes `[[:alpha:]]`, `\p{…}`, backreferences (which RE2 refuses too).
public struct Regex: Sendable {
    enum Assertion: Sendable { case start, end, wordBoundary, notWordBoundary }

    /// A set of characters: ranges of Unicode scalar values, possibly negated.
    struct CharSet: Sendable {
        var ranges: [ClosedRange<UInt32>]
        var negated = false
        func contains(_ c: UInt32) -> Bool { ranges.contains { $0.contains(c) } != negated }
    }

    enum Instruction: Sendable {
        case char(CharSet)
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    indirect enum Node {
        case set(CharSet)
        case assertion(Assertion)
        case concat([Node])
        case alternate([Node])
        case repeated(Node, min: Int, max: Int?)
        case empty
    }

    let program: [Instruction]
    static let repeatLimit = 1000
    static let programLimit = 100_000

    /// Compiles `pattern`; throws `LayerError` naming what it cannot read.
    public init(_ pattern: String) throws {
        var parser = Parser(scalars: Array(pattern.unicodeScalars).map(\.value))
        let tree = try parser.parseAlternation()
        guard parser.at == parser.scalars.count else { throw LayerError("pattern: unmatched ')' at \(parser.at)") }
        var program: [Instruction] = []
        try Regex.emit(tree, into: &program)
        program.append(.match)
        self.program = program
    }

    // MARK: Parsing

    struct Parser {
        let scalars: [UInt32]
        var at = 0

        func error(_ message: String) -> LayerError { LayerError("pattern: \(message) at character \(at)") }
        var peek: UInt32? { at < scalars.count ? scalars[at] : nil }
        mutating func next() -> UInt32? {
            guard at < scalars.count else { return nil }
            at += 1
            return scalars[at - 1]
        }
        mutating func eat(_ c: Character) -> Bool {
            guard let p = peek, let v = c.unicodeScalars.first?.value, p == v else { return false }
            at += 1
            return true
        }

        mutating func parseAlternation() throws -> Node {
            var branches = [try parseConcat()]
            while eat("|") { branches.append(try parseConcat()) }
            return branches.count == 1 ? branches[0] : .alternate(branches)
        }

        mutating func parseConcat() throws -> Node {
            var items: [Node] = []
            while let c = peek, c != 0x7C, c != 0x29 {  // '|', ')'
                var atom = try parseAtom()
                if let q = peek, [0x2A, 0x2B, 0x3F, 0x7B].contains(q) {  // * + ? {
                    let (lo, hi) = try parseQuantifier()
                    if case .assertion = atom { throw error("a quantifier follows an assertion") }
                    atom = .repeated(atom, min: lo, max: hi)
                    _ = eat("?")  // lazy: the same full matches
                    // RE2 (and Python) refuse a repetition of a repetition such as a** or a{2}{3}.
                    if let q = peek, [0x2A, 0x2B, 0x3F, 0x7B].contains(q) { throw error("a repetition is repeated (write a group)") }
                }
                items.append(atom)
            }
            return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
        }

        mutating func parseQuantifier() throws -> (Int, Int?) {
            switch next() {
            case 0x2A: return (0, nil)
            case 0x2B: return (1, nil)
            case 0x3F: return (0, 1)
            default:
                let lo = try number()
                var hi: Int? = lo
                if eat(",") { hi = peek == 0x7D ? nil : try number() }
                guard eat("}") else { throw error("a repetition {…} is not closed") }
                if let hi, hi < lo { throw error("repetition {\(lo),\(hi)} has its maximum below its minimum") }
                guard lo <= Regex.repeatLimit, (hi ?? 0) <= Regex.repeatLimit else { throw error("repetition counts are at most \(Regex.repeatLimit)") }
                return (lo, hi)
            }
        }

        mutating func number() throws -> Int {
            var n = 0, digits = 0
            while let c = peek, c >= 0x30, c <= 0x39 {
                n = min(n * 10 + Int(c - 0x30), 1_000_000)
                digits += 1
                at += 1
            }
            guard digits > 0 else { throw error("a repetition count is missing") }
            return n
        }

        mutating func parseAtom() throws -> Node {
            guard let c = next() else { throw error("the pattern ends early") }
            switch c {
            case 0x28:  // (
                if eat("?") {
                    guard eat(":") else { throw error("flags and named groups (?…) are not supported") }
                }
                let inner = try parseAlternation()
                guard eat(")") else { throw error("a group is not closed") }
                return inner
            case 0x5B: return .set(try parseClass())
            case 0x2E: return .set(CharSet(ranges: [0x0A...0x0A], negated: true))  // . : not a newline
            case 0x5E: return .assertion(.start)
            case 0x24: return .assertion(.end)
            case 0x5C: return try parseEscape(inClass: false)
            case 0x2A, 0x2B, 0x3F: throw error("a quantifier has nothing to repeat")
            default: return .set(CharSet(ranges: [c...c]))
            }
        }

        /// After a backslash.
        mutating func parseEscape(inClass: Bool) throws -> Node {
            guard let c = next() else { throw error("the pattern ends with a backslash") }
            let digit: ClosedRange<UInt32> = 0x30...0x39
            let word: [ClosedRange<UInt32>] = [digit, 0x41...0x5A, 0x61...0x7A, 0x5F...0x5F]
            let space: [ClosedRange<UInt32>] = [0x09...0x0A, 0x0C...0x0D, 0x20...0x20]
            switch c {
            case 0x64: return .set(CharSet(ranges: [digit]))  // d
            case 0x44: return .set(CharSet(ranges: [digit], negated: true))
            case 0x77: return .set(CharSet(ranges: word))  // w
            case 0x57: return .set(CharSet(ranges: word, negated: true))
            case 0x73: return .set(CharSet(ranges: space))  // s
            case 0x53: return .set(CharSet(ranges: space, negated: true))
            case 0x62 where !inClass: return .assertion(.wordBoundary)  // b
            case 0x42 where !inClass: return .assertion(.notWordBoundary)
            case 0x6E: return .set(CharSet(ranges: [0x0A...0x0A]))  // n
            case 0x74: return .set(CharSet(ranges: [0x09...0x09]))  // t
            case 0x72: return .set(CharSet(ranges: [0x0D...0x0D]))  // r
            case 0x66: return .set(CharSet(ranges: [0x0C...0x0C]))  // f
            case 0x76: return .set(CharSet(ranges: [0x0B...0x0B]))  // v
            default:
                // Punctuation escapes itself; a letter or digit with no meaning here is refused
                // (\p{…}, \1, \A, \z … are RE2 features Touchstone does not read).
                let isAlnum = (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
                if isAlnum { throw error("the escape \\\(Character(Unicode.Scalar(c) ?? "?")) is not supported") }
                return .set(CharSet(ranges: [c...c]))
            }
        }

        /// After '['.
        mutating func parseClass() throws -> CharSet {
            var set = CharSet(ranges: [])
            if eat("^") { set.negated = true }
            var first = true
            while true {
                guard let c = next() else { throw error("a class […] is not closed") }
                if c == 0x5D && !first { break }  // ]
                first = false
                if c == 0x5B, peek == 0x3A { throw error("POSIX classes [:…:] are not supported") }
                var low: UInt32
                if c == 0x5C {
                    guard case .set(let s) = try parseEscape(inClass: true) else { throw error("an assertion in a class") }
                    if s.negated || s.ranges.count != 1 || s.ranges[0].count != 1 {
                        guard !s.negated else { throw error("a negated escape (\\D, \\W, \\S) inside a class is not supported") }
                        set.ranges += s.ranges
                        continue
                    }
                    low = s.ranges[0].lowerBound
                } else {
                    low = c
                }
                // A range a-z (a '-' before ']' is a literal).
                if peek == 0x2D, at + 1 < scalars.count, scalars[at + 1] != 0x5D {
                    at += 1
                    guard var high = next() else { throw error("a class […] is not closed") }
                    if high == 0x5C {
                        guard case .set(let s) = try parseEscape(inClass: true), !s.negated, s.ranges.count == 1, s.ranges[0].count == 1 else {
                            throw error("a range ends in a class escape")
                        }
                        high = s.ranges[0].lowerBound
                    }
                    guard low <= high else { throw error("the range is backwards") }
                    set.ranges.append(low...high)
                } else {
                    set.ranges.append(low...low)
                }
            }
            return set
        }
    }

    // MARK: Compiling

    static func emit(_ node: Node, into p: inout [Instruction]) throws {
        guard p.count < programLimit else { throw LayerError("pattern: the compiled program exceeds \(programLimit) instructions") }
        switch node {
        case .empty: break
        case .set(let s): p.append(.char(s))
        case .assertion(let a): p.append(.assert(a))
        case .concat(let items): for item in items { try emit(item, into: &p) }
        case .alternate(let branches):
            // split L1, next; L1: branch; jump end; next: split …
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = p.count
                    p.append(.split(split + 1, -1))
                    try emit(branch, into: &p)
                    jumps.append(p.count)
                    p.append(.jump(-1))
                    p[split] = .split(split + 1, p.count)
                } else {
                    try emit(branch, into: &p)
                }
            }
            for j in jumps { p[j] = .jump(p.count) }
        case .repeated(let inner, let lo, let hi):
            for _ in 0..<lo { try emit(inner, into: &p) }
            if let hi {
                // (inner)? repeated hi - lo times, each optional one nested in the previous.
                var splits: [Int] = []
                for _ in lo..<hi {
                    splits.append(p.count)
                    p.append(.split(p.count + 1, -1))
                    try emit(inner, into: &p)
                }
                for s in splits { p[s] = .split(s + 1, p.count) }
            } else {
                let loop = p.count
                p.append(.split(loop + 1, -1))
                try emit(inner, into: &p)
                p.append(.jump(loop))
                p[loop] = .split(loop + 1, p.count)
            }
        }
    }

    // MARK: Matching

    static func isWord(_ c: UInt32?) -> Bool {
        guard let c else { return false }
        return (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x5F
    }

    /// Whether the whole of `text` matches.
    public func fullMatch(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars).map(\.value)
        var current: [Int] = [], next: [Int] = []
        var onList = [Int](repeating: -1, count: program.count)
        // Follows splits, jumps and assertions from `pc` at position `i`, adding the character
        // tests and the match reached (each instruction once per position).
        func add(_ pc: Int, _ i: Int, _ list: inout [Int]) {
            var stack = [pc]
            while let pc = stack.popLast() {
                guard onList[pc] != i else { continue }
                onList[pc] = i
                switch program[pc] {
                case .jump(let t): stack.append(t)
                case .split(let a, let b):
                    stack.append(b)
                    stack.append(a)
                case .assert(let a):
                    let before = i > 0 ? s[i - 1] : nil, after = i < s.count ? s[i] : nil
                    let holds: Bool
                    switch a {
                    case .start: holds = i == 0
                    case .end: holds = i == s.count
                    case .wordBoundary: holds = Regex.isWord(before) != Regex.isWord(after)
                    case .notWordBoundary: holds = Regex.isWord(before) == Regex.isWord(after)
                    }
                    if holds { stack.append(pc + 1) }
                case .char, .match: list.append(pc)
                }
            }
        }
        add(0, 0, &current)
        for i in 0..<s.count {
            next.removeAll(keepingCapacity: true)
            for pc in current {
                if case .char(let set) = program[pc], set.contains(s[i]) { add(pc + 1, i + 1, &next) }
            }
            swap(&current, &next)
            if current.isEmpty { return false }
        }
        return current.contains { if case .match = program[$0] { true } else { false } }
    }
}
