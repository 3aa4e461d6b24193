import ArgumentParser
import Foundation
import JSONC
import Touchstone

/// The `touchstone` command-line tool.
///
/// Exit codes: 0 success; 1 a check or comparison failed; 2 bad usage or a bad input file.
@main
struct TouchstoneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "touchstone",
        abstract: "A CPU reference inference runtime: run, inspect and benchmark ONNX models.",
        discussion: "With no subcommand, runs the bundled default model on its bundled sample input and checks the result.",
        subcommands: [
            RunCommand.self, InspectCommand.self, VerifyCommand.self, ConformanceCommand.self, CalibrateCommand.self, ReportCommand.self, CompareCommand.self,
            BenchCommand.self, DefaultCommand.self,
        ])

    func run() throws {
        let demo = try DefaultCommand.parse([])
        try demo.run()
    }

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as CheckFailed {
            FileHandle.standardError.write(Data("touchstone: check failed: \(printableMessage(failure.message))\n".utf8))
            Foundation.exit(1)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message: String
            switch error {
            case let e as CustomStringConvertible where error is LoadError || error is ExecutionError || error is TensorFileError || error is UsageError
                || error is CalibrationError || error is JSONError || error is OracleError || error is MemoryBudgetError || error is LayerError:
                message = e.description
            case let e as CocoaError:
                message = describe(e)
            case let e as POSIXError:
                message = String(cString: strerror(e.code.rawValue))
            default:
                message = fullMessage(for: error)
            }
            FileHandle.standardError.write(Data("touchstone: error: \(printableMessage(message))\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// A Foundation file error as one line naming the file, instead of its debug description.
func describe(_ e: CocoaError) -> String {
    let file = (e.userInfo[NSFilePathErrorKey] as? String) ?? (e.userInfo[NSURLErrorKey] as? URL)?.path ?? "a file"
    let what: String
    switch e.code {
    case .fileNoSuchFile, .fileReadNoSuchFile: what = "does not exist"
    case .fileReadNoPermission, .fileWriteNoPermission: what = "is not accessible (permission denied)"
    case .fileWriteOutOfSpace: what = "cannot be written: the disk is full"
    case .fileWriteVolumeReadOnly: what = "cannot be written: the volume is read-only"
    case .fileWriteFileExists: what = "already exists"
    case .fileReadTooLarge: what = "is too large to read"
    case .fileReadCorruptFile: what = "cannot be read (corrupt)"
    case .fileReadInapplicableStringEncoding, .fileWriteInapplicableStringEncoding: what = "is not text in the expected encoding"
    default: what = "cannot be read or written (error \(e.code.rawValue))"
    }
    return "\(file) \(what)"
}

/// A message as printed: control characters from names in files escaped (a newline stays), each
/// line cut at 2,000 characters and the whole at 200 lines, so that no file can drive the
/// terminal or flood it.
func printableMessage(_ s: String) -> String {
    var lines: [String] = []
    for line in s.split(separator: "\n", omittingEmptySubsequences: false).prefix(200) {
        var out = ""
        for u in line.unicodeScalars {
            if u.value < 0x20 && u != "\t" || (0x7F...0x9F).contains(u.value) { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
            if out.unicodeScalars.count > 2000 { out = String(out.prefix(2000)) + "…"; break }
        }
        lines.append(out)
    }
    if s.split(separator: "\n", omittingEmptySubsequences: false).count > 200 { lines.append("…") }
    return lines.joined(separator: "\n")
}

/// A check (comparison with expected values) that did not pass: exit code 1.
struct CheckFailed: Error {
    let message: String
}

/// Bad usage detected after parsing (a malformed --input, an unknown input name): exit code 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// `--threads` must be a count from 1 to 1,024 (0 or a negative value is refused, not silently
/// raised to 1; a count beyond any machine's cores is a typo, not a request).
func validateThreads(_ threads: Int) throws {
    guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, got \(threads)") }
}

/// `--max-memory`: the memory budget that sizes from files are checked against (see `MemoryBudget`).
struct MemoryOptions: ParsableArguments {
    @Option(
        name: .customLong("max-memory"),
        help: ArgumentHelp(
            "The most memory sizes read from files may ask for, e.g. 8G or 512M (default: TOUCHSTONE_MAX_MEMORY, else half the physical memory).",
            valueName: "SIZE"))
    var maxMemory: String?

    func validate() throws {
        try MemoryBudget.validate()
        if let maxMemory {
            guard let bytes = MemoryBudget.parse(maxMemory) else { throw ValidationError("--max-memory '\(maxMemory)' is not a size (e.g. 8G, 512M)") }
            MemoryBudget.set(bytes)
        }
    }
}

/// Prints to standard error.
func warn(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
