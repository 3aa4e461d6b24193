/// An error of the oracle: bad usage, or a file (or an array in it) that cannot be read as
/// expected. Both are exit code 2 on the command line.
public enum OracleError: Error, CustomStringConvertible, Equatable {
    /// Options or arguments that do not fit together.
    case usage(String)
    /// A file, and where it applies the array in it, that is not what it should be.
    case file(path: String, array: String?, reason: String)

    public var description: String {
        switch self {
        case .usage(let s): return s
        case .file(let path, let array, let reason):
            if let array { return "\(path), array '\(Oracle.printable(array))': \(reason)" }
            return "\(path): \(reason)"
        }
    }
}

/// Namespace for the oracle's helpers.
public enum Oracle {
    /// A name from a file as it may be printed: control characters escaped, at most 200 characters.
    public static func printable(_ name: String) -> String {
        var out = ""
        for u in name.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
            if out.count > 200 { return out.prefix(200) + "…" }
        }
        return out
    }
}
