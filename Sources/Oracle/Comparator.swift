import Foundation
import Runtime
import TensorCore

/// How a `Comparator` judges a candidate.
public struct ComparatorOptions: Sendable {
    /// Threads for Touchstone's runs.
    public var threads: Int
    /// Fixed tolerances (Polygraphy's defaults where none is given). With `derivedFor`, the
    /// per-name entries still override the derived atol/rtol of that tensor.
    public var tolerances: ToleranceTable
    /// Derive each tensor's tolerance for a correct backend of this precision (see
    /// `DerivedTolerance`); nil for the fixed tolerances.
    public var derivedFor: CandidatePrecision?
    /// The safety factor of derived tolerances.
    public var derivedFactor: Double
    /// INT8 ranges, for derived tolerances of INT8 candidates.
    public var activationRanges: [String: Float]
    /// Require equal shapes (Polygraphy's default); otherwise equal element counts suffice.
    public var checkShapes: Bool
    /// Split each tensor's error into local and inherited parts (see `Localization`).
    public var localize: Bool
    /// Where the simulated runs of FP16, BF16 and INT4 weight-only candidates add a convolution's
    /// bias (`ExecutionPolicy.biasAddition`): after-rounding for PyTorch's CUDA convolutions.
    public var biasAddition: ExecutionPolicy.BiasAddition
    /// How those simulated runs round SiLU (`ExecutionPolicy.siluRounding`): once for PyTorch.
    public var siluRounding: ExecutionPolicy.SiLURounding

    public init(
        threads: Int = ProcessInfo.processInfo.activeProcessorCount, tolerances: ToleranceTable = ToleranceTable(), derivedFor: CandidatePrecision? = nil,
        derivedFactor: Double = Oracle.defaultDerivedFactor, activationRanges: [String: Float] = [:], checkShapes: Bool = true, localize: Bool = false,
        biasAddition: ExecutionPolicy.BiasAddition = .inSum, siluRounding: ExecutionPolicy.SiLURounding = .perNode
    ) {
        self.threads = max(1, threads)
        self.tolerances = tolerances
        self.derivedFor = derivedFor
        self.derivedFactor = derivedFactor
        self.activationRanges = activationRanges
        self.checkShapes = checkShapes
        self.localize = localize
        self.biasAddition = biasAddition
        self.siluRounding = siluRounding
    }
}

/// The verdict on one candidate run.
public struct CandidateVerdict: Sendable {
    /// One comparison per candidate tensor the model computes, in the candidate's order.
    public let comparisons: [TensorComparison]
    /// The derived tolerances, by tensor name (empty with fixed tolerances).
    public let derived: [String: DerivedTolerance]
    /// With `localize`: where the error is made.
    public let localization: Localization?
    /// For the tensors of a QDQ model on a quantization grid that differ: their differences in
    /// whole quantization steps (see `StepFlips`).
    public let stepFlips: [String: StepFlips]

    public var passed: Bool { comparisons.allSatisfy(\.passed) }
}

/// Judges a candidate backend's tensors against Touchstone's runs of a model on the same inputs:
/// FP32 (the reference), FP64 (the ground truth, for derived tolerances and localization) and the
/// candidate's precision simulated. Runs are kept per feed, so several candidates on the same
/// inputs share them.
public final class Comparator {
    public let model: Model
    public let options: ComparatorOptions

    /// Touchstone's values of every captured tensor, by name, for one feed.
    struct Runs {
        var names: Set<String>
        var fp32: [String: Tensor]
        var fp64: [String: Tensor] = [:]
        var simulated: [String: Tensor] = [:]
    }
    private var cache: [Int: Runs] = [:]
    /// The quantization grid of each tensor: a QDQ model's Q/DQ outputs, and for INT8 candidates
    /// (TensorRT's implicit quantization) every calibrated activation, step amax/127.
    private lazy var steps: [String: Double] = {
        var s = Oracle.quantizationSteps(of: model.graph)
        if options.derivedFor == .int8 {
            for (name, amax) in options.activationRanges where amax > 0 && amax.isFinite && s[name] == nil { s[name] = Double(amax) / 127 }
        }
        return s
    }()

    public init(model: Model, options: ComparatorOptions = ComparatorOptions()) {
        self.model = model
        self.options = options
    }

    /// The names of the tensors the model computes (node outputs).
    public var computedNames: Set<String> { Set(model.graph.computedNames) }

    /// Touchstone's FP32 value of `name` on the feed last judged with `feedKey`, if captured.
    public func reference(_ name: String, feedKey: Int) -> Tensor? { cache[feedKey]?.fp32[name] }

    private func session(_ policy: ExecutionPolicy, _ names: Set<String>) -> Session {
        Session(model: model, options: SessionOptions(threads: options.threads, taps: .names(names), policy: policy))
    }

    private func run(_ s: Session, _ feed: [String: Tensor], substitutes: [String: Tensor] = [:]) throws -> [String: Tensor] {
        let outs = try s.run(feed, substitutes: substitutes)
        return outs.merging(s.tapped) { a, _ in a }
    }

    private func policy(_ p: CandidatePrecision) -> ExecutionPolicy {
        ExecutionPolicy(precision: p.numericFormat, activationRanges: options.activationRanges, biasAddition: options.biasAddition, siluRounding: options.siluRounding)
    }

    /// Touchstone's runs on a feed, capturing `names` (cached under `feedKey`; a feed judged
    /// again with more names is run again).
    func runs(_ feed: [String: Tensor], feedKey: Int, names: Set<String>) throws -> Runs {
        if let r = cache[feedKey], names.isSubset(of: r.names) { return r }
        let all = names.union(cache[feedKey]?.names ?? [])
        var r = Runs(names: all, fp32: try run(session(.fp32, all), feed))
        if options.derivedFor != nil || options.localize {
            r.fp64 = try run(session(ExecutionPolicy(precision: .fp64), all), feed)
        }
        if let p = options.derivedFor, p != .fp32 {
            r.simulated = try run(session(policy(p), all), feed)
        }
        cache[feedKey] = r
        return r
    }

    /// Judges a candidate's tensors (each named as the model names it) computed on `feed`.
    /// `feedKey` identifies the feed for reusing Touchstone's runs.
    public func judge(_ candidate: NamedTensors, feed: [String: Tensor], feedKey: Int) throws -> CandidateVerdict {
        let names = Set(candidate.names)
        let r = try runs(feed, feedKey: feedKey, names: names)
        var comparisons: [TensorComparison] = []
        var derivations: [String: DerivedTolerance] = [:]
        for (name, t) in candidate.pairs {
            guard let ref = r.fp32[name] else {
                throw OracleError.usage("Touchstone computes no tensor '\(Oracle.printable(name))'")
            }
            var tol = options.tolerances.tolerance(for: name)
            if let p = options.derivedFor, let truth = r.fp64[name], let d = derive(ref, truth, r.simulated[name] ?? ref, p, tol) {
                derivations[name] = d
                tol = overridden(d.tolerance, name)
            }
            comparisons.append(Oracle.compare(t, ref, name: name, tolerance: tol, checkShapes: options.checkShapes))
        }
        let localization = options.localize ? try localize(candidate, feed: feed, runs: r, comparisons: comparisons) : nil
        var flips: [String: StepFlips] = [:]
        for c in comparisons where c.shapeMismatch == nil && c.absolute.max != 0 {
            if let step = steps[c.name] { flips[c.name] = Oracle.stepFlips(c, step: step) }
        }
        return CandidateVerdict(comparisons: comparisons, derived: derivations, localization: localization, stepFlips: flips)
    }

    private func derive(_ ref: Tensor, _ truth: Tensor, _ sim: Tensor, _ p: CandidatePrecision, _ tol: Tolerance) -> DerivedTolerance? {
        Oracle.deriveTolerance(
            reference: ref, truth: truth, simulated: sim, precision: p, statistic: tol.errorStatistic, quantile: tol.quantile,
            factor: options.derivedFactor, infinitiesCompareEqual: tol.infinitiesCompareEqual)
    }

    /// Per-name atol/rtol given explicitly win over derived ones.
    private func overridden(_ t: Tolerance, _ name: String) -> Tolerance {
        var t = t
        if let a = options.tolerances.atol[name] { t.atol = a }
        if let r = options.tolerances.rtol[name] { t.rtol = r }
        return t
    }

    /// Teacher forcing: Touchstone reruns the graph with every tensor the candidate holds
    /// replaced by the candidate's values, so each tensor's value is what a correct computation
    /// of its segment gives from the candidate's own inputs to the segment. The segments' local
    /// tolerances come from the segments computed in FP64 and in the simulated precision from
    /// Touchstone's own FP32 values of the tensors around them.
    private func localize(_ candidate: NamedTensors, feed: [String: Tensor], runs r: Runs, comparisons: [TensorComparison]) throws -> Localization {
        let names = Set(candidate.names)
        let forced = try run(session(.fp32, names), feed, substitutes: candidate.tensors)
        let referenceSubstitutes = r.fp32.filter { names.contains($0.key) }
        let localTruth = try run(session(ExecutionPolicy(precision: .fp64), names), feed, substitutes: referenceSubstitutes)
        var localSimulated = r.fp32
        if let p = options.derivedFor, p != .fp32 {
            localSimulated = try run(session(policy(p), names), feed, substitutes: referenceSubstitutes)
        }
        let segments = Localization.segments(of: model.graph, ending: names)
        let judged = Dictionary(comparisons.map { ($0.name, $0.tolerance) }, uniquingKeysWith: { a, _ in a })
        var entries: [Localization.Entry] = []
        for name in Localization.topologicalOrder(of: model.graph, names: names) {
            guard let cand = candidate[name], let f = forced[name], let ref = r.fp32[name] else { continue }
            var tol = judged[name] ?? options.tolerances.tolerance(for: name)
            var how: String?
            if let p = options.derivedFor, let truth = localTruth[name], let sim = localSimulated[name], let d = derive(ref, truth, sim, p, tol) {
                tol = overridden(d.tolerance, name)
                how = d.explanation
            }
            entries.append(
                Localization.Entry(
                    tensor: name, segment: segments[name] ?? [],
                    local: Oracle.compare(cand, f, name: name, tolerance: tol, checkShapes: options.checkShapes),
                    inherited: Oracle.compare(f, ref, name: name, tolerance: tol, checkShapes: options.checkShapes),
                    total: Oracle.compare(cand, ref, name: name, tolerance: tol, checkShapes: options.checkShapes),
                    derivation: how))
        }
        return Localization(entries: entries)
    }
}
