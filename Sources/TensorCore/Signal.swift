import Foundation

/// The window functions of ONNX's signal ops.
public enum Window {
    public enum Kind: Sendable { case hann, hamming, blackman }

    /// `size` values of the window, periodic (the period is `size`, as for a DFT) or symmetric (the
    /// period is `size − 1`), computed in Double: Hann `0.5 − 0.5·cos(2πn/N)`, Hamming
    /// `25/46 − 21/46·cos(2πn/N)`, Blackman `0.42 − 0.5·cos(2πn/N) + 0.08·cos(4πn/N)`.
    public static func values(_ kind: Kind, size: Int, periodic: Bool) -> [Double] {
        let period = Double(periodic ? size : size - 1)
        return (0..<size).map { n in
            let x = 2 * Double.pi * Double(n) / period
            switch kind {
            case .hann: return 0.5 - 0.5 * Foundation.cos(x)
            case .hamming: return 25.0 / 46 - 21.0 / 46 * Foundation.cos(x)
            case .blackman: return 0.42 - 0.5 * Foundation.cos(x) + 0.08 * Foundation.cos(2 * x)
            }
        }
    }
}
