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
            FileHandle.standardError.write(Data("touchstone: check failed: \(failure.message)\n".utf8))
            Foundation.exit(1)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message: String
            switch error {
            case let e as CustomStringConvertible where error is LoadError || error is ExecutionError || error is TensorFileError || error is UsageError
                || error is CalibrationError || error is JSONError || error is OracleError:
                message = e.description
            default:
                message = fullMessage(for: error)
            }
            FileHandle.standardError.write(Data("touchstone: error: \(message)\n".utf8))
            Foundation.exit(2)
        }
    }
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

/// `--threads` must be a positive count (0 or a negative value is refused, not silently raised to 1).
func validateThreads(_ threads: Int) throws {
    guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
}

/// Prints to standard error.
func warn(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
