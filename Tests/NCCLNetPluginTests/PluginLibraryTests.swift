// The built libnccl-net-fabricauth.so as NCCL and a training node see it:
// which symbols it exports, what it needs at run time, and whether it loads,
// fails init cleanly and loads again with the Swift toolchain out of sight.
// Needs binutils, dpkg and gcc, no device.
import Foundation
import XCTest

final class PluginLibraryTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The library `swift build` puts next to this test bundle.
    static var library: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("libnccl-net-fabricauth.so")
    }

    /// The Debian 12 packages a node needs for the plug-in (docs/nccl.md): the
    /// four named by the issue, and libc6, libgcc-s1 and libstdc++6, which
    /// every Debian system has (the static Swift runtime needs the C++ library).
    static let runtimePackages: Set<String> = [
        "libibverbs1", "librdmacm1", "libsodium23", "libipsec-mb1", "libc6", "libgcc-s1", "libstdc++6",
    ]

    @discardableResult
    static func run(_ tool: String, _ arguments: [String], environment: [String: String]? = nil, expectSuccess: Bool = true)
        throws -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        if expectSuccess { XCTAssertEqual(process.terminationStatus, 0, "\(tool) \(arguments): \(output)") }
        return (process.terminationStatus, output)
    }

    /// This process's environment without the loader's search path (a node's loader has none of ours).
    static var plainEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["LD_LIBRARY_PATH"] = nil
        for name in env.keys where name.hasPrefix("FABRICAUTH_") { env[name] = nil }
        return env
    }

    func testExportsTheFiveTablesNCCLLooksFor() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.library.path), "run swift build first: \(Self.library.path)")
        let symbols = try Self.run("nm", ["-D", "--defined-only", Self.library.path]).output
        for version in 8...12 {
            // "D": initialised data, the table of function pointers NCCL dlsym()s.
            XCTAssertTrue(symbols.contains(" D ncclNetPlugin_v\(version)\n"), "ncclNetPlugin_v\(version) not exported")
        }
        XCTAssertFalse(symbols.contains("ncclNetPlugin_v7"), "v7 and older are not offered")
        // The runtime inside stays private: another Swift runtime in the process must not bind to it.
        XCTAssertFalse(symbols.contains(" swift_retain\n"), "the Swift runtime's symbols are exported")
        // And so do our modules and their dependencies (exports.map): the five tables are the only
        // global symbols (nm's upper-case types; the lower-case ones left in .dynsym are local and bind nothing).
        let exported = symbols.split(separator: "\n").map { $0.split(separator: " ") }
            .filter { $0.count == 3 && $0[1].first!.isUppercase }.map { String($0[2]) }
        XCTAssertEqual(Set(exported), Set((8...12).map { "ncclNetPlugin_v\($0)" }), "exported: \(exported.prefix(20))")
    }

    func testIsMarkedNoDeleteSoDlcloseKeepsTheSwiftRuntimeImagesMapped() throws {
        let dynamic = try Self.run("readelf", ["-d", Self.library.path]).output
        XCTAssertTrue(dynamic.contains("NODELETE"), dynamic)
    }

    /// Every library the plug-in names (NEEDED) resolves, comes from a Debian
    /// runtime package, and none is the toolchain's: the Swift runtime and
    /// Foundation are linked in (`-static-stdlib`, Package.swift).
    func testNeedsOnlyDebianRuntimePackagesAndNoSwiftToolchain() throws {
        let dynamic = try Self.run("readelf", ["-d", Self.library.path]).output
        let needed = dynamic.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line -> String? in
            guard let open = line.lastIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
        XCTAssertTrue(needed.contains("libibverbs.so.1"), dynamic)
        for name in needed {
            XCTAssertFalse(name.hasPrefix("libswift") || name.hasPrefix("libFoundation") || name.hasPrefix("libdispatch")
                || name.hasPrefix("libBlocksRuntime") || name.hasPrefix("lib_Foundation"), "needs the toolchain's \(name)")
        }
        XCTAssertFalse(dynamic.contains("/opt/swift"), "RUNPATH into the toolchain: \(dynamic)")

        let ldd = try Self.run("ldd", [Self.library.path], environment: Self.plainEnvironment).output
        XCTAssertFalse(ldd.contains("not found"), ldd)
        XCTAssertFalse(ldd.contains("/opt/swift"), ldd)
        for name in needed {
            // "libibverbs.so.1 => /lib/x86_64-linux-gnu/libibverbs.so.1 (0x...)", or "/lib64/ld-linux-x86-64.so.2 (0x...)".
            guard let line = ldd.split(separator: "\n").first(where: { $0.contains(name) }),
                let path = line.split(whereSeparator: \.isWhitespace).map(String.init).first(where: { $0.hasPrefix("/") })
            else { XCTFail("ldd does not list \(name): \(ldd)"); continue }
            let package = try Self.owningPackage(of: path)
            XCTAssertTrue(package.map(Self.runtimePackages.contains) ?? false,
                "\(name) (\(path)) comes from \(package ?? "no package"), not one of \(Self.runtimePackages.sorted())")
        }
    }

    /// The Debian package that installed `path` (dpkg -S), trying the merged-/usr spellings of it.
    static func owningPackage(of path: String) throws -> String? {
        var candidates = [path, "/usr" + path, URL(fileURLWithPath: path).resolvingSymlinksInPath().path]
        if path.hasPrefix("/usr/") { candidates.append(String(path.dropFirst(4))) }
        for candidate in candidates {
            let (status, output) = try run("dpkg", ["-S", candidate], expectSuccess: false)
            // "libibverbs1:amd64: /usr/lib/x86_64-linux-gnu/libibverbs.so.1"
            if status == 0, let first = output.split(separator: ":").first { return String(first) }
        }
        return nil
    }

    /// The harness (Tests/NCCLPluginHarness) dlopens the library three times
    /// in one process with the toolchain's libraries hidden by an empty
    /// mount (a private mount namespace, so nothing else sees it): each load
    /// runs Swift code (init reads the environment and fails, naming what to
    /// set, through the logger) and is dlclosed before the next.
    func testLoadsFailsInitAndReloadsWithTheToolchainHidden() throws {
        let undefined = try Self.run("nm", ["-D", "--undefined-only", Self.library.path]).output
        if undefined.contains("__asan_init") {
            throw XCTSkip("an AddressSanitizer build of the plug-in needs ASan's runtime in the loading process; the plain build runs this test")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("nccl-library-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let harness = scratch.appendingPathComponent("harness").path
        try Self.run("sh", [Self.repositoryRoot.appendingPathComponent("Tests/NCCLPluginHarness/build.sh").path, harness])

        // The toolchain's library directory, from where this process's own Swift runtime was loaded.
        // Read through a handle: /proc files report size 0, which String(contentsOfFile:) believes.
        let maps = String(decoding: try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps")).readToEnd() ?? Data(),
            as: UTF8.self)
        let core = try XCTUnwrap(maps.split(separator: "\n").compactMap { line in
            line.split(separator: " ").last.map(String.init)
        }.first { $0.hasSuffix("/libswiftCore.so") }, "this test process loads the dynamic Swift runtime")
        // .../usr/lib/swift/linux/libswiftCore.so -> .../usr/lib
        let toolchainLibraries = URL(fileURLWithPath: core).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let script = """
            mount -t tmpfs fabricauth-no-toolchain "$1" || exit 90
            [ -z "$(ls -A "$1")" ] || exit 91
            ldd "$2"
            exec "$3" "$2" --expect-init-failure --loads 3
            """
        let (status, output) = try Self.run("unshare", ["-m", "sh", "-c", script, "sh", toolchainLibraries, Self.library.path, harness],
            environment: Self.plainEnvironment, expectSuccess: false)
        XCTAssertNotEqual(status, 90, "hiding \(toolchainLibraries) needs root (a private mount namespace): \(output)")
        XCTAssertEqual(status, 0, output)
        XCTAssertFalse(output.contains("not found"), output)
        XCTAssertTrue(output.contains("harness: PASS"), output)
        for load in 0..<3 {
            XCTAssertTrue(output.contains("rank 0 load \(load): ncclNetPlugin_v12, init refused as expected"), output)
        }
        XCTAssertTrue(output.contains("init failed, plug-in disabled: missing configuration, set FABRICAUTH_CERT"), output)
    }
}
