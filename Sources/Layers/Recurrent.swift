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
