import CTargetFeatures
import Foundation

extension PackedGEMM {
    /// How `PackedGEMM.multiply` computes its product.
    public enum Kernel: String, Sendable, CaseIterable {
        /// Touchstone's register tiles: 8 × 48 outputs in 24 sixteen-lane accumulators, updated by
        /// fused multiply-adds; sized for AVX-512's 32 vector registers.
        case tiles
        /// B gathered into a plain matrix, then OpenBLAS's `sgemm` (which picks its kernels for
        /// the CPU at run time), then bias and activation row by row.
        case blas
    }

    /// Whether this build's code may use fused multiply-add and 512-bit vector instructions.
    ///
    /// Decided when the package is compiled (`CTargetFeatures`), not from the CPU it runs on: a
    /// build for baseline x86-64 lowers each lane of `addProduct` to a call of the C library's
    /// `fmaf` (resnet18 measured 6.2 s instead of 40 ms), and a build for AVX2 splits every
    /// sixteen-lane accumulator in two, more than the sixteen registers hold (resnet18 135-155 ms
    /// with the tiles against 85 ms through `sgemm`, measured on one machine).
    public static let targetHasTileInstructions = TOUCHSTONE_TARGET_FMA != 0 && TOUCHSTONE_TARGET_AVX512F != 0

    /// The kernel for this process: `TOUCHSTONE_CONV_KERNEL=tiles|blas` when set, otherwise
    /// `.tiles` when `targetHasTileInstructions` (a build with `-Xswiftc -target-cpu -Xswiftc native`
    /// on an AVX-512 CPU), `.blas` elsewhere. The choice never depends on timing, so a given build
    /// computes the same bits on every run.
    public static let selected: Kernel = {
        if let name = ProcessInfo.processInfo.environment["TOUCHSTONE_CONV_KERNEL"], let kernel = Kernel(rawValue: name) {
            return kernel
        }
        return targetHasTileInstructions ? .tiles : .blas
    }()
}
