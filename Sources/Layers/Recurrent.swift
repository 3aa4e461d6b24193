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
    public enum Cell: Sendable, Equatable {
        case simple, lstm
        case gru(resetAfter: Bool)

        public var gates: Int {
            switch self {
            case .simple: return 1
            case .lstm: return 4
            case .gru: return 3
            }
        }
    }

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

    public func forward(_ inputs: [Tensor?], outputs: [Tensor], context: ExecutionContext) throws {
        if try required(inputs, 0, "X").dtype == .float64 { try compute(Double.self, inputs, outputs) } else { try compute(Float.self, inputs, outputs) }
    }

    func compute<T: BinaryFloatingPoint & TensorScalar>(_: T.Type, _ inputs: [Tensor?], _ outputs: [Tensor]) throws {
        let x = try required(inputs, 0, "X")
        let (n, steps, f) = (x.shape[0], x.shape[1], x.shape[2])
        let v = x.scalars(as: T.self)
        let kernel = self.kernel.map { T($0) }, recurrentKernel = self.recurrentKernel.map { T($0) }, bias = self.bias.map { T($0) }
        let width = cell.gates * units
        func act(_ y: T) -> T { activation.map { T($0.apply(Double(y))) } ?? y }
        func gate(_ y: T) -> T { recurrentActivation.map { T($0.apply(Double(y))) } ?? y }
        var y = [T](repeating: 0, count: returnSequences ? n * steps * units : n * units)
        for b in 0..<n {
            var h = [T](repeating: 0, count: units), c = h
            for s in 0..<steps {
                let t = reverse ? steps - 1 - s : s
                // Input and recurrent products, each with its bias.
                var zx = [T](bias[0..<width]), zh = [T](repeating: 0, count: width)
                if cell == .gru(resetAfter: true) { zh = Array(bias[width..<(2 * width)]) }
                for i in 0..<f {
                    let xi = v[(b * steps + t) * f + i]
                    if xi != 0 { for g in 0..<width { zx[g] += xi * kernel[i * width + g] } }
                }
                for j in 0..<units where h[j] != 0 {
                    for g in 0..<width { zh[g] += h[j] * recurrentKernel[j * width + g] }
                }
                switch cell {
                case .simple:
                    for j in 0..<units { h[j] = act(zx[j] + zh[j]) }
                case .lstm:
                    for j in 0..<units {
                        let i = gate(zx[j] + zh[j]), fg = gate(zx[units + j] + zh[units + j])
                        let candidate = act(zx[2 * units + j] + zh[2 * units + j]), o = gate(zx[3 * units + j] + zh[3 * units + j])
                        c[j] = fg * c[j] + i * candidate
                        h[j] = o * act(c[j])
                    }
                case .gru(let resetAfter):
                    let previous = h
                    var r = [T](repeating: 0, count: units), z = r
                    for j in 0..<units {
                        z[j] = gate(zx[j] + zh[j])
                        r[j] = gate(zx[units + j] + zh[units + j])
                    }
                    var recurrentCandidate = [T](repeating: 0, count: units)
                    if resetAfter {
                        for j in 0..<units { recurrentCandidate[j] = r[j] * zh[2 * units + j] }
                    } else {
                        // The reset gate scales the state before its product.
                        for k in 0..<units where previous[k] != 0 {
                            let rk = r[k] * previous[k]
                            for j in 0..<units { recurrentCandidate[j] += rk * recurrentKernel[k * width + 2 * units + j] }
                        }
                    }
                    for j in 0..<units {
                        let candidate = act(zx[2 * units + j] + recurrentCandidate[j])
                        h[j] = z[j] * previous[j] + (1 - z[j]) * candidate
                    }
                }
                if returnSequences { for j in 0..<units { y[(b * steps + t) * units + j] = h[j] } }
            }
            if !returnSequences { for j in 0..<units { y[b * units + j] = h[j] } }
        }
        Tensor(shape: outputs[0].shape, scalars: y).convert(into: outputs[0])
    }
}
