import Testing
@testable import TensorCore

@Suite("Convolution kernels against the naive twin")
struct ConvTests {
    /// A random geometry: groups, depthwise multipliers, strides, dilations, asymmetric pads, odd sizes.
    static func geometry(_ seed: Int) -> Conv2DGeometry {
        var g = SeededGenerator(seed: UInt64(seed) &* 7919)
        let kind = seed % 5  // 0 general, 1 grouped, 2 depthwise, 3 depthwise ×2, 4 pointwise
        let groups = [1, 3, 6, 4, 1][kind]
        let cin = [randomInt(1...7, &g), 6, 6, 4, randomInt(1...9, &g)][kind]
        let cout = [randomInt(1...9, &g), 9, 6, 8, randomInt(1...8, &g)][kind]
        let kh = kind == 4 ? 1 : randomInt(1...4, &g), kw = kind == 4 ? 1 : randomInt(1...5, &g)
        let sh = kind == 4 ? 1 : randomInt(1...3, &g), sw = kind == 4 ? 1 : randomInt(1...3, &g)
        let dh = kind == 4 ? 1 : randomInt(1...2, &g), dw = kind == 4 ? 1 : randomInt(1...3, &g)
        let pt = kind == 4 ? 0 : randomInt(0...2, &g), pl = kind == 4 ? 0 : randomInt(0...3, &g)
        let pb = kind == 4 ? 0 : randomInt(0...2, &g), pr = kind == 4 ? 0 : randomInt(0...1, &g)
        let ih = randomInt(((kh - 1) * dh + 1)...13, &g), iw = randomInt(((kw - 1) * dw + 1)...(seed % 4 == 3 ? 40 : 17), &g)
        let oh = (ih + pt + pb - dh * (kh - 1) - 1) / sh + 1
        let ow = (iw + pl + pr - dw * (kw - 1) - 1) / sw + 1
        return Conv2DGeometry(
            batch: randomInt(1...2, &g), inChannels: cin, inHeight: ih, inWidth: iw, outChannels: cout, outHeight: oh, outWidth: ow,
            kernelHeight: kh, kernelWidth: kw, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw, padTop: pt, padLeft: pl, groups: groups)
    }

    // Sums of at most 7·4·5 = 140 products of values in [-1, 1) in FP32: error ≤ 140·2^-24·140 ≈ 1.2e-3
    // in the worst case, ~1e-5 typically; 1e-4 absolute + 1e-4 relative catches any indexing slip
    // (which moves values by O(1)).
    @Test(arguments: 0..<60)
    func fastMatchesReference(seed: Int) {
        let geo = Self.geometry(seed)
        var g = SeededGenerator(seed: UInt64(seed))
        let x = Tensor(shape: [geo.batch, geo.inChannels, geo.inHeight, geo.inWidth], scalars: randomFloats(geo.batch * geo.inChannels * geo.inHeight * geo.inWidth, &g))
        let wShape = [geo.outChannels, geo.inChannels / geo.groups, geo.kernelHeight, geo.kernelWidth]
        let w = Tensor(shape: wShape, scalars: randomFloats(wShape.product, &g))
        let b = seed % 2 == 0 ? Tensor(shape: [geo.outChannels], scalars: randomFloats(geo.outChannels, &g)) : nil
        let act: Activation? = [nil, .relu, .clip(low: -0.5, high: 0.5), .leakyRelu(alpha: 0.1)][seed % 4]
        let outShape = [geo.batch, geo.outChannels, geo.outHeight, geo.outWidth]
        let slow = Tensor(zeros: outShape)
        Conv2D.reference(input: x, weight: w, bias: b, output: slow, geometry: geo, activation: act)
        for kernel in PackedGEMM.Kernel.allCases {
            let fast = Tensor(zeros: outShape)
            let packed = geo.isDepthwise ? nil : PackedConvWeights(w, groups: geo.groups, kernel: kernel)
            Conv2D.forward(input: x, weight: w, bias: b, output: fast, geometry: geo, activation: act, scratch: Scratch(), threads: 1 + seed % 2, packed: packed)
            expectClose(fast.scalars(as: Float.self), slow.scalars(as: Float.self), atol: 1e-4, rtol: 1e-4, "conv \(geo) act \(String(describing: act)) kernel \(kernel)")
        }
    }

    /// A fused residual (`residual:`) gives the bits of the convolution, then the Add, then the
    /// activation, on every path: pointwise, the extended grid with one and several depth blocks,
    /// depthwise, both product kernels, one and two threads.
    @Test(arguments: 0..<30)
    func residualIsTheSeparateAdd(seed: Int) {
        var geo = Self.geometry(seed)
        if seed % 3 == 0 { geo.inChannels *= 24; geo.groups = 1 }  // depth over 128: several depth blocks
        var g = SeededGenerator(seed: UInt64(seed) &+ 77)
        let x = Tensor(shape: [geo.batch, geo.inChannels, geo.inHeight, geo.inWidth], scalars: randomFloats(geo.batch * geo.inChannels * geo.inHeight * geo.inWidth, &g))
        let wShape = [geo.outChannels, geo.inChannels / geo.groups, geo.kernelHeight, geo.kernelWidth]
        let w = Tensor(shape: wShape, scalars: randomFloats(wShape.product, &g))
        let b = Tensor(shape: [geo.outChannels], scalars: randomFloats(geo.outChannels, &g))
        let outShape = [geo.batch, geo.outChannels, geo.outHeight, geo.outWidth]
        let r = Tensor(shape: outShape, scalars: randomFloats(outShape.product, &g))
        let act: Activation? = [nil, .relu, .clip(low: -0.5, high: 0.5), .swish][seed % 4]
        for kernel in PackedGEMM.Kernel.allCases {
            let packed = geo.isDepthwise ? nil : PackedConvWeights(w, groups: geo.groups, kernel: kernel)
            let separate = Tensor(zeros: outShape), fused = Tensor(zeros: outShape)
            Conv2D.forward(input: x, weight: w, bias: b, output: separate, geometry: geo, activation: nil, scratch: Scratch(), threads: 1, packed: packed)
            separate.withUnsafeMutableBufferPointer(as: Float.self) { y in
                let res = r.scalars(as: Float.self)
                for i in y.indices { y[i] = y[i] + res[i] }
                act?.apply(y.baseAddress!, count: y.count)
            }
            Conv2D.forward(
                input: x, weight: w, bias: b, output: fused, geometry: geo, activation: act, scratch: Scratch(), threads: 1 + seed % 2,
                packed: packed, residual: r)
            #expect(fused.scalars(as: Float.self).map(\.bitPattern) == separate.scalars(as: Float.self).map(\.bitPattern), "residual \(geo) \(kernel)")
        }
    }

    /// Late-layer shapes on every thread count give the same bits: outputs at most 16 wide (the
    /// compact path, whose gather is split over threads: 14×14, 7×7, 3×3 and 2×2 outputs, where a
    /// row's last vector spills past the next rows), a 17×17 grid with few column panels (split by
    /// output channels), and a strided convolution at batch 2. Fewer output channels than pixels
    /// at batch 1 split the image into bands of output rows (`runInBands`): 7×7 compact, a 28×28
    /// grid, a 21×21 grid of stride 2 (four phases), two to four bands. One thread agrees with
    /// the naive twin.
    @Test(arguments: [
        (1, 256, 7, 7, 32, 1), (1, 512, 3, 3, 16, 1), (1, 1024, 2, 2, 16, 1), (1, 64, 14, 14, 256, 1), (1, 64, 17, 17, 256, 1), (2, 96, 9, 9, 24, 2),
        (1, 32, 28, 28, 16, 1), (1, 24, 41, 41, 16, 2),
    ])
    func sameBitsForEveryThreadCount(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, stride: Int) {
        let geo = Conv2DGeometry(
            batch: batch, inChannels: channels, inHeight: height, inWidth: width, outChannels: outChannels,
            outHeight: (height - 1) / stride + 1, outWidth: (width - 1) / stride + 1, kernelHeight: 3, kernelWidth: 3,
            strideH: stride, strideW: stride, dilationH: 1, dilationW: 1, padTop: 1, padLeft: 1, groups: 1)
        var g = SeededGenerator(seed: UInt64(channels * 31 + height))
        let x = Tensor(shape: [batch, channels, height, width], scalars: randomFloats(batch * channels * height * width, &g))
        let w = Tensor(shape: [outChannels, channels, 3, 3], scalars: randomFloats(outChannels * channels * 9, &g))
        let b = Tensor(shape: [outChannels], scalars: randomFloats(outChannels, &g))
        let outShape = [batch, outChannels, geo.outHeight, geo.outWidth]
        for kernel in PackedGEMM.Kernel.allCases {
            let packed = PackedConvWeights(w, groups: 1, kernel: kernel)
            var results: [[UInt32]] = []
            for threads in 1...4 {
                let y = Tensor(zeros: outShape)
                Conv2D.forward(input: x, weight: w, bias: b, output: y, geometry: geo, activation: .relu, scratch: Scratch(), threads: threads, packed: packed)
                results.append(y.scalars(as: Float.self).map(\.bitPattern))
                if threads == 1 && kernel == PackedGEMM.selected {
                    // Sums of up to 9,216 products of values in [-1, 1): FP32 rounding stays below 1e-3.
                    let slow = Tensor(zeros: outShape)
                    Conv2D.reference(input: x, weight: w, bias: b, output: slow, geometry: geo, activation: .relu)
                    expectClose(y.scalars(as: Float.self), slow.scalars(as: Float.self), atol: 1e-3, rtol: 1e-4, "conv \(geo)")
                }
            }
            for t in 1..<results.count {
                let differing = zip(results[0], results[t]).filter { $0 != $1 }.count
                #expect(differing == 0, "\(kernel), \(t + 1) threads: \(differing) outputs differ from one thread's, \(geo)")
            }
        }
    }

    /// Depthwise planes of every height and width class the kernel tiles differently: under four
    /// rows, four to eight (two overlapping row groups), more than eight (overlapping last tile),
    /// and widths on both sides of 8 and 16 (one- and two-vector tiles, ragged ends). Same bound as
    /// above (at most 25 products).
    @Test(arguments: 0..<40)
    func depthwisePlaneShapes(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 555)
        let k = randomInt(1...5, &g), s = randomInt(1...2, &g), pad = k / 2
        let oh = [1, 3, 4, 5, 7, 8, 9, 12, 14, 19][seed % 10], ow = randomInt(1...40, &g)
        let ih = max(k, (oh - 1) * s + k - 2 * pad), iw = max(k, (ow - 1) * s + k - 2 * pad)
        let geo = Conv2DGeometry(
            batch: 1, inChannels: 3, inHeight: ih, inWidth: iw, outChannels: 3,
            outHeight: (ih + 2 * pad - k) / s + 1, outWidth: (iw + 2 * pad - k) / s + 1,
            kernelHeight: k, kernelWidth: k, strideH: s, strideW: s, dilationH: 1, dilationW: 1, padTop: pad, padLeft: pad, groups: 3)
        let x = Tensor(shape: [1, 3, ih, iw], scalars: randomFloats(3 * ih * iw, &g))
        let w = Tensor(shape: [3, 1, k, k], scalars: randomFloats(3 * k * k, &g))
        let b = Tensor(shape: [3], scalars: randomFloats(3, &g))
        let outShape = [1, 3, geo.outHeight, geo.outWidth]
        let slow = Tensor(zeros: outShape), fast = Tensor(zeros: outShape)
        Conv2D.reference(input: x, weight: w, bias: b, output: slow, geometry: geo, activation: nil)
        Conv2D.depthwise(input: x, weight: w, bias: b, output: fast, geometry: geo, activation: nil, threads: 1)
        expectClose(fast.scalars(as: Float.self), slow.scalars(as: Float.self), atol: 1e-4, rtol: 1e-4, "depthwise \(geo)")
    }

    /// The channel-blocked depthwise kernel against the reference and, bit for bit, against the row
    /// kernel (both start from the bias and add the taps in the same order by fused multiply-adds):
    /// channel counts around the 16-lane blocks, planes under and over the 16-pixel transposes and
    /// the 8-pixel tiles, strides, dilations, asymmetric pads, two images, activations, weights laid
    /// out in advance or per call, one to four threads (blocks fewer than the threads split their
    /// output pixels), bitwise equal to the row kernel. Same bound as above (at most 25 products).
    @Test(arguments: 0..<48)
    func channelBlockedDepthwise(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 9001)
        let channels = [1, 5, 16, 17, 33, 40][seed % 6]
        let kh = randomInt(1...5, &g), kw = randomInt(1...5, &g), sh = randomInt(1...2, &g), sw = randomInt(1...2, &g)
        let dh = randomInt(1...2, &g), dw = randomInt(1...2, &g)
        let pt = randomInt(0...2, &g), pl = randomInt(0...2, &g), pb = randomInt(0...2, &g), pr = randomInt(0...2, &g)
        let spanH = (kh - 1) * dh + 1, spanW = (kw - 1) * dw + 1
        // Up to 40 wide for a third of the seeds: enough work to run in parallel, where channel
        // blocks fewer than the threads split their pixels too.
        let side = [4, 15, 40][seed % 3]
        let ih = randomInt(spanH...max(spanH, side), &g), iw = randomInt(spanW...max(spanW, side), &g)
        let batch = 1 + seed % 2
        let threads = 1 + (seed / 2) % 4
        let act: Activation? = [nil, .relu, .swish, .clip(low: -0.5, high: 0.5)][seed % 4]
        let (geo, x, w, b, slow, rows) = Self.depthwiseCase(
            batch: batch, channels: channels, ih: ih, iw: iw, kernel: (kh, kw), stride: (sh, sw), dilation: (dh, dw),
            pads: (pt, pl, pb, pr), bias: seed % 4 != 1, activation: act, &g)
        let blocked = Tensor(zeros: slow.shape)
        Conv2D.depthwiseChannelBlocked(
            input: x, weight: w, bias: b, output: blocked, geometry: geo, activation: act, threads: threads,
            blocks: seed % 3 == 1 ? PackedConvWeights(depthwise: w).channelBlocks : nil)
        expectClose(blocked.scalars(as: Float.self), slow.scalars(as: Float.self), atol: 1e-4, rtol: 1e-4, "blocked depthwise \(geo)")
        let differing = zip(blocked.scalars(as: Float.self), rows.scalars(as: Float.self)).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        #expect(differing == 0, "blocked (\(threads) threads) and row kernels differ at \(differing) outputs: \(geo)")
    }

    /// The stride-2 kernel (`depthwiseHalving`) against the reference and, bit for bit, against the
    /// row kernel: kernels 1 to 5 each way, pads 0 to 2 on each side, outputs 1 to 70 wide (one or
    /// more vectors, ragged ends, partial vectors stored whole where the plane goes on past them)
    /// and 4 to 13 high (an overlapping last row group), channels, images, activations, 1 to 3
    /// threads. Same bound as above (at most 25 products).
    @Test(arguments: 0..<40)
    func halvingDepthwise(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 4242)
        let channels = [1, 3, 16, 21][seed % 4], batch = 1 + seed % 2, threads = 1 + seed % 3
        let kh = randomInt(1...5, &g), kw = randomInt(1...5, &g)
        let pt = randomInt(0...2, &g), pl = randomInt(0...2, &g), pb = randomInt(0...2, &g), pr = randomInt(0...2, &g)
        let ow = [1, 7, 14, 16, 17, 31, 32, 33, 48, 70][seed % 10]
        let ih = 2 * (randomInt(4...13, &g) - 1) + kh - pt - pb + randomInt(0...1, &g)
        let iw = max(1, 2 * (ow - 1) + kw - pl - pr + randomInt(0...1, &g))
        let act: Activation? = [nil, .relu, .swish, .clip(low: -0.5, high: 0.5)][seed % 4]
        let (geo, x, w, b, slow, rows) = Self.depthwiseCase(
            batch: batch, channels: channels, ih: ih, iw: iw, kernel: (kh, kw), stride: (2, 2), dilation: (1, 1),
            pads: (pt, pl, pb, pr), bias: seed % 5 != 1, activation: act, &g)
        let halving = Tensor(zeros: slow.shape)
        Conv2D.depthwiseHalving(input: x, weight: w, bias: b, output: halving, geometry: geo, activation: act, threads: threads)
        // (One channel is a plain convolution, not a depthwise one.)
        #expect(geo.outHeight >= 4 && Conv2D.halvesRows(geo) == (channels > 1 && geo.outWidth >= 14), "\(geo)")
        expectClose(halving.scalars(as: Float.self), slow.scalars(as: Float.self), atol: 1e-4, rtol: 1e-4, "stride-2 depthwise \(geo)")
        let differing = zip(halving.scalars(as: Float.self), rows.scalars(as: Float.self)).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        #expect(differing == 0, "stride-2 (\(threads) threads) and row kernels differ at \(differing) outputs: \(geo)")
    }

    /// A seeded depthwise convolution (one output channel per input channel, `channels` of them)
    /// with its outputs by the naive twin (`slow`) and by the row kernel on one thread (`rows`).
    static func depthwiseCase(
        batch: Int, channels: Int, ih: Int, iw: Int, kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int),
        pads: (Int, Int, Int, Int), bias: Bool, activation act: Activation?, _ g: inout SeededGenerator
    ) -> (geo: Conv2DGeometry, x: Tensor, w: Tensor, b: Tensor?, slow: Tensor, rows: Tensor) {
        let (kh, kw) = kernel, (sh, sw) = stride, (dh, dw) = dilation, (pt, pl, pb, pr) = pads
        let geo = Conv2DGeometry(
            batch: batch, inChannels: channels, inHeight: ih, inWidth: iw, outChannels: channels,
            outHeight: (ih + pt + pb - dh * (kh - 1) - 1) / sh + 1, outWidth: (iw + pl + pr - dw * (kw - 1) - 1) / sw + 1,
            kernelHeight: kh, kernelWidth: kw, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw, padTop: pt, padLeft: pl,
            groups: channels)
        let x = Tensor(shape: [batch, channels, ih, iw], scalars: randomFloats(batch * channels * ih * iw, &g))
        let w = Tensor(shape: [channels, 1, kh, kw], scalars: randomFloats(channels * kh * kw, &g))
        let b = bias ? Tensor(shape: [channels], scalars: randomFloats(channels, &g)) : nil
        let outShape = [batch, channels, geo.outHeight, geo.outWidth]
        let slow = Tensor(zeros: outShape), rows = Tensor(zeros: outShape)
        Conv2D.reference(input: x, weight: w, bias: b, output: slow, geometry: geo, activation: act)
        Conv2D.depthwiseRows(input: x, weight: w, bias: b, output: rows, geometry: geo, activation: act, threads: 1)
        return (geo, x, w, b, slow, rows)
    }
}

@Suite("Pooling kernels against the naive twin")
struct PoolTests {
    /// The channel-blocked max pool against the reference and the row kernel, exactly (a maximum
    /// has one right answer): plane counts around the 16-lane blocks, planes under and over the
    /// 16-pixel transposes and 8-pixel steps, ceil-mode windows past the padding, and NaNs, which
    /// must win their windows. Its two passes (rows, then columns of row maxima) and its taps in
    /// row-major order give the same bits, with NaNs of distinct payloads and windows whose
    /// maximum is a +0 beside a −0 (every third shape: values ≤ 0, a fifth of them zeros).
    @Test(arguments: 0..<32)
    func channelBlockedMax(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 4242)
        let planes = [1, 7, 16, 17, 40][seed % 5]
        let kh = randomInt(1...3, &g), kw = randomInt(1...3, &g), sh = randomInt(1...2, &g), sw = randomInt(1...2, &g)
        let pt = randomInt(0...kh - 1, &g), pl = randomInt(0...kw - 1, &g)
        let ih = randomInt(kh...(seed % 3 == 0 ? 4 : 20), &g), iw = randomInt(kw...(seed % 3 == 0 ? 4 : 20), &g)
        // One more output than the floor rule where the last window starts inside the image (ceil mode).
        let oh = (ih + 2 * pt - kh) / sh + 1 + (seed % 2 == 1 && (ih + 2 * pt - kh) % sh != 0 ? 1 : 0)
        let ow = (iw + 2 * pl - kw) / sw + 1 + (seed % 2 == 1 && (iw + 2 * pl - kw) % sw != 0 ? 1 : 0)
        let geo = Pool2DGeometry(
            planes: planes, inHeight: ih, inWidth: iw, outHeight: oh, outWidth: ow, kernelHeight: kh, kernelWidth: kw,
            strideH: sh, strideW: sw, padTop: pt, padLeft: pl, padBottom: pt, padRight: pl)
        let x = maxPoolInput(planes: planes, ih, iw, seed: seed, &g)
        let slow = Tensor(zeros: [planes, oh, ow]), rows = Tensor(zeros: slow.shape), blocked = Tensor(zeros: slow.shape)
        Pool2D.reference(input: x, output: slow, geometry: geo, isMax: true, countIncludePad: false)
        Pool2D.run(input: x, output: rows, geometry: geo, threads: 1, isMax: true, countIncludePad: false)
        Pool2D.maxChannelBlocked(input: x, output: blocked, geometry: geo, threads: 1 + seed % 2)
        let want = slow.scalars(as: Float.self)
        for (name, got) in [("blocked", blocked.scalars(as: Float.self)), ("rows", rows.scalars(as: Float.self))] {
            #expect(zip(got, want).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(name) max pool \(geo)")
        }
        for twoPasses in [false, true] {
            let forced = Tensor(zeros: slow.shape)
            Pool2D.maxChannelBlocked(input: x, output: forced, geometry: geo, threads: 1, twoPasses: twoPasses)
            let differing = zip(forced.scalars(as: Float.self), blocked.scalars(as: Float.self)).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "two passes \(twoPasses): \(differing) outputs' bits differ, \(geo)")
        }
    }

    /// Stride-1 max pools that keep the plane's size (`maxKeepingSize`, on the flat plane): the
    /// bits of the blocked kernel's two passes, and the naive twin's values, for kernels 2 to 5
    /// with the padding split either way, planes from 1×1 (narrower than a vector) to 70 wide,
    /// NaN payloads and ±0 ties, on one and two threads.
    @Test(arguments: 0..<24)
    func sizeKeepingMax(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 9090)
        let kh = randomInt(2...5, &g), kw = randomInt(2...5, &g)
        let pt = randomInt(0...kh - 1, &g), pl = randomInt(0...kw - 1, &g)
        let ih = [1, 3, 14, 7, 28, randomInt(1...40, &g)][seed % 6], iw = [1, 5, 14, 7, 28, randomInt(1...70, &g)][seed % 6]
        let planes = seed % 4 == 3 ? 700 : [1, 3, 17][seed % 3]
        let geo = Pool2DGeometry(
            planes: planes, inHeight: ih, inWidth: iw, outHeight: ih, outWidth: iw, kernelHeight: kh, kernelWidth: kw,
            strideH: 1, strideW: 1, padTop: pt, padLeft: pl, padBottom: kh - 1 - pt, padRight: kw - 1 - pl)
        #expect(Pool2D.keepsSize(geo))
        let x = maxPoolInput(planes: planes, ih, iw, seed: seed, &g)
        let blocked = Tensor(zeros: [planes, ih, iw])
        Pool2D.maxChannelBlocked(input: x, output: blocked, geometry: geo, threads: 1, twoPasses: true)
        expectMaxPool("flat", x, geo, sameBitsAs: blocked, "blocked") { Pool2D.maxKeepingSize(input: x, output: $0, geometry: geo, threads: $1) }
    }

    /// Stride-2 max pools on the rows of NCHW (`maxHalving`): the naive twin's values and the row
    /// kernel's bits (the same comparisons in the same order), for windows of 2 and 3 with the
    /// padding on either side or none, floor and ceil sizes, planes from 3 to 131 wide (outputs
    /// narrower than a vector, a partial last vector, rows that start off a cache line), NaN
    /// payloads and ±0 ties, on one and two threads.
    @Test(arguments: 0..<32)
    func halvingMax(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 7070)
        let kh = randomInt(2...3, &g), kw = randomInt(2...3, &g)
        let pt = randomInt(0...kh - 1, &g), pl = randomInt(0...kw - 1, &g)
        let ih = [3, 7, 27, 55, 112, randomInt(3...60, &g)][seed % 6], iw = [3, 111, 27, 55, 112, randomInt(3...131, &g)][(seed / 2) % 6]
        let ceil = seed % 2 == 1
        func out(_ i: Int, _ p: Int, _ k: Int) -> Int {
            var o = (i + 2 * p - k + (ceil ? 1 : 0)) / 2 + 1
            if ceil && (o - 1) * 2 >= i + p { o -= 1 }  // the last window starts inside the image or the left padding
            return o
        }
        let geo = Pool2DGeometry(
            planes: [1, 3, 16, 5][seed % 4], inHeight: ih, inWidth: iw, outHeight: out(ih, pt, kh), outWidth: out(iw, pl, kw),
            kernelHeight: kh, kernelWidth: kw, strideH: 2, strideW: 2, padTop: pt, padLeft: pl, padBottom: pt, padRight: pl)
        #expect(Pool2D.halvesRows(geo))
        let x = maxPoolInput(planes: geo.planes, ih, iw, seed: seed, &g)
        let rows = Tensor(zeros: [geo.planes, geo.outHeight, geo.outWidth])
        Pool2D.run(input: x, output: rows, geometry: geo, threads: 1, isMax: true, countIncludePad: false)
        expectMaxPool("halving", x, geo, sameBitsAs: rows, "the row kernel") { Pool2D.maxHalving(input: x, output: $0, geometry: geo, threads: $1) }
    }

    /// Global pooling split over threads by planes (from 32K values): the same bits on one, two
    /// and three threads, and averages within 1e-6 of a double-precision sum (600 values a plane).
    @Test func globalPoolingGivesTheSameBitsOnAnyThreads() {
        var g = SeededGenerator(seed: 77)
        let planes = 70, size = 600
        let values = randomFloats(planes * size, &g)
        let x = Tensor(shape: [planes, size], scalars: values)
        for isMax in [false, true] {
            var results: [[UInt32]] = []
            for threads in 1...3 {
                let y = Tensor(zeros: [planes])
                Pool2D.global(input: x, output: y, planes: planes, planeSize: size, max: isMax, threads: threads)
                results.append(y.scalars(as: Float.self).map(\.bitPattern))
            }
            #expect(results[1] == results[0] && results[2] == results[0], "max \(isMax)")
            let want = (0..<planes).map { p in
                let plane = values[(p * size)..<((p + 1) * size)]
                return isMax ? plane.max() ?? 0 : Float(plane.reduce(0.0) { $0 + Double($1) } / Double(size))
            }
            expectClose(results[0].map(Float.init(bitPattern:)), want, atol: 1e-6, rtol: 1e-6, "global pool max \(isMax)")
        }
    }

    @Test(arguments: 0..<40)
    func fastMatchesReference(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &+ 1000)
        let kh = randomInt(1...3, &g), kw = randomInt(1...4, &g), sh = randomInt(1...3, &g), sw = randomInt(1...3, &g)
        let dh = randomInt(1...2, &g), dw = randomInt(1...2, &g)
        let pt = randomInt(0...1, &g), pl = randomInt(0...2, &g), pb = randomInt(0...2, &g), pr = randomInt(0...1, &g)
        let ih = randomInt(((kh - 1) * dh + 1)...11, &g), iw = randomInt(((kw - 1) * dw + 1)...(seed % 3 == 0 ? 12 : 40), &g)
        // Half the cases use ceil-mode sizes, whose last window can run past the padding.
        let ceil = seed % 2 == 1
        func out(_ i: Int, _ p: Int, _ k: Int, _ d: Int, _ s: Int) -> Int {
            let span = (k - 1) * d + 1
            var o = ceil ? (i + p - span + s - 1) / s + 1 : (i + p - span) / s + 1
            if ceil && (o - 1) * s >= i + p - (p > 0 ? p / 2 : 0) { o = max(1, o - 1) }
            return max(1, o)
        }
        let geo = Pool2DGeometry(
            planes: randomInt(1...3, &g), inHeight: ih, inWidth: iw, outHeight: out(ih, pt + pb, kh, dh, sh), outWidth: out(iw, pl + pr, kw, dw, sw),
            kernelHeight: kh, kernelWidth: kw, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw, padTop: pt, padLeft: pl, padBottom: pb, padRight: pr)
        let x = Tensor(shape: [geo.planes, ih, iw], scalars: randomFloats(geo.planes * ih * iw, &g))
        for (isMax, cip) in [(true, false), (false, false), (false, true)] {
            let fast = Tensor(zeros: [geo.planes, geo.outHeight, geo.outWidth]), slow = Tensor(zeros: fast.shape)
            if isMax { Pool2D.max(input: x, output: fast, geometry: geo, threads: 2) } else {
                Pool2D.average(input: x, output: fast, geometry: geo, countIncludePad: cip, threads: 1)
            }
            Pool2D.reference(input: x, output: slow, geometry: geo, isMax: isMax, countIncludePad: cip)
            // Max is exact; averages of ≤ 12 values differ only by summation order (Float vs Double).
            expectClose(fast.scalars(as: Float.self), slow.scalars(as: Float.self), atol: isMax ? 0 : 1e-6, rtol: 1e-6, "pool max=\(isMax) cip=\(cip) \(geo)")
            // The N-D kernel (3-D pooling, MaxPool indices) on the same 2-D window: a second,
            // separately written implementation of the same rules.
            let nd = Tensor(zeros: fast.shape)
            let ndGeo = PoolNDGeometry(
                planes: geo.planes, input: [ih, iw], output: [geo.outHeight, geo.outWidth], kernel: [kh, kw], strides: [sh, sw],
                dilations: [dh, dw], padBegin: [pt, pl], padEnd: [pb, pr])
            PoolND.pool(input: x, output: nd, geometry: ndGeo, average: isMax ? nil : cip)
            expectClose(nd.scalars(as: Float.self), slow.scalars(as: Float.self), atol: isMax ? 0 : 1e-6, rtol: 1e-6, "N-D pool max=\(isMax) cip=\(cip) \(geo)")
        }
    }

    @Test func maxPropagatesNaN() {
        let x = Tensor(shape: [1, 2, 2], scalars: [1, Float.nan, 3, 4])
        let y = Tensor(zeros: [1, 1, 1])
        let geo = Pool2DGeometry(planes: 1, inHeight: 2, inWidth: 2, outHeight: 1, outWidth: 1, kernelHeight: 2, kernelWidth: 2, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0)
        Pool2D.max(input: x, output: y, geometry: geo, threads: 1)
        #expect(y.scalars(as: Float.self)[0].isNaN)
    }
}

@Suite("Packed GEMM against the naive twin")
struct PackedGEMMTests {
    /// Shapes chosen to cross every edge of the blocking: rows not a multiple of the 8-row tile,
    /// columns ending in a whole 16- or 32-wide tail or an odd partial panel and spanning several
    /// 4-panel blocks, depths over one and several depth blocks, row strides for which B is copied
    /// (multiples of 2 KB), and products large enough to be split over 2 threads by columns (many
    /// panels) or by rows (few panels).
    @Test(arguments: [
        (1, 1, 1, 1), (8, 48, 7, 1), (16, 80, 20, 1), (13, 33, 9, 1), (25, 16, 300, 1), (37, 49, 600, 2), (70, 300, 40, 2),
        (512, 49, 700, 2), (64, 3136, 147, 2), (5, 200, 257, 2), (20, 512, 300, 1), (9, 1024, 40, 2),
    ])
    func matchesReference(m: Int, n: Int, k: Int, threads: Int) {
        var g = SeededGenerator(seed: UInt64(m * 1_000_003 + n * 1009 + k))
        let a = randomFloats(m * k, &g), b = randomFloats(k * n, &g), bias = randomFloats(m, &g)
        for kernel in PackedGEMM.Kernel.allCases {
            for (useBias, act) in [(false, nil), (true, Activation.relu)] as [(Bool, Activation?)] {
                var fast = [Float](repeating: .nan, count: m * n), slow = [Float](repeating: 0, count: m * n)
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        bias.withUnsafeBufferPointer { bias in
                            let packed = PackedMatrix(a.baseAddress!, rows: m, depth: k, rowStride: k, kernel: kernel)
                            fast.withUnsafeMutableBufferPointer { c in
                                PackedGEMM.multiply(packed, PanelSource.matrix(b.baseAddress!, columns: n, rowStride: n), c: c.baseAddress!, ldc: n,
                                                    bias: useBias ? bias.baseAddress! : nil, activation: act, threads: threads)
                            }
                            slow.withUnsafeMutableBufferPointer { c in
                                GEMM.referenceGEMM(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: n, beta: 0, c: c.baseAddress!, ldc: n)
                            }
                        }
                    }
                }
                for i in 0..<m { for j in 0..<n {
                    var v = slow[i * n + j] + (useBias ? bias[i] : 0)
                    if let act { v = act.apply(v) }
                    slow[i * n + j] = v
                } }
                // Sums of up to 700 products of values in [-1, 1) in FP32 against Double: worst case
                // 700·2^-24·700 ≈ 3e-2, typically √700·2^-24·10 ≈ 1e-5; 1e-3 + 1e-4 relative catches any
                // misplaced or missing term (each moves a value by O(0.1) or more).
                expectClose(fast, slow, atol: 1e-3, rtol: 1e-4, "packed GEMM \(m)×\(n)×\(k) bias=\(useBias) act=\(String(describing: act)) kernel \(kernel)")
            }
        }
    }

    /// The depth block MLAS uses for `columns` outputs and depth `k` (its stride heuristic, written
    /// out as a table): 128, or 256/512/1024 when the outputs are fewer than the depth and at most
    /// 64/32/16.
    static func mlasDepthBlock(columns n: Int, depth k: Int) -> Int {
        n >= k ? 128 : n <= 16 ? 1024 : n <= 32 ? 512 : n <= 64 ? 256 : 128
    }

    /// `C = A·B + bias + residual` (A `m×k`, B `k×n` with row stride `ldb`, the residual `m×n`
    /// when given), then ReLU or the Clip, each output summed as `mlasOrderSum` sums it over the
    /// product's MLAS depth blocks.
    static func mlasOrderProduct(
        _ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, ldb: Int, bias: [Float]?, activation: Activation?, residual: [Float]? = nil
    ) -> [Float] {
        let block = mlasDepthBlock(columns: n, depth: k)
        var want = [Float]()
        for i in 0..<m { for j in 0..<n {
            var v = mlasOrderSum({ a[i * k + $0] }, { b[$0 * ldb + j] }, depth: k, block: block, bias: bias?[i])
            if let residual { v += residual[i * n + j] }
            if case .clip(let low, let high) = activation { v = min(max(v, low), high) }
            if activation == .relu { v = max(v, 0) }
            want.append(v)
        } }
        return want
    }

    /// One output in MLAS's order: a fused multiply-add chain from zero per depth block, the
    /// blocks' sums added in turn, then the bias.
    static func mlasOrderSum(_ a: (Int) -> Float, _ b: (Int) -> Float, depth k: Int, block: Int, bias: Float?) -> Float {
        var total: Float? = nil
        for p0 in stride(from: 0, to: k, by: block) {
            var acc: Float = 0
            for p in p0..<min(k, p0 + block) { acc.addProduct(a(p), b(p)) }
            total = total.map { $0 + acc } ?? acc
        }
        return (total ?? 0) + (bias ?? 0)
    }

    /// The tiles sum exactly in MLAS's order (what makes QDQ models re-quantize as onnxruntime
    /// does): bitwise equal to the scalar emulation, across the depth-block choices, and so does
    /// the column-by-column kernel of a last panel of 1 to 4 columns (n = 100, 49, 98), over groups of
    /// four row panels and a partial group; every tile shape (sixteen, eight and four lanes).
    /// (300, 1, 200) and (48, 3, 700) are matrix-vector products split over the two threads by rows.
    @Test(arguments: [(9, 100, 300), (9, 40, 300), (8, 10, 2000), (3, 200, 50), (16, 20, 700), (40, 49, 300), (37, 98, 700),
                      (300, 1, 200), (48, 3, 700)])
    func tilesSumInMLASOrder(m: Int, n: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 7919 + n * 31 + k))
        let a = randomFloats(m * k, &g), b = randomFloats(k * n, &g), bias = randomFloats(m, &g)
        let block = Self.mlasDepthBlock(columns: n, depth: k)
        var want = [Float]()
        for i in 0..<m { for j in 0..<n { want.append(Self.mlasOrderSum({ a[i * k + $0] }, { b[$0 * n + j] }, depth: k, block: block, bias: bias[i])) } }
        for kernel in PackedGEMM.Kernel.allCases where kernel.isTiles {
            let c = Self.product(a, b, m: m, n: n, k: k, kernel: kernel, bias: bias, activation: nil, threads: 2)
            #expect(c.map(\.bitPattern) == want.map(\.bitPattern), "\(m)×\(n)×\(k), depth block \(block), \(kernel)")
        }
    }

    /// A product that streams B (a linear layer's weight, `streamB`: with at most 64 rows of A,
    /// each block's rows asked for ahead, and B read in place, not copied, even at row strides
    /// that alias in cache when one row panel reads it) sums in MLAS's order, bitwise: one row
    /// panel at 1024 and 512 columns (4 KB and 2 KB row strides, several column blocks, a last
    /// panel of 16 columns, several depth blocks), several row panels with the strided copy
    /// (37 × 512) and without, a row stride wider than B, bias and ReLU, one and two threads,
    /// every tile shape; the same products without streaming give the same bits. (13, 97, 300, 512)
    /// copies its panels and ends in a last panel of one column, whose B values go to that
    /// panel's unused copy slot.
    @Test(arguments: [(8, 1024, 300, 1024), (8, 512, 130, 512), (37, 512, 257, 512), (64, 96, 128, 96), (13, 100, 700, 100), (16, 200, 300, 256),
                      (13, 97, 300, 512)])
    func streamedProductsSumInMLASOrder(m: Int, n: Int, k: Int, rowStride: Int) {
        var g = SeededGenerator(seed: UInt64(m * 131 + n * 7 + k))
        let a = randomFloats(m * k, &g), b = randomFloats(k * rowStride, &g), bias = randomFloats(m, &g)
        let block = Self.mlasDepthBlock(columns: n, depth: k)
        var want = [Float]()
        for i in 0..<m { for j in 0..<n { want.append(max(0, Self.mlasOrderSum({ a[i * k + $0] }, { b[$0 * rowStride + j] }, depth: k, block: block, bias: bias[i]))) } }
        for kernel in PackedGEMM.Kernel.allCases where kernel.isTiles {
            for threads in [1, 2] {
                let streamed = Self.product(a, b, m: m, n: n, k: k, kernel: kernel, bias: bias, activation: .relu, threads: threads, rowStride: rowStride, streamB: true)
                let plain = Self.product(a, b, m: m, n: n, k: k, kernel: kernel, bias: bias, activation: .relu, threads: threads, rowStride: rowStride)
                let notMLAS = zip(streamed, want).filter { $0.bitPattern != $1.bitPattern }.count
                let notPlain = zip(streamed, plain).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(notMLAS == 0, "\(m)×\(n)×\(k) \(kernel) t\(threads): \(notMLAS) of \(m * n) outputs not in MLAS's order")
                #expect(notPlain == 0, "\(m)×\(n)×\(k) \(kernel) t\(threads): \(notPlain) of \(m * n) outputs differ streamed and not")
            }
        }
    }

    /// `PackedGEMM.multiply` of the row-major `a` (m × k) and `b` (k × n) with `kernel`.
    static func product(
        _ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, kernel: PackedGEMM.Kernel, bias: [Float]?, activation: Activation?, threads: Int,
        rowStride: Int? = nil, streamB: Bool = false, residual: [Float]? = nil
    ) -> [Float] {
        let ldb = rowStride ?? n
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                let packed = PackedMatrix(a.baseAddress!, rows: m, depth: k, rowStride: k, kernel: kernel)
                c.withUnsafeMutableBufferPointer { c in
                    (residual ?? []).withUnsafeBufferPointer { r in
                        let r = residual == nil ? nil : r.baseAddress
                        if let bias {
                            bias.withUnsafeBufferPointer { bias in
                                PackedGEMM.multiply(packed, PanelSource.matrix(b.baseAddress!, columns: n, rowStride: ldb), c: c.baseAddress!, ldc: n,
                                                    bias: bias.baseAddress!, activation: activation, threads: threads, residual: r, streamB: streamB)
                            }
                        } else {
                            PackedGEMM.multiply(packed, PanelSource.matrix(b.baseAddress!, columns: n, rowStride: ldb), c: c.baseAddress!, ldc: n,
                                                bias: nil, activation: activation, threads: threads, residual: r, streamB: streamB)
                        }
                    }
                }
            }
        }
        return c
    }

    /// Randomized shapes (rows, columns and depth crossing every tile, sub-tile, panel and depth
    /// block edge; B's rows padded or not, some strides a multiple of 2 KB so that B is copied into
    /// panels), bias or none, no activation, ReLU or a Clip (applied in the tiles' stores), one or
    /// two threads: every tile shape bitwise equal to the scalar emulation of MLAS's order (a chain
    /// from zero per depth block, blocks added in turn, the bias, then the clamp).
    @Test(arguments: 0..<48)
    func tileShapesMatchTheOrderBitwise(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &* 104_729 &+ 5)
        // Every fourth shape has more than eight row panels: a narrow last column panel goes in
        // two or more `narrowPanel` calls.
        let m = seed % 4 == 1 ? randomInt(65...90, &g) : randomInt(1...41, &g), n = [randomInt(1...150, &g), 16 * randomInt(1...8, &g), 48 * randomInt(1...4, &g) + randomInt(1...4, &g)][seed % 3]
        let k = [randomInt(1...40, &g), randomInt(100...300, &g), randomInt(500...1100, &g)][seed / 3 % 3]
        let ldb = seed % 4 == 3 ? 512 : n + (seed % 2) * randomInt(0...5, &g)
        guard ldb >= n else { return }
        let a = randomFloats(m * k, &g), b = randomFloats(k * ldb, &g), bias = seed % 5 == 0 ? nil : randomFloats(m, &g)
        let activation: Activation? = [nil, .relu, .clip(low: -2, high: 1.5)][seed % 3]
        let want = Self.mlasOrderProduct(a, b, m: m, n: n, k: k, ldb: ldb, bias: bias, activation: activation)
        for kernel in PackedGEMM.Kernel.allCases where kernel.isTiles {
            let c = Self.product(a, b, m: m, n: n, k: k, kernel: kernel, bias: bias, activation: activation, threads: 1 + seed % 2, rowStride: ldb)
            let wrong = zip(c, want).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(wrong == 0, "\(m)×\(n)×\(k) ldb \(ldb) \(kernel) \(String(describing: activation)): \(wrong) outputs differ")
        }
    }

    /// Products one to four columns past whole tiles (49, 97, 193 columns: a 7×7 image's outputs;
    /// 196 and 388: a 14×14 image's, whose four narrow columns ride one each with the first four
    /// tiles of the last group; 100, with too few tiles for its four, and 148 with three) with whole
    /// row panels, where the narrow columns ride along with tiles (`tile8x49`): bitwise MLAS's order
    /// on every tile shape, with and without bias, a residual (added after the bias, before the activation),
    /// ReLU or a Clip, depths of one block and of several (C accumulated), one and two threads
    /// (split by rows or columns).
    @Test(arguments: 0..<24)
    func lastColumnWithTheTileMatchesTheOrderBitwise(seed: Int) {
        var g = SeededGenerator(seed: UInt64(seed) &* 7_919 &+ 49)
        let m = [8, 32, 72, 136][seed % 4], n = [49, 97, 193, 196, 388, 100, 148][seed % 7]
        let k = [randomInt(1...40, &g), randomInt(200...300, &g), 1_152][seed / 4 % 3]
        let a = randomFloats(m * k, &g), b = randomFloats(k * n, &g), bias = seed % 5 == 0 ? nil : randomFloats(m, &g)
        let activation: Activation? = [nil, .relu, .clip(low: -2, high: 1.5)][seed % 3]
        let residual = seed % 4 < 2 ? randomFloats(m * n, &g) : nil
        let want = Self.mlasOrderProduct(a, b, m: m, n: n, k: k, ldb: n, bias: bias, activation: activation, residual: residual)
        for kernel in PackedGEMM.Kernel.allCases where kernel.isTiles {
            for threads in [1, 2] {
                let c = Self.product(a, b, m: m, n: n, k: k, kernel: kernel, bias: bias, activation: activation, threads: threads, rowStride: n,
                                     residual: residual)
                let wrong = zip(c, want).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(wrong == 0, "\(m)×\(n)×\(k) \(kernel) \(String(describing: activation)) \(threads) threads: \(wrong) outputs differ")
            }
        }
    }

    /// A 3×3 convolution with a 7×7 output (49 pixels, so 256-deep blocks over its 576-deep sum;
    /// the compact patch matrix), a 14×14 one (128-deep blocks; the compact matrix too) and a
    /// 20×20 one (128-deep blocks; the extended grid over rows that share a padding column),
    /// bitwise against the emulation over im2col order (c, ky, kx), on every tile shape.
    @Test(arguments: [7, 14, 20])
    func convolutionSumsInMLASOrder(size: Int) {
        var g = SeededGenerator(seed: 77)
        // 20 output channels: two whole row panels and a partial one, each summed in its group of
        // column panels' buffer over several depth blocks before going to its pixels.
        let (cin, m) = (64, 20)
        let geo = Conv2DGeometry(batch: 1, inChannels: cin, inHeight: size, inWidth: size, outChannels: m, outHeight: size, outWidth: size,
                                 kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, padTop: 1, padLeft: 1, groups: 1)
        let x = randomFloats(cin * size * size, &g), w = randomFloats(m * cin * 9, &g), bias = randomFloats(m, &g)
        let weight = Tensor(shape: [m, cin, 3, 3], scalars: w)
        let k = cin * 9, block = Self.mlasDepthBlock(columns: size * size, depth: k)
        #expect(block == (size == 7 ? 256 : 128))
        // At 20×20 the rows of the padded image share their padding column (21 floats apart, a
        // grid of 420 columns instead of 440); at 7×7 (56 or 63 columns, four vectors either way) not.
        if size != 14 { #expect(Conv2D.ShiftedImage(geo).rowStride == (size == 7 ? 9 : 21)) }
        var want = [Float]()
        for o in 0..<m { for oy in 0..<size { for ox in 0..<size {
            func patch(_ p: Int) -> Float {
                let (c, ky, kx) = (p / 9, p / 3 % 3, p % 3)
                let iy = oy + ky - 1, ix = ox + kx - 1
                return iy >= 0 && iy < size && ix >= 0 && ix < size ? x[(c * size + iy) * size + ix] : 0
            }
            want.append(Self.mlasOrderSum({ w[o * k + $0] }, patch, depth: k, block: block, bias: bias[o]))
        } } }
        for kernel in PackedGEMM.Kernel.allCases where kernel.isTiles {
            for threads in [1, 2] {
                let y = Tensor(zeros: [1, m, size, size])
                Conv2D.forward(input: Tensor(shape: [1, cin, size, size], scalars: x), weight: weight, bias: Tensor(shape: [m], scalars: bias), output: y,
                               geometry: geo, activation: nil, scratch: Scratch(), threads: threads, packed: PackedConvWeights(weight, groups: 1, kernel: kernel))
                #expect(y.scalars(as: Float.self).map(\.bitPattern) == want.map(\.bitPattern), "\(kernel) threads \(threads)")
            }
        }
    }

    /// Convolutions whose taps read only padding for many outputs (dilations reaching across a
    /// small map, as in DeepLabV3's ASPP; a stride; a one-row kernel; outputs that read nothing
    /// but padding; groups) take `Conv2D.TapRegions`, which leaves those taps out: bitwise the
    /// emulation of MLAS's order over the whole im2col depth, padding zeros included, on every
    /// kernel shape, one and two threads, with bias, a residual and ReLU after it.
    @Test(arguments: [
        // (channels, outputs, size, kernel height, kernel width, stride, dilation, padding, groups)
        (24, 20, 17, 3, 3, 1, 6, 6, 1), (40, 16, 17, 3, 3, 1, 12, 12, 1), (16, 9, 29, 3, 3, 2, 10, 10, 1),
        (12, 8, 5, 3, 3, 1, 2, 7, 1), (20, 12, 40, 1, 3, 1, 28, 28, 1), (24, 16, 11, 3, 3, 1, 5, 5, 2),
    ])
    func paddingTapsLeftOutKeepTheBits(cin: Int, m: Int, size: Int, kh: Int, kw: Int, stride: Int, dilation: Int, pad: Int, groups: Int) {
        let geo = Self.paddedGeometry(cin: cin, m: m, size: size, kh: kh, kw: kw, stride: stride, dilation: dilation, pad: pad, groups: groups)
        let shifted = Conv2D.ShiftedImage(geo)
        let (oh, ow) = (geo.outHeight, geo.outWidth)
        let regions = Conv2D.TapRegions(geo, gridColumns: ow <= 8 && shifted.rowStride != ow ? oh * ow : shifted.columns)
        #expect(regions != nil, "the regions are taken")
        Self.expectMLASOrder(geo)
        // A region's weights are packed once per matrix and kept, up to six times the matrix's
        // size in all: the 5×5 map padded by 7 (15×15 outputs, 24 regions) goes past that, and
        // the rest are packed on every call.
        let a = PackedConvWeights(Tensor(zeros: [m, cin / groups, kh, kw]), groups: groups).groups[0]
        let selections = Set((regions?.regions ?? []).map(\.taps).filter { $0.count < kh * kw })
        let allKept = selections.reduce(0) { $0 + $1.count } <= 6 * kh * kw
        #expect(allKept == (size != 5), "\(selections.count) selections")
        var kept = 0
        for taps in selections.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let first = a.keeping(taps: taps, of: kh * kw, threads: 1, scratch: Scratch())
            #expect(first.depth == cin / groups * taps.count)
            if first === a.keeping(taps: taps, of: kh * kw, threads: 2, scratch: Scratch()) { kept += 1 }
        }
        #expect(allKept ? kept == selections.count : kept < selections.count, "\(kept) of \(selections.count) kept")
    }

    /// A convolution whose padding is wide enough on both sides that consecutive rows of the padded
    /// image can share all of it (`ShiftedImage.shared`): rows `outWidth` floats apart, so the
    /// grid has no extra columns and the product writes the output directly; bitwise MLAS's
    /// order as above. (It took the tap regions before rows shared their padding.)
    @Test func rowsSharingAllTheirPaddingWriteTheOutputDirectly() {
        let geo = Self.paddedGeometry(cin: 12, m: 8, size: 5, kh: 3, kw: 3, stride: 1, dilation: 2, pad: 6, groups: 1)
        let shifted = Conv2D.ShiftedImage(geo)
        #expect(geo.outWidth == 13 && shifted.rowStride == 13 && shifted.shared == 4)
        #expect(Conv2D.TapRegions(geo, gridColumns: shifted.columns) == nil, "the grid is taken")
        Self.expectMLASOrder(geo)
    }

    /// Pointwise convolutions at most 16 deep with more than one image write their output one row
    /// panel at a time (`PackedGEMM.multiply(rowPanelsOuter:)`): bitwise MLAS's order as above, with
    /// 20 outputs (a partial row panel), 15×15 (a ragged last column panel) and 7×7 (a last panel of
    /// one column), 16 and 3 deep.
    @Test(arguments: [(16, 20, 15), (3, 12, 7), (16, 8, 16)])
    func shallowPointwiseRowPanelsOuter(cin: Int, m: Int, size: Int) {
        let geo = Conv2DGeometry(batch: 2, inChannels: cin, inHeight: size, inWidth: size, outChannels: m, outHeight: size, outWidth: size,
                                 kernelHeight: 1, kernelWidth: 1, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, padTop: 0, padLeft: 0, groups: 1)
        #expect(geo.isPointwise)
        Self.expectMLASOrder(geo)
    }

    /// A square input of `size` with `pad` on every side (a one-row kernel: a one-row input, no
    /// padding above or below), batch 2.
    static func paddedGeometry(cin: Int, m: Int, size: Int, kh: Int, kw: Int, stride: Int, dilation: Int, pad: Int, groups: Int) -> Conv2DGeometry {
        let ih = kh == 1 ? 1 : size, ph = kh == 1 ? 0 : pad
        let oh = (ih + 2 * ph - dilation * (kh - 1) - 1) / stride + 1, ow = (size + 2 * pad - dilation * (kw - 1) - 1) / stride + 1
        return Conv2DGeometry(batch: 2, inChannels: cin, inHeight: ih, inWidth: size, outChannels: m, outHeight: oh, outWidth: ow,
                              kernelHeight: kh, kernelWidth: kw, strideH: stride, strideW: stride, dilationH: dilation, dilationW: dilation,
                              padTop: ph, padLeft: pad, groups: groups)
    }

    /// `Conv2D.forward` of `geo` (batch 2, symmetric padding) with bias, a residual and ReLU,
    /// bitwise the emulation of MLAS's order over the whole im2col depth, padding zeros included,
    /// on every tile shape, one and two threads.
    static func expectMLASOrder(_ geo: Conv2DGeometry) {
        let (cin, m, ih, size, kh, kw) = (geo.inChannels, geo.outChannels, geo.inHeight, geo.inWidth, geo.kernelHeight, geo.kernelWidth)
        let (oh, ow, stride, dilation, ph, pad, groups) = (geo.outHeight, geo.outWidth, geo.strideH, geo.dilationH, geo.padTop, geo.padLeft, geo.groups)
        var g = SeededGenerator(seed: UInt64(cin * 97 + size * 13 + dilation))
        let cg = cin / groups, mg = m / groups, k = cg * kh * kw
        let x = randomFloats(2 * cin * ih * size, &g), w = randomFloats(m * k, &g), bias = randomFloats(m, &g)
        let r = randomFloats(2 * m * oh * ow, &g)
        let weight = Tensor(shape: [m, cg, kh, kw], scalars: w)
        let block = Self.mlasDepthBlock(columns: oh * ow, depth: k)
        var want = [Float]()
        for n in 0..<2 { for o in 0..<m { for oy in 0..<oh { for ox in 0..<ow {
            func patch(_ p: Int) -> Float {
                let (c, ky, kx) = ((o / mg) * cg + p / (kh * kw), p / kw % kh, p % kw)
                let iy = oy * stride - ph + ky * dilation, ix = ox * stride - pad + kx * dilation
                return iy >= 0 && iy < ih && ix >= 0 && ix < size ? x[((n * cin + c) * ih + iy) * size + ix] : 0
            }
            let sum = Self.mlasOrderSum({ w[o * k + $0] }, patch, depth: k, block: block, bias: bias[o])
            want.append(max(0, sum + r[want.count]))
        } } } }
        for kernel in PackedGEMM.Kernel.allCases where kernel.isTiles {
            // One packing for both runs: the second takes the weights of the tap regions kept by the first.
            let packed = PackedConvWeights(weight, groups: groups, kernel: kernel)
            for threads in [1, 2] {
                let y = Tensor(zeros: [2, m, oh, ow])
                Conv2D.forward(input: Tensor(shape: [2, cin, ih, size], scalars: x), weight: weight, bias: Tensor(shape: [m], scalars: bias), output: y,
                               geometry: geo, activation: .relu, scratch: Scratch(), threads: threads,
                               packed: packed, residual: Tensor(shape: [2, m, oh, ow], scalars: r))
                let wrong = zip(y.scalars(as: Float.self), want).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(wrong == 0, "\(geo) \(kernel) \(threads) threads: \(wrong) outputs differ")
            }
        }
    }

    /// First convolutions (3 channels, one depth block) on images wide enough that most tiles lie
    /// inside one output row and are stored at their pixels, the rest going through the edge tile:
    /// bitwise MLAS's order, with a residual and ReLU (the tile leaves the clamp to the residual's
    /// pass) and with Swish (applied after the store), on every tile kernel, one and two threads.
    @Test(arguments: [(3, 2, 1, 199), (3, 1, 1, 100), (5, 2, 2, 200)])
    func firstConvolutionTilesAtTheirPixels(kernel kk: Int, stride: Int, pad: Int, size: Int) {
        var g = SeededGenerator(seed: UInt64(kk * 131 + size))
        let (cin, m) = (3, 20)
        let out = (size + 2 * pad - kk) / stride + 1
        let geo = Conv2DGeometry(batch: 2, inChannels: cin, inHeight: size, inWidth: size, outChannels: m, outHeight: out, outWidth: out,
                                 kernelHeight: kk, kernelWidth: kk, strideH: stride, strideW: stride, dilationH: 1, dilationW: 1,
                                 padTop: pad, padLeft: pad, groups: 1)
        let k = cin * kk * kk
        #expect(k <= 128 && out >= 2 * PackedGEMM.columnTile, "one depth block, rows wider than two tiles")
        let x = randomFloats(2 * cin * size * size, &g), w = randomFloats(m * k, &g), bias = randomFloats(m, &g)
        let r = randomFloats(2 * m * out * out, &g)
        let weight = Tensor(shape: [m, cin, kk, kk], scalars: w)
        var sums = [Float]()
        for n in 0..<2 { for o in 0..<m { for oy in 0..<out { for ox in 0..<out {
            func patch(_ p: Int) -> Float {
                let (c, ky, kx) = (p / (kk * kk), p / kk % kk, p % kk)
                let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                return iy >= 0 && iy < size && ix >= 0 && ix < size ? x[((n * cin + c) * size + iy) * size + ix] : 0
            }
            sums.append(Self.mlasOrderSum({ w[o * k + $0] }, patch, depth: k, block: k, bias: bias[o]))
        } } } }
        let withResidual = zip(sums, r).map { max(0, $0 + $1) }
        let swish = sums.map { Activation.swish.apply($0) }
        for kernel in PackedGEMM.Kernel.allCases where kernel.isTiles {
            for threads in [1, 2] {
                for (activation, residual, want) in [(Activation.relu, true, withResidual), (.swish, false, swish)] {
                    let y = Tensor(zeros: [2, m, out, out])
                    Conv2D.forward(input: Tensor(shape: [2, cin, size, size], scalars: x), weight: weight, bias: Tensor(shape: [m], scalars: bias), output: y,
                                   geometry: geo, activation: activation, scratch: Scratch(), threads: threads,
                                   packed: PackedConvWeights(weight, groups: 1, kernel: kernel),
                                   residual: residual ? Tensor(shape: [2, m, out, out], scalars: r) : nil)
                    let wrong = zip(y.scalars(as: Float.self), want).filter { $0.bitPattern != $1.bitPattern }.count
                    #expect(wrong == 0, "\(geo) \(kernel) \(activation) \(threads) threads: \(wrong) outputs differ")
                }
            }
        }
    }

    /// Convolutions large enough to cross the depth and column blocks, split over 2 threads; outputs
    /// up to 16 wide go through the compact patch matrix, wider ones through the extended grid.
    @Test(arguments: [(72, 12, 1, 1), (16, 30, 1, 2), (80, 6, 1, 1), (96, 12, 2, 2), (40, 9, 1, 2), (24, 40, 1, 1), (8, 41, 1, 2)])
    func convolution(outChannels: Int, size: Int, groups: Int, stride: Int) {
        var g = SeededGenerator(seed: UInt64(outChannels * 31 + size))
        let cin = 36
        let out = (size + 2 - 3) / stride + 1
        let geo = Conv2DGeometry(batch: 2, inChannels: cin, inHeight: size, inWidth: size, outChannels: outChannels, outHeight: out, outWidth: out,
                                 kernelHeight: 3, kernelWidth: 3, strideH: stride, strideW: stride, dilationH: 1, dilationW: 1, padTop: 1, padLeft: 1, groups: groups)
        let x = Tensor(shape: [2, cin, size, size], scalars: randomFloats(2 * cin * size * size, &g))
        let w = Tensor(shape: [outChannels, cin / groups, 3, 3], scalars: randomFloats(outChannels * cin / groups * 9, &g))
        let b = Tensor(shape: [outChannels], scalars: randomFloats(outChannels, &g))
        let slow = Tensor(zeros: [2, outChannels, out, out])
        Conv2D.reference(input: x, weight: w, bias: b, output: slow, geometry: geo, activation: .relu)
        for kernel in PackedGEMM.Kernel.allCases {
            let fast = Tensor(zeros: [2, outChannels, out, out])
            let packed = PackedConvWeights(w, groups: groups, kernel: kernel)
            Conv2D.forward(input: x, weight: w, bias: b, output: fast, geometry: geo, activation: .relu, scratch: Scratch(), threads: 2, packed: packed)
            // Sums of 324 products of values in [-1, 1): 1e-3 absolute is far above FP32 rounding.
            expectClose(fast.scalars(as: Float.self), slow.scalars(as: Float.self), atol: 1e-3, rtol: 1e-4, "conv M=\(outChannels) size=\(size) groups=\(groups) stride=\(stride) kernel \(kernel)")
        }
    }

    /// Both kernels sum a deep product in MLAS's depth blocks (128 here), each block a chain from
    /// zero added to C in turn. The `.blas` kernel once called one `sgemm` for the whole depth and
    /// OpenBLAS's own blocks gave a 960-deep pointwise convolution 1.6× the RMS error of
    /// onnxruntime's. Measured here (seeded uniform operands, against Double, RMS error over the
    /// output's RMS): one `sgemm` 3.25e-7; in blocks 2.09e-7 with either kernel. Bound: 2.5e-7.
    @Test func deepProductsSumInDepthBlocks() {
        let m = 160, n = 324, k = 960
        var g = SeededGenerator(seed: 960)
        let a = randomFloats(m * k, &g), b = randomFloats(k * n, &g)
        var exact = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for p in 0..<k {
            let w = Double(a[i * k + p])
            for j in 0..<n { exact[i * n + j] += w * Double(b[p * n + j]) }
        } }
        let rms = (exact.reduce(0) { $0 + $1 * $1 } / Double(m * n)).squareRoot()
        for kernel in PackedGEMM.Kernel.allCases {
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    let packed = PackedMatrix(a.baseAddress!, rows: m, depth: k, rowStride: k, kernel: kernel)
                    c.withUnsafeMutableBufferPointer { c in
                        PackedGEMM.multiply(packed, PanelSource.matrix(b.baseAddress!, columns: n, rowStride: n), c: c.baseAddress!, ldc: n,
                                            bias: nil, activation: nil, threads: 1)
                    }
                }
            }
            let err = (zip(c, exact).reduce(0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) } / Double(m * n)).squareRoot() / rms
            #expect(err <= 2.5e-7, "kernel \(kernel): RMS error \(err) of the RMS")
        }
    }
}

/// A max pool's input `[planes, ih, iw]` from `g`: standard normal values, or (every third seed)
/// values at most 0 with a fifth of them +0 and −0 alternately, so that windows tie a +0 with a −0;
/// and `seed % 4` NaNs of distinct payloads, which must win their windows.
func maxPoolInput(planes: Int, _ ih: Int, _ iw: Int, seed: Int, _ g: inout SeededGenerator) -> Tensor {
    var values = randomFloats(planes * ih * iw, &g)
    if seed % 3 == 2 {
        for i in values.indices { values[i] = i % 5 == 0 ? (i % 10 == 0 ? 0 : -0.0) : -abs(values[i]) }
    }
    for n in 0..<(seed % 4) { values[randomInt(0...(values.count - 1), &g)] = Float(nan: UInt32(n + 1), signaling: false) }
    return Tensor(shape: [planes, ih, iw], scalars: values)
}

/// Runs a max pool kernel (`run(output, threads)`) on one and two threads and expects the naive
/// twin's values (a maximum has one right answer; NaN where it is NaN) and the bits of `other`,
/// another kernel's output that takes the same comparisons in the same order.
func expectMaxPool(
    _ name: String, _ x: Tensor, _ geo: Pool2DGeometry, sameBitsAs other: Tensor, _ otherName: String, _ run: (Tensor, Int) -> Void
) {
    let slow = Tensor(zeros: other.shape)
    Pool2D.reference(input: x, output: slow, geometry: geo, isMax: true, countIncludePad: false)
    for threads in [1, 2] {
        let fast = Tensor(zeros: other.shape)
        run(fast, threads)
        let got = fast.scalars(as: Float.self)
        #expect(zip(got, slow.scalars(as: Float.self)).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(name) max pool \(geo)")
        let differing = zip(got, other.scalars(as: Float.self)).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "\(name) against \(otherName): \(differing) outputs' bits differ, \(geo), \(threads) threads")
    }
}
