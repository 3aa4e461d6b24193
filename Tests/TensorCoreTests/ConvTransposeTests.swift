import Testing
@testable import TensorCore

@Suite("Transposed convolution against the naive twin")
struct ConvTransposeTests {
    /// Random 1-D, 2-D and 3-D geometries: groups, strides, dilations, begin pads that crop, outputs
    /// cut short or extended past the natural size (as `output_shape` and `output_padding` make them).
    static func geometry(_ seed: Int) -> ConvTransposeGeometry {
        var g = SeededGenerator(seed: UInt64(seed) &* 104_729)
        let axes = 1 + seed % 3
        let groups = [1, 2, 3][randomInt(0...2, &g)]
        let cin = groups * randomInt(1...3, &g), cout = groups * randomInt(1...3, &g)
        var input: [Int] = [], kernel: [Int] = [], strides: [Int] = [], dilations: [Int] = [], begin: [Int] = [], output: [Int] = []
        for _ in 0..<axes {
            let i = randomInt(1...(axes == 3 ? 4 : 7), &g), k = randomInt(1...3, &g), s = randomInt(1...3, &g), d = randomInt(1...2, &g)
            let natural = s * (i - 1) + (k - 1) * d + 1
            let b = randomInt(0...min(2, natural - 1), &g)
            input.append(i); kernel.append(k); strides.append(s); dilations.append(d); begin.append(b)
            output.append(max(1, natural - b - randomInt(0...2, &g) + randomInt(0...1, &g)))
        }
        return ConvTransposeGeometry(
            batch: randomInt(1...2, &g), inChannels: cin, outChannels: cout, groups: groups,
            input: input, output: output, kernel: kernel, strides: strides, dilations: dilations, padBegin: begin)
    }

    // Each output sums at most C/g · K ≤ 3 · 27 products of values in [-1, 1): FP32 error is
    // far below the 1e-4 bound, while any indexing slip moves values by O(1).
    @Test(arguments: 0..<45)
    func matchesReference(seed: Int) {
        let geo = Self.geometry(seed)
        var g = SeededGenerator(seed: UInt64(seed))
        let spatialIn = Array(geo.input.suffix(1 + seed % 3)), spatialOut = Array(geo.output.suffix(1 + seed % 3))
        let kernel = Array(geo.kernel.suffix(1 + seed % 3))
        let x = Tensor(shape: [geo.batch, geo.inChannels] + spatialIn, scalars: randomFloats(geo.batch * geo.inChannels * geo.inputPlane, &g))
        let wShape = [geo.inChannels, geo.outChannels / geo.groups] + kernel
        let w = Tensor(shape: wShape, scalars: randomFloats(wShape.product, &g))
        let b = seed % 2 == 0 ? Tensor(shape: [geo.outChannels], scalars: randomFloats(geo.outChannels, &g)) : nil
        let outShape = [geo.batch, geo.outChannels] + spatialOut
        let slow = Tensor(zeros: outShape), fast = Tensor(zeros: outShape)
        TransposedConv.reference(input: x, weight: w, bias: b, output: slow, geometry: geo)
        TransposedConv.forward(input: x, weight: w, bias: b, output: fast, geometry: geo, threads: 1 + seed % 2)
        expectClose(fast.scalars(as: Float.self), slow.scalars(as: Float.self), atol: 1e-4, rtol: 1e-4, "conv transpose \(geo)")
    }
}
