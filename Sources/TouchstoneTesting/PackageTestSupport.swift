import Foundation
import TensorCore

// Helpers the package's own test targets share (`package` access: not part of the product's
// interface for users).

/// The package's root folder (this file is Sources/TouchstoneTesting/PackageTestSupport.swift).
package let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs a program in the package root to completion and returns its exit code and everything it
/// printed. Output goes to a file, so a child that fills a pipe cannot block; after `timeout`
/// seconds the child is terminated and the code is -1.
package func runLogged(_ executable: URL, _ args: [String], timeout: TimeInterval = 300) throws -> (code: Int32, output: String) {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    p.currentDirectoryURL = packageRoot
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-test-log-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if p.isRunning {
        p.terminate()
        p.waitUntilExit()
        try? handle.close()
        return (-1, "\(executable.lastPathComponent) \(args.first ?? "") timed out after \(timeout) s")
    }
    p.waitUntilExit()
    try? handle.close()
    return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}

/// A program found on PATH (through /usr/bin/env).
package func tool(_ name: String, _ args: [String], timeout: TimeInterval = 300) throws -> (code: Int32, output: String) {
    try runLogged(URL(fileURLWithPath: "/usr/bin/env"), [name] + args, timeout: timeout)
}

extension SeededGenerator {
    /// A double in [0, 1), for reproducible test data.
    package mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
