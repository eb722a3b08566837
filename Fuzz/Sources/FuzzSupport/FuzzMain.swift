import Foundation

/// libFuzzer's per-input callback, as LLVMFuzzerTestOneInput has it.
public typealias FuzzInputCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

// libFuzzer's documented entry for programs with their own main (compiler-rt
// FuzzerInterface.h, "LLVMFuzzerRunDriver", LLVM 13 and later).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzInputCallback
) -> CInt

/// The main of every fuzz target.
///
/// Why not libFuzzer's own main: a debug `swift build` renames an executable's entry
/// point to `<Target>_main` and links `--defsym main=<Target>_main` (testable
/// executables, SwiftPM 5.5+), so with `-parse-as-library` a target must define
/// `<Target>_main` itself; it hands over to libFuzzer's driver here.
///
/// With `FABRICAUTH_FUZZ_WRITE_SEEDS=DIR` in the environment it instead writes the
/// target's seed inputs into DIR (one file each) and exits: the checked-in corpora in
/// Fuzz/Corpus are made this way (Fuzz/make-seeds).
public func fuzzMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
    seeds: () -> [(name: String, bytes: [UInt8])], callback: FuzzInputCallback
) -> CInt {
    if let directory = ProcessInfo.processInfo.environment["FABRICAUTH_FUZZ_WRITE_SEEDS"] {
        let url = URL(fileURLWithPath: directory, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for seed in seeds() {
                try Data(seed.bytes).write(to: url.appendingPathComponent(seed.name))
            }
        } catch {
            FileHandle.standardError.write(Data("cannot write seeds to \(directory): \(error)\n".utf8))
            return 1
        }
        return 0
    }
    var count = argc
    var vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &vector, callback)
}

/// The input as an array (parsers here take arrays; an empty input has a nil pointer).
@inline(__always)
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}
