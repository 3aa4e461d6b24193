import Foundation
import Layers
import TensorCore

/// An error while planning or running a model: it names the node and op, and what was wrong.
public struct ExecutionError: Error, CustomStringConvertible {
    public let node: String?
    public let op: String?
    public let message: String
    /// Planning failed for want of an input's values (see `LayerError.needsValues`).
    public let needsValues: Bool
    /// The model's file, when known (a session's errors carry it).
    public var file: String?

    public init(node: String? = nil, op: String? = nil, _ message: String, needsValues: Bool = false) {
        self.node = node
        self.op = op
        self.message = message
        self.needsValues = needsValues
    }

    public var description: String {
        let prefix = file.map { "\($0): " } ?? ""
        if let node, let op { return prefix + "node '\(node)' (\(op)): \(message)" }
        return prefix + message
    }
}

/// An error loading a model file: it names the file and, where it applies, the node and op.
public struct LoadError: Error, CustomStringConvertible {
    public let file: String
    public let node: String?
    public let op: String?
    public let message: String

    public init(file: String, node: String? = nil, op: String? = nil, _ message: String) {
        self.file = file
        self.node = node
        self.op = op
        self.message = message
    }

    public var description: String {
        var where_ = file
        if let node, let op { where_ += ", node '\(node)' (\(op))" } else if let op { where_ += ", op \(op)" }
        return "\(where_): \(message)"
    }
}

/// Refuses a path that is not a regular file (symbolic links followed): a FIFO or a device would
/// block a read or never end, and a folder is no model.
public func requireRegularFile(_ url: URL) throws {
    let type = (try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path))?[.type] as? FileAttributeType
    guard type == .typeRegular else {
        throw LoadError(
            file: url.path,
            type == nil ? "cannot be read (no such file)" : type == .typeDirectory ? "is a folder, not a model file" : "is not a regular file (a FIFO, socket or device)")
    }
}
