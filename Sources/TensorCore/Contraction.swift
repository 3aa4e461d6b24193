/// A sum of products over labelled axes by direct loops (the kernel of ONNX `Einsum`): every output
/// element is the sum, over every point of the summed labels, of the product of one element of
/// each operand. The reference form, not a fast path: its cost is the whole label space.
public enum Contraction {
    /// The label space, resolved once for given operand shapes: the output labels' extents, then
    /// the summed labels', and for each operand its element offset per unit step of each label
    /// (output labels first; 0 where the operand lacks the label or broadcasts it).
    public struct Layout: Sendable {
        public let outputExtents: [Int]
        public let summedExtents: [Int]
        public let steps: [[Int]]
        public init(outputExtents: [Int], summedExtents: [Int], steps: [[Int]]) {
            self.outputExtents = outputExtents
            self.summedExtents = summedExtents
            self.steps = steps
        }
    }

    /// The output, row-major over the output labels; each sum runs over the summed labels in
    /// row-major order, each product over the operands in order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func compute<T: BinaryFloatingPoint>(_ operands: [[T]], layout: Layout) -> [T] {
        let extent = layout.outputExtents + layout.summedExtents
        let outRank = layout.outputExtents.count
        let outCount = layout.outputExtents.product, sumCount = layout.summedExtents.product
        var result = [T](repeating: 0, count: outCount)
        var index = [Int](repeating: 0, count: extent.count)
        for o in 0..<outCount {
            var rest = o
            for d in stride(from: outRank - 1, through: 0, by: -1) {
                index[d] = rest % extent[d]
                rest /= extent[d]
            }
            var total: T = 0
            for s in 0..<sumCount {
                var rest = s
                for d in stride(from: extent.count - 1, through: outRank, by: -1) {
                    index[d] = rest % extent[d]
                    rest /= extent[d]
                }
                var product: T = 1
                for (k, v) in operands.enumerated() {
                    var offset = 0
                    for d in 0..<extent.count { offset += index[d] * layout.steps[k][d] }
                    product *= v[offset]
                }
                total += product
            }
            result[o] = total
        }
        return result
    }
}
