import TensorCore

/// A named rule for whether a tensor agrees with its reference: the one definition of
/// "agree" that `compare`, `verify`, `conformance`, the bundled demo and the tests use.
///
/// NaN and infinities, for every rule: a NaN agrees with a NaN at the same place and with
/// nothing else; an infinity agrees with the same infinity (for `polygraphy`, only with
/// `infinitiesCompareEqual`, as in Polygraphy).
public enum AgreementRule: Sendable, Equatable, CustomStringConvertible {
    /// Polygraphy's rule (see `Tolerance` and `Oracle.compare`): an element fails only when it
    /// is outside both atol and rtol; NaN differences fail.
    case polygraphy(Tolerance)
    /// numpy's `allclose` and the ONNX node tests': `|c − r| ≤ atol + rtol·|r|` per element.
    case allClose(rtol: Double, atol: Double)
    /// The ModelZoo manifests' rule: `max |c − r| ≤ tolerance · max |r|`, so that the error is
    /// judged against the tensor's scale (two correct FP32 runtimes differ by a few 1e-4 of the
    /// largest logit on deep nets).
    case peakRelative(Double)
    /// frugally-deep's rule for the test case a model file embeds:
    /// `max |c − r| ≤ tolerance · max(1, max |r|)`.
    case frugallyDeep(Double)
    /// Bit for bit (NaNs of any payload agree with each other).
    case exact

    public var description: String {
        switch self {
        case .polygraphy(let t): return "Polygraphy's rule (atol \(t.atol), rtol \(t.rtol), \(t.errorStatistic.rawValue))"
        case .allClose(let r, let a): return "|c − r| ≤ \(a) + \(r)·|r|"
        case .peakRelative(let t): return "max |c − r| ≤ \(t) · max |r|"
        case .frugallyDeep(let t): return "max |c − r| ≤ \(t) · max(1, max |r|)"
        case .exact: return "bitwise equality"
        }
    }
}

/// The verdict of an `AgreementRule` on one tensor.
public struct Agreement: Sendable {
    public let name: String
    public let rule: AgreementRule
    public let passed: Bool
    /// The largest |candidate − reference| (∞ for a NaN or infinity mismatch).
    public let maxAbsoluteError: Double
    /// The largest |reference| (finite values).
    public let peak: Double
    /// The bound the largest error is held to, for the max-based rules.
    public let bound: Double?
    /// Elements that do not agree.
    public let failingElements: Int
    /// The worst element (a mismatch first, then the largest error).
    public let worst: WorstElement?
    /// Why the tensors could not be compared (shape or element type), if so.
    public let mismatch: String?
    /// For Polygraphy's rule, the full comparison.
    public let comparison: TensorComparison?

    /// One sentence: which tensor, how much, where, and what would pass.
    public var message: String {
        if let comparison { return comparison.failureMessage }
        if let mismatch { return "'\(Oracle.printable(name))': \(mismatch)" }
        var s = "'\(Oracle.printable(name))': \(passed ? "agrees" : "disagrees") under \(rule)"
        s += "; largest error \(format(maxAbsoluteError))"
        if let bound { s += " against a bound of \(format(bound))" }
        if peak > 0 { s += " (\(format(maxAbsoluteError / peak)) of the peak \(format(peak)))" }
        if let w = worst, !passed {
            s += "; \(failingElements) element\(failingElements == 1 ? "" : "s") outside, the worst at \(w.index): candidate \(w.candidate), reference \(w.reference)"
        }
        return s
    }
}

func format(_ x: Double) -> String { x.isNaN ? "nan" : x.isInfinite ? (x > 0 ? "inf" : "-inf") : String(format: "%.3g", x) }

extension TensorComparison {
    /// One sentence: which tensor, how much, where, and the tolerance that would pass.
    public var failureMessage: String {
        let t = tolerance
        var s = "'\(Oracle.printable(name))' \(shape)"
        if let shapeMismatch { return s + ": " + shapeMismatch }
        s += passed ? ": within" : ": \(failingElements) of \(absoluteDifferences.count) elements outside"
        s += " atol \(format(t.atol)) / rtol \(format(t.rtol)) (\(t.errorStatistic.rawValue)"
        s += t.errorStatistic == .quantile ? " \(format(t.quantile)))" : ")"
        if let w = worst, w.absolute > 0 || w.absolute.isNaN {
            s += "; largest difference \(format(w.absolute)) at \(w.index): candidate \(w.candidate), reference \(w.reference)"
        }
        if !passed {
            if t.errorStatistic == .elemwise {
                s += "; passes with atol ≥ \(format(requiredAtolAtRtol)) at rtol \(format(t.rtol)), or rtol ≥ \(format(requiredRtolAtAtol)) at atol \(format(t.atol))"
            } else {
                s += "; passes with atol ≥ \(format(requiredAtol)) or rtol ≥ \(format(requiredRtol))"
            }
        }
        return s
    }
}

extension Oracle {
    /// Judges `candidate` against `reference` under a named rule.
    public static func agreement(_ candidate: Tensor, _ reference: Tensor, name: String, rule: AgreementRule) -> Agreement {
        if case .polygraphy(let t) = rule {
            let c = compare(candidate, reference, name: name, tolerance: t)
            return Agreement(
                name: name, rule: rule, passed: c.passed, maxAbsoluteError: c.absolute.max.isNaN ? .infinity : c.absolute.max,
                peak: c.referenceStatistics.maximum.magnitude, bound: nil, failingElements: c.failingElements, worst: c.worst, mismatch: c.shapeMismatch, comparison: c)
        }
        func refuse(_ why: String) -> Agreement {
            Agreement(name: name, rule: rule, passed: false, maxAbsoluteError: .infinity, peak: 0, bound: nil, failingElements: candidate.count, worst: nil, mismatch: why, comparison: nil)
        }
        guard candidate.shape == reference.shape else { return refuse("the candidate has shape \(candidate.shape), the reference \(reference.shape)") }
        // Strings agree only when equal, whatever the rule.
        if candidate.dtype == .string || reference.dtype == .string {
            guard let cs = candidate.strings, let rs = reference.strings else { return refuse("the candidate is \(candidate.dtype), the reference \(reference.dtype)") }
            // By code points: Swift's `==` would equate canonically equivalent strings.
            let differing = rs.indices.filter { !cs[$0].unicodeScalars.elementsEqual(rs[$0].unicodeScalars) }
            guard let k = differing.first else {
                return Agreement(name: name, rule: rule, passed: true, maxAbsoluteError: 0, peak: 0, bound: nil, failingElements: 0, worst: nil, mismatch: nil, comparison: nil)
            }
            return refuse("\(differing.count) of \(rs.count) strings differ; the first, element \(k): \"\(Oracle.printable(cs[k]))\", the reference \"\(Oracle.printable(rs[k]))\"")
        }
        let c: [Double], r: [Double]
        if candidate.dtype == .int64 || reference.dtype == .int64 {
            // Exact for the whole int64 range where both are integers.
            c = candidate.dtype.isFloatingPoint ? candidate.doubles() : candidate.int64s().map(Double.init)
            r = reference.dtype.isFloatingPoint ? reference.doubles() : reference.int64s().map(Double.init)
        } else {
            c = candidate.doubles()
            r = reference.doubles()
        }
        if case .exact = rule {
            guard candidate.dtype == reference.dtype else { return refuse("the candidate is \(candidate.dtype), the reference \(reference.dtype)") }
        }
        var peak = 0.0, maxErr = 0.0, failing = 0, worstIndex = -1, worstScore = -1.0
        for i in 0..<r.count where r[i].isFinite { peak = max(peak, r[i].magnitude) }
        let bound: Double?
        switch rule {
        case .peakRelative(let t): bound = t * peak
        case .frugallyDeep(let t): bound = t * max(1, peak)
        default: bound = nil
        }
        let candidateBits = rule == .exact ? candidate.withUnsafeBytes { Array($0) } : []
        let referenceBits = rule == .exact ? reference.withUnsafeBytes { Array($0) } : []
        let size = candidate.dtype.byteSize
        for i in 0..<r.count {
            let a = c[i], b = r[i]
            let err: Double
            var fails: Bool
            if a.isNaN || b.isNaN {
                err = a.isNaN && b.isNaN ? 0 : .infinity
            } else if a.isInfinite || b.isInfinite {
                err = a == b ? 0 : .infinity
            } else {
                err = (a - b).magnitude
            }
            switch rule {
            case .allClose(let rtol, let atol): fails = !(err <= atol + rtol * (b.isFinite ? b.magnitude : 0))
            case .peakRelative, .frugallyDeep: fails = !(err <= (bound ?? 0))
            case .exact:
                fails = !(a.isNaN && b.isNaN) && candidateBits[(i * size)..<((i + 1) * size)] != referenceBits[(i * size)..<((i + 1) * size)]
            case .polygraphy: fails = false
            }
            if fails { failing += 1 }
            maxErr = max(maxErr, err)
            let score = (fails ? 1e300 : 0) + (err.isFinite ? err : 1e299)
            if score > worstScore { worstScore = score; worstIndex = i }
        }
        let worst = worstIndex < 0 ? nil : WorstElement(
            index: multiIndex(worstIndex, shape: reference.shape), candidate: c[worstIndex], reference: r[worstIndex],
            absolute: (c[worstIndex] - r[worstIndex]).magnitude, relative: (c[worstIndex] - r[worstIndex]).magnitude / r[worstIndex].magnitude)
        return Agreement(
            name: name, rule: rule, passed: failing == 0, maxAbsoluteError: maxErr, peak: peak, bound: bound, failingElements: failing,
            worst: worst, mismatch: nil, comparison: nil)
    }
}
