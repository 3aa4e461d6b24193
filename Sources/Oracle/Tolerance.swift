/// Which statistic of the element errors a comparison holds to its tolerances (Polygraphy's
/// `--check-error-stat`).
///
/// - `elemwise`: every element must be within `atol` *or* within `rtol`; the strictest form, and
///   Polygraphy's default.
/// - `max`, `mean`, `median`, `quantile`: the statistic of the absolute differences must be within
///   `atol` *or* the same statistic of the relative differences within `rtol`.
public enum ErrorStatistic: String, CaseIterable, Sendable, Codable {
    case elemwise, max, mean, median, quantile
}

/// The tolerances one tensor is held to, with Polygraphy's meaning: an element (or the chosen
/// statistic) fails only when its absolute difference exceeds `atol` **and** its relative
/// difference `|candidate − reference| / |reference|` exceeds `rtol`; a NaN difference exceeds
/// every tolerance.
public struct Tolerance: Sendable, Equatable {
    /// Absolute tolerance.
    public var atol: Double
    /// Relative tolerance, as a fraction of the reference's magnitude.
    public var rtol: Double
    /// The statistic held to the tolerances.
    public var errorStatistic: ErrorStatistic
    /// The quantile (0…1) used when `errorStatistic` is `.quantile`.
    public var quantile: Double
    /// Equal infinities of the same sign count as no difference; otherwise their difference is NaN
    /// and fails, as in Polygraphy.
    public var infinitiesCompareEqual: Bool

    /// Polygraphy's defaults: atol = rtol = 1e-5, element-wise, quantile 0.99, infinities unequal.
    public static let polygraphyDefault = Tolerance(atol: 1e-5, rtol: 1e-5)

    public init(atol: Double, rtol: Double, errorStatistic: ErrorStatistic = .elemwise, quantile: Double = 0.99, infinitiesCompareEqual: Bool = false) {
        self.atol = atol
        self.rtol = rtol
        self.errorStatistic = errorStatistic
        self.quantile = quantile
        self.infinitiesCompareEqual = infinitiesCompareEqual
    }
}

/// Tolerances per tensor name, as Polygraphy's dictionaries give them: a value for a name, and
/// under the empty name the value for every other tensor.
public struct ToleranceTable: Sendable, Equatable {
    public var atol: [String: Double]
    public var rtol: [String: Double]
    public var errorStatistic: [String: ErrorStatistic]
    public var quantile: [String: Double]
    public var infinitiesCompareEqual: Bool

    public init(atol: [String: Double] = [:], rtol: [String: Double] = [:], errorStatistic: [String: ErrorStatistic] = [:], quantile: [String: Double] = [:], infinitiesCompareEqual: Bool = false) {
        self.atol = atol
        self.rtol = rtol
        self.errorStatistic = errorStatistic
        self.quantile = quantile
        self.infinitiesCompareEqual = infinitiesCompareEqual
    }

    /// One tolerance for every tensor.
    public init(_ tolerance: Tolerance) {
        self.init(
            atol: ["": tolerance.atol], rtol: ["": tolerance.rtol], errorStatistic: ["": tolerance.errorStatistic],
            quantile: ["": tolerance.quantile], infinitiesCompareEqual: tolerance.infinitiesCompareEqual)
    }

    /// The tolerance for one tensor: its own entries, else the defaults under "", else Polygraphy's.
    public func tolerance(for name: String) -> Tolerance {
        let d = Tolerance.polygraphyDefault
        return Tolerance(
            atol: atol[name] ?? atol[""] ?? d.atol, rtol: rtol[name] ?? rtol[""] ?? d.rtol,
            errorStatistic: errorStatistic[name] ?? errorStatistic[""] ?? d.errorStatistic,
            quantile: quantile[name] ?? quantile[""] ?? d.quantile, infinitiesCompareEqual: infinitiesCompareEqual)
    }

    /// Names given entries that are not among `known` (Polygraphy warns about these too).
    public func unknownNames(among known: Set<String>) -> [String] {
        let named = Set(atol.keys).union(rtol.keys).union(errorStatistic.keys).union(quantile.keys).subtracting([""])
        return named.subtracting(known).sorted()
    }

    /// Parses Polygraphy's command-line form of a per-tensor option: each item is either a value
    /// (the default) or `NAME:VALUE`; the name may itself contain ':' (split at the last one).
    public static func parse<T>(_ items: [String], option: String, _ convert: (String) -> T?) throws -> [String: T] {
        var out: [String: T] = [:]
        for item in items {
            let name: String, text: String
            if let colon = item.lastIndex(of: ":") {
                name = String(item[..<colon])
                text = String(item[item.index(after: colon)...])
            } else {
                name = ""
                text = item
            }
            guard let v = convert(text) else {
                throw OracleError.usage("\(option) '\(item)': '\(text)' is not a valid value")
            }
            out[name] = v
        }
        return out
    }

    /// A tolerance value from text: finite and not negative.
    public static func toleranceValue(_ text: String) -> Double? {
        guard let v = Double(text), v.isFinite, v >= 0 else { return nil }
        return v
    }
}
