import CBLAS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension GEMM {
    /// The OpenBLAS kernel family in use (e.g. "SkylakeX", "Haswell").
    public static var coreName: String {
        prepare()
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// Runs once before the first BLAS call (see `selectKernels` and `stopOpenBLASThreads`).
    static let prepared: Bool = selectKernels() && stopOpenBLASThreads()

    /// Makes OpenBLAS single-threaded and ends its worker threads.
    ///
    /// Touchstone splits products over its own threads (`gemm(…threads:)`). OpenBLAS's pthread
    /// build starts one worker per core when it loads, and those workers poll with `sched_yield`;
    /// measured here, they took a third of the samples of a process that never asked OpenBLAS for
    /// threads, time taken from the cores Touchstone's own loops run on.
    static func stopOpenBLASThreads() -> Bool {
        openblas_set_num_threads(1)
        #if os(Linux)
        if let shutdown = dlsym(dlopen(nil, RTLD_NOW), "blas_thread_shutdown_") {
            typealias Shutdown = @convention(c) () -> Int32
            _ = unsafeBitCast(shutdown, to: Shutdown.self)()
        }
        #endif
        return true
    }

    @usableFromInline static func prepare() { _ = prepared }

    /// Works around OpenBLAS releases that do not recognise newer CPUs.
    ///
    /// OpenBLAS 0.3.21 (Debian 12) identifies Sapphire Rapids as an unknown Intel core and falls
    /// back to its Haswell (AVX2) kernels, and Emerald Rapids (family 6, model 207) as no known
    /// core at all, falling back to Prescott's SSE3 kernels. Measured (one thread,
    /// 256×3136×1152): on Sapphire Rapids SkylakeX's AVX-512 sgemm 65 GFLOP/s against 39–49 for
    /// Haswell; on Emerald Rapids SkylakeX 141, Haswell 79, Prescott 32. When the running library
    /// is a DYNAMIC_ARCH build that chose one of those fallbacks (Prescott, Core2, Nehalem,
    /// Sandybridge, Haswell) on a CPU with more (AVX-512 F/BW/DQ/VL: SkylakeX; AVX2 and FMA:
    /// Haswell), and the user has not chosen with OPENBLAS_CORETYPE, this re-selects the better
    /// kernels through OpenBLAS's own dynamic-dispatch entry points (looked up at run time, so
    /// builds without them are left alone).
    static func selectKernels() -> Bool {
        #if os(Linux) && arch(x86_64)
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              ProcessInfo.processInfo.environment["TOUCHSTONE_KEEP_OPENBLAS_CORE"] == nil,
              let name = openblas_get_corename().map({ String(cString: $0).lowercased() }),
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return true }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let target: String
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains),
           ["prescott", "core2", "nehalem", "sandybridge", "haswell"].contains(name) {
            target = "SkylakeX"
        } else if ["avx2", "fma"].allSatisfy(flags.contains), ["prescott", "core2", "nehalem", "sandybridge"].contains(name) {
            target = "Haswell"
        } else {
            return true
        }
        let handle = dlopen(nil, RTLD_NOW)
        guard let quit = dlsym(handle, "gotoblas_dynamic_quit"), let initialize = dlsym(handle, "gotoblas_dynamic_init") else { return true }
        typealias VoidFunction = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(quit, to: VoidFunction.self)()
        unsafeBitCast(initialize, to: VoidFunction.self)()
        unsetenv("OPENBLAS_CORETYPE")
        #endif
        return true
    }
}
