import Foundation
import Testing
@testable import Runtime
import Touchstone
import TouchstoneTesting

/// The arena's invariant, checked on real plans: no two values alive at the same step share a
/// byte. Lifetimes are recomputed here from the plan's steps (a value lives from the step that
/// computes it to the last step that reads it or an alias of it; graph outputs to the end), and
/// every pair alive at a step is compared by address, in the arena and in the graph outputs' own
/// buffers (which values that die before the output is written share). Batch 2, where no value is
/// written into a concatenation's window (those share bytes with the concatenation by design).
@Suite("Arena: values alive together never share bytes")
struct ArenaTests {
    @Test(arguments: [("ModelZoo/models/determinism_net.onnx", [2, 3, 56, 56]), ("ModelZoo/models/digits_cnn.onnx", [2, 1, 8, 8]),
                      ("ModelZoo/nets/models/unet_small_o17.onnx", [2, 3, 32, 40])])
    func liveValuesNeverOverlap(file: String, shape: [Int]) throws {
        let model = try Model(contentsOf: packageRoot.appendingPathComponent(file))
        let session = Session(model: model, options: SessionOptions(threads: 1))
        let x = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Float($0 % 17) * 0.1 })
        _ = try session.run([model.inputs[0].name: x])
        let plans = session.plansMade
        #expect(plans.count == 1)
        for plan in plans {
            let n = plan.types.count
            var root = Array(0..<n)
            for s in plan.steps where s.kind == .alias { if let src = s.inputs[0] { root[s.outputs[0]] = root[src] } }
            var def = [Int](repeating: Int.max, count: n), last = [Int](repeating: -1, count: n)
            for (i, s) in plan.steps.enumerated() {
                if s.kind == .compute { for o in s.outputs { def[root[o]] = min(def[root[o]], i) } }
                for id in s.inputs.compactMap({ $0 }) + s.outputs { last[root[id]] = max(last[root[id]], i) }
            }
            for o in model.graph.outputs { last[root[o.id]] = Int.max }
            // Each computed value's bytes (graph outputs' buffers bound as a run binds them).
            var bound = plan.tensors
            _ = plan.bindOutputs(&bound)
            var ranges: [(id: Int, start: UInt, end: UInt)] = []
            for id in 0..<n where root[id] == id && def[id] != Int.max {
                guard let t = bound[id] else { continue }
                let start = t.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
                ranges.append((id, start, start + UInt(t.byteCount)))
            }
            #expect(ranges.count > 3, "\(file): \(ranges.count) values in the arena")
            var clashes: [String] = []
            for (i, a) in ranges.enumerated() {
                for b in ranges[(i + 1)...] where def[a.id] <= last[b.id] && def[b.id] <= last[a.id] {
                    if a.start < b.end && b.start < a.end { clashes.append("values \(a.id) and \(b.id)") }
                }
            }
            #expect(clashes.isEmpty, "\(file): live values sharing bytes: \(clashes.prefix(5))")
        }
    }
}
