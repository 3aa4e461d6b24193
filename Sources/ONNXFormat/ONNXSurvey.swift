import Foundation
import Runtime
import SwiftProtobuf

/// What an ONNX file holds, read without building layers: enough to report on a model that
/// uses ops Touchstone does not support.
public struct ONNXSurvey: Sendable {
    public let irVersion: Int
    public let opset: Int?
    public let producer: String
    /// Op type → node count, in the file's own terms (`domain::op` outside the default domain).
    public let opHistogram: [String: Int]
    /// Unsupported op type → node names.
    public let unsupported: [String: [String]]
    public let initializerCount: Int
    /// Elements across all initializers.
    public let parameterCount: Int

    /// Reads the file's header, nodes and initializer sizes.
    public static func read(contentsOf url: URL) throws -> ONNXSurvey {
        try requireRegularFile(url)
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw LoadError(file: url.path, "cannot be read (\(error.localizedDescription))")
        }
        let proto: Onnx_ModelProto
        do { proto = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw LoadError(file: url.path, "is not a valid ONNX model: the protobuf cannot be decoded (\(error))")
        }
        var histogram: [String: Int] = [:]
        var unsupported: [String: [String]] = [:]
        let known = Set(ONNXOps.supportedOps), knownElsewhere = Set(ONNXOps.domainTable.keys)
        // Every node, those of control-flow subgraphs at any depth included.
        func survey(_ g: Onnx_GraphProto) {
            for (i, n) in g.node.enumerated() {
                let defaultDomain = n.domain.isEmpty || n.domain == "ai.onnx"
                let key = defaultDomain ? n.opType : "\(n.domain)::\(n.opType)"
                histogram[key, default: 0] += 1
                if defaultDomain ? !known.contains(n.opType) : !knownElsewhere.contains(key) {
                    unsupported[key, default: []].append(n.name.isEmpty ? "\(n.opType)_\(i)" : n.name)
                }
                for a in n.attribute { for sub in a.hasG ? [a.g] : a.graphs { survey(sub) } }
            }
        }
        survey(proto.graph)
        var opset: Int?
        for o in proto.opsetImport where o.domain.isEmpty || o.domain == "ai.onnx" { opset = Int(o.version) }
        let params = proto.graph.initializer.reduce(0) { $0 + $1.dims.reduce(1) { $0 * Int(max(0, min($1, 1 << 40))) } }
        return ONNXSurvey(
            irVersion: Int(proto.irVersion), opset: opset,
            producer: proto.producerName + (proto.producerVersion.isEmpty ? "" : " " + proto.producerVersion),
            opHistogram: histogram, unsupported: unsupported, initializerCount: proto.graph.initializer.count, parameterCount: params)
    }
}
