/// Selection and bool-valued elementwise kernels (Where, Not, IsNaN, IsInf).
extension Elementwise {
    /// `out[i] = condition[i] ? x[i] : y[i]` with numpy broadcasting of all three; `condition` is
    /// bool, `x` and `y` share `out`'s dtype (any dtype: elements are copied as bytes).
    public static func select(_ condition: Tensor, _ x: Tensor, _ y: Tensor, into out: Tensor) {
        select(condition, x, y, into: out, walk: BroadcastWalk(output: out.shape, operands: [condition.shape, x.shape, y.shape]))
    }

    /// `select` with the walk of condition, x and y over `out` prepared ahead.
    public static func select(_ condition: Tensor, _ x: Tensor, _ y: Tensor, into out: Tensor, walk: BroadcastWalk) {
        switch out.dtype.byteSize {
        case 1: select(condition, x, y, out, walk, UInt8.self)
        case 2: select(condition, x, y, out, walk, UInt16.self)
        case 4: select(condition, x, y, out, walk, UInt32.self)
        default: select(condition, x, y, out, walk, UInt64.self)
        }
    }

    private static func select<E>(_ condition: Tensor, _ x: Tensor, _ y: Tensor, _ out: Tensor, _ walk: BroadcastWalk, _: E.Type) {
        let pc = condition.storage.base.assumingMemoryBound(to: Bool.self)
        let px = x.storage.base.assumingMemoryBound(to: E.self), py = y.storage.base.assumingMemoryBound(to: E.self)
        let po = out.storage.base.assumingMemoryBound(to: E.self)
        let inner = walk.rowLength, last = walk.dims.count - 1
        let sc = walk.strides[0][last], sx = walk.strides[1][last], sy = walk.strides[2][last]
        walk.forEachRow { row, offsets in
            let dst = po + row * inner
            let c = pc + offsets[0], a = px + offsets[1], b = py + offsets[2]
            for i in 0..<inner { dst[i] = c[i * sc] ? a[i * sx] : b[i * sy] }
        }
    }

    /// `out[i] = !x[i]` for bool tensors.
    public static func not(_ x: Tensor, into out: Tensor) {
        let src = x.storage.base.assumingMemoryBound(to: Bool.self)
        let dst = out.storage.base.assumingMemoryBound(to: Bool.self)
        for i in 0..<x.count { dst[i] = !src[i] }
    }

    /// `out[i] = ~x[i]` for integer tensors (ONNX BitwiseNot), every bit flipped.
    public static func bitwiseNot(_ x: Tensor, into out: Tensor) {
        if x.dtype == .int4 || x.dtype == .uint4 || x.dtype == .int2 || x.dtype == .uint2 {
            // Sub-byte values are held one per byte: flip their bits only (a C cast of ~v).
            Tensor(shape: x.shape, scalars: x.int64s().map { ~$0 }).convert(into: out)
            return
        }
        let src = x.storage.base.assumingMemoryBound(to: UInt8.self), dst = out.storage.base.assumingMemoryBound(to: UInt8.self)
        for i in 0..<(x.count * x.dtype.byteSize) { dst[i] = ~src[i] }
    }

    /// `out` as an identity-like matrix `[rows, cols]`: 1 where `j − i = k`, 0 elsewhere (ONNX EyeLike).
    public static func eye(into out: Tensor, k: Int) {
        let rows = out.shape[0], cols = out.shape[1], size = out.dtype.byteSize
        let one = Tensor(scalar: 1.0).converted(to: out.dtype)
        out.storage.base.initializeMemory(as: UInt8.self, repeating: 0, count: out.count * size)
        // A diagonal wholly outside the matrix (any k from a file, Int.max included) leaves zeros.
        guard k > -rows && k < cols else { return }
        for i in 0..<rows {
            let j = i + k
            if j >= 0 && j < cols { (out.storage.base + (i * cols + j) * size).copyMemory(from: one.storage.base, byteCount: size) }
        }
    }

    /// A float classification written as bool: NaN, or infinity of the chosen signs.
    public enum FloatClass: Sendable, Equatable {
        case nan
        case infinity(positive: Bool, negative: Bool)
    }

    /// `out[i] = x[i] is of the class`, for any floating-point dtype (integers are never NaN or
    /// infinite).
    public static func classify(_ x: Tensor, _ kind: FloatClass, into out: Tensor) {
        let dst = out.storage.base.assumingMemoryBound(to: Bool.self)
        guard x.dtype.isFloatingPoint else {
            dst.update(repeating: false, count: out.count)
            return
        }
        let values = x.doubles()
        for (i, v) in values.enumerated() {
            switch kind {
            case .nan: dst[i] = v.isNaN
            case .infinity(let positive, let negative): dst[i] = v.isInfinite && (v > 0 ? positive : negative)
            }
        }
    }
}
