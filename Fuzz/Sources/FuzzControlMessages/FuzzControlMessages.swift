// The rendezvous control messages (WriteGrant, ReadOffer, ReadDone), parsed as the
// receive pipeline parses a verified control frame's payload, and the same bytes as a
// run of re-authentication fragments (opcode-8 payloads). Oracles (in FabricAuthFuzzing):
// an accepted message encodes back to its bytes; a reassembled message is exactly its pieces.
import FuzzSupport
@_spi(Fuzzing) import FabricAuth

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    FabricAuthFuzzing.parseControlMessages(bytes)
    FabricAuthFuzzing.reassembleFragments(bytes)
    return 0
}

@_cdecl("FuzzControlMessages_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzzMain(argc, argv, seeds: { FabricAuthFuzzing.controlMessageSeeds() }, callback: { fuzzOneInput($0, $1) })
}
