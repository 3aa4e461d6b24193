/// Small dense linear algebra (ONNX Det).
public enum LinearAlgebra {
    /// The determinant of each `n × n` matrix of `x` (`[count, n, n]`), by LU decomposition with
    /// partial pivoting in `T`: the product of the pivots, negated for each row swap.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func determinants<T: BinaryFloatingPoint>(_ x: [T], count: Int, n: Int) -> [T] {
        (0..<count).map { m in
            var a = Array(x[(m * n * n)..<((m + 1) * n * n)])
            var det: T = 1
            for k in 0..<n {
                var pivot = k
                for r in (k + 1)..<max(n, k + 1) where a[r * n + k].magnitude > a[pivot * n + k].magnitude { pivot = r }
                if a[pivot * n + k] == 0 { return 0 }
                if pivot != k {
                    for c in 0..<n { a.swapAt(k * n + c, pivot * n + c) }
                    det = -det
                }
                let p = a[k * n + k]
                det *= p
                for r in (k + 1)..<max(n, k + 1) {
                    let f = a[r * n + k] / p
                    for c in k..<n { a[r * n + c] -= f * a[k * n + c] }
                }
            }
            return det
        }
    }
}
