// Measures the tensor core's kernels against the machine's sgemm throughput.
// Each figure is the median of 15 timings after a warm-up, with the thread count given as the first
// argument (GEMMs are split over that many threads; the elementwise kernels run on one).
import Dispatch
import Foundation
import Touchstone

func median(_ body: () -> Void, repeats: Int = 15) -> Double {
    body()
    var t: [Double] = []
    for _ in 0..<repeats {
        let s = DispatchTime.now().uptimeNanoseconds
        body()
        t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
    }
    return t.sorted()[t.count / 2]
}

let threads = Int(CommandLine.arguments.dropFirst().first ?? "1") ?? 1
GEMM.setThreads(threads)
print("OpenBLAS kernels: \(GEMM.coreName); threads: \(threads)")
print("| kernel | shape | median time | throughput |")
print("|---|---|---:|---:|")

func row(_ name: String, _ shape: String, _ seconds: Double, _ value: Double, _ unit: String) {
    print(String(format: "| %@ | %@ | %.3f ms | %.1f %@ |", name, shape, seconds * 1000, value, unit))
}

// sgemm peak: a large square product and a typical convolution product.
var peak = 0.0
for (m, n, k) in [(1024, 1024, 1024), (256, 3136, 1152), (64, 12544, 147)] {
    let a = Tensor.random(shape: [m, k], dtype: .float32, seed: 1), b = Tensor.random(shape: [k, n], dtype: .float32, seed: 2)
    let c = Tensor(zeros: [m, n])
    let s = median { Linear.matmul(a, b, into: c, m: m, n: n, k: k, transA: false, transB: false, alpha: 1, beta: 0, threads: threads) }
    let gflops = 2.0 * Double(m * n * k) / s / 1e9
    peak = max(peak, gflops)
    row("GEMM seam (sgemm)", "\(m)×\(n)×\(k)", s, gflops, "GFLOP/s")
}

/// Median seconds of `PackedGEMM.multiply` for seeded m × k and k × n operands, A packed once for `kernel`.
func packedProductSeconds(m: Int, n: Int, k: Int, kernel: PackedGEMM.Kernel) -> Double {
    let a = Tensor.random(shape: [m, k], dtype: .float32, seed: 1), b = Tensor.random(shape: [k, n], dtype: .float32, seed: 2)
    let c = Tensor(zeros: [m, n])
    let scratch = Scratch()
    return a.withUnsafeBufferPointer(as: Float.self) { ap in
        let packed = PackedMatrix(ap.baseAddress!, rows: m, depth: k, rowStride: k, kernel: kernel)
        return b.withUnsafeBufferPointer(as: Float.self) { bp in
            c.withUnsafeMutableBufferPointer(as: Float.self) { cp in
                median {
                    PackedGEMM.multiply(packed, PanelSource.matrix(bp.baseAddress!, columns: n, rowStride: n), c: cp.baseAddress!, ldc: n,
                                        bias: nil, activation: nil, threads: threads, scratch: scratch)
                }
            }
        }
    }
}

// Touchstone's own product kernel (weights packed once) on the same products, and on two of
// MobileNetV2's last pointwise products (49 columns).
for (m, n, k) in [(1024, 1024, 1024), (256, 3136, 1152), (64, 12544, 147), (1280, 49, 320), (320, 49, 960)] {
    let s = packedProductSeconds(m: m, n: n, k: k, kernel: PackedGEMM.selected)
    let gflops = 2.0 * Double(m * n * k) / s / 1e9
    row("packed GEMM", "\(m)×\(n)×\(k)", s, gflops, String(format: "GFLOP/s (%.0f%% of sgemm peak)", 100 * gflops / peak))
}

// A decoder step's products: 8 rows (8 sequences, one token each) through GPT-2's 48 weights of
// one step (12 blocks of 768×2304, 768×768, 768×3072 and 3072×768: 340 MB, beyond the caches),
// B read in place by the tiles, which ask for each block's rows ahead (`streamB`), or not; sgemm
// on the same for reference. Throughput is the weights streamed.
do {
    let shapes = Array(repeating: [(768, 2304), (768, 768), (768, 3072), (3072, 768)], count: 12).flatMap { $0 }
    let weights = shapes.enumerated().map { i, s in Tensor.random(shape: [s.0, s.1], dtype: .float32, seed: UInt64(100 + i)) }
    let inputs = [768, 3072].map { Tensor.random(shape: [8, $0], dtype: .float32, seed: 3) }
    let out = Tensor(zeros: [8, 3072])
    let bytes = Double(weights.reduce(0) { $0 + $1.byteCount })
    let scratch = Scratch()
    func pass(_ product: (UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void) {
        for (i, w) in weights.enumerated() {
            let a = inputs[w.shape[0] == 768 ? 0 : 1]
            a.withUnsafeBufferPointer(as: Float.self) { ap in
                out.withUnsafeMutableBufferPointer(as: Float.self) { cp in product(ap.baseAddress!, i, cp.baseAddress!) }
            }
        }
    }
    let sBlas = median {
        pass { a, i, c in
            weights[i].withUnsafeBufferPointer(as: Float.self) { bp in
                GEMM.gemm(transA: false, transB: false, m: 8, n: weights[i].shape[1], k: weights[i].shape[0], alpha: 1, a: a, lda: weights[i].shape[0],
                          b: bp.baseAddress!, ldb: weights[i].shape[1], beta: 0, c: c, ldc: weights[i].shape[1], threads: threads)
            }
        }
    }
    row("decoder-step products, sgemm", "8 rows × 48 GPT-2 weights", sBlas, bytes / sBlas / 1e9, "GB/s of weights")
    for streamB in [true, false] {
        let s = median {
            pass { a, i, c in
                weights[i].withUnsafeBufferPointer(as: Float.self) { bp in
                    Linear.tiledMatmul(a, rows: 8, k: weights[i].shape[0], bp.baseAddress!, n: weights[i].shape[1], ldb: weights[i].shape[1], c: c,
                                       ldc: weights[i].shape[1], activation: nil, threads: threads, scratch: scratch, streamB: streamB)
                }
            }
        }
        row("decoder-step products, tiles, B \(streamB ? "streamed" : "not asked for ahead")", "8 rows × 48 GPT-2 weights", s, bytes / s / 1e9, "GB/s of weights")
    }
}

// Attention's Kᵀ: the last two axes of [8·12, 128, 64] swapped (3 MB), read and written once.
do {
    let x = Tensor.random(shape: [96, 128, 64], dtype: .float32, seed: 5), y = Tensor(zeros: [96, 64, 128])
    let s = median { Movement.transpose(x, perm: [0, 2, 1], into: y) }
    row("transpose, last two axes", "96×128×64", s, 2.0 * Double(x.byteCount) / s / 1e9, "GB/s")
}

// The register-tile shapes side by side on the same products and on a 3×3 convolution, against one
// core's measured FMA peak at each shape's vector width (the shape this build is compiled for is
// the one that counts; the others run with the wrong register count for this target). Skipped on
// builds without FMA, where every lane is a call of `fmaf`.
if let native = PackedGEMM.targetTiles {
    let peaks = [16: fmaPeak(lanes: 16), 8: fmaPeak(lanes: 8), 4: fmaPeak(lanes: 4)]
    print(String(format: "FMA peak of one core: %.1f (16 lanes), %.1f (8 lanes), %.1f (4 lanes) GFLOP/s; this build's tiles: %@",
                 peaks[16]!, peaks[8]!, peaks[4]!, native.rawValue))
    for kernel in PackedGEMM.Kernel.allCases {
        let lanes = [PackedGEMM.Kernel.tiles16: 16, .tiles8: 8, .tiles4: 4][kernel]
        for (m, n, k) in [(256, 3136, 1152), (64, 12544, 147), (1280, 49, 320)] {
            let s = packedProductSeconds(m: m, n: n, k: k, kernel: kernel)
            let gflops = 2.0 * Double(m * n * k) / s / 1e9
            let ofPeak = lanes.map { String(format: "%.0f%% of the %d-lane FMA peak", 100 * gflops / (peaks[$0]! * Double(threads)), $0) } ?? "sgemm"
            row("packed GEMM, \(kernel.rawValue)", "\(m)×\(n)×\(k)", s, gflops, "GFLOP/s (\(ofPeak))")
        }
        let geo = Conv2DGeometry(batch: 1, inChannels: 64, inHeight: 56, inWidth: 56, outChannels: 64, outHeight: 56, outWidth: 56,
                                 kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, padTop: 1, padLeft: 1, groups: 1)
        let x = Tensor.random(shape: [1, 64, 56, 56], dtype: .float32, seed: 3), w = Tensor.random(shape: [64, 64, 3, 3], dtype: .float32, seed: 4)
        let y = Tensor(zeros: [1, 64, 56, 56])
        let scratch = Scratch()
        let packed = PackedConvWeights(w, groups: 1, kernel: kernel)
        let s = median { Conv2D.forward(input: x, weight: w, bias: nil, output: y, geometry: geo, activation: .relu, scratch: scratch, threads: threads, packed: packed) }
        let gflops = 2.0 * Double(geo.multiplyAdds) / s / 1e9
        let ofPeak = lanes.map { String(format: "%.0f%% of the %d-lane FMA peak", 100 * gflops / (peaks[$0]! * Double(threads)), $0) } ?? "sgemm"
        row("Conv 3×3 + ReLU, \(kernel.rawValue)", "64→64, 56×56", s, gflops, "GFLOP/s (\(ofPeak))")
    }
}

// Convolutions (weights packed once; bias and ReLU fused), shapes from ResNet.
for (cin, cout, size, k, stride) in [(64, 64, 56, 3, 1), (512, 512, 7, 3, 1), (3, 64, 224, 7, 2), (256, 64, 56, 1, 1), (128, 256, 28, 3, 2)] {
    let pad = k / 2, out = (size + 2 * pad - k) / stride + 1
    let geo = Conv2DGeometry(batch: 1, inChannels: cin, inHeight: size, inWidth: size, outChannels: cout, outHeight: out, outWidth: out,
                             kernelHeight: k, kernelWidth: k, strideH: stride, strideW: stride, dilationH: 1, dilationW: 1, padTop: pad, padLeft: pad, groups: 1)
    let x = Tensor.random(shape: [1, cin, size, size], dtype: .float32, seed: 3)
    let w = Tensor.random(shape: [cout, cin, k, k], dtype: .float32, seed: 4)
    let b = Tensor.random(shape: [cout], dtype: .float32, seed: 5)
    let y = Tensor(zeros: [1, cout, out, out])
    let scratch = Scratch()
    let packed = PackedConvWeights(w, groups: 1)
    let s = median { Conv2D.forward(input: x, weight: w, bias: b, output: y, geometry: geo, activation: .relu, scratch: scratch, threads: threads, packed: packed) }
    let gflops = 2.0 * Double(geo.multiplyAdds) / s / 1e9
    row("Conv \(k)×\(k)/\(stride) + bias + ReLU", "\(cin)→\(cout), \(size)×\(size)", s, gflops, String(format: "GFLOP/s (%.0f%% of sgemm peak)", 100 * gflops / peak))
}

// Depthwise (MobileNet's and EfficientNet's shapes): stride 1 on the channel-blocked kernel
// (inputs at most 64 wide), stride 2 on the rows (`Conv2D.depthwiseHalving`) where the target has
// AVX-512.
for (channels, size, k, stride) in [(144, 56, 3, 1), (672, 14, 5, 1), (1152, 7, 5, 1), (96, 112, 3, 2), (144, 56, 3, 2), (240, 28, 5, 2)] {
    let out = (size - 1) / stride + 1
    let dgeo = Conv2DGeometry(batch: 1, inChannels: channels, inHeight: size, inWidth: size, outChannels: channels, outHeight: out, outWidth: out,
                              kernelHeight: k, kernelWidth: k, strideH: stride, strideW: stride, dilationH: 1, dilationW: 1, padTop: k / 2, padLeft: k / 2,
                              groups: channels)
    let dx = Tensor.random(shape: [1, channels, size, size], dtype: .float32, seed: 5)
    let dw = Tensor.random(shape: [channels, 1, k, k], dtype: .float32, seed: 6)
    let dy = Tensor(zeros: [1, channels, out, out])
    let packed = PackedConvWeights(depthwise: dw)
    let flops = 2.0 * Double(dgeo.multiplyAdds)
    let sDw = median { Conv2D.depthwise(input: dx, weight: dw, bias: nil, output: dy, geometry: dgeo, activation: .relu, threads: threads, packed: packed) }
    row("depthwise \(k)×\(k)/\(stride)", "\(channels)×\(size)×\(size)", sDw, flops / sDw / 1e9, String(format: "GFLOP/s (%.1f%% of sgemm peak)", 100 * flops / sDw / 1e9 / peak))
}

// Elementwise add, same shape and per-channel broadcast.
let ea = Tensor.random(shape: [1, 256, 56, 56], dtype: .float32, seed: 7), eb = Tensor.random(shape: [1, 256, 56, 56], dtype: .float32, seed: 8)
let ec = Tensor(zeros: [1, 256, 56, 56])
let sAdd = median { Elementwise.binary(.add, ea, eb, into: ec) }
row("add (same shape)", "256×56×56", sAdd, 3.0 * Double(ea.byteCount) / sAdd / 1e9, "GB/s")
let bias = Tensor.random(shape: [256, 1, 1], dtype: .float32, seed: 9)
let sBias = median { Elementwise.binary(.add, ea, bias, into: ec) }
row("add (per-channel broadcast)", "256×56×56 + 256×1×1", sBias, 2.0 * Double(ea.byteCount) / sBias / 1e9, "GB/s")
let sRelu = median { Elementwise.unary(.activation(.relu), ea, into: ec) }
row("relu", "256×56×56", sRelu, 2.0 * Double(ea.byteCount) / sRelu / 1e9, "GB/s")

// Pooling: ResNet's max pool (3×3, stride 2, 64×112×112) and a global average (1280×7×7, a
// classifier's); bytes read and written per second.
do {
    let x = Tensor.random(shape: [64, 112, 112], dtype: .float32, seed: 11), y = Tensor(zeros: [64, 56, 56])
    let geo = Pool2DGeometry(
        planes: 64, inHeight: 112, inWidth: 112, outHeight: 56, outWidth: 56, kernelHeight: 3, kernelWidth: 3,
        strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
    let sMax = median { Pool2D.max(input: x, output: y, geometry: geo, threads: threads) }
    row("max pool 3×3/2", "64×112×112", sMax, Double(x.byteCount + y.byteCount) / sMax / 1e9, "GB/s")
    let g = Tensor.random(shape: [1280, 49], dtype: .float32, seed: 12), gy = Tensor(zeros: [1280])
    let sGlobal = median { Pool2D.global(input: g, output: gy, planes: 1280, planeSize: 49, max: false, threads: threads) }
    row("global average pool", "1280×7×7", sGlobal, Double(g.byteCount) / sGlobal / 1e9, "GB/s")
}

// Resize: a segmentation head's last bilinear upsample (×8, half-pixel), 21×65×65 to 21×520×520;
// bytes written per second.
do {
    let taps = ResizeTaps.make(
        input: 65, output: 520, scale: 8, mode: .linear, transform: .halfPixel, nearest: .roundPreferFloor,
        cubicA: -0.75, excludeOutside: false, antialias: false, roi: (0, 1))
    let passes = Resample.passes([nil, taps, taps])
    let x = Tensor.random(shape: [21, 65, 65], dtype: .float32, seed: 13).scalars(as: Float.self)
    var out = [Float](repeating: 0, count: 21 * 520 * 520)
    let s = median { out.withUnsafeMutableBufferPointer { Resample.apply(x, shape: [21, 65, 65], passes: passes, extrapolation: 0, threads: threads, into: $0) } }
    row("resize bilinear ×8", "21×65×65 → 21×520×520", s, Double(out.count * 4) / s / 1e9, "GB/s written")
}

// Activations over 64 K floats (256 KB, in L2), values in [-8, 8).
do {
    let count = 1 << 16
    let x = (0..<count).map { i in Float((i * 7919) % 4096) / 256 - 8 }
    var y = [Float](repeating: 0, count: count)
    x.withUnsafeBufferPointer { p in
        y.withUnsafeMutableBufferPointer { q in
            for activation in [Activation.relu, .hardSwish, .sigmoid, .swish, .tanh] {
                let s = median { activation.apply(p.baseAddress!, into: q.baseAddress!, count: count) }
                row("activation \(activation)", "\(count)", s, s * 1e9 / Double(count), "ns/element")
            }
        }
    }
}

// Parallel regions: what one `Parallel.forEachChunk` of `threads` chunks costs beyond its work,
// with chunks that spin for 0, 2 and 10 µs (the median of 15 timings of 2,000 regions back to back).
// `TOUCHSTONE_THREAD_POOL=dispatch` measures Dispatch's `concurrentPerform` instead of the pool.
if threads > 1 {
    for work in [0, 2_000, 10_000] {
        let s = median {
            for _ in 0..<2_000 {
                Parallel.forEachChunk(threads, threads: threads) { _ in
                    let end = DispatchTime.now().uptimeNanoseconds + UInt64(work)
                    while DispatchTime.now().uptimeNanoseconds < end {}
                }
            }
        } / 2_000
        row("parallel region (\(ProcessInfo.processInfo.environment["TOUCHSTONE_THREAD_POOL"] == "dispatch" ? "Dispatch" : "worker pool"))",
            "\(threads) chunks of \(work / 1000) µs", s, (s * 1e9 - Double(work)) / 1000, "µs beyond the chunk's work")
    }
}
