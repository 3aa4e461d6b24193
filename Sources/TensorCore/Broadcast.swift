/// numpy broadcasting rules.
public enum Broadcast {
    /// The broadcast shape of several shapes, or nil when they are incompatible.
    public static func shape(_ shapes: [[Int]]) -> [Int]? {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            let offset = rank - s.count
            for (i, d) in s.enumerated() {
                let o = out[offset + i]
                if o == d || d == 1 { continue }
                if o == 1 { out[offset + i] = d } else { return nil }
            }
        }
        return out
    }

    /// Element strides that read a tensor of `shape` as if it had `target` (a broadcast of it):
    /// broadcast dimensions get stride 0.
    public static func strides(of shape: [Int], broadcastTo target: [Int]) -> [Int] {
        let own = contiguousStrides(shape)
        let offset = target.count - shape.count
        var out = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 || target[offset + i] == 1 {
            out[offset + i] = shape[i] == 1 ? 0 : own[i]
        }
        return out
    }

    /// For each index of a batched product's broadcast batch shape, which batch entry of each
    /// operand it reads: `aBatch` and `bBatch` are the operands' batch dimensions.
    public static func batchPairs(_ aBatch: [Int], _ bBatch: [Int], batch: [Int]) -> [(a: Int, b: Int)] {
        let aStrides = strides(of: aBatch, broadcastTo: batch), bStrides = strides(of: bBatch, broadcastTo: batch)
        return (0..<batch.product).map { i in
            var rem = i, ia = 0, ib = 0
            for d in stride(from: batch.count - 1, through: 0, by: -1) {
                let idx = rem % batch[d]
                rem /= batch[d]
                ia += idx * aStrides[d]
                ib += idx * bStrides[d]
            }
            return (ia, ib)
        }
    }

    /// Merges adjacent dimensions that every operand walks contiguously, to shorten index loops.
    /// Returns the shorter shape and each operand's strides for it.
    public static func coalesce(_ shape: [Int], _ strides: [[Int]]) -> ([Int], [[Int]]) {
        var dims: [Int] = []
        var st: [[Int]] = strides.map { _ in [] }
        for i in 0..<shape.count where shape[i] != 1 {
            if let last = dims.last,
               strides.indices.allSatisfy({ strides[$0][i] * shape[i] == st[$0].last! || (strides[$0][i] == 0 && st[$0].last! == 0) })
            {
                // DeclaredDimension i continues the previous one for every operand.
                dims[dims.count - 1] = last * shape[i]
                for k in strides.indices { st[k][st[k].count - 1] = strides[k][i] }
            } else {
                dims.append(shape[i])
                for k in strides.indices { st[k].append(strides[k][i]) }
            }
        }
        if dims.isEmpty { return ([1], strides.map { _ in [1] }) }
        return (dims, st)
    }
}

/// A broadcast index space walked row by row, made once per plan for an op's shapes: the output's
/// shape with adjacent dimensions merged where every operand walks them contiguously, and each
/// operand's element strides over it (0 along broadcast dimensions).
public struct BroadcastWalk: Sendable, Equatable {
    /// The merged dimensions; the last is the row every kernel runs as a tight loop.
    public let dims: [Int]
    /// For each operand, its element stride along each of `dims`.
    public let strides: [[Int]]

    /// The walk of `operands` (shapes that broadcast to `output`) over `output`.
    public init(output: [Int], operands: [[Int]]) {
        (dims, strides) = Broadcast.coalesce(output, operands.map { Broadcast.strides(of: $0, broadcastTo: output) })
    }

    /// Elements in a row.
    @inlinable public var rowLength: Int { dims[dims.count - 1] }
    /// Rows in the index space.
    @inlinable public var rowCount: Int { dims.dropLast().reduce(1, *) }

    /// Calls `body(row, offsets)` for each row in order, where `offsets[k]` is operand k's element
    /// offset at the row's start (the output's is `row · rowLength`).
    @inlinable
    public func forEachRow(_ body: (Int, UnsafeMutableBufferPointer<Int>) -> Void) {
        forEachRow(in: 0..<rowCount, body)
    }

    /// `forEachRow` over the rows in `rows` only (the odometer started at the first).
    @inlinable
    public func forEachRow(in rows: Range<Int>, _ body: (Int, UnsafeMutableBufferPointer<Int>) -> Void) {
        guard !rows.isEmpty else { return }
        let depth = dims.count - 1
        withUnsafeTemporaryAllocation(of: Int.self, capacity: strides.count + depth) { buffer in
            buffer.initialize(repeating: 0)
            let offsets = UnsafeMutableBufferPointer(rebasing: buffer[..<strides.count])
            let index = UnsafeMutableBufferPointer(rebasing: buffer[strides.count...])
            var rest = rows.lowerBound
            for d in stride(from: depth - 1, through: 0, by: -1) {
                index[d] = rest % dims[d]
                rest /= dims[d]
                for k in 0..<strides.count { offsets[k] += index[d] * strides[k][d] }
            }
            for row in rows {
                body(row, offsets)
                // Advance the outer index (an odometer), updating every operand's offset.
                var d = depth - 1
                while d >= 0 {
                    index[d] += 1
                    for k in strides.indices { offsets[k] += strides[k][d] }
                    if index[d] < dims[d] { break }
                    for k in strides.indices { offsets[k] -= strides[k][d] * dims[d] }
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }
}
