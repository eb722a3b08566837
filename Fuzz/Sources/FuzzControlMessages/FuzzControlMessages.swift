// The rendezvous control messages (WriteGrant, ReadOffer, ReadDone), parsed as the
// receive pipeline parses a verified control frame's payload. Oracle (in
// FabricAuthFuzzing.parseControlMessages): an accepted message encodes back to its bytes.
import FuzzSupport
@_spi(Fuzzing) import FabricAuth

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FabricAuthFuzzing.parseControlMessages(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_cdecl("FuzzControlMessages_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzzMain(argc, argv, seeds: { FabricAuthFuzzing.controlMessageSeeds() }, callback: { fuzzOneInput($0, $1) })
}
