// The umbrella module: `import Touchstone` brings in tensors, layers, the runtime and the loaders.
@_exported import KerasFormat
@_exported import Layers
@_exported import ONNXFormat
@_exported import Oracle
@_exported import Precision
@_exported import Runtime
@_exported import TensorCore

import Foundation

extension Model {
    /// Loads a model file, choosing the loader by content: Keras JSON (frugally-deep's format)
    /// when the file starts with `{`, else ONNX protobuf.
    public init(contentsOf url: URL) throws {
        if let keras = try Model(kerasJSONAt: url) {
            self = keras
            return
        }
        self = try ONNXLoader.load(contentsOf: url)
    }

    /// Loads the file when it is Keras JSON (its first non-blank byte is `{`); nil otherwise,
    /// without reading further.
    public init?(kerasJSONAt url: URL) throws {
        try requireRegularFile(url)
        let head = (try? FileHandle(forReadingFrom: url)).flatMap { h in defer { try? h.close() }; return try? h.read(upToCount: 64) } ?? Data()
        guard let first = head.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }), first == UInt8(ascii: "{") else { return nil }
        self = try KerasLoader.load(contentsOf: url)
    }
}
