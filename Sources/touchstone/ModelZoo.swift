import Foundation
import JSONC
import Touchstone

/// One entry of a ModelZoo manifest (`ModelZoo/manifest.json`, `ModelZoo/generated/manifest.json`).
struct ZooEntry {
    let name: String
    let root: URL
    let file: String
    let sha256: String?
    let inputs: [String: String]
    let outputs: [String: String]
    let tolerance: Double
    let labelledData: (file: String, input: String, labels: String)?
    let referenceAccuracy: Double?

    var modelURL: URL { root.appendingPathComponent(file) }
}

/// The ModelZoo manifests.
struct ModelZoo {
    let root: URL
    let entries: [ZooEntry]
    let defaultName: String?

    /// Finds the ModelZoo: $TOUCHSTONE_MODELZOO, ./ModelZoo, or a ModelZoo beside an ancestor of
    /// the executable (a build directory inside the repository).
    static func locate() -> URL? {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["TOUCHSTONE_MODELZOO"] { candidates.append(URL(fileURLWithPath: env)) }
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("ModelZoo"))
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent("ModelZoo"))
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }
    }

    /// Reads `root/manifest.json` and, when present, the manifests of `root/ops` and `root/generated`.
    static func load(_ root: URL) throws -> ModelZoo {
        try load(manifests: ["", "ops", "generated"].map { root.appendingPathComponent($0).appendingPathComponent("manifest.json") }, root: root)
    }

    /// Reads the given manifests (missing ones are skipped); the first one's `default` is kept.
    static func load(manifests: [URL], root: URL) throws -> ModelZoo {
        var entries: [ZooEntry] = []
        var defaultName: String?
        for url in manifests {
            let dir = url.deletingLastPathComponent()
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let json = try JSON.parse(contentsOf: url)
            if defaultName == nil { defaultName = json["default"]?.string }
            for m in json["models"]?.array ?? [] {
                guard let name = m["name"]?.string, let file = m["file"]?.string else {
                    throw UsageError("\(url.path): a model entry lacks 'name' or 'file'")
                }
                var labelled: (String, String, String)?
                if let l = m["labelled_data"], let f = l["file"]?.string, let i = l["input"]?.string, let y = l["labels"]?.string {
                    labelled = (f, i, y)
                }
                entries.append(ZooEntry(
                    name: name, root: dir, file: file, sha256: m["sha256"]?.string,
                    inputs: (m["inputs"]?.object ?? [:]).compactMapValues(\.string),
                    outputs: (m["outputs"]?.object ?? [:]).compactMapValues(\.string),
                    tolerance: m["tolerance"]?.number ?? 5e-4, labelledData: labelled,
                    referenceAccuracy: m["reference_accuracy"]?.number))
            }
        }
        return ModelZoo(root: root, entries: entries, defaultName: defaultName)
    }
}

/// The manifests' rule: max |got − expected| ≤ tolerance · max |expected| (see `AgreementRule.peakRelative`).
func compareOutput(name: String, got: Tensor, expected: Tensor, tolerance: Double) -> Agreement {
    Oracle.agreement(got, expected, name: name, rule: .peakRelative(tolerance))
}

/// Runs a zoo entry's inputs and compares every output; returns the checks.
func checkEntry(_ entry: ZooEntry, threads: Int) throws -> [Agreement] {
    let model = try Model(contentsOf: entry.modelURL)
    var feeds: [String: Tensor] = [:]
    for (name, file) in entry.inputs { feeds[name] = try NPY.read(contentsOf: entry.root.appendingPathComponent(file)) }
    let outputs = try Session(model: model, options: SessionOptions(threads: threads)).run(feeds)
    return try entry.outputs.keys.sorted().map { name in
        guard let got = outputs[name] else { throw CheckFailed(message: "the model produced no output '\(name)'") }
        let expected = try NPY.read(contentsOf: entry.root.appendingPathComponent(entry.outputs[name] ?? ""))
        return compareOutput(name: name, got: got, expected: expected, tolerance: entry.tolerance)
    }
}
