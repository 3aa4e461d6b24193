import Foundation

/// Geometry of max or average pooling over any number of spatial axes (the 1-D and 2-D cases
/// have the faster `Pool2D`; this one serves 3-D and above, and is their test twin).
public struct PoolNDGeometry: Sendable, Equatable {
    public var planes: Int
    public var input: [Int], output: [Int], kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int]

    public init(planes: Int, input: [Int], output: [Int], kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int]) {
        self.planes = planes
        self.input = input; self.output = output; self.kernel = kernel
        self.strides = strides; self.dilations = dilations; self.padBegin = padBegin; self.padEnd = padEnd
    }
}

public enum PoolND {
    /// For each output position along one axis: the input indices its window reads inside the
    /// image, and how many of its taps fall inside the padded extent (the average's divisor with
    /// count_include_pad; taps past the end padding, which ceil mode can make, never count).
    static func axisTaps(_ g: PoolNDGeometry, axis: Int) -> [(indices: [Int], padded: Int)] {
        (0..<g.output[axis]).map { o in
            var indices: [Int] = [], padded = 0
            for k in 0..<g.kernel[axis] {
                let i = o * g.strides[axis] - g.padBegin[axis] + k * g.dilations[axis]
                if i >= -g.padBegin[axis] && i < g.input[axis] + g.padEnd[axis] { padded += 1 }
                if i >= 0 && i < g.input[axis] { indices.append(i) }
            }
            return (indices, padded)
        }
    }

    /// Max pooling (`average == nil`) or average pooling over every plane of `input`
    /// (`[planes, *input]`, float32 or float64, computed in `T`: averages sum in `T`) into
    /// `output` (`[planes, *output]`, the same dtype). A max window with no tap
    /// inside the image gives −∞; an average one 0.
    ///
    /// `indices` (int64, like `output`), for max pooling, receives where each maximum was found
    /// (the first tap holding it) as an index into the whole input: row-major within the plane,
    /// or column-major when `columnMajor` (ONNX MaxPool's `storage_order` 1); −1 for an empty window.
    ///
    /// With `lp` (ONNX LpPool), each window gives `(Σ|x|^p)^(1/p)` over its taps inside the image
    /// (padding adds nothing), summed in `T`.
    public static func pool(
        input: Tensor, output: Tensor, geometry g: PoolNDGeometry, average countIncludePad: Bool?,
        indices: Tensor? = nil, columnMajor: Bool = false, lp: Int? = nil
    ) {
        if input.dtype == .float64 {
            pool(input: input, output: output, geometry: g, average: countIncludePad, indices: indices, columnMajor: columnMajor, lp: lp, as: Double.self)
        } else {
            pool(input: input, output: output, geometry: g, average: countIncludePad, indices: indices, columnMajor: columnMajor, lp: lp, as: Float.self)
        }
    }

    static func pool<T: BinaryFloatingPoint & TensorScalar>(
        input: Tensor, output: Tensor, geometry g: PoolNDGeometry, average countIncludePad: Bool?,
        indices: Tensor?, columnMajor: Bool, lp: Int?, as _: T.Type
    ) {
        let rank = g.input.count
        let taps = (0..<rank).map { axisTaps(g, axis: $0) }
        var inStrides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { inStrides[a] = inStrides[a + 1] * g.input[a + 1] }
        var columnStrides = [Int](repeating: 1, count: rank)
        for a in 1..<max(rank, 1) { columnStrides[a] = columnStrides[a - 1] * g.input[a - 1] }
        let inPlane = g.input.product, outPlane = g.output.product
        let x = input.scalars(as: T.self)
        var y = [T](repeating: 0, count: g.planes * outPlane)
        var where_ = [Int64](repeating: -1, count: indices == nil ? 0 : g.planes * outPlane)
        var position = [Int](repeating: 0, count: rank)
        for o in 0..<outPlane {
            var rest = o
            for a in stride(from: rank - 1, through: 0, by: -1) {
                position[a] = rest % g.output[a]
                rest /= g.output[a]
            }
            let lists = (0..<rank).map { taps[$0][position[$0]].indices }
            let inside = lists.reduce(1) { $0 * $1.count }
            let divisor = countIncludePad == true ? (0..<rank).reduce(1) { $0 * taps[$1][position[$1]].padded } : inside
            // Input offsets of every tap inside the image (row-major, and as the index reports them).
            var offsets = [0], reported = [0]
            for a in 0..<rank {
                offsets = offsets.flatMap { base in lists[a].map { base + $0 * inStrides[a] } }
                reported = reported.flatMap { base in lists[a].map { base + $0 * (columnMajor ? columnStrides[a] : inStrides[a]) } }
            }
            for p in 0..<g.planes {
                let plane = p * inPlane
                if let lp {
                    var s: T = 0
                    for off in offsets { s += T(fromDouble: Foundation.pow(x[plane + off].magnitude.doubleValue, Double(lp))) }
                    y[p * outPlane + o] = T(fromDouble: Foundation.pow(s.doubleValue, 1 / Double(lp)))
                } else if countIncludePad == nil {
                    var m = -T.infinity, at = -1
                    for (t, off) in offsets.enumerated() where at < 0 || x[plane + off] > m {
                        m = x[plane + off]
                        at = t
                    }
                    y[p * outPlane + o] = m
                    if indices != nil && at >= 0 { where_[p * outPlane + o] = Int64(plane + reported[at]) }
                } else {
                    var s: T = 0
                    for off in offsets { s += x[plane + off] }
                    y[p * outPlane + o] = divisor == 0 ? 0 : s / T(divisor)
                }
            }
        }
        Tensor(shape: output.shape, scalars: y).copy(into: output)
        if let indices { Tensor(shape: indices.shape, scalars: where_).copy(into: indices) }
    }
}
