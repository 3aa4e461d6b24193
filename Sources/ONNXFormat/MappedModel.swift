import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an initializer's `raw_data` lies in a mapped model file.
typealias RawData = (file: MappedModelFile, range: Range<Int>)

/// A model file mapped read-only, whose initializers' `raw_data` is copied straight from the
/// mapping into their tensors, the mapped pages given back as each piece is copied.
///
/// Decoding the whole file with SwiftProtobuf held every weight twice at the peak of loading (the
/// file's bytes and the decoded `raw_data` copies; vgg11's 507 MB file peaked above 1 GB). Here
/// the file is first walked at the wire-format level (`stripped`) to find each top-level
/// initializer's `raw_data` bytes; the protobuf decoded is the model without them, and each
/// tensor is filled from its range of the mapping, so the peak is about the weights once.
final class MappedModelFile {
    let base: UnsafeRawPointer
    let count: Int
    private let pageSize: Int

    /// Maps `path`; nil when it cannot be mapped (the caller reads the file instead).
    init?(path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0, let size = Int(exactly: info.st_size) else { return nil }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { return nil }
        base = UnsafeRawPointer(p)
        count = size
        pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), count) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Gives back the mapped pages that lie wholly inside `range` (read again from the file if
    /// touched later).
    func release(_ range: Range<Int>) {
        let start = (range.lowerBound + pageSize - 1) / pageSize * pageSize, end = range.upperBound / pageSize * pageSize
        if end > start { madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED) }
    }

    /// Copies `range` of the file to `dst`, 32 MiB at a time, releasing each piece's pages.
    func copy(_ range: Range<Int>, to dst: UnsafeMutableRawPointer) {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let end = min(range.upperBound, offset + (32 << 20))
            dst.advanced(by: offset - range.lowerBound).copyMemory(from: base + offset, byteCount: end - offset)
            release(offset..<end)
            offset = end
        }
    }

    /// The model's bytes without the `raw_data` of the graph's initializers, and where each
    /// initializer's `raw_data` lies in the file (nil for one that has none), in the order of
    /// `graph.initializer`. Nil when the file is not laid out as this walk expects (a field
    /// repeated that protobuf would merge, a malformed length, a group): the caller then decodes
    /// the whole file as before, which also gives malformed files their usual error.
    func stripped() -> (model: Data, raw: [Range<Int>?])? {
        var reader = WireReader(bytes, range: 0..<count)
        var model = [UInt8]()
        var raw: [Range<Int>?] = []
        var sawGraph = false
        while !reader.atEnd {
            guard let field = reader.field() else { return nil }
            // ModelProto.graph = 7.
            guard field.number == 7, field.wireType == 2 else { model.append(contentsOf: bytes[field.whole]); continue }
            guard !sawGraph else { return nil }
            sawGraph = true
            var graphReader = WireReader(bytes, range: field.payload)
            var graph = [UInt8]()
            while !graphReader.atEnd {
                guard let g = graphReader.field() else { return nil }
                // GraphProto.initializer = 5.
                guard g.number == 5, g.wireType == 2 else { graph.append(contentsOf: bytes[g.whole]); continue }
                var tensorReader = WireReader(bytes, range: g.payload)
                var tensor = [UInt8]()
                var data: Range<Int>?
                while !tensorReader.atEnd {
                    guard let t = tensorReader.field() else { return nil }
                    // TensorProto.raw_data = 9.
                    if t.number == 9 {
                        guard t.wireType == 2, data == nil else { return nil }
                        data = t.payload
                    } else {
                        tensor.append(contentsOf: bytes[t.whole])
                    }
                }
                raw.append(data)
                WireReader.appendVarint(UInt64(5 << 3 | 2), to: &graph)
                WireReader.appendVarint(UInt64(tensor.count), to: &graph)
                graph.append(contentsOf: tensor)
            }
            WireReader.appendVarint(UInt64(7 << 3 | 2), to: &model)
            WireReader.appendVarint(UInt64(graph.count), to: &model)
            model.append(contentsOf: graph)
        }
        return (Data(model), raw)
    }
}

/// Reads protobuf fields (tag, wire type, extent) without decoding them; every length is checked
/// against the enclosing range.
struct WireReader {
    struct Field {
        let number: UInt64, wireType: UInt64
        /// The field from its tag to its end, and its value (a length-delimited field's bytes).
        let whole: Range<Int>, payload: Range<Int>
    }

    let bytes: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    var atEnd: Bool { position >= end }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: UInt64(0), to: 70, by: 7) {
            guard position < end else { return nil }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { return nil }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }

    mutating func field() -> Field? {
        let start = position
        guard let tag = varint() else { return nil }
        let wireType = tag & 7, number = tag >> 3
        guard number > 0 else { return nil }
        let payloadStart = position
        switch wireType {
        case 0: guard varint() != nil else { return nil }
        case 1: guard end - position >= 8 else { return nil }; position += 8
        case 5: guard end - position >= 4 else { return nil }; position += 4
        case 2:
            guard let length = varint(), length <= UInt64(end - position) else { return nil }
            let s = position
            position += Int(length)
            return Field(number: number, wireType: wireType, whole: start..<position, payload: s..<position)
        default: return nil
        }
        return Field(number: number, wireType: wireType, whole: start..<position, payload: payloadStart..<position)
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}
