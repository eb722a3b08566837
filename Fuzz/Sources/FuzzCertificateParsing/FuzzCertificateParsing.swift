// Certificate and private-key files: PEM (RFC 7468) or DER certificates (RFC 5280) as
// Identity's CertificateParsing reads them, private keys as a credential's key file is
// read (PKCS#8 / SEC1), a combined certificate-and-key file as a Credential, SPIFFE IDs,
// and the report `fabricauth cert inspect` prints for whatever parsed.
// Oracle: a parsed certificate re-serialises to exactly the DER it was read from.
import Foundation
import FuzzSupport
@_spi(Fuzzing) import Identity

/// A fixed validation time, so a run never depends on the clock (2027-01-15).
let reportTime = Date(timeIntervalSince1970: 1_800_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let text = String(validating: bytes, as: UTF8.self)
    if let certificates = try? CertificateParsing.certificates(pemOrDER: bytes) {
        let blocks: [[UInt8]]
        if bytes.first == 0x30 {
            blocks = [bytes]
        } else {
            blocks = ((try? IdentityFuzzing.pemBlocks(text ?? "")) ?? []).filter { $0.label == "CERTIFICATE" }.map(\.der)
        }
        precondition(blocks.count == certificates.count, "\(certificates.count) certificates from \(blocks.count) blocks")
        for (certificate, der) in zip(certificates, blocks) {
            precondition(CertificateParsing.der(certificate) == der, "a certificate did not re-serialise to its DER")
        }
        _ = CertificateReport.describe(certificates, at: reportTime)
        _ = CertificateReport.profileProblem(certificates)
        _ = try? TrustBundle.declaredTrustDomain(of: certificates)
        // A file holding both the chain and its key (as some deployments keep them).
        _ = try? Credential(certificatePEM: bytes, keyPEM: bytes)
    }
    _ = try? IdentityFuzzing.privateKeyType(pemOrDER: bytes)
    if let text, bytes.count <= SPIFFEID.maximumLength + 16 {
        _ = try? SPIFFEID(text)
    }
    return 0
}

@_cdecl("FuzzCertificateParsing_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzzMain(argc, argv, seeds: {
        let files: [(name: String, bytes: [UInt8])]
        do { files = try IdentityFuzzing.seedFiles() } catch { preconditionFailure("no seed files: \(error)") }
        return files.filter { !$0.name.hasPrefix("bundle") && !$0.name.hasPrefix("revoked") }
            + [("spiffe-id.txt", Array("spiffe://fuzz.test/ns/train/sa/worker".utf8))]
    }, callback: { fuzzOneInput($0, $1) })
}
