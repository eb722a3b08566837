// Every handshake message parser on one input (Handshake's HandshakeFuzzing.parseAll):
// M1..M4, R1..R3, alerts, identity blocks, and the input as the body of each type.
// Parsers are total, so any trap or sanitizer report is a bug.
import FuzzSupport
@_spi(Fuzzing) import Handshake

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    HandshakeFuzzing.parseAll(inputBytes(data, size))
    return 0
}

@_cdecl("FuzzHandshakeParsers_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    // The honest messages of the machine target are valid parser inputs too; strip its selector byte.
    fuzzMain(argc, argv, seeds: { HandshakeFuzzing.seedInputs().filter { $0.name.hasPrefix("raw-") }.flatMap { seed in
        HandshakeFuzzing.splitMessagesForSeeds(Array(seed.bytes.dropFirst())).enumerated().map {
            ("\(seed.name)-\($0.offset)", $0.element)
        }
    } }, callback: { fuzzOneInput($0, $1) })
}
