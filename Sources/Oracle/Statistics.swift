import Foundation

/// Polygraphy's per-tensor statistics of a set of values (computed in float64): mean, standard
/// deviation, variance, median, minimum and maximum with their indices, average magnitude and the
/// 90th, 95th and 99th percentiles (numpy's linear interpolation). NaNs make every statistic NaN,
/// as in numpy; they and the infinities are also counted.
public struct ValueStatistics: Sendable, Equatable {
    public let count: Int
    public let mean: Double
    public let standardDeviation: Double
    public let variance: Double
    public let median: Double
    public let minimum: Double
    public let minimumIndex: [Int]
    public let maximum: Double
    public let maximumIndex: [Int]
    public let averageMagnitude: Double
    public let p90: Double
    public let p95: Double
    public let p99: Double
    public let nanCount: Int
    public let infinityCount: Int

    public init(values v: [Double], shape: [Int]) {
        count = v.count
        nanCount = v.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        infinityCount = v.reduce(0) { $0 + ($1.isInfinite ? 1 : 0) }
        guard !v.isEmpty else {
            mean = 0; standardDeviation = 0; variance = 0; median = 0; minimum = 0; maximum = 0
            minimumIndex = []; maximumIndex = []; averageMagnitude = 0; p90 = 0; p95 = 0; p99 = 0
            return
        }
        var minI = 0, maxI = 0
        for i in 1..<v.count {
            if v[minI].isNaN { break }
            if v[i].isNaN { minI = i; maxI = i; break }
            if v[i] < v[minI] { minI = i }
            if v[i] > v[maxI] { maxI = i }
        }
        minimum = v[minI]
        maximum = v[maxI]
        minimumIndex = Oracle.multiIndex(minI, shape: shape)
        maximumIndex = Oracle.multiIndex(maxI, shape: shape)
        let n = Double(v.count)
        let m = v.reduce(0, +) / n
        mean = m
        variance = v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n
        standardDeviation = variance.squareRoot()
        averageMagnitude = v.reduce(0) { $0 + $1.magnitude } / n
        if nanCount > 0 {
            median = .nan; p90 = .nan; p95 = .nan; p99 = .nan
        } else {
            let s = v.sorted()
            median = NumpyFloat32.quantile(sorted: s, 0.5, float32: false)
            p90 = NumpyFloat32.quantile(sorted: s, 0.9, float32: false)
            p95 = NumpyFloat32.quantile(sorted: s, 0.95, float32: false)
            p99 = NumpyFloat32.quantile(sorted: s, 0.99, float32: false)
        }
    }

    /// One line in Polygraphy's order.
    public var line: String {
        func f(_ x: Double) -> String { String(format: "%.5g", x) }
        var s = "mean=\(f(mean)), std-dev=\(f(standardDeviation)), var=\(f(variance)), median=\(f(median)), "
        s += "min=\(f(minimum)) at \(minimumIndex), max=\(f(maximum)) at \(maximumIndex), avg-magnitude=\(f(averageMagnitude)), "
        s += "p90=\(f(p90)), p95=\(f(p95)), p99=\(f(p99))"
        if nanCount + infinityCount > 0 { s += " (\(nanCount) NaN, \(infinityCount) inf)" }
        return s
    }
}

/// A text histogram of values: ten equal bins between the smallest and largest finite value (as
/// numpy's default), one bar per bin scaled to the fullest; NaNs and infinities counted apart.
public func textHistogram(_ values: [Double], bins: Int = 10, width: Int = 40) -> String {
    let finite = values.filter(\.isFinite)
    guard let lo = finite.min(), let hi = finite.max(), bins > 0 else { return "" }
    var counts = [Int](repeating: 0, count: bins)
    let span = hi - lo
    for x in finite {
        var b = span > 0 ? Int(((x - lo) / span * Double(bins)).rounded(.down)) : 0
        b = min(max(b, 0), bins - 1)
        counts[b] += 1
    }
    let edges = (0...bins).map { lo + span * Double($0) / Double(bins) }
    let labels = edges.map { String(format: "%.3g", $0) }
    let w0 = labels.map(\.count).max() ?? 0
    let most = counts.max() ?? 1
    var out = "---- Histogram ----\n"
    out += "Bin Range".padding(toLength: 2 * w0 + 4, withPad: " ", startingAt: 0) + " |  Num Elems | Visualization\n"
    for b in 0..<bins {
        let range = "(\(labels[b].padding(toLength: w0, withPad: " ", startingAt: 0)), \(labels[b + 1].padding(toLength: w0, withPad: " ", startingAt: 0)))"
        let bar = String(repeating: "#", count: most > 0 ? width * counts[b] / most : 0)
        out += range + " | " + String(counts[b]).leftPadded(10) + " | " + bar + "\n"
    }
    let nonFinite = values.count - finite.count
    if nonFinite > 0 { out += "(\(nonFinite) NaN or infinite values not shown)\n" }
    return out
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
