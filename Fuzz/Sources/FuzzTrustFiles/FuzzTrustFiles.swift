// The trust-bundle file (PEM CA certificates, Identity's TrustBundle) and the revocation
// list file (RevocationList: sha256:/serial: lines), as they are loaded from disk.
// Oracles: a bundle that loads has at least one anchor; a revocation list written out by
// `text` reads back to the same fingerprints and serials.
import FuzzSupport
@_spi(Fuzzing) import Identity

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    if let bundle = try? TrustBundle(trustDomain: "fuzz.test", pem: bytes) {
        precondition(!bundle.anchors.isEmpty && bundle.anchorFingerprints.count <= bundle.anchors.count)
        _ = try? TrustBundle.declaredTrustDomain(of: bundle.anchors)
    }
    // RevocationStore.loadList refuses non-UTF-8 files before parsing; so does this.
    if let text = String(validating: bytes, as: UTF8.self), let list = try? RevocationList(text: text) {
        guard let again = try? RevocationList(text: list.text) else {
            preconditionFailure("a revocation list's own text does not parse")
        }
        precondition(Set(again.fingerprints.keys) == Set(list.fingerprints.keys)
                     && Set(again.serials.keys) == Set(list.serials.keys), "a revocation list changed on a round trip")
    }
    return 0
}

@_cdecl("FuzzTrustFiles_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzzMain(argc, argv, seeds: {
        ((try? IdentityFuzzing.seedFiles()) ?? []).filter {
            $0.name.hasPrefix("bundle") || $0.name.hasPrefix("revoked") || $0.name.hasPrefix("ca-")
        }
    }, callback: { fuzzOneInput($0, $1) })
}
