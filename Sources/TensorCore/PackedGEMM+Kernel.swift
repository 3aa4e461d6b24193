import CTargetFeatures
import Foundation

extension PackedGEMM {
    /// How `PackedGEMM.multiply` computes its product.
    ///
    /// The three tile shapes compute every output with the same fused multiply-add chain, so they
    /// give the same bits; they differ only in how many outputs one pass of registers holds, which
    /// is set by the vector width and the register count of the instruction set they are for.
    public enum Kernel: String, Sendable, CaseIterable {
        /// Register tiles of 8 rows × 48 columns in 24 sixteen-lane accumulators: AVX-512's
        /// thirty-two 512-bit registers (24 accumulators, 3 B vectors, a broadcast).
        case tiles16
        /// Sub-tiles of 4 rows × 24 columns in 12 eight-lane accumulators: AVX2's sixteen 256-bit
        /// registers (12 accumulators, 3 B vectors, a broadcast); an 8 × 48 tile is four of them.
        case tiles8
        /// Sub-tiles of 8 rows × 12 columns in 24 four-lane accumulators: NEON's thirty-two 128-bit
        /// registers on 64-bit Arm (24 accumulators, 3 B vectors, a broadcast); an 8 × 48 tile is
        /// four of them.
        case tiles4
        /// B gathered into a plain matrix, then OpenBLAS's `sgemm` (which picks its kernels for
        /// the CPU at run time), then bias and activation row by row.
        case blas

        /// Whether this is one of the register-tile shapes (which share A's packed layout).
        public var isTiles: Bool { self != .blas }
    }

    /// The register-tile shape this build's code is compiled for, or nil when it has no fused
    /// multiply-add instruction.
    ///
    /// Decided when the package is compiled (`CTargetFeatures`), not from the CPU it runs on: a
    /// build for baseline x86-64 lowers each lane of `addProduct` to a call of the C library's
    /// `fmaf` (resnet18 measured 6.2 s instead of 40 ms), so it has no tiles; a build for AVX2
    /// (`-target-cpu haswell` or later without AVX-512) gets the eight-lane shape, since the
    /// sixteen-lane one splits each accumulator over two of its sixteen registers (resnet18 135–155
    /// ms with those tiles against 85 ms through `sgemm`, measured on one machine); 64-bit Arm,
    /// where NEON and its fused multiply-add are part of the baseline, gets the four-lane shape.
    public static let targetTiles: Kernel? = tiles(
        fma: TOUCHSTONE_TARGET_FMA != 0, avx512: TOUCHSTONE_TARGET_AVX512F != 0, avx2: TOUCHSTONE_TARGET_AVX2 != 0,
        aarch64: TOUCHSTONE_TARGET_AARCH64 != 0)

    /// The tile shape for a target with these features.
    static func tiles(fma: Bool, avx512: Bool, avx2: Bool, aarch64: Bool) -> Kernel? {
        guard fma else { return nil }
        if avx512 { return .tiles16 }
        if avx2 { return .tiles8 }
        if aarch64 { return .tiles4 }
        return nil
    }

    /// The kernel for this process: `TOUCHSTONE_CONV_KERNEL` when set (`tiles16`, `tiles8`,
    /// `tiles4`, `blas`, or `tiles` for this build's own shape), otherwise `targetTiles`, or `.blas`
    /// where the build has none. The choice never depends on timing, so a given build computes
    /// the same bits on every run.
    public static let selected: Kernel = {
        if let name = ProcessInfo.processInfo.environment["TOUCHSTONE_CONV_KERNEL"] {
            if name == "tiles" { return targetTiles ?? .tiles16 }
            if let kernel = Kernel(rawValue: name) { return kernel }
        }
        return targetTiles ?? .blas
    }()
}
