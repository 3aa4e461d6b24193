import ArgumentParser
import Foundation
import Touchstone

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Time inference after warm-up on given or seeded random inputs.")

    @Argument(help: "The model file (.onnx).")
    var model: String

    @Option(name: .customLong("input"), help: ArgumentHelp("An input as NAME=FILE.npy (repeatable).", valueName: "NAME=FILE.npy"))
    var inputs: [String] = []

    @Option(help: "Inputs from a file: a Polygraphy inputs JSON (its first feed), a RunResults JSON, an .npz, or a folder of .npy/.pb files.")
    var loadInputs: String?

    @Option(help: "Batch size (the first dimension of every seeded input). Seeded floats are standard normal, integers 0 or 1 (as Polygraphy's data loader makes them).")
    var batch: Int = 1

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Shapes of seeded inputs, as Polygraphy writes them (e.g. input_ids:[1,128]); other symbolic dimensions are 1 after the batch.", valueName: "NAME:[D0,…]"))
    var inputShapes: [String] = []

    @Option(help: "Threads for Touchstone and OpenBLAS.")
    var threads: Int = 1

    @OptionGroup var precision: PrecisionOptions

    @Option(help: "Timed runs.")
    var runs: Int = 10

    @Option(help: "Untimed warm-up runs (at least).")
    var warmup: Int = 2

    @Option(help: "Warm up for at least this many milliseconds as well, so that timing starts in steady state (as trtexec's --warmUp, 200 ms by default); 0 for a count alone.")
    var warmupMs: Double = 200

    @Flag(help: "Print the time spent per op type and the slowest nodes.")
    var profile = false

    @Option(help: "How many of the slowest nodes --profile lists.")
    var profileNodes: Int = 12

    @Flag(help: "End with one JSON line: {\"lat_ms\": [...], \"load_s\": ..., \"peak_rss_mb\": ...}.")
    var json = false

    @OptionGroup var memory: MemoryOptions

    func validate() throws {
        try validateThreads(threads)
        guard batch >= 1, runs >= 1, warmup >= 0, warmupMs >= 0, warmupMs <= 600_000 else {
            throw ValidationError("--batch and --runs must be at least 1, --warmup at least 0, --warmup-ms from 0 to 600000")
        }
    }

    func run() throws {
        let url = URL(fileURLWithPath: model)
        let loadStart = Date()
        let m = try Model(contentsOf: url)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        var feeds: [String: Tensor] = try loadInputs.map { try loadFeeds($0, model: m) } ?? [:]
        for (k, v) in try parseInputAssignments(inputs, model: m) { feeds[k] = v }
        let shapes = try parseInputShapes(inputShapes, model: m)
        for (i, d) in m.inputs.enumerated() where feeds[d.name] == nil {
            if let given = shapes[d.name] {
                feeds[d.name] = Tensor.random(shape: try concreteShape(d, batch: batch, given: given), dtype: d.dtype, seed: UInt64(i))
                continue
            }
            let unset = symbolicInnerDimensions(d)
            if !unset.isEmpty {
                print("input \(d.name): symbolic dimension\(unset.count == 1 ? "" : "s") \(unset.joined(separator: ", ")) set to 1; give --input-shapes \(d.name):[…] to time another size")
            }
            var shape = try concreteShape(d, batch: batch)
            if !shape.isEmpty, d.dimensions?.first?.value != nil, shape[0] != batch {
                if batch != 1 { throw UsageError("input '\(d.name)' has a fixed first dimension \(shape[0]); --batch \(batch) cannot apply") }
            } else if !shape.isEmpty {
                shape[0] = batch
            }
            feeds[d.name] = Tensor.random(shape: shape, dtype: d.dtype, seed: UInt64(i))
        }
        let session = Session(model: m, options: SessionOptions(threads: threads, profile: profile, policy: try precision.policy(for: m)))
        let warmupStart = DispatchTime.now().uptimeNanoseconds
        var warmed = 0
        while warmed < warmup || Double(DispatchTime.now().uptimeNanoseconds - warmupStart) / 1e6 < warmupMs {
            _ = try session.run(feeds)
            warmed += 1
        }
        session.resetProfile()
        var lat: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try session.run(feeds)
            lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        let sorted = lat.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let rss = peakRSSMegabytes()
        print(String(format: "%@: batch %d, %d thread%@, %d runs after %d warm-up: median %.2f ms, min %.2f ms, max %.2f ms; load %.3f s; arena %.1f MB, outputs %.1f MB; peak RSS %.1f MB",
                     url.lastPathComponent, batch, threads, threads == 1 ? "" : "s", runs, warmed, median, sorted.first ?? 0, sorted.last ?? 0,
                     loadSeconds, Double(session.arenaBytes) / 1e6, Double(session.outputBufferBytes) / 1e6, rss))
        if profile {
            print("OpenBLAS kernels: \(GEMM.coreName); convolution kernel: \(PackedGEMM.selected.rawValue)")
            let total = session.profile.values.reduce(0) { $0 + $1.seconds }
            print("time per op type over the \(runs) timed runs:")
            for (op, p) in session.profile.sorted(by: { $0.value.seconds > $1.value.seconds }) {
                print(String(format: "  %-28@ %8.2f ms/run  %5.1f%%  (%d steps/run)", op as NSString, p.seconds * 1000 / Double(runs),
                             100 * p.seconds / max(total, 1e-12), p.count / runs))
            }
            print("slowest nodes:")
            let kinds = Dictionary(m.graph.nodes.map { ($0.name, $0.layer.opType) }, uniquingKeysWith: { a, _ in a })
            for (name, seconds) in session.nodeProfile.sorted(by: { $0.value > $1.value }).prefix(max(0, profileNodes)) {
                print(String(format: "  %8.3f ms/run  %@ (%@)", seconds * 1000 / Double(runs), name, kinds[name] ?? "?"))
            }
        }
        if json {
            let latText = lat.map { String(format: "%.4f", $0) }.joined(separator: ", ")
            print(String(format: "{\"lat_ms\": [%@], \"load_s\": %.4f, \"peak_rss_mb\": %.1f}", latText, loadSeconds, rss))
        }
    }
}

/// The process's peak resident set size (VmHWM), in MB; 0 where /proc is unavailable.
func peakRSSMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}
