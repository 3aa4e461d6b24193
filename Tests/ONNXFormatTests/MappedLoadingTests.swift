import Foundation
import SwiftProtobuf
import Testing
@testable import ONNXFormat
import Runtime
import TensorCore

/// Loading a file maps it and copies each initializer's raw bytes straight from the mapping
/// (`MappedModelFile`); loading the same bytes from memory decodes them with SwiftProtobuf alone.
/// The two must give the same constants, bit for bit, for every way a tensor can be stored.
@Suite("Mapped loading against protobuf decoding")
struct MappedLoadingTests {
    static func rawTensor(_ name: String, dims: [Int64], dataType: Int32, bytes: [UInt8]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = dataType
        t.dims = dims
        t.rawData = Data(bytes)
        return t
    }

    static func floats(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
        (0..<n).map { _ in Float.random(in: -1..<1, using: &g) }
    }

    /// A length-delimited protobuf field.
    static func field(_ number: UInt64, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        WireReader.appendVarint(number << 3 | 2, to: &out)
        WireReader.appendVarint(UInt64(payload.count), to: &out)
        return out + payload
    }

    static func write(_ bytes: Data) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID().uuidString).onnx")
        try bytes.write(to: url)
        return url
    }

    /// Every constant of both graphs, by name, bitwise.
    static func expectSameConstants(_ a: Graph, _ b: Graph, sourceLocation: SourceLocation = #_sourceLocation) {
        func byName(_ g: Graph) -> [String: Tensor] {
            Dictionary(uniqueKeysWithValues: g.constants.map { (g.valueNames[$0.key], $0.value) })
        }
        let x = byName(a), y = byName(b)
        #expect(Set(x.keys) == Set(y.keys), sourceLocation: sourceLocation)
        for (name, t) in x {
            guard let u = y[name] else { continue }
            #expect(t.dtype == u.dtype && t.shape == u.shape, "\(name)", sourceLocation: sourceLocation)
            let same = t.withUnsafeBytes { p in u.withUnsafeBytes { q in p.elementsEqual(q) } }
            #expect(same, "\(name): bytes differ", sourceLocation: sourceLocation)
        }
    }

    /// Initializers as raw float32 (odd sizes, one over the 32 MiB copy piece), float_data,
    /// raw int64, raw packed int4, an empty raw tensor, and one with the other fields after its
    /// raw_data: the mapped load equals the in-memory decode, and the walk found every raw_data.
    @Test func everyStorageLoadsTheSame() throws {
        var g = SeededGenerator(seed: 11)
        let big = 9_000_001  // 36 MB: crosses a 32 MiB copy piece
        let bigValues = Self.floats(big, &g)
        var m = ProtoFactory.valid()
        var inits = m.graph.initializer  // "W" as float_data
        inits.append(Self.rawTensor("big", dims: [Int64(big)], dataType: 1, bytes: bigValues.withUnsafeBytes { Array($0) }))
        inits.append(Self.rawTensor("odd", dims: [3, 7], dataType: 1, bytes: Self.floats(21, &g).withUnsafeBytes { Array($0) }))
        inits.append(Self.rawTensor("ids", dims: [5], dataType: 7, bytes: [Int64](arrayLiteral: -1, 0, 1, .max, .min).withUnsafeBytes { Array($0) }))
        inits.append(Self.rawTensor("nibbles", dims: [5], dataType: 22, bytes: [0x21, 0x8F, 0x07]))
        inits.append(Self.rawTensor("empty", dims: [0, 3], dataType: 1, bytes: []))
        m.graph.initializer = inits
        // One initializer written by hand with raw_data before its name and dims.
        var late = Self.rawTensor("late", dims: [2], dataType: 1, bytes: [Float](arrayLiteral: 1.5, -2).withUnsafeBytes { Array($0) })
        let lateRaw = late.rawData
        late.clearRawData()
        var lateBytes = Self.field(9, Array(lateRaw))
        lateBytes += try Array(late.serializedBytes() as [UInt8])
        var graphBytes: [UInt8] = try m.graph.serializedBytes()
        graphBytes += Self.field(5, lateBytes)
        var modelOnly = m
        modelOnly.clearGraph()
        var modelBytes: [UInt8] = try modelOnly.serializedBytes()
        modelBytes += Self.field(7, graphBytes)
        let url = try Self.write(Data(modelBytes))
        defer { try? FileManager.default.removeItem(at: url) }

        let file = try #require(MappedModelFile(path: url.path))
        let (_, raw) = try #require(file.stripped())
        #expect(raw.map { $0 != nil } == [false, true, true, true, true, true, true], "raw_data found for every raw initializer")
        let mapped = try ONNXLoader.load(contentsOf: url)
        let decoded = try ONNXLoader.load(data: Data(modelBytes), path: "same.onnx")
        Self.expectSameConstants(mapped.graph, decoded.graph)
        let bigTensor = try #require(mapped.graph.constants.first { mapped.graph.valueNames[$0.key] == "big" }?.value)
        let wrong = zip(bigTensor.scalars(as: Float.self), bigValues).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(bigTensor.count == big && wrong == 0, "\(wrong) of \(big) values differ")
    }

    /// Layouts the walk does not take (a raw_data field twice in one tensor, which protobuf resolves
    /// to the last; the graph field twice, which protobuf merges) fall back to decoding the whole
    /// file, with protobuf's meaning.
    @Test func unusualLayoutsFallBack() throws {
        let first: [Float] = [1, 2, 3, 4], second: [Float] = [5, 6, 7, 8]
        let t = Self.rawTensor("W", dims: [4], dataType: 1, bytes: first.withUnsafeBytes { Array($0) })
        var tensorBytes: [UInt8] = try t.serializedBytes()
        tensorBytes += Self.field(9, second.withUnsafeBytes { Array($0) })
        var m = ProtoFactory.valid()
        m.graph.initializer = []
        var graphBytes: [UInt8] = try m.graph.serializedBytes()
        graphBytes += Self.field(5, tensorBytes)
        m.clearGraph()
        var modelBytes: [UInt8] = try m.serializedBytes()
        modelBytes += Self.field(7, graphBytes)
        let url = try Self.write(Data(modelBytes))
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(MappedModelFile(path: url.path)?.stripped() == nil)
        let model = try ONNXLoader.load(contentsOf: url)
        let w = try #require(model.graph.constants.first { model.graph.valueNames[$0.key] == "W" }?.value)
        #expect(w.scalars(as: Float.self) == second)

        // The graph split over two fields: merged by protobuf (the initializer from the first, the
        // rest from the second).
        var whole = ProtoFactory.valid()
        whole.graph.initializer = [Self.rawTensor("W", dims: [4], dataType: 1, bytes: second.withUnsafeBytes { Array($0) })]
        var part1 = Onnx_GraphProto()
        part1.initializer = whole.graph.initializer
        var part2 = whole.graph
        part2.initializer = []
        whole.clearGraph()
        var bytes: [UInt8] = try whole.serializedBytes()
        for part in [part1, part2] {
            bytes += Self.field(7, try part.serializedBytes())
        }
        let url2 = try Self.write(Data(bytes))
        defer { try? FileManager.default.removeItem(at: url2) }
        #expect(MappedModelFile(path: url2.path)?.stripped() == nil)
        let merged = try ONNXLoader.load(contentsOf: url2)
        Self.expectSameConstants(merged.graph, try ONNXLoader.load(data: Data(bytes), path: "same.onnx").graph)
    }

    /// Cut anywhere, a file gives a typed error (from the walk's fallback or from the stripped
    /// model's decoding), never a trap.
    @Test func truncatedFilesGiveTypedErrors() throws {
        var m = ProtoFactory.valid()
        m.graph.initializer.append(Self.rawTensor("R", dims: [8], dataType: 1, bytes: [UInt8](repeating: 1, count: 32)))
        let bytes: [UInt8] = try m.serializedBytes()
        for cut in stride(from: 1, to: bytes.count, by: 3) {
            let url = try Self.write(Data(bytes[0..<cut]))
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try ONNXLoader.load(contentsOf: url)
            } catch is LoadError {
            } catch {
                Issue.record("cut at \(cut): \(type(of: error)) \(error)")
            }
        }
    }
}
