import TensorCore

/// A recurrent layer as Keras defines it: SimpleRNN, LSTM, or GRU (with the reset gate applied
/// before or after the recurrent product), computed step by step in Float (Double for float64 X;
/// the activations rounded from Double).
///
/// - X `[N, T, F]`; Y `[N, T, units]` with `returnSequences`, else the last state `[N, units]`.
/// - Weights in Keras's layouts: kernel `[F, G·units]`, recurrent kernel `[units, G·units]`, bias
///   `[G·units]` (GRU with reset-after: `[2, 3·units]`, input then recurrent bias), G = 1, 4 or 3;
///   gate order i, f, c, o (LSTM) and z, r, h (GRU).
/// - `reverse` runs from the last step to the first (a Bidirectional layer's backward half);
///   returned sequences stay aligned with the input's steps.
public struct Recurrent: Layer {
    public typealias Cell = Recurrence.Cell

    public var opType: String {
        switch cell {
        case .simple: return "SimpleRNN"
        case .lstm: return "LSTM"
        case .gru: return "GRU"
        }
    }

    public let cell: Cell
    public let units: Int
    /// The activation of candidates and outputs (nil: linear) and of the gates.
    public let activation: UnaryOp?, recurrentActivation: UnaryOp?
    public let returnSequences: Bool
    public let reverse: Bool
    let kernel: [Double], recurrentKernel: [Double], bias: [Double]
    let inputFeatures: Int

    public init(
        cell: Cell, units: Int, activation: UnaryOp?, recurrentActivation: UnaryOp?, returnSequences: Bool, reverse: Bool,
        kernel: Tensor, recurrentKernel: Tensor, bias: Tensor?
    ) throws {
        let width = cell.gates * units
        guard units > 0, kernel.rank == 2, kernel.shape[1] == width, recurrentKernel.shape == [units, width] else {
            throw LayerError("kernel \(kernel.shape) and recurrent kernel \(recurrentKernel.shape) do not fit \(units) units with \(cell.gates) gates")
        }
        let biasCount = cell == .gru(resetAfter: true) ? 2 * width : width
        if let bias, bias.count != biasCount { throw LayerError("bias has \(bias.count) values, expected \(biasCount)") }
        self.cell = cell
        self.units = units
        self.activation = activation
        self.recurrentActivation = recurrentActivation
        self.returnSequences = returnSequences
        self.reverse = reverse
        self.kernel = kernel.doubles()
        self.recurrentKernel = recurrentKernel.doubles()
        self.bias = bias?.doubles() ?? [Double](repeating: 0, count: biasCount)
        inputFeatures = kernel.shape[0]
    }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        guard x.shape.count == 3, x.shape[2] == inputFeatures else { throw LayerError("X has shape \(x.shape), expected [N, T, \(inputFeatures)]") }
        return [TensorType(x.dtype, returnSequences ? [x.shape[0], x.shape[1], units] : [x.shape[0], units])]
    }

    /// The weights converted once per plan to both precisions (`RecurrentOp`).
    public func prepare(_ inputs: [TensorType?], constants: [Tensor?], format: ComputeFormat) throws -> any PreparedOp {
        _ = try outputTypes(inputs, constants: constants)
        return RecurrentOp(layer: self)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        try RecurrentOp(layer: self).run(inputs, outputs: outputs, context: context)
    }
}

/// A `Recurrent` ready to run: its weights in Float and Double; the kernel is `Recurrence.run`.
struct RecurrentOp: PreparedOp {
    let layer: Recurrent
    let float: Recurrence.Weights<Float>, double: Recurrence.Weights<Double>

    init(layer: Recurrent) {
        self.layer = layer
        double = Recurrence.Weights(cell: layer.cell, units: layer.units, inputFeatures: layer.inputFeatures,
                                    kernel: layer.kernel, recurrentKernel: layer.recurrentKernel, bias: layer.bias)
        float = Recurrence.Weights(cell: layer.cell, units: layer.units, inputFeatures: layer.inputFeatures,
                                   kernel: layer.kernel.map { Float($0) }, recurrentKernel: layer.recurrentKernel.map { Float($0) }, bias: layer.bias.map { Float($0) })
    }

    func run(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if x.dtype == .float64 { compute(x, double, outputs) } else { compute(x, float, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_ x: Tensor, _ weights: Recurrence.Weights<T>, _ outputs: [Tensor]) {
        let activation = layer.activation, recurrentActivation = layer.recurrentActivation
        let y = Recurrence.run(
            x.scalars(as: T.self), batch: x.shape[0], steps: x.shape[1], weights: weights,
            activation: { y in activation.map { T($0.apply(Double(y))) } ?? y },
            gate: { y in recurrentActivation.map { T($0.apply(Double(y))) } ?? y },
            returnSequences: layer.returnSequences, reverse: layer.reverse)
        Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
    }
}

/// ONNX `RNN`, `GRU` and `LSTM`: the cells of `Recurrent` with ONNX's inputs, run by
/// `Recurrence.sequence` once per direction.
///
/// - X `[T, N, F]` (`layout` 0) or `[N, T, F]` (1); W `[D, G·H, F]`, R `[D, G·H, H]`, B
///   `[D, 2·G·H]` (input then recurrent bias), P `[D, 3·H]`; gate order z, r, h (GRU) and i, o, f,
///   c (LSTM), converted to Keras's layout (i, f, c, o) when prepared (or at each run when the
///   weights are graph inputs). Biases of the same gate are summed except the GRU candidate's with
///   `linear_before_reset`, whose recurrent bias is inside the reset gate's product.
/// - Outputs Y `[T, D, N, H]` / `[N, T, D, H]`, Y_h and Y_c `[D, N, H]` / `[N, D, H]`: steps past a
///   sequence's length are zeros in Y; Y_h and Y_c hold the state after its last step.
/// - Computes in Float (Double for float64), activations rounded from Double.
public struct RecurrentSequence: Layer {
    public typealias Cell = Recurrence.Cell

    public var opType: String {
        switch cell {
        case .simple: return "RNN"
        case .lstm: return "LSTM"
        case .gru: return "GRU"
        }
    }

    public let cell: Cell
    public let hiddenSize: Int
    /// One entry per direction: runs from the last step to the first.
    public let reversed: [Bool]
    public let batchFirst: Bool
    /// Per direction: gate, candidate and (LSTM) output activations (a simple cell has one).
    public let activations: [[RecurrentActivation]]
    public let clip: Double?
    public let inputForget: Bool

    public init(cell: Cell, hiddenSize: Int, reversed: [Bool], batchFirst: Bool, activations: [[RecurrentActivation]], clip: Double?, inputForget: Bool) {
        self.cell = cell
        self.hiddenSize = hiddenSize
        self.reversed = reversed
        self.batchFirst = batchFirst
        self.activations = activations
        self.clip = clip
        self.inputForget = inputForget
    }

    var directions: Int { reversed.count }

    public func outputTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try required(inputs, 0, "X")
        try requireFloat(x, "X")
        let (d, h, g) = (directions, hiddenSize, cell.gates)
        guard x.shape.count == 3 else { throw LayerError("X has shape \(x.shape), expected rank 3") }
        let (steps, n, f) = batchFirst ? (x.shape[1], x.shape[0], x.shape[2]) : (x.shape[0], x.shape[1], x.shape[2])
        func expect(_ i: Int, _ name: String, _ shape: [Int], optional: Bool = true) throws {
            guard let t = i < inputs.count ? inputs[i] : nil else {
                if optional { return }
                throw LayerError("\(name) is required")
            }
            guard t.shape == shape, t.dtype == (i == 4 ? t.dtype : x.dtype) else {
                throw LayerError("\(name) is \(t), expected \(x.dtype)\(shape)")
            }
        }
        try expect(1, "W", [d, g * h, f], optional: false)
        try expect(2, "R", [d, g * h, h], optional: false)
        try expect(3, "B", [d, 2 * g * h])
        if let lens = inputs.count > 4 ? inputs[4] : nil, lens.shape != [n] || !(lens.dtype == .int32 || lens.dtype == .int64) {
            throw LayerError("sequence_lens is \(lens), expected int32[\(n)]")
        }
        let state = batchFirst ? [n, d, h] : [d, n, h]
        try expect(5, "initial_h", state)
        if cell == .lstm {
            try expect(6, "initial_c", state)
            try expect(7, "P", [d, 3 * h])
        } else if inputs.count > 6 {
            throw LayerError("\(opType) takes at most 6 inputs")
        }
        _ = try checkedProduct([steps, n, d, h], "Y")
        let y = TensorType(x.dtype, batchFirst ? [n, steps, d, h] : [steps, d, n, h])
        let last = TensorType(x.dtype, state)
        return cell == .lstm ? [y, last, last] : [y, last]
    }

    /// Weights of one direction in Keras's layout: kernel `[F, G·H]`, recurrent kernel
    /// `[H, G·H]`, bias; peepholes as ONNX orders them.
    func weights<T: BinaryFloatingPoint>(_ w: [T], _ r: [T], _ b: [T]?, features f: Int, direction: Int) -> Recurrence.Weights<T> {
        let (h, g) = (hiddenSize, cell.gates), width = g * h
        // Keras's gate k is ONNX's gate order[k].
        let order = cell == .lstm ? [0, 2, 3, 1] : Array(0..<g)
        var kernel = [T](repeating: 0, count: f * width), recurrent = [T](repeating: 0, count: h * width)
        let resetAfter = cell == .gru(resetAfter: true)
        var bias = [T](repeating: 0, count: resetAfter ? 2 * width : width)
        for k in 0..<g {
            let source = order[k]
            for j in 0..<h {
                let row = direction * width + source * h + j, column = k * h + j
                for i in 0..<f { kernel[i * width + column] = w[row * f + i] }
                for i in 0..<h { recurrent[i * width + column] = r[row * h + i] }
                if let b {
                    let input = b[direction * 2 * width + source * h + j], rec = b[direction * 2 * width + width + source * h + j]
                    if resetAfter {
                        bias[column] = input
                        bias[width + column] = rec
                    } else {
                        bias[column] = input + rec
                    }
                }
            }
        }
        return Recurrence.Weights(cell: cell, units: h, inputFeatures: f, kernel: kernel, recurrentKernel: recurrent, bias: bias)
    }

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        let x = try required(inputs, 0, "X")
        if x.dtype == .float64 { try compute(inputs, outputs, Double.self) } else { try compute(inputs, outputs, Float.self) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_ inputs: [Tensor?], _ outputs: [Tensor], _: T.Type) throws {
        let x = try required(inputs, 0, "X")
        let (h, d) = (hiddenSize, directions)
        let (steps, n, f) = batchFirst ? (x.shape[1], x.shape[0], x.shape[2]) : (x.shape[0], x.shape[1], x.shape[2])
        func input(_ i: Int) -> [T]? { (i < inputs.count ? inputs[i] : nil).map { $0.scalars(as: T.self) } }
        let w = try required(inputs, 1, "W").scalars(as: T.self), r = try required(inputs, 2, "R").scalars(as: T.self), b = input(3)
        let lengths = try (inputs.count > 4 ? inputs[4] : nil).map { t in
            try t.int64s().map { v -> Int in
                guard v >= 0 && v <= Int64(steps) else { throw LayerError("a sequence length \(v) is outside 0...\(steps)") }
                return Int(v)
            }
        }
        // X as [N, T, F].
        var v = x.scalars(as: T.self)
        if !batchFirst {
            let source = v
            for t in 0..<steps { for bi in 0..<n { for i in 0..<f { v[(bi * steps + t) * f + i] = source[(t * n + bi) * f + i] } } }
        }
        // A state tensor's values for direction k as [N·H].
        func state(_ values: [T]?, _ k: Int) -> [T]? {
            values.map { s in (0..<(n * h)).map { s[batchFirst ? ((($0 / h) * d + k) * h + $0 % h) : (k * n * h + $0)] } }
        }
        let initialH = input(5), initialC = cell == .lstm ? input(6) : nil, p = cell == .lstm ? input(7) : nil
        var y = [T](repeating: 0, count: n * steps * d * h), yh = [T](repeating: 0, count: d * n * h), yc = yh
        for k in 0..<d {
            var options = Recurrence.Options<T>()
            options.clip = clip.map { T($0) }
            options.peepholes = p.map { Array($0[(k * 3 * h)..<((k + 1) * 3 * h)]) }
            options.inputForget = inputForget
            options.initialState = state(initialH, k)
            options.initialCell = state(initialC, k)
            options.lengths = lengths
            let acts = activations[k]
            let gate: (T) -> T, candidate: (T) -> T, output: (T) -> T
            if cell == .simple {
                gate = { $0 }
                candidate = { T(acts[0].apply(Double($0))) }
                output = candidate
            } else {
                gate = { T(acts[0].apply(Double($0))) }
                candidate = { T(acts[1].apply(Double($0))) }
                output = cell == .lstm ? { T(acts[2].apply(Double($0))) } : candidate
            }
            let out = Recurrence.sequence(v, batch: n, steps: steps, weights: weights(w, r, b, features: f, direction: k),
                                          gate: gate, candidate: candidate, output: output, reverse: reversed[k], options: options)
            for bi in 0..<n {
                for j in 0..<h {
                    let s = batchFirst ? (bi * d + k) * h + j : (k * n + bi) * h + j
                    yh[s] = out.last[bi * h + j]
                    yc[s] = out.lastCell[bi * h + j]
                }
                for t in 0..<steps {
                    let target = batchFirst ? ((bi * steps + t) * d + k) * h : ((t * d + k) * n + bi) * h
                    for j in 0..<h { y[target + j] = out.states[(bi * steps + t) * h + j] }
                }
            }
        }
        let results = [y, yh, yc]
        for (i, o) in outputs.enumerated() where i < results.count {
            Tensor(shape: o.shape, scalars: results[i]).convert(into: o)
        }
    }
}
