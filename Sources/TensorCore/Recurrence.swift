import Foundation

/// Recurrent layers as Keras defines them (SimpleRNN, LSTM, GRU with the reset gate before or after
/// the recurrent product), step by step: the kernel of `Recurrent`, beside a naive twin in Double.
///
/// X `[N, T, F]`; weights in Keras's layouts: kernel `[F, G·units]`, recurrent kernel
/// `[units, G·units]`, bias `[G·units]` (GRU with reset-after: `[2·G·units]`, input then recurrent
/// bias); G = 1, 4 or 3; gate order i, f, c, o (LSTM) and z, r, h (GRU). The output is every
/// step's state `[N, T, units]` (aligned with the input's steps when `reverse` runs from the last
/// step to the first) or the last state `[N, units]`.
public enum Recurrence {
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

    public struct Weights<T: BinaryFloatingPoint>: Sendable where T: Sendable {
        public let cell: Cell
        public let units: Int, inputFeatures: Int
        public let kernel: [T], recurrentKernel: [T], bias: [T]
        public init(cell: Cell, units: Int, inputFeatures: Int, kernel: [T], recurrentKernel: [T], bias: [T]) {
            self.cell = cell
            self.units = units
            self.inputFeatures = inputFeatures
            self.kernel = kernel
            self.recurrentKernel = recurrentKernel
            self.bias = bias
        }
    }

    /// What ONNX's RNN, GRU and LSTM add to Keras's cells (all optional).
    public struct Options<T: BinaryFloatingPoint>: Sendable where T: Sendable {
        /// Each gate's and candidate's input clipped to [−clip, clip] before its activation.
        public var clip: T?
        /// LSTM peepholes `[3·units]` in ONNX's order i, o, f: the cell state's terms in the gates.
        public var peepholes: [T]?
        /// LSTM with the forget gate coupled to the input gate (f = 1 − i).
        public var inputForget = false
        /// Initial state and (LSTM) cell `[N·units]`; zeros when nil.
        public var initialState: [T]?, initialCell: [T]?
        /// Each batch entry's number of steps (at most `steps`); the rest stay zero in the
        /// sequence and leave the last state alone.
        public var lengths: [Int]?
        public init() {}
    }

    /// Every step's state `[N, T, units]` (zeros past a sequence's length), the last state and
    /// the last cell `[N, units]` (the cell is zeros except for LSTM).
    public struct Output<T: BinaryFloatingPoint> {
        public var states: [T], last: [T], lastCell: [T]
    }

    /// Keras's layer: every step's state or the last one (`sequence` without options).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func run<T: BinaryFloatingPoint>(
        _ v: [T], batch n: Int, steps: Int, weights w: Weights<T>, activation act: (T) -> T, gate: (T) -> T,
        returnSequences: Bool, reverse: Bool
    ) -> [T] {
        let out = sequence(v, batch: n, steps: steps, weights: w, gate: gate, candidate: act, output: act, reverse: reverse, options: Options())
        return returnSequences ? out.states : out.last
    }

    /// Runs the cell over the sequence in `T`: each step's input and recurrent products summed in
    /// order of the input feature and of the state unit, `gate` on the gates, `candidate` on the
    /// candidate (and on a simple cell's state), `output` on an LSTM's cell before the output gate.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func sequence<T: BinaryFloatingPoint>(
        _ v: [T], batch n: Int, steps: Int, weights w: Weights<T>, gate: (T) -> T, candidate act: (T) -> T, output: (T) -> T,
        reverse: Bool, options: Options<T>
    ) -> Output<T> {
        let units = w.units, f = w.inputFeatures, width = w.cell.gates * units
        let kernel = w.kernel, recurrentKernel = w.recurrentKernel, bias = w.bias
        let clip: (T) -> T = options.clip.map { limit in { Swift.min(Swift.max($0, -limit), limit) } } ?? { $0 }
        var y = [T](repeating: 0, count: n * steps * units), last = [T](repeating: 0, count: n * units), lastCell = last
        for b in 0..<n {
            var h = options.initialState.map { Array($0[(b * units)..<((b + 1) * units)]) } ?? [T](repeating: 0, count: units)
            var c = options.initialCell.map { Array($0[(b * units)..<((b + 1) * units)]) } ?? [T](repeating: 0, count: units)
            let length = options.lengths?[b] ?? steps
            for s in 0..<length {
                let t = reverse ? length - 1 - s : s
                // Input and recurrent products, each with its bias.
                var zx = [T](bias[0..<width]), zh = [T](repeating: 0, count: width)
                if w.cell == .gru(resetAfter: true) { zh = Array(bias[width..<(2 * width)]) }
                for i in 0..<f {
                    let xi = v[(b * steps + t) * f + i]
                    if xi != 0 { for g in 0..<width { zx[g] += xi * kernel[i * width + g] } }
                }
                for j in 0..<units where h[j] != 0 {
                    for g in 0..<width { zh[g] += h[j] * recurrentKernel[j * width + g] }
                }
                switch w.cell {
                case .simple:
                    for j in 0..<units { h[j] = act(clip(zx[j] + zh[j])) }
                case .lstm:
                    let p = options.peepholes
                    for j in 0..<units {
                        let i = gate(clip(zx[j] + zh[j] + (p.map { $0[j] * c[j] } ?? 0)))
                        let fg = options.inputForget ? 1 - i : gate(clip(zx[units + j] + zh[units + j] + (p.map { $0[2 * units + j] * c[j] } ?? 0)))
                        let candidate = act(clip(zx[2 * units + j] + zh[2 * units + j]))
                        c[j] = fg * c[j] + i * candidate
                        let o = gate(clip(zx[3 * units + j] + zh[3 * units + j] + (p.map { $0[units + j] * c[j] } ?? 0)))
                        h[j] = o * output(c[j])
                    }
                case .gru(let resetAfter):
                    let previous = h
                    var r = [T](repeating: 0, count: units), z = r
                    for j in 0..<units {
                        z[j] = gate(clip(zx[j] + zh[j]))
                        r[j] = gate(clip(zx[units + j] + zh[units + j]))
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
                        let candidate = act(clip(zx[2 * units + j] + recurrentCandidate[j]))
                        h[j] = z[j] * previous[j] + (1 - z[j]) * candidate
                    }
                }
                for j in 0..<units { y[(b * steps + t) * units + j] = h[j] }
            }
            for j in 0..<units {
                last[b * units + j] = h[j]
                lastCell[b * units + j] = c[j]
            }
        }
        return Output(states: y, last: last, lastCell: lastCell)
    }

    /// The naive twin, in Double, from Keras's equations written as whole matrix products:
    /// z = x·W + b, u = h·U (+ the recurrent bias), then the cell's formulas gate by gate.
    public static func reference(
        _ v: [Double], batch n: Int, steps: Int, weights w: Weights<Double>, activation act: (Double) -> Double,
        gate: (Double) -> Double, returnSequences: Bool, reverse: Bool
    ) -> [Double] {
        let units = w.units, f = w.inputFeatures, width = w.cell.gates * units
        func column(_ m: [Double], rows: Int, _ vector: [Double], _ g: Int) -> Double {
            (0..<rows).reduce(0.0) { $0 + vector[$1] * m[$1 * width + g] }
        }
        var y = [Double](repeating: 0, count: returnSequences ? n * steps * units : n * units)
        for b in 0..<n {
            var h = [Double](repeating: 0, count: units), c = h
            let order = reverse ? Array((0..<steps).reversed()) : Array(0..<steps)
            for t in order {
                let x = Array(v[((b * steps + t) * f)..<((b * steps + t + 1) * f)])
                let zx = (0..<width).map { column(w.kernel, rows: f, x, $0) + w.bias[$0] }
                let recurrentBias: (Int) -> Double = { w.cell == .gru(resetAfter: true) ? w.bias[width + $0] : 0 }
                let u = (0..<width).map { column(w.recurrentKernel, rows: units, h, $0) + recurrentBias($0) }
                switch w.cell {
                case .simple:
                    h = (0..<units).map { act(zx[$0] + u[$0]) }
                case .lstm:
                    let i = (0..<units).map { gate(zx[$0] + u[$0]) }, fg = (0..<units).map { gate(zx[units + $0] + u[units + $0]) }
                    let g = (0..<units).map { act(zx[2 * units + $0] + u[2 * units + $0]) }, o = (0..<units).map { gate(zx[3 * units + $0] + u[3 * units + $0]) }
                    c = (0..<units).map { fg[$0] * c[$0] + i[$0] * g[$0] }
                    h = (0..<units).map { o[$0] * act(c[$0]) }
                case .gru(let resetAfter):
                    let z = (0..<units).map { gate(zx[$0] + u[$0]) }, r = (0..<units).map { gate(zx[units + $0] + u[units + $0]) }
                    let candidate: [Double]
                    if resetAfter {
                        candidate = (0..<units).map { act(zx[2 * units + $0] + r[$0] * u[2 * units + $0]) }
                    } else {
                        let rh = (0..<units).map { r[$0] * h[$0] }
                        candidate = (0..<units).map { act(zx[2 * units + $0] + column(w.recurrentKernel, rows: units, rh, 2 * units + $0)) }
                    }
                    h = (0..<units).map { z[$0] * h[$0] + (1 - z[$0]) * candidate[$0] }
                }
                if returnSequences { for j in 0..<units { y[(b * steps + t) * units + j] = h[j] } }
            }
            if !returnSequences { for j in 0..<units { y[b * units + j] = h[j] } }
        }
        return y
    }
}

/// An activation of ONNX's recurrent ops: the elementwise ops by name, plus `Affine`
/// (α·x + β) and `ScaledTanh` (α·tanh(β·x)), which exist only there.
public enum RecurrentActivation: Sendable, Equatable {
    case unary(UnaryOp)
    case affine(alpha: Double, beta: Double)
    case scaledTanh(alpha: Double, beta: Double)

    public func apply(_ x: Double) -> Double {
        switch self {
        case .unary(let op): return op.apply(x)
        case .affine(let a, let b): return a * x + b
        case .scaledTanh(let a, let b): return a * Foundation.tanh(b * x)
        }
    }
}
