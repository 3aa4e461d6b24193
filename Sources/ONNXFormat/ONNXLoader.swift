import Foundation
import Layers
import Runtime
import SwiftProtobuf
import TensorCore

/// Loads ONNX models into typed layers.
///
/// Three stages: decode the protobuf (sizes checked before allocating), look every node's op up
/// in the import table (`ONNXOps.table`), build the graph in topological order.
public enum ONNXLoader {
    /// Default-domain opsets this loader accepts.
    public static let supportedOpsets = 7...28
    /// The newest IR version this loader reads.
    public static let maxIRVersion = 14

    /// Loads a model file; external data is read from beside it.
    public static func load(contentsOf url: URL) throws -> Model {
        try requireRegularFile(url)
        // The file mapped, the initializers' raw bytes copied from the mapping into their tensors
        // (`MappedModelFile`), so that the weights are not held twice at the peak of loading.
        if let file = MappedModelFile(path: url.path), let (model, raw) = file.stripped() {
            let proto = try decode(model, path: url.path)
            guard proto.graph.initializer.count == raw.count else { throw LoadError(file: url.path, "has initializers that cannot be read") }
            return try build(proto, path: url.path, baseDirectory: url.deletingLastPathComponent(), raw: raw.map { $0.map { (file, $0) } })
        }
        // Otherwise the file's bytes are released as soon as they are decoded (they are not needed
        // while the weights are converted).
        let proto = try decode(contentsOf: url)
        return try build(proto, path: url.path, baseDirectory: url.deletingLastPathComponent())
    }

    /// Loads a model from serialized bytes; `path` names it in errors.
    public static func load(data: Data, path: String, baseDirectory: URL? = nil) throws -> Model {
        try build(try decode(data, path: path), path: path, baseDirectory: baseDirectory)
    }

    static func decode(contentsOf url: URL) throws -> Onnx_ModelProto {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw LoadError(file: url.path, "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: url.path)
    }

    static func decode(_ data: Data, path: String) throws -> Onnx_ModelProto {
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            return try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw LoadError(file: path, "is not a valid ONNX model: the protobuf cannot be decoded (\(error)); the file may be truncated or not ONNX")
        }
    }

    /// Checks the header and builds the graph, consuming the protobuf's initializers one by one.
    /// - raw: where each of the graph's initializers finds its `raw_data` when it was left out of
    ///   the decoded protobuf (`MappedModelFile.stripped`), in the order of `graph.initializer`.
    static func build(_ decoded: consuming Onnx_ModelProto, path: String, baseDirectory: URL?, raw: [RawData?] = []) throws -> Model {
        var proto = decoded
        guard proto.hasGraph else { throw LoadError(file: path, "has no graph; it may not be an ONNX model") }
        if proto.irVersion > maxIRVersion {
            throw LoadError(file: path, "has IR version \(proto.irVersion), newer than the newest supported (\(maxIRVersion))")
        }
        var opset: Int?
        for o in proto.opsetImport where o.domain.isEmpty || o.domain == "ai.onnx" { opset = Int(o.version) }
        // A graph of other domains' ops alone (ONNX-ML, training) may import no default opset.
        if opset == nil, !proto.graph.node.contains(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }),
           proto.opsetImport.contains(where: { !$0.domain.isEmpty && $0.domain != "ai.onnx" }) {
            opset = supportedOpsets.upperBound
        }
        // IR version 2 and older files carry no opset import; they are older than opset 7 anyway.
        guard let opset else { throw LoadError(file: path, "declares no opset for the default ONNX domain") }
        guard supportedOpsets.contains(opset) || (1..<supportedOpsets.lowerBound).contains(opset) else {
            let which = opset > supportedOpsets.upperBound ? "newer than the newest" : "older than the oldest"
            throw LoadError(file: path, "uses opset \(opset), \(which) supported (\(supportedOpsets.lowerBound)–\(supportedOpsets.upperBound))")
        }
        // Below opset 7 a model loads only when each of its ops is defined there as it is at opset 7.
        if opset < supportedOpsets.lowerBound {
            let oldest = supportedOpsets.lowerBound
            for (i, n) in proto.graph.node.enumerated() where n.domain.isEmpty || n.domain == "ai.onnx" {
                let since = ONNXOps.sinceVersions[n.opType] ?? []
                let then = since.last { $0 <= opset }, atOldest = since.last { $0 <= oldest }
                guard then == atOldest else {
                    let name = n.name.isEmpty ? "\(n.opType)_\(i)" : n.name
                    throw LoadError(
                        file: path, node: name, op: n.opType,
                        "uses opset \(opset), where \(n.opType) has an older definition than at opset \(oldest), the oldest supported")
                }
            }
        }
        // Move the initializers out so that each decoded TensorProto (and its raw bytes) is freed as
        // soon as its tensor is made, instead of all of them living until the end of loading.
        var initializers = proto.graph.initializer
        proto.graph.initializer = []
        var builder = GraphBuilder(graph: proto.graph, opset: opset, file: path, baseDirectory: baseDirectory)
        var rawData = raw
        let graph = try builder.build(initializers: &initializers, raw: &rawData)
        var meta: [String: String] = ["ir_version": "\(proto.irVersion)"]
        if !proto.producerName.isEmpty { meta["producer"] = proto.producerName + (proto.producerVersion.isEmpty ? "" : " " + proto.producerVersion) }
        if !proto.graph.name.isEmpty { meta["graph"] = proto.graph.name }
        return Model(graph: graph, format: "onnx", source: path, opset: opset, metadata: meta)
    }
}

/// Builds a `Graph` from a `GraphProto`.
struct GraphBuilder {
    let graph: Onnx_GraphProto
    let opset: Int
    let file: String
    let baseDirectory: URL?
    /// A subgraph (a control-flow node's attribute): the values it reads from enclosing scopes
    /// become inputs after its formal ones, and its formal inputs may leave their types out.
    let isSubgraph: Bool

    private var ids: [String: Int] = [:]
    private var names: [String] = []

    init(graph: Onnx_GraphProto, opset: Int, file: String, baseDirectory: URL?, isSubgraph: Bool = false) {
        self.graph = graph
        self.opset = opset
        self.file = file
        self.baseDirectory = baseDirectory
        self.isSubgraph = isSubgraph
    }

    /// The names a graph's nodes (and their subgraphs, at any depth) read without the graph
    /// defining them: what it takes from enclosing scopes, in order of first use.
    static func freeNames(_ g: Onnx_GraphProto) -> [String] {
        var defined = Set(g.input.map(\.name)).union(g.initializer.map(\.name)).union(g.sparseInitializer.map(\.values.name))
        for n in g.node { defined.formUnion(n.output) }
        var seen = Set<String>(), out: [String] = []
        for n in g.node {
            for name in n.input + implicitNames(n) where !name.isEmpty && !defined.contains(name) && seen.insert(name).inserted {
                out.append(name)
            }
        }
        for o in g.output where !defined.contains(o.name) && seen.insert(o.name).inserted { out.append(o.name) }
        return out
    }

    /// The enclosing-scope values a node's graph attributes read, in order of first use.
    static func implicitNames(_ n: Onnx_NodeProto) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for a in n.attribute {
            let graphs = a.hasG ? [a.g] : a.graphs
            for g in graphs { for name in freeNames(g) where seen.insert(name).inserted { out.append(name) } }
        }
        return out
    }

    /// The subgraph in attribute `name` of node `n`, built as a graph of its own.
    static func subgraph(_ n: Onnx_NodeProto, _ name: String, opset: Int, file: String, baseDirectory: URL?) throws -> Subgraph? {
        guard let a = n.attribute.first(where: { $0.name == name }) else { return nil }
        guard a.hasG else { throw LoadError(file: file, node: n.name, op: n.opType, "attribute '\(name)' is not a graph") }
        var sub = GraphBuilder(graph: a.g, opset: opset, file: file, baseDirectory: baseDirectory, isSubgraph: true)
        var initializers = a.g.initializer, raw: [RawData?] = []
        let g = try sub.build(initializers: &initializers, raw: &raw)
        return Subgraph(graph: g, opset: opset, formalCount: a.g.input.filter { v in !a.g.initializer.contains { $0.name == v.name } }.count)
    }

    private mutating func id(_ name: String) -> Int {
        if let i = ids[name] { return i }
        ids[name] = names.count
        names.append(name)
        return names.count - 1
    }

    /// - raw: each initializer's `raw_data` in the mapped file when the protobuf was decoded
    ///   without it (empty otherwise), consumed with `initializers`.
    mutating func build(initializers: inout [Onnx_TensorProto], raw: inout [RawData?]) throws -> Graph {
        var constants: [Int: Tensor] = [:]
        while let t = initializers.popLast() {
            let data = raw.popLast() ?? nil
            guard !t.name.isEmpty else { throw LoadError(file: file, "has an initializer without a name") }
            let tid = id(t.name)
            guard constants[tid] == nil else { throw LoadError(file: file, "has two initializers named '\(t.name)'") }
            constants[tid] = try ONNXTensor.decode(t, file: file, baseDirectory: baseDirectory, raw: data)
        }
        if !graph.sparseInitializer.isEmpty { throw LoadError(file: file, "has sparse initializers, which are not supported") }

        var inputs: [(Int, ValueDeclaration)] = []
        for v in graph.input where constants[ids[v.name] ?? -1] == nil {
            if isSubgraph && !v.hasType {
                inputs.append((id(v.name), ValueDeclaration(name: v.name, dtype: .float32, dimensions: nil)))
                continue
            }
            inputs.append((id(v.name), try declaration(v, isInput: true)))
        }
        // A subgraph's reads of enclosing scopes: inputs after the formal ones (typed when run).
        if isSubgraph {
            for name in Self.freeNames(graph) { inputs.append((id(name), ValueDeclaration(name: name, dtype: .float32, dimensions: nil))) }
        }
        var available = Set(inputs.map(\.0)).union(constants.keys)
        // Graph inputs whose every dimension is a number.
        var declaredShapes: [Int: [Int]] = [:]
        for (id, decl) in inputs {
            let dims = decl.dimensions?.compactMap { d -> Int? in if case .fixed(let n) = d { return n } else { return nil } }
            if let dims, dims.count == decl.dimensions?.count { declaredShapes[id] = dims }
        }

        // Topological order (Kahn), also finding undefined inputs and cycles.
        let protos = graph.node
        guard !graph.output.isEmpty else { throw LoadError(file: file, "declares no graph outputs: there is nothing to compute") }
        var producerOf: [String: Int] = [:]
        let inputNames = Set(inputs.map { names[$0.0] })
        for (i, n) in protos.enumerated() {
            guard n.output.contains(where: { !$0.isEmpty }) else {
                throw LoadError(file: file, node: nodeName(n, i), op: n.opType, "has no outputs (ONNX requires at least one)")
            }
            for o in n.output where !o.isEmpty {
                if producerOf[o] != nil || constants[ids[o] ?? -1] != nil || inputNames.contains(o) {
                    throw LoadError(file: file, node: nodeName(n, i), op: n.opType, "output '\(o)' is already defined elsewhere in the graph")
                }
                producerOf[o] = i
            }
        }
        let implicit = protos.map { Self.implicitNames($0) }
        for (i, n) in protos.enumerated() {
            for name in n.input + implicit[i] where !name.isEmpty && producerOf[name] == nil {
                if let id = ids[name], available.contains(id) { continue }
                throw LoadError(file: file, node: nodeName(n, i), op: n.opType, "reads '\(name)', which no node, initializer or graph input defines")
            }
        }
        var pending = [Int](repeating: 0, count: protos.count)
        var readers: [Int: [Int]] = [:]
        for (i, n) in protos.enumerated() {
            let deps = Set((n.input + implicit[i]).compactMap { producerOf[$0] })
            pending[i] = deps.count
            for d in deps { readers[d, default: []].append(i) }
        }
        var queue = (0..<protos.count).filter { pending[$0] == 0 }
        var order: [Int] = []
        while let i = queue.first {
            queue.removeFirst()
            order.append(i)
            for r in readers[i] ?? [] {
                pending[r] -= 1
                if pending[r] == 0 { queue.append(r) }
            }
        }
        if order.count < protos.count {
            let stuck = (0..<protos.count).filter { pending[$0] > 0 }.prefix(5).map { "'\(nodeName(protos[$0], $0))'" }
            throw LoadError(file: file, "has a cycle: nodes \(stuck.joined(separator: ", ")) depend on each other")
        }

        // Import every node, collecting all unsupported ops before failing.
        var nodes: [Node] = []
        var unsupported: [String: [String]] = [:]
        for i in order {
            let n = protos[i]
            let name = nodeName(n, i)
            let domainOK = n.domain.isEmpty || n.domain == "ai.onnx"
            let key = domainOK ? n.opType : "\(n.domain)::\(n.opType)"
            if n.opType == "Constant" && domainOK {
                guard n.output.count == 1, n.input.isEmpty else {
                    throw LoadError(file: file, node: name, op: "Constant", "has \(n.input.count) inputs and \(n.output.count) outputs, expected none and 1")
                }
                let value = try ONNXOps.constantValue(Attributes(n, file: file), baseDirectory: baseDirectory)
                let out = id(n.output[0])
                constants[out] = value
                available.insert(out)
                continue
            }
            // Identity of a constant (exporters use it to share one initializer) is that constant.
            if n.opType == "Identity" && domainOK && n.input.count == 1 && n.output.count == 1,
               let src = ids[n.input[0]], let value = constants[src] {
                let out = id(n.output[0])
                constants[out] = value
                available.insert(out)
                continue
            }
            guard let builder = domainOK ? ONNXOps.table[n.opType] : ONNXOps.domainTable[key] else {
                unsupported[key, default: []].append(name)
                continue
            }
            // Input and output counts as the op's schema at this opset allows them (onnx's checker rule).
            if domainOK, let a = ONNXOps.arity[n.opType]?.last(where: { $0.since <= opset }) {
                func allowed(_ r: ClosedRange<Int>) -> String {
                    r.upperBound == Int(Int32.max) ? "at least \(r.lowerBound)" : r.count == 1 ? "\(r.lowerBound)" : "\(r.lowerBound) to \(r.upperBound)"
                }
                guard a.inputs.contains(n.input.count), a.outputs.contains(n.output.count) else {
                    throw LoadError(
                        file: file, node: name, op: n.opType,
                        "has \(n.input.count) inputs and \(n.output.count) outputs; at opset \(opset) \(n.opType) takes \(allowed(a.inputs)) inputs and \(allowed(a.outputs)) outputs")
                }
            }
            let inputIds: [Int?] = n.input.map { $0.isEmpty ? nil : id($0) } + implicit[i].map { id($0) }
            let context = OpContext(
                attributes: Attributes(n, file: file), opset: opset, inputCount: n.input.count, outputCount: n.output.count,
                constant: { k in k < inputIds.count ? inputIds[k].flatMap { constants[$0] } : nil },
                declaredShape: { k in k < inputIds.count ? inputIds[k].flatMap { declaredShapes[$0] } : nil },
                baseDirectory: baseDirectory, hasInput: { k in k < n.input.count && !n.input[k].isEmpty },
                outerNames: implicit[i], subgraph: { [opset, file, baseDirectory] in
                    try GraphBuilder.subgraph(n, $0, opset: opset, file: file, baseDirectory: baseDirectory)
                })
            let layer: any Layer
            do { layer = try builder(context) } catch let e as LayerError { throw LoadError(file: file, node: name, op: n.opType, e.message) }
            // Trailing unnamed outputs are dropped; middle ones get a private name.
            var outputs: [Int] = []
            for (k, o) in n.output.enumerated() {
                outputs.append(id(o.isEmpty ? "\(name):unused_output_\(k)" : o))
            }
            while let last = outputs.last, n.output[outputs.count - 1].isEmpty { _ = last; outputs.removeLast() }
            nodes.append(Node(name: name, layer: layer, inputs: inputIds, outputs: outputs))
        }
        if !unsupported.isEmpty {
            let list = unsupported.keys.sorted().map { op in
                let ns = unsupported[op] ?? []
                let shown = ns.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
                return "\(op) (\(ns.count) node\(ns.count == 1 ? "" : "s"): \(shown)\(ns.count > 3 ? ", …" : ""))"
            }
            throw LoadError(file: file, "uses \(unsupported.count) unsupported op\(unsupported.count == 1 ? "" : "s"): \(list.joined(separator: "; "))")
        }

        var outputs: [(Int, ValueDeclaration)] = []
        for v in graph.output {
            guard let oid = ids[v.name] else {
                throw LoadError(file: file, "declares graph output '\(v.name)', which no node, initializer or input defines")
            }
            outputs.append((oid, try declaration(v, isInput: false)))
        }
        return Graph(valueNames: names, constants: constants, nodes: nodes, inputs: inputs, outputs: outputs)
    }

    func nodeName(_ n: Onnx_NodeProto, _ index: Int) -> String {
        n.name.isEmpty ? "\(n.opType)_\(index)" : n.name
    }

    func declaration(_ v: Onnx_ValueInfoProto, isInput: Bool) throws -> ValueDeclaration {
        let role = isInput ? "graph input" : "graph output"
        guard v.hasType else {
            if isInput { throw LoadError(file: file, "\(role) '\(v.name)' has no type") }
            return ValueDeclaration(name: v.name, dtype: .float32, dimensions: nil)
        }
        // An optional declares its value's type; a sequence its items' (each of its own shape).
        var type = v.type
        var kind = DeclaredKind.tensor
        if case .optionalType(let o)? = type.value, o.hasElemType {
            type = o.elemType
            kind = .optional
        }
        var holdsSequence = false
        if case .sequenceType(let s)? = type.value, s.hasElemType {
            type = s.elemType
            holdsSequence = true
            if kind == .tensor { kind = .sequence }
        }
        guard case .tensorType(let t)? = type.value else {
            throw LoadError(file: file, "\(role) '\(v.name)' is not a tensor, a sequence of tensors or an optional of either (maps and nested sequences are not supported)")
        }
        guard let dtype = DType(rawValue: Int(t.elemType)) else {
            throw LoadError(file: file, "\(role) '\(v.name)' has ONNX element type \(t.elemType), which is not supported")
        }
        guard t.hasShape, !holdsSequence else { return ValueDeclaration(name: v.name, dtype: dtype, dimensions: nil, kind: kind) }
        let dims: [DeclaredDimension] = try t.shape.dim.map { d in
            switch d.value {
            case .dimValue(let n)?:
                guard n >= 0, n <= 1 << 32 else { throw LoadError(file: file, "\(role) '\(v.name)' has dimension \(n), expected 0…2^32") }
                return .fixed(Int(n))
            case .dimParam(let s)?: return .symbolic(s)
            case nil: return .symbolic("")
            }
        }
        return ValueDeclaration(name: v.name, dtype: dtype, dimensions: dims, kind: kind)
    }
}

/// What an op builder sees of its node.
struct OpContext {
    let attributes: Attributes
    let opset: Int
    let inputCount: Int
    let outputCount: Int
    /// The constant value of input k, when it is an initializer or a Constant node's output.
    let constant: (Int) -> Tensor?
    /// The shape input k is declared with, when it is a graph input whose dimensions are all numbers.
    let declaredShape: (Int) -> [Int]?
    let baseDirectory: URL?
    /// Whether input k is given (present and not the empty name of an omitted optional input).
    var hasInput: (Int) -> Bool = { _ in true }
    /// The values of enclosing scopes the node's subgraphs read (appended to its inputs).
    var outerNames: [String] = []
    /// The node's graph attribute of that name, built.
    var subgraph: (String) throws -> Subgraph? = { _ in nil }

    func error(_ message: String) -> LoadError { attributes.error(message) }
}
