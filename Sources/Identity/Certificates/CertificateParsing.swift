import SwiftASN1
import X509

/// Turns untrusted DER/PEM into `Certificate` values with specific errors.
public enum CertificateParsing {
    /// Parses one DER-encoded certificate (RFC 5280 §4.1).
    public static func certificate(der: [UInt8]) throws(IdentityError) -> Certificate {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: der)
        } catch let error as CertificateError where error.code == .duplicateOID {
            throw IdentityError(
                .duplicateExtension,
                "certificate repeats an extension; RFC 5280 §4.2 allows one instance of each"
            )
        } catch {
            throw IdentityError(.malformedDER, "not a valid DER certificate (RFC 5280 §4.1): \(error)")
        }
        try checkValidityTimes(der: der)
        return certificate
    }

    /// Parses every CERTIFICATE block of a PEM file (or a single raw DER certificate).
    public static func certificates(pemOrDER bytes: [UInt8]) throws(IdentityError) -> [Certificate] {
        var result: [Certificate] = []
        for der in try PEMFile.derBlocks(in: bytes, label: "CERTIFICATE") {
            result.append(try certificate(der: der))
        }
        return result
    }

    /// Reads and parses a certificate file.
    public static func certificates(atPath path: String) throws(IdentityError) -> [Certificate] {
        do {
            return try certificates(pemOrDER: PEMFile.read(path))
        } catch {
            throw IdentityError(error.code, "\(path): \(error.message)")
        }
    }

    /// The DER blocks of a certificate file, unparsed, so the verifier can report which one is malformed.
    public static func derBlocks(atPath path: String) throws(IdentityError) -> [[UInt8]] {
        do {
            return try PEMFile.derBlocks(in: PEMFile.read(path), label: "CERTIFICATE")
        } catch {
            throw IdentityError(error.code, "\(path): \(error.message)")
        }
    }

    /// DER encoding of a parsed certificate.
    public static func der(_ certificate: Certificate) -> [UInt8] {
        var serializer = DER.Serializer()
        // Serializing an already parsed or built certificate re-emits stored bytes and cannot fail.
        try! serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    /// PEM encoding of a certificate.
    public static func pem(_ certificate: Certificate) -> String {
        PEMDocument(type: "CERTIFICATE", derBytes: der(certificate)).pemString
    }
}
