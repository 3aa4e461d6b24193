import Foundation
import Oracle
import Runtime
import TensorCore
import Testing
import XCTest

// Helpers for users' own tests, for Swift Testing (`expectAgreement`) and XCTest
// (`XCTAssertAgreement`). A failure says which tensor, how much, where, and the tolerance that
// would pass; the verdict is returned for further checks.

// MARK: - Swift Testing

/// Expects `candidate` to agree with `reference` under `rule` (Polygraphy's default tolerances
/// unless given); records an issue at the caller otherwise.
@discardableResult
public func expectAgreement(
    _ candidate: Tensor, _ reference: Tensor, _ name: String = "tensor", rule: AgreementRule = .polygraphy(.polygraphyDefault),
    sourceLocation: SourceLocation = #_sourceLocation
) -> Agreement {
    let a = Oracle.agreement(candidate, reference, name: name, rule: rule)
    if !a.passed { Issue.record(Comment(rawValue: a.message), sourceLocation: sourceLocation) }
    return a
}

/// Expects `candidate` to agree with `reference` within `tolerance` (Polygraphy's rule).
@discardableResult
public func expectAgreement(
    _ candidate: Tensor, _ reference: Tensor, _ name: String = "tensor", tolerance: Tolerance, sourceLocation: SourceLocation = #_sourceLocation
) -> Agreement {
    expectAgreement(candidate, reference, name, rule: .polygraphy(tolerance), sourceLocation: sourceLocation)
}

/// Runs `model` on `inputs` in Touchstone and expects every tensor of `candidate` (outputs and
/// any intermediate tensors, by the model's names) to agree with Touchstone's: within the fixed
/// tolerances, or within tolerances derived for a correct backend of `derivedFor` (see
/// `DerivedTolerance`). With `localize`, a failure also names the first segment of the graph
/// that makes more error than its tolerance.
@discardableResult
public func expectAgreement(
    model: Model, inputs: [String: Tensor], candidate: [String: Tensor], tolerances: ToleranceTable = ToleranceTable(),
    derivedFor: CandidatePrecision? = nil, localize: Bool = false, threads: Int = 1, sourceLocation: SourceLocation = #_sourceLocation
) throws -> CandidateVerdict {
    let verdict = try judge(model: model, inputs: inputs, candidate: candidate, tolerances: tolerances, derivedFor: derivedFor, localize: localize, threads: threads)
    for message in failureMessages(verdict) { Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation) }
    return verdict
}

// MARK: - XCTest

/// Asserts that `candidate` agrees with `reference` under `rule`.
@discardableResult
public func XCTAssertAgreement(
    _ candidate: Tensor, _ reference: Tensor, _ name: String = "tensor", rule: AgreementRule = .polygraphy(.polygraphyDefault),
    file: StaticString = #filePath, line: UInt = #line
) -> Agreement {
    let a = Oracle.agreement(candidate, reference, name: name, rule: rule)
    if !a.passed { XCTFail(a.message, file: file, line: line) }
    return a
}

/// Runs `model` on `inputs` and asserts that every tensor of `candidate` agrees with Touchstone's
/// (see `expectAgreement(model:inputs:candidate:…)`).
@discardableResult
public func XCTAssertAgreement(
    model: Model, inputs: [String: Tensor], candidate: [String: Tensor], tolerances: ToleranceTable = ToleranceTable(),
    derivedFor: CandidatePrecision? = nil, localize: Bool = false, threads: Int = 1, file: StaticString = #filePath, line: UInt = #line
) throws -> CandidateVerdict {
    let verdict = try judge(model: model, inputs: inputs, candidate: candidate, tolerances: tolerances, derivedFor: derivedFor, localize: localize, threads: threads)
    for message in failureMessages(verdict) { XCTFail(message, file: file, line: line) }
    return verdict
}

// MARK: - Shared

func judge(
    model: Model, inputs: [String: Tensor], candidate: [String: Tensor], tolerances: ToleranceTable, derivedFor: CandidatePrecision?, localize: Bool, threads: Int
) throws -> CandidateVerdict {
    let comparator = Comparator(
        model: model, options: ComparatorOptions(threads: threads, tolerances: tolerances, derivedFor: derivedFor, localize: localize))
    let known = comparator.computedNames
    let unknown = candidate.keys.filter { !known.contains($0) }.sorted()
    if !unknown.isEmpty {
        throw OracleError.usage("the model computes no tensor named \(unknown.map { "'\(Oracle.printable($0))'" }.joined(separator: ", "))")
    }
    let order = model.graph.computedNames.filter { candidate[$0] != nil }
    return try comparator.judge(NamedTensors(order.compactMap { n in candidate[n].map { (n, $0) } }), feed: inputs, feedKey: 0)
}

/// One message per failing tensor, and where the error is made when localized.
public func failureMessages(_ verdict: CandidateVerdict) -> [String] {
    var out = verdict.comparisons.filter { !$0.passed }.map { c -> String in
        var m = c.failureMessage
        if let d = verdict.derived[c.name] { m += " [tolerance: \(d.explanation)]" }
        return m
    }
    if !out.isEmpty, let first = verdict.localization?.firstDivergent {
        out.append("the first segment that makes more error than its tolerance computes '\(Oracle.printable(first.tensor))': nodes \(first.segment.map { "'\(Oracle.printable($0))'" }.joined(separator: ", ")) (local max error \(first.local.absolute.max), tolerance \(first.local.tolerance.atol))")
    }
    return out
}
