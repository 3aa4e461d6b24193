import Foundation
import JSONC
import Layers
import Runtime
import TensorCore

/// Loads Keras models in frugally-deep's JSON format (its `keras_export/convert_model.py` output).
///
/// The Functional graph of `architecture` becomes typed layers; weights are decoded from their
/// base64 chunks into tensors; the file's embedded test case is kept for `Model.verify()`.
/// Inputs and outputs keep Keras's shapes (channels last). Inside, tensors that feed spatial layers
/// are held channels-first (Touchstone's canonical layout) and transposed only where a layer needs
/// Keras's order (see `KerasGraphBuilder`).
public enum KerasLoader {
    /// The arrays of base64 strings decoded as float32 while the file is read: the weights and
    /// the embedded test's values.
    static func decodesFloats(_ keys: [String]) -> Bool { keys.first == "trainable_params" || keys.last == "values" }

    public static func load(contentsOf url: URL) throws -> Model {
        // Read in pieces, the weight arrays decoded as they arrive: the text is never held.
        let json: JSONValue
        do { json = try JSONStream.parse(contentsOf: url, decodesFloats: decodesFloats) } catch let e as JSONError {
            throw LoadError(file: url.path, e.message)
        }
        return try loadReleasingWeights(consume json, path: url.path)
    }

    /// A model from a file's bytes held in memory (read as `load(contentsOf:)` reads a file).
    public static func load(_ data: Data, path: String) throws -> Model {
        let json: JSONValue
        do { json = try JSONStream.parse(data, path: path, decodesFloats: decodesFloats) } catch let e as JSONError {
            throw LoadError(file: path, e.message)
        }
        return try loadReleasingWeights(consume json, path: path)
    }

    /// The weights move out of the tree into a store that lets each array go once its layer holds
    /// it, so that the decoded arrays and the layers' weights are not all held at once.
    static func loadReleasingWeights(_ json: consuming JSONValue, path: String) throws -> Model {
        guard case .object(var top) = json else { return try load(json, path: path) }
        json = .null
        let params = top.removeValue(forKey: "trainable_params")?.object ?? [:]
        return try load(.object(top), weights: WeightStore(consume params), path: path)
    }

    public static func load(_ json: JSONValue, path: String) throws -> Model {
        try load(json, weights: WeightStore(json["trainable_params"]?.object ?? [:]), path: path)
    }

    static func load(_ json: JSONValue, weights: WeightStore, path: String) throws -> Model {
        guard let architecture = json["architecture"], let config = architecture["config"] else {
            throw LoadError(file: path, "has no 'architecture' with a 'config': not a frugally-deep model file")
        }
        if let format = json["image_data_format"]?.string, format != "channels_last" {
            throw LoadError(file: path, "has image_data_format '\(format)', expected channels_last")
        }
        var builder = KerasGraphBuilder(file: path, weights: weights)
        let (graph, inputNames, outputNames) = try builder.build(config)
        var test: EmbeddedTest?
        if let t = json["tests"]?.array?.first {
            test = EmbeddedTest(
                inputs: try namedTensors(t["inputs"], names: inputNames, path: path, what: "test input"),
                outputs: try namedTensors(t["outputs"], names: outputNames, path: path, what: "test output"))
        }
        var meta: [String: String] = [:]
        if let name = config["name"]?.string { meta["model"] = name }
        if let hash = json["hash"]?.string { meta["hash"] = hash }
        return Model(graph: graph, format: "keras", source: path, opset: nil, metadata: meta, embeddedTest: test)
    }

    /// Decodes `[{shape, values}]` into tensors named in order.
    static func namedTensors(_ list: JSONValue?, names: [String], path: String, what: String) throws -> [String: Tensor] {
        guard let items = list?.array, items.count == names.count else {
            throw LoadError(file: path, "has \(list?.array?.count ?? 0) \(what)s, the model has \(names.count)")
        }
        var out: [String: Tensor] = [:]
        for (item, name) in zip(items, names) {
            // Stored without the batch dimension: the case is one sample.
            let shape = try KerasGraphBuilder.intList(item["shape"], path: path, what: "\(what) '\(name)' shape")
            out[name] = try KerasGraphBuilder.floats(item["values"], shape: [1] + shape, path: path, what: "\(what) '\(name)'")
        }
        return out
    }
}

/// The Functional graph walk: one pass over the layers' call sites in dependency order.
struct KerasGraphBuilder {
    let file: String
    let weights: WeightStore
    var names: [String] = []
    var constants: [Int: Tensor] = [:]
    var nodes: [Node] = []
    /// Every Keras tensor by `layer:node:tensor`: its value ids per layout. Layers of nested models
    /// are named `outer/inner`.
    var tensors: [String: Value] = [:]
    /// Where the weights of a nested model's layer are stored: `outer/inner` → `outer_inner`.
    var paramNames: [String: String] = [:]

    /// A Keras tensor as held: in Keras's order, channels-first, or both.
    struct Value {
        var keras: Int?
        var channelsFirst: Int?
        let rank: Int
    }

    init(file: String, weights: WeightStore) {
        self.file = file
        self.weights = weights
    }

    func error(_ layer: String?, _ op: String?, _ message: String) -> LoadError {
        LoadError(file: file, node: layer, op: op, message)
    }

    // MARK: values and nodes

    mutating func value(_ name: String) -> Int {
        names.append(name)
        return names.count - 1
    }

    mutating func constant(_ name: String, _ t: Tensor) -> Int {
        let id = value(name)
        constants[id] = t
        return id
    }

    mutating func add(_ name: String, _ layer: any Layer, _ inputs: [Int?], outputs: Int = 1) -> [Int] {
        let ids = (0..<outputs).map { value(outputs == 1 ? name : "\(name):\($0)") }
        nodes.append(Node(name: name, layer: layer, inputs: inputs, outputs: ids))
        return ids
    }

    static func toChannelsFirst(_ rank: Int) -> [Int] { [0, rank - 1] + Array(1..<(rank - 1)) }
    static func toKeras(_ rank: Int) -> [Int] { [0] + Array(2..<rank) + [1] }

    /// The value in Keras's order, transposing once if only the channels-first form exists.
    mutating func keras(_ key: String) -> Int {
        guard var v = tensors[key] else { preconditionFailure("unknown tensor \(key)") }
        if let k = v.keras { return k }
        let id = add("\(key)/to_channels_last", Transpose(perm: Self.toKeras(v.rank)), [v.channelsFirst])[0]
        v.keras = id
        tensors[key] = v
        return id
    }

    /// The value channels-first (rank ≥ 3), transposing once if only Keras's order exists.
    mutating func channelsFirst(_ key: String) -> Int {
        guard var v = tensors[key] else { preconditionFailure("unknown tensor \(key)") }
        if let c = v.channelsFirst { return c }
        if v.rank < 3, let k = v.keras { return k }  // [N, C] is both
        let id = add("\(key)/to_channels_first", Transpose(perm: Self.toChannelsFirst(v.rank)), [v.keras])[0]
        v.channelsFirst = id
        tensors[key] = v
        return id
    }

    // MARK: file contents

    static func intList(_ v: JSONValue?, path: String, what: String) throws -> [Int] {
        guard let a = v?.array else { throw LoadError(file: path, "\(what) is missing or not a list") }
        return try a.map { x in
            guard let n = x.number, n >= 0, n <= Double(1 << 32), n == n.rounded() else {
                throw LoadError(file: path, "\(what) holds \(x), expected non-negative integers")
            }
            return Int(n)
        }
    }

    static func floats(_ v: JSONValue?, shape: [Int], path: String, what: String) throws -> Tensor {
        if case .floats(let values) = v {
            let count = try checkedCount(shape, path: path, what: what)
            guard values.count == count else { throw LoadError(file: path, "\(what) holds \(4 * values.count) bytes, its shape \(shape) needs \(4 * count)") }
            // The tensor adopts the decoded memory (a 400 MB weight is not copied).
            return Tensor(shape: shape, dtype: .float32, storage: TensorStorage(adopting: values.base, byteCount: 4 * count, owner: values))
        }
        guard let chunks = v?.array?.compactMap(\.string), chunks.count == v?.array?.count else {
            throw LoadError(file: path, "\(what) has no list of base64 strings")
        }
        let count = try checkedCount(shape, path: path, what: what)
        let bytes = Base64Floats.byteCount(chunks)
        guard bytes == 4 * count else {
            throw LoadError(file: path, "\(what) holds \(bytes) bytes, its shape \(shape) needs \(4 * count)")
        }
        guard let values = Base64Floats.decode(chunks, count: count) else { throw LoadError(file: path, "\(what) is not valid base64") }
        return Tensor(shape: shape, scalars: values)
    }

    static func checkedCount(_ shape: [Int], path: String, what: String) throws -> Int {
        var n = 1
        for d in shape {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard d >= 0, !overflow, p <= 1 << 31 else { throw LoadError(file: path, "\(what) has shape \(shape), too large") }
            n = p
        }
        return n
    }

    /// A weight array of a layer, with the shape the layer expects (the file stores it flat).
    func weight(_ layer: String, _ key: String, _ shape: [Int], op: String) throws -> Tensor {
        let stored = paramNames[layer] ?? layer
        guard let entry = weights.entry(stored, key) else { throw error(layer, op, "has no '\(key)' in trainable_params") }
        let t = try Self.floats(entry, shape: shape, path: file, what: "layer '\(layer)' \(key)")
        weights.taken(stored, key)
        return t
    }

    func hasWeight(_ layer: String, _ key: String) -> Bool { weights.entry(paramNames[layer] ?? layer, key) != nil }

    // MARK: the walk

    /// `[layer, node, tensor]` triples (input_layers, output_layers), nested lists flattened.
    func triples(_ v: JSONValue?) throws -> [(String, Int, Int)] {
        guard let a = v?.array else { return [] }
        if let name = a.first?.string, a.count == 3 { return [(name, try index(a[1], name), try index(a[2], name))] }
        return try a.flatMap { try triples($0) }
    }

    /// A node or tensor index in a `[layer, node, tensor]` reference.
    func index(_ v: JSONValue, _ layer: String) throws -> Int {
        guard let n = v.integer, (0...(1 << 20)).contains(n) else {
            throw error(layer, nil, "is referenced with index \(v.brief), expected an integer from 0 to 2^20")
        }
        return n
    }

    /// Applies every call site once its inputs exist, the first in file order among those ready
    /// (a min-heap of ready sites; each site waits on the `layer:node` that produces its missing
    /// inputs), so that a file listing its layers in any order loads in time linear in its size.
    /// `scope` prefixes the layer names of a nested model (`scope/layer`), whose weights are
    /// stored as `paramPrefix + layer`.
    mutating func walk(_ layers: [JSONValue], scope: String = "", paramPrefix: String = "") throws {
        var sites: [(layer: JSONValue, node: Int, inputs: [Input], name: String)] = []
        for layer in layers where layer["class_name"]?.string != "InputLayer" {
            let name = layer["name"]?.string ?? layer["config"]?["name"]?.string ?? "?"
            let scoped = scope + name
            if !scope.isEmpty { paramNames[scoped] = paramPrefix + name }
            // A top-level layer called once asks for each of its weights once.
            if scope.isEmpty && layer["inbound_nodes"]?.array?.count == 1 { weights.releasable.insert(name) }
            for (k, node) in (layer["inbound_nodes"]?.array ?? []).enumerated() {
                sites.append((layer, k, try history(node).map { (scope + $0.key, $0.shape) }, scoped))
            }
        }
        // A key "layer:node:tensor" is produced by the call site "layer:node".
        func producer(_ key: String) -> Substring { key[..<(key.lastIndex(of: ":") ?? key.endIndex)] }
        func complete(_ i: Int) -> Bool { sites[i].inputs.allSatisfy { tensors[$0.key] != nil } }
        var waiting: [Substring: [Int]] = [:]
        var ready: [Int] = []
        for (i, site) in sites.enumerated() {
            let absent = Set(site.inputs.map(\.key).filter { tensors[$0] == nil })
            for key in absent { waiting[producer(key), default: []].append(i) }
            if absent.isEmpty { ready.append(i) }
        }
        var heap = MinHeap(ready)
        var queued = [Bool](repeating: false, count: sites.count)
        for i in ready { queued[i] = true }
        var done = 0
        while let next = heap.pop() {
            let site = sites[next]
            do { try apply(site.layer, node: site.node, inputs: site.inputs, name: site.name) } catch let e as LayerError {
                throw error(site.name, site.layer["class_name"]?.string, e.message)
            }
            done += 1
            // A site still missing other inputs stays registered with their producers.
            for w in waiting.removeValue(forKey: Substring("\(site.name):\(site.node)")) ?? [] where !queued[w] && complete(w) {
                queued[w] = true
                heap.push(w)
            }
        }
        guard done == sites.count else {
            let names = sites.indices.filter { !queued[$0] }.prefix(5).map { sites[$0].name }
            throw error(names.first, nil, "layers \(names) read tensors no layer produces (or form a cycle)")
        }
    }

    /// Builds a nested Functional model's layers on the given outer tensors; returns the keys of
    /// its outputs.
    mutating func inline(_ config: JSONValue, scope: String, paramPrefix: String, inputs: [String]) throws -> [String] {
        guard let layers = config["layers"]?.array else { throw error(scope, "Functional", "nested model has no 'layers' list") }
        var inputNames = try triples(config["input_layers"]).map(\.0)
        if inputNames.isEmpty { inputNames = layers.filter { $0["class_name"]?.string == "InputLayer" }.compactMap { $0["name"]?.string } }
        guard inputNames.count == inputs.count else {
            throw error(scope, "Functional", "nested model has \(inputNames.count) inputs, the call site gives \(inputs.count)")
        }
        for (inner, outer) in zip(inputNames, inputs) { tensors["\(scope)/\(inner):0:0"] = tensors[outer] }
        try walk(layers, scope: scope + "/", paramPrefix: paramPrefix)
        return try triples(config["output_layers"]).map { "\(scope)/\($0.0):\($0.1):\($0.2)" }
    }

    /// Builds the graph; returns it with the input and output names in the model's order.
    mutating func build(_ config: JSONValue) throws -> (Graph, [String], [String]) {
        guard let layers = config["layers"]?.array else { throw error(nil, nil, "architecture has no 'layers' list") }
                var inputs: [(Int, ValueDeclaration)] = []
        var inputNames: [String] = []
        for layer in layers {
            guard let name = layer["name"]?.string ?? layer["config"]?["name"]?.string, let kind = layer["class_name"]?.string else {
                throw error(nil, nil, "a layer has no name or class_name")
            }
            if kind == "InputLayer" {
                let shape = layer["config"]?["batch_shape"]?.array ?? layer["config"]?["batch_input_shape"]?.array ?? []
                guard shape.count >= 2 else { throw error(name, kind, "batch_shape \(shape) must have a batch and at least one more dimension") }
                let dims: [DeclaredDimension] = [.symbolic("batch")] + (try shape.dropFirst().map { d in try dimension(d, name).map { .fixed($0) } ?? .symbolic("") })
                let id = value(name)
                inputs.append((id, ValueDeclaration(name: name, dtype: .float32, dimensions: dims)))
                inputNames.append(name)
                tensors["\(name):0:0"] = Value(keras: id, channelsFirst: nil, rank: shape.count)
            }
        }
        try walk(layers)
        let inOrder = try triples(config["input_layers"]).map(\.0)
        if !inOrder.isEmpty {
            inputs = try inOrder.map { n in
                guard let i = inputs.first(where: { $0.1.name == n }) else { throw error(n, "InputLayer", "is listed as an input but is not an InputLayer") }
                return i
            }
            inputNames = inOrder
        }
        var outputs: [(Int, ValueDeclaration)] = []
        var outputNames: [String] = []
        for (layer, node, index) in try triples(config["output_layers"]) {
            let key = "\(layer):\(node):\(index)"
            guard tensors[key] != nil else { throw error(layer, nil, "is listed as an output but produces no tensor \(key)") }
            // An output name must be unique; a layer's first output takes the layer's name.
            let name = outputNames.contains(layer) ? key : layer
            outputs.append((keras(key), ValueDeclaration(name: name, dtype: .float32, dimensions: nil)))
            outputNames.append(name)
        }
        return (Graph(valueNames: names, constants: constants, nodes: nodes, inputs: inputs, outputs: outputs), inputNames, outputNames)
    }

    /// The Keras tensors a call site reads, in argument order: `layer:node:tensor` keys and their
    /// shapes as the file records them (batch first, nil where unknown).
    func history(_ node: JSONValue) throws -> [(key: String, shape: [Int?])] {
        func collect(_ v: JSONValue) throws -> [(key: String, shape: [Int?])] {
            if let c = v["config"], let h = c["keras_history"]?.array, h.count == 3, let name = h[0].string {
                let shape = try (c["shape"]?.array ?? []).map { try dimension($0, name) }
                return [("\(name):\(try index(h[1], name)):\(try index(h[2], name))", shape)]
            }
            if let a = v.array { return try a.flatMap(collect) }
            return []
        }
        return try node["args"].map(collect) ?? []
    }

    /// A dimension in a recorded shape: null (unknown) or an integer from 0 to 2^31 − 1.
    func dimension(_ v: JSONValue, _ layer: String) throws -> Int? {
        if v == .null { return nil }
        guard let n = v.integer, (0...Int(Int32.max)).contains(n) else {
            throw error(layer, nil, "has a shape with dimension \(v.brief), expected null or an integer from 0 to 2^31 − 1")
        }
        return n
    }
}

/// A binary min-heap of indices.
struct MinHeap {
    private var items: [Int] = []

    init(_ values: [Int]) { for v in values { push(v) } }

    mutating func push(_ v: Int) {
        items.append(v)
        var i = items.count - 1
        while i > 0, items[(i - 1) / 2] > items[i] {
            items.swapAt(i, (i - 1) / 2)
            i = (i - 1) / 2
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        items[0] = items[items.count - 1]
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count, items[l] < items[m] { m = l }
            if r < items.count, items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}

/// The weight arrays of `trainable_params` by layer and key. Those of a top-level layer with one
/// call site are let go once taken (`releasable`), so that each array's memory is freed as soon
/// as its layer holds the weight; the others (shared layers, nested models) stay.
final class WeightStore {
    private var params: [String: JSONValue]
    var releasable: Set<String> = []

    init(_ params: consuming [String: JSONValue]) { self.params = params }

    func entry(_ layer: String, _ key: String) -> JSONValue? { params[layer]?[key] }

    /// Float bytes let go since the heap was last trimmed.
    private var releasedSinceTrim = 0

    /// Lets a weight go if its layer is releasable.
    func taken(_ layer: String, _ key: String) {
        guard releasable.contains(layer), case .object(var entries)? = params[layer] else { return }
        params[layer] = nil  // `entries` is then the only reference: the removal frees the array
        if case .floats(let values)? = entries[key] { releasedSinceTrim += values.count * 4 }
        entries[key] = nil
        params[layer] = .object(entries)
        if releasedSinceTrim >= 16 << 20 {
            // The freed arrays sit between the tensors made from them; glibc keeps such holes
            // unless asked (see `JSONStream`'s decoding).
            releasedSinceTrim = 0
            Heap.trim()
        }
    }
}
