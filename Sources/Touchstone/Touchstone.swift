// The umbrella module: `import Touchstone` brings in tensors, layers, the runtime and the loaders.
@_exported import Layers
@_exported import ONNXFormat
@_exported import Runtime
@_exported import TensorCore

import Foundation

extension Model {
    /// Loads a model file, choosing the loader by content: ONNX protobuf, or (later) Keras JSON.
    public init(contentsOf url: URL) throws {
        let ext = url.pathExtension.lowercased()
        if ext == "json" {
            throw LoadError(file: url.path, "is a JSON file; Keras JSON models are not supported yet, only ONNX")
        }
        self = try ONNXLoader.load(contentsOf: url)
    }
}
