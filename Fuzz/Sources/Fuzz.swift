// libFuzzer harnesses for every reader of untrusted bytes. One executable; the environment variable
// TOUCHSTONE_FUZZ_TARGET picks the reader (onnx, keras, npy, pb, calibration, polygraphy). Built
// with -sanitize=fuzzer,address; see Fuzz/README.md.
import Foundation
import JSONC
import Touchstone

enum Target: String, CaseIterable {
    case onnx, keras, npy, pb, calibration, polygraphy
}

nonisolated(unsafe) var target = Target.onnx

/// libFuzzer's entry for programs with a main() of their own.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The program's main (SwiftPM links an executable target's entry under this name): picks the
/// target, sets the memory budget and hands over to libFuzzer with the usual libFuzzer flags.
@_cdecl("touchstone_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    let name = ProcessInfo.processInfo.environment["TOUCHSTONE_FUZZ_TARGET"] ?? ""
    guard let t = Target(rawValue: name) else {
        FileHandle.standardError.write(Data("set TOUCHSTONE_FUZZ_TARGET to one of \(Target.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        return 2
    }
    target = t
    // Sizes from the input are checked against this budget, as the command line checks them
    // against its own; a run asks for no more than 64 MiB.
    MemoryBudget.set(64 << 20)
    var count = argc
    var args: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &args) { bytes, n in fuzzOneInput(bytes, n) }
}

func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    switch target {
    case .onnx:
        // Load, plan and run on zeros: every error is typed; none may trap.
        if let model = try? ONNXLoader.load(data: data, path: "fuzz.onnx") { run(model) }
    case .keras:
        if let model = try? KerasLoader.load(data, path: "fuzz.json") { run(model) }
    case .npy:
        _ = try? NPY.decode(data, path: "fuzz.npy")
        _ = try? NPZ.decode(data, path: "fuzz.npz")
    case .pb:
        _ = try? ONNXTensor.decode(data, path: "fuzz.pb", baseDirectory: nil)
    case .calibration:
        _ = try? CalibrationCache(tensorRTText: String(decoding: data, as: UTF8.self), source: "fuzz.cache")
        if let json = try? JSON.parse(data, path: "fuzz.json") {
            _ = try? CalibrationCache(json: json, source: "fuzz.json")
            if let part = try? CalibrationPart(json: json, source: "fuzz.json") {
                _ = try? CalibrationPart.merge([part, part])
                for m in CalibrationMethod.allCases { _ = try? part.ranges(method: m) }
            }
        }
    case .polygraphy:
        if let json = try? JSON.parse(data, path: "fuzz.json") {
            _ = try? PolygraphyJSON.runResults(json, path: "fuzz.json")
            _ = try? PolygraphyJSON.inputs(json, path: "fuzz.json")
        }
    }
    return 0
}

/// Runs a loaded model once on zeros of its declared input shapes (symbolic dimensions 1), when
/// the inputs are small (at most 4,096 elements each): the run plans and executes every node.
func run(_ model: Model) {
    var feeds: [String: Tensor] = [:]
    for input in model.inputs {
        guard let dims = input.dimensions else { return }
        let shape = dims.map { d -> Int in if case .fixed(let n) = d { return n }; return 1 }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= 4096 else { return }
            count = p
        }
        feeds[input.name] = Tensor(zeros: shape, dtype: input.dtype)
    }
    _ = try? Session(model: model, options: SessionOptions(threads: 1)).run(feeds)
}
