// swift-tools-version:6.1
// Micro-benchmarks of PoolScope's per-packet paths (decode, flow lookup, HTTP
// framing, the whole Analyzer on a steady connection) with ordo-one/benchmark,
// counting allocations through its malloc interposer. A separate package so
// PoolScope itself does not depend on the harness; it measures the library as
// shipped (a path dependency on the repository).
//
//   make bench-micro       (or: swift package --package-path Benchmarks/HotPaths benchmark)
import PackageDescription

let package = Package(
    name: "HotPaths",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(name: "PoolScope", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PoolScope", package: "PoolScope"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
