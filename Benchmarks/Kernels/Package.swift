// swift-tools-version:6.0
// Kernel micro-benchmarks, kept in their own package so nothing here reaches Touchstone's users.
//   cd Benchmarks/Kernels && swift run -c release -Xswiftc -target-cpu -Xswiftc native kernel-bench
import PackageDescription

let package = Package(
    name: "TouchstoneKernelBenchmarks",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "kernel-bench", dependencies: [.product(name: "Touchstone", package: "main")]),
    ]
)
