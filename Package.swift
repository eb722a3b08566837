// swift-tools-version:6.1
//
// FabricAuth: zero-trust identity and per-message authentication for RDMA fabrics.
//
// Layers, data flowing one way (see docs/architecture.md):
//   C system libraries (+ CVerbsShim) -> Verbs -> Bootstrap, Identity, Handshake -> FabricAuth
//   -> FabricAuthMetrics (Prometheus exposition) -> fabricauth CLI, NCCL plug-in
import PackageDescription

let package = Package(
    name: "FabricAuth",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Verbs", targets: ["Verbs"]),
        .library(name: "Bootstrap", targets: ["Bootstrap"]),
        .library(name: "Identity", targets: ["Identity"]),
        .library(name: "Handshake", targets: ["Handshake"]),
        .library(name: "FabricAuth", targets: ["FabricAuth"]),
        .library(name: "FabricAuthMetrics", targets: ["FabricAuthMetrics"]),
        .executable(name: "fabricauth", targets: ["FabricAuthCLI"]),
        // The NCCL network plug-in, libnccl-net-fabricauth.so (docs/nccl.md).
        .library(name: "nccl-net-fabricauth", type: .dynamic, targets: ["NCCLNetPluginLibrary"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        // The Prometheus text exposition (format 0.0.4) and its histogram.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Policy files (docs/operations.md "Policy files"): YAML over libyaml, whose nodes carry
        // line/column marks for precise error positions.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // MARK: C libraries (Debian 12 packages: libibverbs-dev, librdmacm-dev, libsodium-dev)
        .systemLibrary(
            name: "CIBVerbs",
            pkgConfig: "libibverbs",
            providers: [.apt(["libibverbs-dev"])]
        ),
        .systemLibrary(
            name: "CRDMACM",
            pkgConfig: "librdmacm",
            providers: [.apt(["librdmacm-dev"])]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .target(name: "CVerbsShim", dependencies: ["CIBVerbs"]),
        // Intel's multi-buffer crypto (Debian 12: libipsec-mb-dev 1.3) for the fast
        // AES-256-GMAC; it ships no pkg-config file, so the module map links it by name.
        .systemLibrary(
            name: "CIPSecMB",
            providers: [.apt(["libipsec-mb-dev"])]
        ),
        .target(name: "CIPSecMBShim", dependencies: ["CIPSecMB"]),

        // MARK: Swift layers
        .target(name: "Verbs", dependencies: ["CIBVerbs", "CRDMACM", "CVerbsShim"]),
        // The TCP exchange of QP endpoints; Verbs only for QueuePairEndpoint and Gid.
        .target(name: "Bootstrap", dependencies: ["Verbs"]),
        .target(
            name: "Identity",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(name: "Handshake", dependencies: ["CSodium"]),
        .target(
            name: "FabricAuth",
            dependencies: ["Verbs", "Bootstrap", "Identity", "Handshake", "CSodium", "CIPSecMB", "CIPSecMBShim"]
        ),
        // The process-wide Prometheus registry over the channels' counters, its
        // HTTP endpoint and textfile writer (docs/operations.md, section Metrics).
        .target(
            name: "FabricAuthMetrics",
            dependencies: ["FabricAuth", "Bootstrap", "Handshake", "Identity", .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // MARK: NCCL network plug-in: the C ABI tables (CNCCLNet) over a Swift implementation
        .target(name: "CNCCLNet"),
        .target(
            name: "NCCLNetPlugin",
            dependencies: ["CNCCLNet", "FabricAuth", "FabricAuthMetrics", "Handshake", "Identity", "Verbs"]
        ),
        // The shared object NCCL loads, and only it: a target of its own so that its linker
        // flags reach the .so and not the test bundle, which imports NCCLNetPlugin and shares
        // the toolchain's dynamic Swift runtime with XCTest.
        //   -static-stdlib: the Swift runtime and Foundation are linked in (their symbols kept
        //     local by the driver's --exclude-libs ALL), so a training node needs no Swift
        //     toolchain, only Debian's runtime packages (docs/nccl.md, "Build and install").
        //   -lCoreFoundation .. -l_FoundationCollections: Foundation's own static dependencies.
        //     The objects were compiled against the dynamic Foundation, whose autolink entries
        //     name only Foundation itself; without these the .so links with undefined symbols
        //     (swift_uloc_*, _FoundationCollections) and dlopen fails (PluginLibraryTests).
        //   -z nodelete: NCCL dlcloses the plug-in and may dlopen it again; the runtime inside
        //     keeps thread-local destructors and registered images, so the library stays mapped.
        .target(
            name: "NCCLNetPluginLibrary",
            dependencies: ["NCCLNetPlugin"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags([
                "-static-stdlib",
                "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections",
                "-Xlinker", "-z", "-Xlinker", "nodelete",
                // Only the five ncclNetPlugin_v* tables are exported (exports.map).
                "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/NCCLNetPluginLibrary/exports.map",
            ])]
        ),
        .executableTarget(
            name: "FabricAuthCLI",
            dependencies: [
                "Verbs", "Bootstrap", "Identity", "Handshake", "FabricAuth", "FabricAuthMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: Tests that need no RDMA device (run on any host by `swift test --skip DeviceTests`)
        .testTarget(name: "VerbsTests", dependencies: ["Verbs"]),
        .testTarget(name: "BootstrapTests", dependencies: ["Bootstrap", "Verbs"]),
        .testTarget(name: "IdentityTests", dependencies: ["Identity"]),
        .testTarget(name: "HandshakeTests", dependencies: ["Handshake"], exclude: ["Vectors/handshake_vector.py"]),
        .testTarget(name: "FabricAuthTests", dependencies: ["FabricAuth", "Bootstrap", "Verbs", "Handshake", "Identity"]),
        .testTarget(name: "NCCLNetPluginTests", dependencies: ["NCCLNetPlugin", "FabricAuth", "Handshake", "Identity"]),
        .testTarget(name: "FabricAuthMetricsTests", dependencies: ["FabricAuthMetrics", "FabricAuth", "Handshake", "Bootstrap", "Verbs"]),

        // MARK: Tests that need a real verbs device (run inside Hardware/softroce; they fail without one)
        .testTarget(name: "DeviceTests", dependencies: ["Verbs", "Bootstrap", "FabricAuth", "Identity", "Handshake", "NCCLNetPlugin", "FabricAuthMetrics"]),
    ]
)
