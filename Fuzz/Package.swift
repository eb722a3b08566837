// swift-tools-version:6.1
//
// FabricAuth's coverage-guided fuzz targets (libFuzzer), a package of its own like
// Benchmarks/ so the main package's `swift build` and `swift test` never need
// `-sanitize=fuzzer`. Each target is an executable exporting LLVMFuzzerTestOneInput;
// build and run them all with `Fuzz/run` (docs/fuzzing.md). The flags come from the
// command line, not from unsafeFlags here, so that the instrumentation reaches every
// Swift module on the path (FabricAuth's and swift-asn1's / swift-certificates' parsers):
//
//   swift build -c debug --package-path Fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import PackageDescription

let package = Package(
    name: "FabricAuthFuzz",
    dependencies: [
        // The name is needed: a path package is otherwise named after its folder.
        .package(name: "FabricAuth", path: ".."),
    ],
    targets: [
        // main() for every target, and the seed writer (FuzzMain.swift).
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "FuzzHandshakeParsers",
            dependencies: ["FuzzSupport", .product(name: "Handshake", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "FuzzHandshakeMachine",
            dependencies: ["FuzzSupport", .product(name: "Handshake", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "FuzzCertificateParsing",
            dependencies: ["FuzzSupport", .product(name: "Identity", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "FuzzTrustFiles",
            dependencies: ["FuzzSupport", .product(name: "Identity", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "FuzzPolicyFiles",
            dependencies: ["FuzzSupport", .product(name: "Identity", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "FuzzControlMessages",
            dependencies: ["FuzzSupport", .product(name: "FabricAuth", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "FuzzDataPathFrames",
            dependencies: ["FuzzSupport", .product(name: "FabricAuth", package: "FabricAuth")]
        ),
    ]
)
