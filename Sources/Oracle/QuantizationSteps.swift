import Layers
import Runtime
import TensorCore

/// How a tensor's differences fall on its quantization grid: for the outputs of a QDQ model's
/// QuantizeLinear (integer units) and DequantizeLinear (units of the scale) nodes with one
/// constant scale, how many elements differ by exactly k steps. Two correct evaluations of a
/// quantized model differ this way when a last-bit difference in a QuantizeLinear's input crosses
/// a rounding boundary (a rounding-boundary flip); a difference that is not a whole number of
/// steps is not explained by that.
public struct StepFlips: Sendable, Equatable {
    /// The quantization step, in the tensor's own units (1 for integer tensors).
    public let step: Double
    /// Elements that differ, by number of whole steps (k ≥ 1).
    public let byStep: [Int: Int]
    /// Elements whose difference is not a whole number of steps.
    public let other: Int

    public var flips: Int { byStep.values.reduce(0, +) }
    public var largestStep: Int { byStep.keys.max() ?? 0 }
    /// Every difference is a whole number of steps.
    public var onlyFlips: Bool { other == 0 }

    public var summary: String {
        let parts = byStep.keys.sorted().map { "\(byStep[$0] ?? 0) by \($0) step\($0 == 1 ? "" : "s")" }
        var s = "quantization step \(format(step)): \(flips) rounding-boundary flip\(flips == 1 ? "" : "s") (\(parts.joined(separator: ", ")))"
        if other > 0 { s += ", \(other) other difference\(other == 1 ? "" : "s") (not whole steps)" }
        return s
    }
}

extension Oracle {
    /// The quantization step of each tensor that a QuantizeLinear (step 1: integer units) or a
    /// DequantizeLinear (step = its scale) computes with one constant scale.
    public static func quantizationSteps(of graph: Graph) -> [String: Double] {
        quantizationScales(of: graph).mapValues { $0.integer ? 1 : $0.scale }
    }

    /// The constant scale of each tensor a QuantizeLinear (`integer`) or DequantizeLinear computes.
    public static func quantizationScales(of graph: Graph) -> [String: (scale: Double, integer: Bool)] {
        var out: [String: (scale: Double, integer: Bool)] = [:]
        for node in graph.nodes {
            guard node.layer is QuantizeLinear || node.layer is DequantizeLinear, let output = node.outputs.first else { continue }
            guard node.inputs.count > 1, let sid = node.inputs[1], let scale = graph.constants[sid], scale.count == 1 else { continue }
            let s = scale.doubles()[0]
            guard s.isFinite, s > 0 else { continue }
            out[graph.valueNames[output]] = (s, node.layer is QuantizeLinear)
        }
        return out
    }

    /// The float tensor a quantized tensor was rounded from: a QuantizeLinear's input, or for a
    /// DequantizeLinear of a QuantizeLinear, that QuantizeLinear's input.
    public static func quantizerInput(of name: String, in graph: Graph) -> String? {
        var producer: [Int: Node] = [:]
        for node in graph.nodes { for o in node.outputs { producer[o] = node } }
        guard let id = graph.valueNames.firstIndex(of: name), var node = producer[id] else { return nil }
        if node.layer is DequantizeLinear {
            guard let q = node.inputs.first ?? nil, let qn = producer[q], qn.layer is QuantizeLinear else { return nil }
            node = qn
        }
        guard node.layer is QuantizeLinear, let x = node.inputs.first ?? nil else { return nil }
        return graph.valueNames[x]
    }

    /// Counts the differences of a comparison that are whole numbers of `step` (within 1e-3 of a
    /// step, which covers a scale applied in float32).
    public static func stepFlips(_ c: TensorComparison, step: Double) -> StepFlips {
        var byStep: [Int: Int] = [:]
        var other = 0
        for d in c.absoluteDifferences where d != 0 {
            guard d.isFinite else { other += 1; continue }
            let k = d / step
            let r = k.rounded()
            if r >= 1, r < 1e9, (k - r).magnitude <= 1e-3 { byStep[Int(r), default: 0] += 1 } else { other += 1 }
        }
        return StepFlips(step: step, byStep: byStep, other: other)
    }
}
