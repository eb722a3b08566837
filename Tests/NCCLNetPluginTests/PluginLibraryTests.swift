// The built libnccl-net-fabricauth.so as NCCL sees it: which symbols it
// exports and whether dlclose can unmap it. Needs only binutils, no device.
import Foundation
import XCTest

final class PluginLibraryTests: XCTestCase {
    /// The library `swift build` puts next to this test bundle.
    static var library: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("libnccl-net-fabricauth.so")
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(tool) \(arguments): \(String(decoding: data, as: UTF8.self))")
        return String(decoding: data, as: UTF8.self)
    }

    func testExportsTheFiveTablesNCCLLooksFor() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.library.path), "run swift build first: \(Self.library.path)")
        let symbols = try Self.run("nm", ["-D", "--defined-only", Self.library.path])
        for version in 8...12 {
            // "D": initialised data, the table of function pointers NCCL dlsym()s.
            XCTAssertTrue(symbols.contains(" D ncclNetPlugin_v\(version)\n"), "ncclNetPlugin_v\(version) not exported")
        }
        XCTAssertFalse(symbols.contains("ncclNetPlugin_v7"), "v7 and older are not offered")
    }

    func testIsMarkedNoDeleteSoDlcloseKeepsTheSwiftRuntimeImagesMapped() throws {
        let dynamic = try Self.run("readelf", ["-d", Self.library.path])
        XCTAssertTrue(dynamic.contains("NODELETE"), dynamic)
    }
}
