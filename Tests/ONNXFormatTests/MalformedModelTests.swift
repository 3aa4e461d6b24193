import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwiftProtobuf
import Testing
@testable import ONNXFormat
import Runtime
import TensorCore

/// Builds small ONNX models in memory, to break them on purpose.
enum ProtoFactory {
    static func valueInfo(_ name: String, _ dims: [Int64]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = 1
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in var x = Onnx_TensorShapeProto.Dimension(); x.dimValue = d; return x }
        t.shape = shape
        v.type.tensorType = t
        return v
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "") -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name.isEmpty ? op.lowercased() : name
        return n
    }

    static func tensor(_ name: String, dims: [Int64], floats: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = 1
        t.dims = dims
        t.floatData = floats
        return t
    }

    /// X[1, 4] → Relu → Add(W) → Y, opset 17.
    static func valid() -> Onnx_ModelProto {
        var g = Onnx_GraphProto()
        g.name = "g"
        g.input = [valueInfo("X", [1, 4])]
        g.output = [valueInfo("Y", [1, 4])]
        g.initializer = [tensor("W", dims: [4], floats: [1, 2, 3, 4])]
        g.node = [node("Relu", ["X"], ["R"]), node("Add", ["R", "W"], ["Y"])]
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = 17
        m.opsetImport = [o]
        m.graph = g
        return m
    }

    static func load(_ m: Onnx_ModelProto) throws -> Model {
        try ONNXLoader.load(data: try m.serializedData(), path: "test.onnx")
    }
}

/// Expects a LoadError whose text contains every fragment.
func expectLoadError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a LoadError mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch let e as LoadError {
        for f in fragments {
            #expect(e.description.contains(f), "error '\(e.description)' lacks '\(f)'", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a LoadError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Malformed ONNX files give typed errors")
struct MalformedModelTests {
    @Test func validModelLoadsAndRuns() throws {
        let model = try ProtoFactory.load(ProtoFactory.valid())
        let out = try model.run(["X": Tensor(shape: [1, 4], scalars: [Float(-1), 0.5, -2, 3])])
        #expect(out["Y"]?.scalars(as: Float.self) == [1, 2.5, 3, 7])
    }

    @Test func truncatedProtobuf() throws {
        let bytes = try ProtoFactory.valid().serializedData()
        for cut in [bytes.count / 3, bytes.count / 2, bytes.count - 1] {
            expectLoadError(["test.onnx"]) { _ = try ONNXLoader.load(data: bytes.prefix(cut), path: "test.onnx") }
        }
        expectLoadError(["not a valid ONNX model"]) { _ = try ONNXLoader.load(data: Data("hello, not protobuf".utf8), path: "test.onnx") }
    }

    @Test func tensorSizeMismatch() {
        var m = ProtoFactory.valid()
        m.graph.initializer = [ProtoFactory.tensor("W", dims: [4], floats: [1, 2, 3])]
        expectLoadError(["tensor 'W'", "[4]", "holds 3"]) { _ = try ProtoFactory.load(m) }
        var raw = ProtoFactory.valid()
        var t = Onnx_TensorProto()
        t.name = "W"; t.dataType = 1; t.dims = [4]; t.rawData = Data(count: 12)
        raw.graph.initializer = [t]
        expectLoadError(["tensor 'W'", "12 bytes"]) { _ = try ProtoFactory.load(raw) }
    }

    @Test func hostileDimensions() {
        for dims: [Int64] in [[-5], [1 << 40], [1 << 20, 1 << 20, 1 << 20]] {
            var m = ProtoFactory.valid()
            m.graph.initializer = [ProtoFactory.tensor("W", dims: dims, floats: [1, 2, 3, 4])]
            expectLoadError(["tensor 'W'"]) { _ = try ProtoFactory.load(m) }
        }
        var m = ProtoFactory.valid()
        m.graph.input = [ProtoFactory.valueInfo("X", [1, -5])]
        expectLoadError(["graph input 'X'", "-5"]) { _ = try ProtoFactory.load(m) }
        m.graph.input = [ProtoFactory.valueInfo("X", [1, 1 << 40])]
        expectLoadError(["graph input 'X'"]) { _ = try ProtoFactory.load(m) }
    }

    @Test func undefinedInput() {
        var m = ProtoFactory.valid()
        m.graph.node[1] = ProtoFactory.node("Add", ["R", "nowhere"], ["Y"], name: "the_add")
        expectLoadError(["the_add", "Add", "'nowhere'"]) { _ = try ProtoFactory.load(m) }
    }

    @Test func cycle() {
        var m = ProtoFactory.valid()
        m.graph.node = [
            ProtoFactory.node("Relu", ["B"], ["A"], name: "first"), ProtoFactory.node("Relu", ["A"], ["B"], name: "second"),
            ProtoFactory.node("Add", ["X", "B"], ["Y"]),
        ]
        expectLoadError(["cycle", "first", "second"]) { _ = try ProtoFactory.load(m) }
    }

    @Test func everyUnknownOpListedOnce() {
        var m = ProtoFactory.valid()
        m.graph.node = [
            ProtoFactory.node("FancyOp", ["X"], ["A"], name: "f1"), ProtoFactory.node("FancyOp", ["A"], ["B"], name: "f2"),
            ProtoFactory.node("OtherOp", ["B"], ["Y"], name: "o1"),
        ]
        expectLoadError(["2 unsupported ops", "FancyOp (2 nodes: 'f1', 'f2')", "OtherOp (1 node: 'o1')"]) { _ = try ProtoFactory.load(m) }
    }

    @Test func opsetFromTheFutureOrPast() {
        var m = ProtoFactory.valid()
        m.opsetImport[0].version = 99
        expectLoadError(["opset 99", "newer"]) { _ = try ProtoFactory.load(m) }
        // Relu and Add were redefined at opset 6 and 7: at opset 5 they are older than supported.
        m.opsetImport[0].version = 5
        expectLoadError(["opset 5", "older", "Relu"]) { _ = try ProtoFactory.load(m) }
        m.opsetImport[0].version = 0
        expectLoadError(["opset 0", "older"]) { _ = try ProtoFactory.load(m) }
        m.opsetImport = []
        expectLoadError(["no opset"]) { _ = try ProtoFactory.load(m) }
    }

    /// Below opset 7 a graph loads when its ops are defined there as at opset 7 (Transpose since 1).
    @Test func oldOpsetWithUnchangedOpsLoads() throws {
        var m = ProtoFactory.valid()
        m.graph.node = [ProtoFactory.node("Transpose", ["X"], ["Y"])]
        m.graph.output = [ProtoFactory.valueInfo("Y", [4, 1])]
        m.opsetImport[0].version = 1
        let model = try ProtoFactory.load(m)
        #expect(model.opset == 1)
    }

    @Test func badAttribute() {
        var m = ProtoFactory.valid()
        var n = ProtoFactory.node("Flatten", ["X"], ["Y"], name: "flat")
        var a = Onnx_AttributeProto()
        a.name = "axis"; a.type = .string; a.s = Data("one".utf8)
        n.attribute = [a]
        m.graph.node = [n]
        expectLoadError(["flat", "Flatten", "attribute 'axis'"]) { _ = try ProtoFactory.load(m) }
    }

    @Test func missingExternalData() {
        var m = ProtoFactory.valid()
        var t = Onnx_TensorProto()
        t.name = "W"; t.dataType = 1; t.dims = [4]; t.dataLocation = .external
        var e = Onnx_StringStringEntryProto()
        e.key = "location"; e.value = "weights.bin"
        t.externalData = [e]
        m.graph.initializer = [t]
        expectLoadError(["tensor 'W'", "weights.bin"]) { _ = try ONNXLoader.load(data: try m.serializedData(), path: "test.onnx", baseDirectory: URL(fileURLWithPath: "/nonexistent")) }
    }

    @Test func externalDataIsRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let weights: [Float] = [10, 20, 30, 40]
        var blob = Data(count: 8)  // an offset of 8 bytes
        weights.withUnsafeBytes { blob.append(contentsOf: $0) }
        try blob.write(to: dir.appendingPathComponent("w.bin"))
        var m = ProtoFactory.valid()
        var t = Onnx_TensorProto()
        t.name = "W"; t.dataType = 1; t.dims = [4]; t.dataLocation = .external
        t.externalData = [("location", "w.bin"), ("offset", "8"), ("length", "16")].map { k, v in
            var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; return e
        }
        m.graph.initializer = [t]
        let url = dir.appendingPathComponent("m.onnx")
        try m.serializedData().write(to: url)
        let out = try ONNXLoader.load(contentsOf: url).run(["X": Tensor(shape: [1, 4], scalars: [Float(1), 1, 1, 1])])
        #expect(out["Y"]?.scalars(as: Float.self) == [11, 21, 31, 41])
    }

    /// External data stays inside the model's folder, as onnxruntime keeps it: no absolute path,
    /// no "..", no symbolic link leading out; FIFOs and folders are refused (a FIFO would block);
    /// an offset near Int64.max is an error, not an overflow trap.
    @Test func externalDataIsConfined() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-conf-\(UUID().uuidString)")
        let dir = root.appendingPathComponent("model"), outside = root.appendingPathComponent("secret.bin")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data(count: 16).write(to: outside)
        try Data(count: 16).write(to: dir.appendingPathComponent("w.bin"))
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("link.bin"), withDestinationURL: outside)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("folder.bin"), withIntermediateDirectories: true)
        #expect(mkfifo(dir.appendingPathComponent("fifo.bin").path, 0o600) == 0)
        func model(_ entries: [(String, String)]) throws -> URL {
            var m = ProtoFactory.valid()
            var t = Onnx_TensorProto()
            t.name = "W"; t.dataType = 1; t.dims = [4]; t.dataLocation = .external
            t.externalData = entries.map { k, v in var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; return e }
            m.graph.initializer = [t]
            let url = dir.appendingPathComponent("m.onnx")
            try m.serializedData().write(to: url)
            return url
        }
        let cases: [([(String, String)], String)] = [
            ([("location", outside.path)], "outside the model's directory"),
            ([("location", "../secret.bin")], "outside the model's directory"),
            ([("location", "link.bin")], "leads outside the model's directory"),
            ([("location", "fifo.bin")], "not a regular file"),
            ([("location", "folder.bin")], "not a regular file"),
            ([("location", "w.bin"), ("offset", "9223372036854775800")], "at offset 9223372036854775800"),
        ]
        for (entries, fragment) in cases {
            let url = try model(entries)
            expectLoadError(["tensor 'W'", fragment]) { _ = try ONNXLoader.load(contentsOf: url) }
        }
        // The plain file still loads.
        _ = try ONNXLoader.load(contentsOf: try model([("location", "w.bin")]))
    }

    /// Graphs ONNX forbids are refused, not run: a node without outputs, two initializers of one
    /// name, no graph outputs.
    @Test func invalidGraphsAreRefused() throws {
        var m = ProtoFactory.valid()
        m.graph.node.append(ProtoFactory.node("Relu", ["X"], [], name: "silent"))
        expectLoadError(["silent", "Relu", "no outputs"]) { _ = try ProtoFactory.load(m) }
        m = ProtoFactory.valid()
        m.graph.initializer.append(ProtoFactory.tensor("W", dims: [4], floats: [5, 6, 7, 8]))
        expectLoadError(["two initializers named 'W'"]) { _ = try ProtoFactory.load(m) }
        m = ProtoFactory.valid()
        m.graph.output = []
        expectLoadError(["no graph outputs"]) { _ = try ProtoFactory.load(m) }
    }

    /// Many graph inputs and nodes load in time linear in their number (the check that a node's
    /// output does not redefine an input searched every input for every output: 20,000 of each
    /// made 4·10^8 string comparisons).
    @Test func manyInputsLoadQuickly() throws {
        var m = ProtoFactory.valid()
        let n = 20_000
        m.graph.input = (0..<n).map { ProtoFactory.valueInfo("x\($0)", [1]) } + [ProtoFactory.valueInfo("X", [1, 4])]
        m.graph.node += (0..<n).map { ProtoFactory.node("Relu", ["x\($0)"], ["r\($0)"], name: "relu\($0)") }
        let start = Date()
        _ = try ProtoFactory.load(m)
        #expect(Date().timeIntervalSince(start) < 20, "loading \(n) inputs took \(Date().timeIntervalSince(start)) s")
    }

    @Test func wrongInputAtRunTime() throws {
        let model = try ProtoFactory.load(ProtoFactory.valid())
        #expect(throws: ExecutionError.self) { _ = try model.run(["X": Tensor(zeros: [2, 4])]) }
        #expect(throws: ExecutionError.self) { _ = try model.run(["X": Tensor(zeros: [1, 4], dtype: .float64)]) }
        #expect(throws: ExecutionError.self) { _ = try model.run(["Z": Tensor(zeros: [1, 4])]) }
        #expect(throws: ExecutionError.self) { _ = try model.run([:]) }
    }
}

@Suite("Hostile shapes computed from a file's values")
struct HostileShapeTests {
    /// X[1, 4] → Reshape(X, shape) → Y with `shape` an initializer.
    func reshapeModel(_ shape: [Int64]) -> Onnx_ModelProto {
        var m = ProtoFactory.valid()
        var s = Onnx_TensorProto()
        s.name = "shape"; s.dataType = 7; s.dims = [Int64(shape.count)]; s.int64Data = shape
        m.graph.initializer = [s]
        m.graph.node = [ProtoFactory.node("Reshape", ["X", "shape"], ["Y"], name: "reshape")]
        return m
    }

    @Test func hugeReshapeIsAnErrorNotACrash() throws {
        for shape: [Int64] in [[1 << 40, 1 << 40], [-5, 4], [1 << 62, 4, -1]] {
            let model = try ProtoFactory.load(reshapeModel(shape))
            #expect(throws: ExecutionError.self) { _ = try model.run(["X": Tensor(zeros: [1, 4])]) }
        }
    }

    @Test func hugeExpandIsRefusedBeforeAllocating() throws {
        var m = ProtoFactory.valid()
        var s = Onnx_TensorProto()
        s.name = "shape"; s.dataType = 7; s.dims = [3]; s.int64Data = [1 << 18, 1 << 18, 4]  // 2^38 floats: a terabyte
        m.graph.initializer = [s]
        m.graph.node = [ProtoFactory.node("Expand", ["X", "shape"], ["Y"], name: "expand")]
        let model = try ProtoFactory.load(m)
        do {
            _ = try model.run(["X": Tensor(zeros: [1, 4])])
            Issue.record("a 1 TiB Expand was accepted")
        } catch let e as ExecutionError {
            #expect(e.node == "expand" && e.description.contains("GiB"))
        }
    }
}

@Suite("Hostile values in tensors")
struct HostileValueTests {
    func attribute(_ name: String, _ s: String? = nil, int: Int64? = nil) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        if let s { a.type = .string; a.s = Data(s.utf8) }
        if let int { a.type = .int; a.i = int }
        return a
    }

    /// A GridSample grid holding NaN, ±inf and ±1e30 (data, known only at run time) samples outside
    /// the image in every mode and padding, instead of trapping in a conversion to Int; in-range
    /// points still sample the image.
    @Test func gridSampleWithNonFiniteGrid() throws {
        for mode in ["bilinear", "nearest", "bicubic"] {
            for padding in ["zeros", "border", "reflection"] {
                for align: Int64 in [0, 1] {
                    var m = ProtoFactory.valid()
                    m.graph.input = [ProtoFactory.valueInfo("X", [1, 1, 1, 3]), ProtoFactory.valueInfo("G", [1, 1, 4, 2])]
                    m.graph.output = [ProtoFactory.valueInfo("Y", [1, 1, 1, 4])]
                    m.graph.initializer = []
                    var n = ProtoFactory.node("GridSample", ["X", "G"], ["Y"], name: "gs")
                    n.attribute = [attribute("mode", mode), attribute("padding_mode", padding), attribute("align_corners", int: align)]
                    m.graph.node = [n]
                    m.opsetImport[0].version = 16
                    let model = try ProtoFactory.load(m)
                    let grid: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, .nan, 0, 0]
                    let y = try model.run(["X": Tensor(shape: [1, 1, 1, 3], scalars: [Float(1), 2, 3]), "G": Tensor(shape: [1, 1, 4, 2], scalars: grid)])
                    #expect(y["Y"]?.shape == [1, 1, 1, 4], "\(mode) \(padding) \(align)")
                }
            }
        }
    }

    /// A Range whose count is −∞ (limit − start overflows) is empty, not a trap.
    @Test func rangeRunningTheOtherWayIsEmpty() throws {
        var m = ProtoFactory.valid()
        m.graph.input = [ProtoFactory.valueInfo("X", [1, 4])]
        m.graph.output = [ProtoFactory.valueInfo("Y", [0])]
        m.graph.initializer = [
            ProtoFactory.tensor("start", dims: [], floats: [3e38]), ProtoFactory.tensor("limit", dims: [], floats: [-3e38]),
            ProtoFactory.tensor("delta", dims: [], floats: [1e-30]),
        ]
        m.graph.node = [ProtoFactory.node("Range", ["start", "limit", "delta"], ["Y"], name: "range")]
        let model = try ProtoFactory.load(m)
        let y = try model.run(["X": Tensor(zeros: [1, 4])])
        #expect(y["Y"]?.count == 0)
    }
}

/// Values near Int64.min/max in attributes and in initializers that fix shapes: each is refused
/// with a LoadError or ExecutionError (or computed exactly), never an overflow trap.
@Suite("Integer limits in attributes and shape inputs")
struct IntegerLimitTests {
    static let hostile: [Int64] = [Int64.min, Int64.max, 1 << 62, -(1 << 62), 1 << 31]

    func attribute(_ name: String, ints: [Int64]? = nil, int: Int64? = nil) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        if let ints { a.type = .ints; a.ints = ints }
        if let int { a.type = .int; a.i = int }
        return a
    }

    func model(_ node: Onnx_NodeProto, x: [Int64] = [1, 2, 5, 5], initializers: [Onnx_TensorProto] = [], opset: Int64 = 18) -> Onnx_ModelProto {
        var m = ProtoFactory.valid()
        m.graph.input = [ProtoFactory.valueInfo("X", x)]
        m.graph.output = [ProtoFactory.valueInfo("Y", [])]
        m.graph.output[0].type.tensorType.clearShape()
        m.graph.initializer = initializers
        m.graph.node = [node]
        m.opsetImport[0].version = opset
        return m
    }

    func ints(_ name: String, _ v: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name; t.dataType = 7; t.dims = [Int64(v.count)]; t.int64Data = v
        return t
    }

    /// Loads and runs on zeros: a typed error or a result, never a trap.
    func loadAndRun(_ m: Onnx_ModelProto) -> Result<[String: Tensor], Error> {
        Result {
            let model = try ProtoFactory.load(m)
            let shape = m.graph.input[0].type.tensorType.shape.dim.map { Int($0.dimValue) }
            return try model.run(["X": Tensor(zeros: shape)])
        }
    }

    func expectRefused(_ m: Onnx_ModelProto, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        switch loadAndRun(m) {
        case .success: Issue.record("\(what) ran", sourceLocation: sourceLocation)
        case .failure(let e): #expect(e is LoadError || e is ExecutionError, "\(what): \(type(of: e)) \(e)", sourceLocation: sourceLocation)
        }
    }

    @Test func windowAttributes() {
        for v in Self.hostile {
            for op in ["Conv", "MaxPool", "AveragePool"] {
                for attr in ["strides", "dilations", "pads", "kernel_shape"] where !(op == "AveragePool" && attr == "dilations") {
                    let count = attr == "pads" ? 4 : 2
                    var n = ProtoFactory.node(op, op == "Conv" ? ["X", "W"] : ["X"], ["Y"], name: "n")
                    var values = [Int64](repeating: attr == "pads" ? 0 : 1, count: count)
                    values[0] = v
                    n.attribute = [attribute(attr, ints: values)] + (attr == "kernel_shape" || op == "Conv" ? [] : [attribute("kernel_shape", ints: [2, 2])])
                    let w = ProtoFactory.tensor("W", dims: [3, 2, 3, 3], floats: [Float](repeating: 1, count: 54))
                    expectRefused(model(n, initializers: op == "Conv" ? [w] : []), "\(op) \(attr) \(v)")
                }
            }
            for attr in ["strides", "dilations", "output_padding", "pads", "output_shape"] {
                var n = ProtoFactory.node("ConvTranspose", ["X", "W"], ["Y"], name: "n")
                var values = [Int64](repeating: attr == "pads" || attr == "output_padding" ? 0 : 1, count: attr == "pads" ? 4 : 2)
                values[0] = v
                n.attribute = [attribute(attr, ints: values)]
                expectRefused(model(n, initializers: [ProtoFactory.tensor("W", dims: [2, 3, 3, 3], floats: [Float](repeating: 1, count: 54))]), "ConvTranspose \(attr) \(v)")
            }
            for op in ["DepthToSpace", "SpaceToDepth"] {
                var n = ProtoFactory.node(op, ["X"], ["Y"], name: "n")
                n.attribute = [attribute("blocksize", int: v)]
                expectRefused(model(n), "\(op) blocksize \(v)")
            }
        }
    }

    /// onnxruntime refuses pooling pads as large as the kernel ("Pad should be smaller than kernel").
    @Test func poolingPadsAsLargeAsTheKernel() {
        var n = ProtoFactory.node("MaxPool", ["X"], ["Y"], name: "pool")
        n.attribute = [attribute("kernel_shape", ints: [2, 2]), attribute("pads", ints: [0, 2, 0, 0])]
        expectLoadError(["pool", "MaxPool", "smaller than kernel_shape"]) { _ = try ProtoFactory.load(model(n)) }
    }

    @Test func shapeInputs() {
        for v in Self.hostile {
            for k in 0..<4 {
                var r: [Int64] = [1, 1, 1, 1]
                r[k] = v
                expectRefused(model(ProtoFactory.node("Tile", ["X", "R"], ["Y"], name: "t"), initializers: [ints("R", r)]), "Tile \(r)")
                var p: [Int64] = [0, 0, 0, 0, 0, 0, 0, 0]
                p[k] = v
                expectRefused(model(ProtoFactory.node("Pad", ["X", "P"], ["Y"], name: "p"), initializers: [ints("P", p)]), "Pad \(p)")
            }
        }
    }

    /// Slice steps near the limits take one element (or refuse Int64.min), exactly as numpy would.
    @Test func sliceStepsNearTheLimits() throws {
        for (step, expected) in [(Int64.max, 1), (-Int64.max, 1), (1 << 62, 1)] {
            let n = ProtoFactory.node("Slice", ["X", "S", "E", "A", "P"], ["Y"], name: "s")
            let start: Int64 = step > 0 ? 0 : -1, end: Int64 = step > 0 ? Int64.max : Int64.min
            let m = model(n, initializers: [ints("S", [start]), ints("E", [end]), ints("A", [3]), ints("P", [step])])
            let y = try loadAndRun(m).get()["Y"]
            #expect(y?.shape == [1, 2, 5, expected], "step \(step)")
        }
        let n = ProtoFactory.node("Slice", ["X", "S", "E", "A", "P"], ["Y"], name: "s")
        expectRefused(model(n, initializers: [ints("S", [-1]), ints("E", [Int64.min]), ints("A", [3]), ints("P", [Int64.min])]), "step Int64.min")
    }

    /// Integer Range in 128-bit arithmetic: bounds at Int64.min/max give the exact elements.
    @Test func integerRangeAtTheLimits() throws {
        func range(_ s: Int64, _ l: Int64, _ d: Int64) throws -> [Int64]? {
            var m = model(ProtoFactory.node("Range", ["A", "B", "C"], ["Y"], name: "r"), x: [1])
            m.graph.initializer = [("A", s), ("B", l), ("C", d)].map { name, v in
                var t = Onnx_TensorProto(); t.name = name; t.dataType = 7; t.int64Data = [v]; return t
            }
            return try loadAndRun(m).get()["Y"]?.int64s()
        }
        #expect(try range(Int64.min, Int64.max, Int64.max) == [Int64.min, -1, Int64.max - 1])
        #expect(try range(Int64.max, Int64.min, -(1 << 62)) == [Int64.max, 4_611_686_018_427_387_903, -1, -4_611_686_018_427_387_905])
        #expect(try range(0, Int64.min, 1) == [])
        expectRefused(model(ProtoFactory.node("Range", ["A", "B", "C"], ["Y"], name: "r"), x: [1], initializers: [ints("A", [Int64.min]), ints("B", [Int64.max]), ints("C", [1])]), "a range of 2^64 elements")
    }

    /// Found by fuzzing: a Slice of a scalar (no axis to slice) indexed past its shape, and a
    /// Resize to sizes [1, 0, 1, 2^32] made a 2^32-entry index table for an empty output.
    @Test func fuzzerFindings() throws {
        var slice = model(ProtoFactory.node("Slice", ["X", "S", "E"], ["Y"], name: "s"), x: [], initializers: [ints("S", [0]), ints("E", [4])])
        slice.graph.input[0].type.tensorType.shape.dim = []
        expectRefused(slice, "Slice of a scalar")
        let resize = model(ProtoFactory.node("Resize", ["X", "", "", "S"], ["Y"], name: "r"), x: [1, 1, 1, 41], initializers: [ints("S", [1, 0, 1, 1 << 32])])
        let y = try loadAndRun(resize).get()["Y"]
        #expect(y?.shape == [1, 0, 1, 1 << 32] && y?.count == 0)
    }

    @Test func topKOfZeroAndAHugeBoxLimit() throws {
        let k = try loadAndRun(model(ProtoFactory.node("TopK", ["X", "K"], ["Y", "I"], name: "k"), initializers: [ints("K", [0])])).get()
        #expect(k["Y"]?.shape == [1, 2, 5, 0])
        var m = model(ProtoFactory.node("NonMaxSuppression", ["B", "S", "M"], ["Y"], name: "nms"), x: [1])
        m.graph.initializer = [
            ProtoFactory.tensor("B", dims: [1, 2, 4], floats: [0, 0, 1, 1, 0, 0, 2, 2]), ProtoFactory.tensor("S", dims: [1, 1, 2], floats: [0.9, 0.8]),
            ints("M", [Int64.max]),
        ]
        // Both boxes overlap with IoU 0.25 and the threshold is 0: only the best is kept.
        #expect(try loadAndRun(m).get()["Y"]?.int64s() == [0, 0, 0])
    }
}

@Suite("Graphs that break ONNX's rules are refused")
struct SchemaRuleTests {
    @Test func inputAndOutputCountsFollowTheSchema() {
        var m = ProtoFactory.valid()
        m.graph.node[0] = ProtoFactory.node("Relu", ["X", "X"], ["R"], name: "two")
        expectLoadError(["two", "Relu", "2 inputs", "takes 1 inputs"]) { _ = try ProtoFactory.load(m) }
        m = ProtoFactory.valid()
        m.graph.node[1] = ProtoFactory.node("Add", ["R"], ["Y"], name: "half")
        expectLoadError(["half", "Add", "takes 2 inputs"]) { _ = try ProtoFactory.load(m) }
        m = ProtoFactory.valid()
        m.graph.node[0] = ProtoFactory.node("Relu", ["X"], ["R", "extra"], name: "more")
        expectLoadError(["more", "1 outputs"]) { _ = try ProtoFactory.load(m) }
    }

    @Test func constantWithTwoValuesOrInputs() {
        var m = ProtoFactory.valid()
        var c = ProtoFactory.node("Constant", [], ["W"], name: "c")
        var f = Onnx_AttributeProto(); f.name = "value_float"; f.type = .float; f.f = 1
        var i = Onnx_AttributeProto(); i.name = "value_int"; i.type = .int; i.i = 2
        c.attribute = [f, i]
        m.graph.initializer = []
        m.graph.node.insert(c, at: 0)
        expectLoadError(["2 values", "value_float", "value_int"]) { _ = try ProtoFactory.load(m) }
        m.graph.node[0].attribute = [f]
        m.graph.node[0].input = ["X"]
        expectLoadError(["'c'", "Constant", "1 inputs"]) { _ = try ProtoFactory.load(m) }
    }

    @Test func booleanAttributesAreZeroOrOne() {
        var m = ProtoFactory.valid()
        var n = ProtoFactory.node("ArgMax", ["X"], ["Y"], name: "am")
        var a = Onnx_AttributeProto(); a.name = "select_last_index"; a.type = .int; a.i = 5
        n.attribute = [a]
        m.graph.node = [n]
        expectLoadError(["am", "attribute 'select_last_index' is 5, expected 0 or 1"]) { _ = try ProtoFactory.load(m) }
    }

    /// A Resize naming one axis twice is refused when planned; the error names the file and node.
    @Test func resizeWithARepeatedAxis() throws {
        var m = ProtoFactory.valid()
        m.graph.input = [ProtoFactory.valueInfo("X", [1, 1, 2, 2])]
        m.graph.output = [ProtoFactory.valueInfo("Y", [1, 1, 4, 4])]
        var n = ProtoFactory.node("Resize", ["X", "", "S"], ["Y"], name: "rs")
        var axes = Onnx_AttributeProto(); axes.name = "axes"; axes.type = .ints; axes.ints = [2, 2]
        n.attribute = [axes]
        m.graph.initializer = [ProtoFactory.tensor("S", dims: [2], floats: [2, 2])]
        m.graph.node = [n]
        m.opsetImport[0].version = 18
        let model = try ProtoFactory.load(m)
        do {
            _ = try model.run(["X": Tensor(zeros: [1, 1, 2, 2])])
            Issue.record("a Resize with axes [2, 2] ran")
        } catch let e as ExecutionError {
            #expect(e.description.hasPrefix("test.onnx: node 'rs' (Resize)") && e.description.contains("repeat"), "\(e)")
        }
    }

    @Test func splitAtOpset18NeedsSizesOrACount() {
        var m = ProtoFactory.valid()
        m.graph.node = [ProtoFactory.node("Split", ["X"], ["Y", "Z"], name: "sp")]
        m.opsetImport[0].version = 18
        expectLoadError(["sp", "num_outputs"]) { _ = try ProtoFactory.load(m) }
    }

    /// Sequence and optional value files (onnx-data.proto, read by a hand-written wire reader): a
    /// valid one is read item by item; truncated lengths, varints running off the end, groups,
    /// undefined element types and nested sequences are errors naming the file, never traps.
    @Test func sequenceAndOptionalFilesAreCheckedAsRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-seq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var t = Onnx_TensorProto()
        t.dataType = 6; t.dims = [2]; t.int32Data = [4, -5]
        let tensor = [UInt8](try t.serializedData())
        func field(_ n: UInt8, _ bytes: [UInt8]) -> [UInt8] { [n << 3 | 2, UInt8(bytes.count)] + bytes }
        let elemTensor: [UInt8] = [2 << 3, 1], elemSequence: [UInt8] = [2 << 3, 3]
        let sequence = elemTensor + field(3, tensor) + field(3, tensor)
        func read(_ bytes: [UInt8], _ kind: DeclaredKind) throws -> Tensor {
            let url = dir.appendingPathComponent("v.pb")
            try Data(bytes).write(to: url)
            return try ONNXTensor.readValue(contentsOf: url, kind: kind, dtype: .int32)
        }
        let items = try #require(try read(sequence, .sequence).sequenceItems)
        #expect(items.count == 2 && items.allSatisfy { $0.scalars(as: Int32.self) == [4, -5] })
        let optional = try read(elemSequence + field(5, sequence), .optional)
        guard case .optional(let inner)? = optional.container else { Issue.record("not an optional"); return }
        #expect(inner?.sequenceItems?.count == 2)
        guard case .optional(nil)? = try read([], .optional).container else { Issue.record("an empty OptionalProto is not an empty optional"); return }
        #expect(try read(elemTensor, .sequence).sequenceItems?.isEmpty == true)
        let bad: [([UInt8], DeclaredKind, String)] = [
            (elemTensor + [3 << 3 | 2, 100] + tensor, .sequence, "claims 100 bytes"),
            (elemTensor + [3 << 3 | 2, 0xff, 0xff], .sequence, "varint runs past its end"),
            (elemTensor + [3 << 3 | 3], .sequence, "wire type 3"),
            ([2 << 3, 9], .optional, "element type 9"),
            (elemSequence + field(5, sequence), .sequence, "only sequences of tensors"),
            (elemTensor + field(3, [0xff, 0xff, 0xff]), .sequence, "not a valid TensorProto"),
        ]
        for (bytes, kind, fragment) in bad {
            expectLoadError(["v.pb", fragment]) { _ = try read(bytes, kind) }
        }
    }
}
