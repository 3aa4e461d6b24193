import TensorCore

/// ONNX `MaxPool` and `AveragePool` over 1-D and 2-D windows.
///
/// - X `[N, C, W]` or `[N, C, H, W]`; Y `[N, C, OW]` or `[N, C, OH, OW]`, sizes as for `Conv`
///   (with `ceil_mode` rounding up, a window never starting inside the end padding).
public struct Pool: Layer {
    public enum Kind: Sendable, Equatable { case max, average(countIncludePad: Bool) }

    public let kind: Kind
    public let window: WindowAttributes

    public init(kind: Kind, window: WindowAttributes) {
        self.kind = kind
        self.window = window
    }

    public var opType: String { kind == .max ? "MaxPool" : "AveragePool" }

    func geometry(_ x: [Int]) throws -> (Pool2DGeometry, [Int]) {
        let rank = window.kernelShape.count
        guard x.count == rank + 2 else { throw LayerError("X has shape \(x), expected rank \(rank + 2)") }
        let r = try window.resolve(spatial: Array(x[2...]))
        let g = Pool2DGeometry(
            planes: x[0] * x[1], inHeight: r.inH, inWidth: r.inW, outHeight: r.outH, outWidth: r.outW,
            kernelHeight: r.kh, kernelWidth: r.kw, strideH: r.sh, strideW: r.sw, dilationH: r.dh, dilationW: r.dw,
            padTop: r.padTop, padLeft: r.padLeft, padBottom: r.padBottom, padRight: r.padRight)
        return (g, [x[0], x[1]] + r.outSpatial(rank: rank))
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        return [TensorType(x.dtype, try geometry(x.shape).1)]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        let (g, _) = try geometry(x.shape)
        try withFloat32([x], outputs[0]) { f, y in
            switch kind {
            case .max: Pool2D.max(input: f[0]!, output: y, geometry: g, threads: context.threads)
            case .average(let cip): Pool2D.average(input: f[0]!, output: y, geometry: g, countIncludePad: cip, threads: context.threads)
            }
        }
    }
}

/// ONNX `GlobalAveragePool` and `GlobalMaxPool`: `[N, C, spatial…] => [N, C, 1, …]`.
public struct GlobalPool: Layer {
    public let isMax: Bool
    public init(isMax: Bool) { self.isMax = isMax }
    public var opType: String { isMax ? "GlobalMaxPool" : "GlobalAveragePool" }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count >= 2 else { throw LayerError("X has shape \(x.shape), expected [N, C, …]") }
        return [TensorType(x.dtype, [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.shape.count - 2))]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        try withFloat32([x], outputs[0]) { f, y in
            Pool2D.global(input: f[0]!, output: y, planes: x.shape[0] * x.shape[1], planeSize: x.shape[2...].product, max: isMax)
        }
    }
}

/// ONNX `LRN` across channels. X, Y `[N, C, …]`.
public struct LRN: Layer {
    public var opType: String { "LRN" }
    public let size: Int
    public let alpha: Float, beta: Float, bias: Float

    public init(size: Int, alpha: Float, beta: Float, bias: Float) throws {
        guard size >= 1 else { throw LayerError("size \(size) must be at least 1") }
        self.size = size; self.alpha = alpha; self.beta = beta; self.bias = bias
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count >= 2 else { throw LayerError("X has shape \(x.shape), expected [N, C, …]") }
        return [x]
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        try withFloat32([x], outputs[0]) { f, y in
            Normalize.lrn(f[0]!.reshaped([x.shape[0], x.shape[1], x.shape[2...].product]), into: y, size: size, alpha: alpha, beta: beta, bias: bias)
        }
    }
}
