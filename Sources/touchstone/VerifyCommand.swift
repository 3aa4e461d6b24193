import ArgumentParser
import Foundation
import Touchstone

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check models against their stored expected outputs (ModelZoo manifest cases).",
        discussion: """
            For an ONNX file, runs every case of the ModelZoo manifests that names that file. With --manifest, runs \
            every case of that manifest. Each output must satisfy max|got − expected| ≤ tolerance · max|expected|.
            """)

    @Argument(help: "Model files to verify.")
    var models: [String] = []

    @Option(help: "A manifest.json whose cases to run (repeatable).")
    var manifest: [String] = []

    @Option(help: "Only cases whose name matches this regular expression.")
    var filter: String?

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        var cases: [ZooEntry] = []
        if !manifest.isEmpty {
            let urls = manifest.map { URL(fileURLWithPath: $0) }
            cases += try ModelZoo.load(manifests: urls, root: urls[0].deletingLastPathComponent()).entries
        }
        if !models.isEmpty {
            guard let root = ModelZoo.locate() else { throw UsageError("cannot find the ModelZoo to look the models up in") }
            let zoo = try ModelZoo.load(root)
            for m in models {
                let path = URL(fileURLWithPath: m).standardizedFileURL.resolvingSymlinksInPath().path
                let found = zoo.entries.filter { $0.modelURL.standardizedFileURL.resolvingSymlinksInPath().path == path }
                if found.isEmpty { throw UsageError("\(m) is not listed in a ModelZoo manifest, so there is nothing to verify it against") }
                cases += found
            }
        }
        if models.isEmpty && manifest.isEmpty { throw ValidationError("give model files or --manifest") }
        if let filter {
            let re = try Regex(filter)
            cases = cases.filter { $0.name.contains(re) }
        }
        var passed = 0, failed = 0
        for entry in cases {
            do {
                let checks = try checkEntry(entry, threads: threads)
                let worst = checks.max { $0.relative < $1.relative }
                let ok = checks.allSatisfy(\.passed)
                print(String(format: "%@ %@: largest error %.3g of the peak (tolerance %.0e)", ok ? "pass" : "FAIL", entry.name, worst?.relative ?? 0, entry.tolerance))
                if ok { passed += 1 } else { failed += 1 }
            } catch {
                print("FAIL \(entry.name): \(error)")
                failed += 1
            }
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw CheckFailed(message: "\(failed) of \(cases.count) cases failed") }
    }
}
