import Foundation
import Testing
import Touchstone
import TouchstoneTesting

/// Same bits every time: the same model and inputs give bitwise the same outputs for every thread
/// count, in every precision. determinism_net's layers are large enough to be split over threads
/// (its 32×49×1152 convolution once gave other bits on two threads than on one).
@Suite("bitwise determinism across thread counts")
struct DeterminismTests {
    static let policies: [(String, ExecutionPolicy)] = [
        ("fp32", .fp32), ("fp16", ExecutionPolicy(precision: .fp16)), ("bf16", ExecutionPolicy(precision: .bf16)),
        ("fp16 with fp16 sums", ExecutionPolicy(precision: .fp16, accumulation: .fp16)), ("tf32", ExecutionPolicy(precision: .tf32)),
    ]

    func smooth(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { i in Float(sin(Double(i) * 0.01) + (g.unit() - 0.5) * 0.2) })
    }

    @Test(arguments: [("ModelZoo/models/determinism_net.onnx", [3, 3, 56, 56]), ("ModelZoo/models/determinism_net.onnx", [1, 3, 56, 56]),
                      ("ModelZoo/models/digits_cnn.onnx", [8, 1, 8, 8]), ("ModelZoo/nets/models/unet_small_o17.onnx", [2, 3, 32, 40])])
    func sameBitsForOneTwoAndThreeThreads(file: String, shape: [Int]) throws {
        let model = try Model(contentsOf: packageRoot.appendingPathComponent(file))
        let feeds = [model.inputs[0].name: smooth(shape, seed: UInt64(shape.reduce(0, +)))]
        // FP16 sums are simulated one multiply-add at a time (about 20× an FP32 run): at batch 1 only.
        for (label, policy) in Self.policies where shape[0] == 1 || policy.accumulation == .fp32 {
            let one = try model.run(feeds, options: SessionOptions(threads: 1, policy: policy))
            for threads in [2, 3] {
                let other = try model.run(feeds, options: SessionOptions(threads: threads, policy: policy))
                for (name, t) in one {
                    guard let u = other[name] else { Issue.record("\(file) \(label): no output \(name) on \(threads) threads"); continue }
                    expectAgreement(u, t, "\(file) \(shape) \(label) \(name), \(threads) threads against 1", rule: .exact)
                }
            }
        }
    }
}

/// One `Model` shared by concurrent sessions: a model is immutable after loading and each session
/// owns its plans and arena, so 8 sessions running 1,000 times each at once give the bits a lone
/// session gives. Run under ThreadSanitizer too (Fuzz/README.md: `swift test --sanitize=thread`).
@Suite("sessions sharing a model")
struct ConcurrencyTests {
    @Test func eightSessionsOfAThousandRunsAgreeBitwise() async throws {
        let model = try Model(contentsOf: packageRoot.appendingPathComponent("ModelZoo/models/digits_cnn.onnx"))
        let name = model.inputs[0].name
        var g = SeededGenerator(seed: 8)
        let inputs = (0..<8).map { _ in Tensor(shape: [1, 1, 8, 8], scalars: (0..<64).map { _ in Float(g.unit() * 16) }) }
        // Reference outputs, one session at a time.
        let expected = try inputs.map { try Session(model: model, options: SessionOptions(threads: 1)).run([name: $0]) }
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for s in 0..<8 {
                group.addTask {
                    // Sessions of 1 and 2 threads; each also switches between two batch sizes, so that
                    // plans are made and looked up while the others run.
                    let session = Session(model: model, options: SessionOptions(threads: 1 + s % 2))
                    var bad = 0
                    for r in 0..<1000 {
                        let k = (s + r) % 8
                        let out = try session.run([name: inputs[k]])
                        for (o, t) in expected[k] where out[o]?.scalars(as: Float.self) != t.scalars(as: Float.self) { bad += 1 }
                        if r % 250 == 0 { _ = try session.run([name: Tensor(zeros: [2, 1, 8, 8])]) }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0, "\(mismatches) outputs differed from a lone session's")
    }
}
