import ArgumentParser
import Foundation
import Touchstone

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check models against their stored expected outputs (ModelZoo manifest cases).",
        discussion: """
            For a Keras JSON file, runs the test case it embeds: each output must satisfy |got − expected| ≤ \
            1e-4 · max(1, max|expected|). For an ONNX file, runs every case of the ModelZoo manifests that names that \
            file. With --manifest, runs every case of that manifest. Each output must satisfy \
            max|got − expected| ≤ tolerance · max|expected|.
            """)

    @Argument(help: "Model files to verify.")
    var models: [String] = []

    @Option(help: "A manifest.json whose cases to run (repeatable).")
    var manifest: [String] = []

    @Option(help: "Only cases whose name matches this POSIX extended regular expression (anywhere in the name, e.g. ^conv_).")
    var filter: String?

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var memory: MemoryOptions

    func validate() throws { try validateThreads(threads) }

    func run() throws {
        var cases: [ZooEntry] = []
        if !manifest.isEmpty {
            let urls = manifest.map { URL(fileURLWithPath: $0) }
            cases += try ModelZoo.load(manifests: urls, root: urls[0].deletingLastPathComponent()).entries
        }
        var passed = 0, failed = 0
        // Files that carry their own test case (Keras JSON) are checked against it.
        var listed: [String] = []
        for m in models {
            guard let model = try Model(kerasJSONAt: URL(fileURLWithPath: m)), model.embeddedTest != nil else {
                listed.append(m)
                continue
            }
            do {
                let result = try model.verify(options: SessionOptions(threads: threads))
                for o in result?.outputs ?? [] {
                    print(String(format: "%@ %@ output %@: largest error %.3g (bound %.3g = 1e-4 · max(1, peak))",
                                 o.passed ? "pass" : "FAIL", m, o.name, o.maxAbsoluteError, o.bound ?? 0))
                }
                if result?.passed == true { passed += 1 } else { failed += 1 }
            } catch {
                print("FAIL \(m): \(error)")
                failed += 1
            }
        }
        if !listed.isEmpty {
            guard let root = ModelZoo.locate() else { throw UsageError("cannot find the ModelZoo to look the models up in") }
            let zoo = try ModelZoo.load(root)
            for m in listed {
                let path = URL(fileURLWithPath: m).standardizedFileURL.resolvingSymlinksInPath().path
                let found = zoo.entries.filter { $0.modelURL.standardizedFileURL.resolvingSymlinksInPath().path == path }
                if found.isEmpty { throw UsageError("\(m) is not listed in a ModelZoo manifest, so there is nothing to verify it against") }
                cases += found
            }
        }
        if models.isEmpty && manifest.isEmpty { throw ValidationError("give model files or --manifest") }
        if let filter {
            let re = try NameFilter(filter)
            cases = cases.filter { re.matches($0.name) }
        }
        for entry in cases {
            do {
                let checks = try checkEntry(entry, threads: threads)
                func relative(_ a: Agreement) -> Double { a.maxAbsoluteError / max(a.peak, .leastNormalMagnitude) }
                let worst = checks.max { relative($0) < relative($1) }
                let ok = checks.allSatisfy(\.passed)
                print(String(format: "%@ %@: largest error %.3g of the peak (tolerance %.0e)", ok ? "pass" : "FAIL", entry.name, worst.map(relative) ?? 0, entry.tolerance))
                for c in checks where !c.passed { print("  " + c.message) }
                if ok { passed += 1 } else { failed += 1 }
            } catch {
                print("FAIL \(entry.name): \(error)")
                failed += 1
            }
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw CheckFailed(message: "\(failed) of \(passed + failed) cases failed") }
    }
}
