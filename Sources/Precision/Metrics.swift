import Foundation
import TensorCore

/// Error of a candidate tensor against a reference, accumulated over samples: every sum runs over
/// all values of all samples, so SQNR and cosine are those of the concatenated data.
public struct ErrorStatistics: Sendable, Equatable {
    public var count = 0
    /// Σ ref², Σ cand², Σ (cand − ref)², Σ ref·cand: each sample's sum (in element order, Double)
    /// added exactly, so that the totals do not depend on the order of the samples (a sharded
    /// report merges to the same bits).
    var referenceSum = ExactSum(), candidateSum = ExactSum(), errorSum = ExactSum(), dotSum = ExactSum()
    public var referenceEnergy: Double { referenceSum.value }
    public var candidateEnergy: Double { candidateSum.value }
    public var errorEnergy: Double { errorSum.value }
    public var dot: Double { dotSum.value }
    public var maxAbsError = 0.0
    public var maxAbsReference = 0.0
    /// Infinities and NaNs in the candidate where the reference is finite.
    public var nonFinite = 0

    public init() {}

    public mutating func add(reference: Tensor, candidate: Tensor) {
        let r = reference.doubles(), c = candidate.doubles()
        precondition(r.count == c.count, "reference and candidate differ in size")
        count += r.count
        var referenceEnergy = 0.0, candidateEnergy = 0.0, errorEnergy = 0.0, dot = 0.0
        for i in 0..<r.count {
            let a = r[i], b = c[i]
            guard a.isFinite else { continue }
            maxAbsReference = Swift.max(maxAbsReference, a.magnitude)
            guard b.isFinite else { nonFinite += 1; continue }
            let d = b - a
            referenceEnergy += a * a
            candidateEnergy += b * b
            errorEnergy += d * d
            dot += a * b
            maxAbsError = Swift.max(maxAbsError, d.magnitude)
        }
        referenceSum.add(referenceEnergy)
        candidateSum.add(candidateEnergy)
        errorSum.add(errorEnergy)
        dotSum.add(dot)
    }

    /// Adds another set of samples' statistics (a shard's).
    public mutating func merge(_ o: ErrorStatistics) {
        count += o.count
        referenceSum.add(o.referenceSum)
        candidateSum.add(o.candidateSum)
        errorSum.add(o.errorSum)
        dotSum.add(o.dotSum)
        maxAbsError = Swift.max(maxAbsError, o.maxAbsError)
        maxAbsReference = Swift.max(maxAbsReference, o.maxAbsReference)
        nonFinite += o.nonFinite
    }

    /// Signal-to-quantization-noise ratio in dB: 10·log10(Σ ref² / Σ (cand − ref)²); +∞ when equal.
    public var sqnr: Double {
        if nonFinite > 0 { return -.infinity }
        if errorEnergy == 0 { return .infinity }
        if referenceEnergy == 0 { return -.infinity }
        return 10 * Foundation.log10(referenceEnergy / errorEnergy)
    }

    /// Cosine similarity of the concatenated values (1 when both are zero).
    public var cosine: Double {
        if nonFinite > 0 { return .nan }
        let d = (referenceEnergy * candidateEnergy).squareRoot()
        return d == 0 ? (referenceEnergy == candidateEnergy ? 1 : 0) : dot / d
    }

    /// ‖cand − ref‖ / ‖ref‖.
    public var relativeL2: Double { referenceEnergy == 0 ? (errorEnergy == 0 ? 0 : .infinity) : (errorEnergy / referenceEnergy).squareRoot() }

    /// Largest absolute error relative to the reference's largest magnitude.
    public var maxRelativeError: Double { maxAbsReference == 0 ? maxAbsError : maxAbsError / maxAbsReference }
}

/// Classifier-output agreement of a candidate against a reference, over samples.
public struct OutputStatistics: Sendable, Equatable {
    public var errors = ErrorStatistics()
    public var samples = 0
    /// Rows (samples × batch) compared for top-1.
    public var rows = 0
    public var top1Agreements = 0
    /// Σ KL over rows: each sample's sum added exactly (see `ErrorStatistics`).
    var klTotal = ExactSum()
    public var klSum: Double { klTotal.value }
    /// With labels: rows whose candidate top-1 is the label.
    public var correct = 0
    public var labelled = 0

    public init() {}

    /// Adds one sample's output. `label` applies to the single row of a batch-1 output.
    public mutating func add(reference: Tensor, candidate: Tensor, label: Int?) {
        errors.add(reference: reference, candidate: candidate)
        samples += 1
        guard let classes = reference.shape.last, classes > 1, reference.count > 0 else { return }
        let r = reference.doubles(), c = candidate.doubles()
        var klSum = 0.0
        defer { klTotal.add(klSum) }
        for row in 0..<(r.count / classes) {
            let rs = Array(r[(row * classes)..<((row + 1) * classes)]), cs = Array(c[(row * classes)..<((row + 1) * classes)])
            let ra = OutputStatistics.argmax(rs), ca = OutputStatistics.argmax(cs)
            rows += 1
            if ra == ca { top1Agreements += 1 }
            klSum += OutputStatistics.klDivergence(softmax(rs), softmax(cs))
            if let label, r.count == classes {
                labelled += 1
                if ca == label { correct += 1 }
            }
        }
    }

    /// Adds another set of samples' statistics (a shard's).
    public mutating func merge(_ o: OutputStatistics) {
        errors.merge(o.errors)
        samples += o.samples
        rows += o.rows
        top1Agreements += o.top1Agreements
        klTotal.add(o.klTotal)
        correct += o.correct
        labelled += o.labelled
    }

    public var top1Agreement: Double { rows == 0 ? .nan : Double(top1Agreements) / Double(rows) }
    public var flipRate: Double { rows == 0 ? .nan : 1 - top1Agreement }
    public var meanKL: Double { rows == 0 ? .nan : klSum / Double(rows) }
    public var accuracy: Double? { labelled == 0 ? nil : Double(correct) / Double(labelled) }

    static func argmax(_ v: [Double]) -> Int {
        var best = 0
        for i in v.indices where v[i] > v[best] || (v[best].isNaN && !v[i].isNaN) { best = i }
        return best
    }

    func softmax(_ v: [Double]) -> [Double] {
        let m = v.filter(\.isFinite).max() ?? 0
        let e = v.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// KL(p‖q) in nats, with q floored at 1e-12 so that a zero probability gives a large, finite value.
    static func klDivergence(_ p: [Double], _ q: [Double]) -> Double {
        var kl = 0.0
        for i in p.indices where p[i] > 0 { kl += p[i] * Foundation.log(p[i] / Swift.max(q[i], 1e-12)) }
        return Swift.max(0, kl)
    }
}
