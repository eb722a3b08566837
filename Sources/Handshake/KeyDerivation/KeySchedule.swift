/// Labels and derivations after the last handshake message (docs/protocol.md, "Key schedule").
enum KeySchedule {
    static let fullProtocolName = "FabricAuth_XXsig_25519_ChaChaPoly_SHA256_v1"
    static let resumeProtocolName = "FabricAuth_Resume_PSK_ChaChaPoly_SHA256_v1"

    static let initiatorToResponderLabel = "fabricauth i2r traffic"
    static let responderToInitiatorLabel = "fabricauth r2i traffic"
    static let resumptionSecretLabel = "fabricauth resumption secret"
    static let sessionIDLabel = "fabricauth session id"
    static let finishedKeyLabel = "fabricauth finished key"

    /// Signature contexts: distinct per role so a signature cannot be reflected
    /// (TLS 1.3's CertificateVerify context string habit, RFC 8446 section 4.4.3).
    static let initiatorSignatureContext = Array("FabricAuth v1 initiator signature\u{0}".utf8)
    static let responderSignatureContext = Array("FabricAuth v1 responder signature\u{0}".utf8)

    /// What the certificate key signs: context || h || SHA-256(identity block prefix).
    static func signedContent(context: [UInt8], transcript h: [UInt8], identityPrefix: [UInt8]) -> [UInt8] {
        context + h + Sodium.sha256(identityPrefix)
    }

    struct Output {
        var initiatorToResponder: [UInt8]
        var responderToInitiator: [UInt8]
        var resumptionSecret: [UInt8]
        var sessionID: [UInt8]
        var finishedKey: [UInt8]

        mutating func wipe() {
            initiatorToResponder.wipe()
            responderToInitiator.wipe()
            resumptionSecret.wipe()
            sessionID.wipe()
            finishedKey.wipe()
        }
    }

    static func derive(from state: SymmetricState) -> Output {
        var prk = state.finalPRK()
        defer { prk.wipe() }
        return Output(
            initiatorToResponder: HKDF.expand(prk: prk, label: initiatorToResponderLabel, length: 32),
            responderToInitiator: HKDF.expand(prk: prk, label: responderToInitiatorLabel, length: 32),
            resumptionSecret: HKDF.expand(prk: prk, label: resumptionSecretLabel, length: 32),
            sessionID: HKDF.expand(prk: prk, label: sessionIDLabel, length: HandshakeLimits.sessionIDSize),
            finishedKey: HKDF.expand(prk: prk, label: finishedKeyLabel, length: 32))
    }
}
