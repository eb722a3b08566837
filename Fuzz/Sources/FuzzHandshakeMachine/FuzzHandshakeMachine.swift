// Handshake messages against a live HandshakeMachine in each of its waiting states
// (M1..M4, R1..R3), and whole handshakes against a peer whose certificate chain,
// signature and payload come from the input (HandshakeFuzzing+Machine.swift says how
// the input is read and which oracles trap).
import FuzzSupport
@_spi(Fuzzing) import Handshake

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    HandshakeFuzzing.machine(inputBytes(data, size))
    return 0
}

@_cdecl("FuzzHandshakeMachine_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzzMain(argc, argv, seeds: { HandshakeFuzzing.seedInputs() }, callback: { fuzzOneInput($0, $1) })
}
