import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--filter`: a POSIX extended regular expression matched anywhere in a name (`^conv_`,
/// `relu|add`), by the C library's matcher, which has no exponential backtracking: `(a+)+$` on a
/// long name takes milliseconds, not minutes. Back-references (which would need backtracking),
/// patterns over 256 characters and repetition counts over 100 are refused.
final class NameFilter {
    private var regex = regex_t()

    init(_ pattern: String, option: String = "--filter") throws {
        guard pattern.utf8.count <= 256 else { throw UsageError("\(option) pattern is longer than 256 characters") }
        let scalars = Array(pattern.unicodeScalars)
        for (i, u) in scalars.enumerated() where u == "\\" && i + 1 < scalars.count && ("1"..."9").contains(scalars[i + 1]) {
            throw UsageError("\(option) '\(pattern)' uses a back-reference, which is not supported")
        }
        // Repetition counts {m,n}: each number at most 100, so that no pattern compiles to millions of states.
        var number = "", inBraces = false
        for u in scalars {
            if u == "{" { inBraces = true; number = ""; continue }
            guard inBraces else { continue }
            if ("0"..."9").contains(u) { number.unicodeScalars.append(u) } else { number = "" }
            if u == "}" { inBraces = false }
            if let n = Int(number), n > 100 { throw UsageError("\(option) '\(pattern)' repeats more than 100 times") }
        }
        let status = regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB)
        guard status == 0 else {
            var buffer = [CChar](repeating: 0, count: 256)
            regerror(status, &regex, &buffer, buffer.count)
            throw UsageError("\(option) '\(pattern)' is not a regular expression: \(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
    }

    deinit { regfree(&regex) }

    func matches(_ name: String) -> Bool { regexec(&regex, name, 0, nil, 0) == 0 }
}
