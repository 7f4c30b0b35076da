// swift-tools-version:6.1
// Measures PoolScope's HTTP/1.x framer against NIOHTTP1's llhttp-based decoder
// on the same request stream cut into TCP-sized segments. A separate package,
// so PoolScope itself does not depend on swift-nio. Sources/HTTPStreams is a
// link to the product's own sources: the framer measured is the one shipped.
//
//   swift run -c release --package-path Benchmarks/FramerVsNIOHTTP1
import PackageDescription

let package = Package(
    name: "FramerVsNIOHTTP1",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        .target(name: "HTTPStreams"),
        .executableTarget(
            name: "FramerVsNIOHTTP1",
            dependencies: [
                "HTTPStreams",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
