// swift-tools-version:6.1
// PoolScope: the life of every HTTP connection in a packet capture.
//
// Layers, each a target, dependencies pointing down only:
//   PcapCapture  (capture: the only importer of libpcap)
//   PacketDecode (decode: pure, zero-copy views over captured bytes)
//   HTTPStreams  (HTTP/1.x framing on in-order streams, TLS and HTTP/2 detection; pure)
//   TCPFlows     (TCP flows: the flow table and connection records; pure, no clock)
//   PoolInference (pools, inferred settings and findings from finished connections; pure)
//   Reports      (text / JSON rendering of the report model)
//   PoolScope    (the library a program embeds: wires the layers together)
//   PoolScopeCLI (the `poolscope` executable: argument parsing only)
import PackageDescription

let package = Package(
    name: "PoolScope",
    products: [
        .executable(name: "poolscope", targets: ["PoolScopeCLI"]),
        .library(name: "PoolScope", targets: ["PoolScope"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - C
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),

        // glibc's mallopt for the CLI (<malloc.h> is not in Swift's Glibc module).
        .target(name: "CAllocatorTuning"),

        // MARK: - Layers
        .target(name: "PcapCapture", dependencies: ["CPcap"]),
        .target(name: "PacketDecode"),
        // HTTP on in-order streams; pure. Each TCP connection owns one and feeds
        // it from its reassembly (as Zeek's TCP analyzer owns its children).
        .target(name: "HTTPStreams"),
        .target(name: "TCPFlows", dependencies: ["PacketDecode", "HTTPStreams"]),
        .target(name: "PoolInference", dependencies: ["PacketDecode", "HTTPStreams", "TCPFlows"]),
        .target(name: "Reports", dependencies: ["PacketDecode", "HTTPStreams", "TCPFlows", "PoolInference"]),
        .target(name: "PoolScope", dependencies: ["PcapCapture", "PacketDecode", "HTTPStreams", "TCPFlows", "PoolInference", "Reports"]),
        .executableTarget(
            name: "PoolScopeCLI",
            dependencies: [
                "PoolScope",
                "CAllocatorTuning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Test support
        .target(name: "PcapTestSupport", dependencies: ["PacketDecode"]),

        // MARK: - Tests
        .testTarget(name: "PacketDecodeTests", dependencies: ["PacketDecode", "PcapTestSupport"]),
        .testTarget(name: "HTTPStreamsTests", dependencies: ["HTTPStreams"]),
        .testTarget(
            name: "PoolScopeTests",
            // PoolScopeCLI: so the `poolscope` binary is built for the end-to-end tests.
            dependencies: ["PoolScope", "PoolScopeCLI", "PcapCapture", "TCPFlows", "Reports", "PcapTestSupport"]
        ),
    ]
)
