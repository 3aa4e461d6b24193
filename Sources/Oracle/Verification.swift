import Runtime

/// The result of `Model.verify()`: one agreement per output the embedded test case holds.
public struct Verification: Sendable {
    public let outputs: [Agreement]
    public var passed: Bool { !outputs.isEmpty && outputs.allSatisfy(\.passed) }
}

extension Model {
    /// Runs the test case the file embeds (Keras JSON files carry one) and judges every stored
    /// output with frugally-deep's rule, `max |got − expected| ≤ tolerance · max(1, max |expected|)`
    /// (its default 1e-4). Nil when the file carries no test case.
    public func verify(tolerance: Double = 1e-4, options: SessionOptions = SessionOptions()) throws -> Verification? {
        guard let test = embeddedTest else { return nil }
        let got = try run(test.inputs, options: options)
        var outputs: [Agreement] = []
        for decl in self.outputs {
            guard let expected = test.outputs[decl.name] else { continue }
            guard let g = got[decl.name] else { continue }
            outputs.append(Oracle.agreement(g, expected, name: decl.name, rule: .frugallyDeep(tolerance)))
        }
        return Verification(outputs: outputs)
    }
}
