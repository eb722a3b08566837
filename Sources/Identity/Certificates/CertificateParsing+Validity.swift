import SwiftASN1

extension CertificateParsing {
    /// Refuses a certificate whose notBefore or notAfter has a seconds field above 60.
    ///
    /// Why: swift-asn1 1.7.4 accepts UTCTime and GeneralizedTime seconds up to 61 (its
    /// UTCTime.swift: "We allow leap seconds here"), but swift-certificates 1.21.1 turns
    /// them into a `Date` through `Int64(timestampFromUTCDate:)`, which asserts seconds in
    /// 0..<61 (TimeCalculations.swift:187): a debug build traps on `notValidBefore` /
    /// `notValidAfter` of such a certificate (found by Fuzz/FuzzCertificateParsing;
    /// `fabricauth cert inspect`, a credential's notAfter and ValidityPolicy all read them).
    /// RFC 5280 §4.1.2.5.1 and §4.1.2.5.2 make seconds 00 to 59, with 60 only for a leap
    /// second, so 61 is malformed: it gets a specific error here instead.
    static func checkValidityTimes(der: [UInt8]) throws(IdentityError) {
        // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
        //   serialNumber, signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... } }
        // (RFC 5280 §4.1). The caller parsed the certificate already, so the shape holds.
        guard let root = try? DER.parse(der), case .constructed(let certificate) = root.content,
            let tbs = certificate.first(where: { _ in true }), case .constructed(let fields) = tbs.content
        else { return }
        var index = 0
        for field in fields {
            if index == 0, field.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { continue }
            index += 1
            guard index == 4 else { continue }  // serialNumber, signature, issuer, then validity
            guard case .constructed(let times) = field.content else { return }
            for (position, time) in times.enumerated() {
                let seconds: Int
                if time.identifier == UTCTime.defaultIdentifier, let parsed = try? UTCTime(derEncoded: time) {
                    seconds = parsed.seconds
                } else if time.identifier == GeneralizedTime.defaultIdentifier,
                    let parsed = try? GeneralizedTime(derEncoded: time)
                {
                    seconds = parsed.seconds
                } else {
                    continue
                }
                guard seconds <= 60 else {
                    throw IdentityError(
                        .malformedDER,
                        "certificate \(position == 0 ? "notBefore" : "notAfter") has seconds \(seconds); RFC 5280 §4.1.2.5 allows 00 to 60"
                    )
                }
            }
            return
        }
    }
}
