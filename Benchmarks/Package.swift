// swift-tools-version:6.1
//
// FabricAuth's benchmarks: a package of its own so `swift test` on the main
// package stays light. Each benchmark is an executable that prints a table;
// run one with `swift run -c release --package-path Benchmarks NAME`.
// Numbers are ratios measured side by side in one run (see docs/performance.md).
import PackageDescription

let package = Package(
    name: "FabricAuthBenchmarks",
    dependencies: [
        // The name is needed: a path package is otherwise named after its folder.
        .package(name: "FabricAuth", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "IdentityBenchmark",
            dependencies: [.product(name: "Identity", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "HandshakeBenchmark",
            dependencies: [.product(name: "Handshake", package: "FabricAuth")]
        ),
        // Shared by the benchmarks that count heap allocations.
        .target(name: "BenchmarkSupport"),
        .executableTarget(
            name: "DataPathBenchmark",
            dependencies: ["BenchmarkSupport", .product(name: "FabricAuth", package: "FabricAuth")]
        ),
        // The NCCL plug-in's per-byte data path (stage, seal, verify, copy) on 1, 2, 4 MAC threads.
        .executableTarget(
            name: "PluginDataPathBenchmark",
            dependencies: ["BenchmarkSupport", .product(name: "FabricAuth", package: "FabricAuth")]
        ),
        .executableTarget(
            name: "RemoteAccessBenchmark",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "FabricAuth", package: "FabricAuth"),
                .product(name: "Identity", package: "FabricAuth"),
                .product(name: "Verbs", package: "FabricAuth"),
            ]
        ),
        .executableTarget(
            name: "QueuePairSetupBenchmark",
            dependencies: [
                .product(name: "Bootstrap", package: "FabricAuth"),
                .product(name: "FabricAuth", package: "FabricAuth"),
                .product(name: "Identity", package: "FabricAuth"),
                .product(name: "Handshake", package: "FabricAuth"),
                .product(name: "Verbs", package: "FabricAuth"),
            ]
        ),
        .executableTarget(
            name: "VerbsBenchmark",
            dependencies: ["BenchmarkSupport", .product(name: "Verbs", package: "FabricAuth")]
        ),
    ]
)
