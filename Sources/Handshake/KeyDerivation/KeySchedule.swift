/// Labels and derivations after the last handshake message (docs/protocol.md, "Key schedule").
enum KeySchedule {
    static let fullProtocolName = "FabricAuth_XXsig_25519_ChaChaPoly_SHA256_v1"
    // Version 2 changed the resumption exchange (R1 names binding_r, R3 added, role-bound PSK).
    static let resumeProtocolName = "FabricAuth_Resume_PSK_ChaChaPoly_SHA256_v2"

    static let initiatorToResponderLabel = "fabricauth i2r traffic"
    static let responderToInitiatorLabel = "fabricauth r2i traffic"
    static let resumptionSecretLabel = "fabricauth resumption secret"
    static let sessionIDLabel = "fabricauth session id"
    static let finishedKeyLabel = "fabricauth finished key"
    static let resumptionPSKLabel = "fabricauth resumption psk"
    /// The re-authentication anchor (docs/protocol.md section 14.1), from every
    /// handshake's, resumption's and re-authentication's final PRK.
    static let reauthAnchorLabel = "fabricauth reauth secret"

    /// The key a resumption mixes in, bound to the roles of the full handshake:
    /// psk = Expand(resumption_secret, label || role_i || role_r, 32), where role_i and
    /// role_r are the roles that the resuming initiator and responder had in the full
    /// handshake, as each side derives them from its own session record. Honest ends
    /// (same roles as before) both use 1 || 2. A session reflected to its owner (both
    /// ends hold the same record) gives 1 || 2 at one end and 2 || 1 at the other, so
    /// the exchange cannot complete even where the explicit role check were skipped
    /// (the TLS 1.3 PSK "selfie" attack, ePrint 2019/347, needs keys equal at both ends).
    static func resumptionPSK(secret: SecretBytes, fullHandshakeRoleOfInitiator: ChannelBinding.Role) -> SecretBytes {
        let other: ChannelBinding.Role = fullHandshakeRoleOfInitiator == .initiator ? .responder : .initiator
        let info = Array(resumptionPSKLabel.utf8) + [fullHandshakeRoleOfInitiator.rawValue, other.rawValue]
        let psk = SecretBytes(count: HandshakeLimits.secretSize)
        secret.withUnsafeBytes { p in
            info.withUnsafeBytes { i in psk.withUnsafeMutableBytes { HKDF.expand(prk: p, info: i, into: $0) } }
        }
        return psk
    }

    /// Signature contexts: distinct per role so a signature cannot be reflected
    /// (TLS 1.3's CertificateVerify context string habit, RFC 8446 section 4.4.3).
    static let initiatorSignatureContext = Array("FabricAuth v1 initiator signature\u{0}".utf8)
    static let responderSignatureContext = Array("FabricAuth v1 responder signature\u{0}".utf8)

    /// What the certificate key signs: context || h || SHA-256(identity block prefix).
    /// The caller wipes the result after signing or verifying (it holds a copy of h).
    static func signedContent(context: [UInt8], transcript h: SecretBytes, identityPrefix: [UInt8]) -> [UInt8] {
        var content = [UInt8](repeating: 0, count: context.count + h.count + HKDF.hashLength)
        content.withUnsafeMutableBytes { c in
            context.withUnsafeBytes { c.copyMemory(from: $0) }
            h.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: c[context.count...]).copyMemory(from: $0) }
            identityPrefix.withUnsafeBytes {
                Sodium.sha256($0, into: UnsafeMutableRawBufferPointer(rebasing: c[(context.count + h.count)...]))
            }
        }
        return content
    }

    /// What the last handshake message leaves: four secrets, each in memory of
    /// its own (SecretBytes), and the session ID (not secret: sent in R1).
    struct Output {
        let initiatorToResponder: SecretBytes
        let responderToInitiator: SecretBytes
        let resumptionSecret: SecretBytes
        let finishedKey: SecretBytes
        /// anchor_0 (or anchor_{g+1} after a re-authentication): binds the next
        /// re-authentication of the channel to this session (section 14).
        let reauthAnchor: SecretBytes
        let sessionID: [UInt8]

        /// Zeroes the secrets for every holder (they are not copy-on-write values).
        func wipe() {
            initiatorToResponder.wipe()
            responderToInitiator.wipe()
            resumptionSecret.wipe()
            finishedKey.wipe()
            reauthAnchor.wipe()
        }
    }

    static func derive(from state: SymmetricState) -> Output {
        let prk = state.finalPRK()
        defer { prk.wipe() }
        return Output(
            initiatorToResponder: .expand(prk: prk, label: initiatorToResponderLabel, length: 32),
            responderToInitiator: .expand(prk: prk, label: responderToInitiatorLabel, length: 32),
            resumptionSecret: .expand(prk: prk, label: resumptionSecretLabel, length: 32),
            finishedKey: .expand(prk: prk, label: finishedKeyLabel, length: 32),
            reauthAnchor: .expand(prk: prk, label: reauthAnchorLabel, length: 32),
            sessionID: prk.withUnsafeBytes { p in
                var id = [UInt8](repeating: 0, count: HandshakeLimits.sessionIDSize)
                let info = Array(sessionIDLabel.utf8)
                info.withUnsafeBytes { i in id.withUnsafeMutableBytes { HKDF.expand(prk: p, info: i, into: $0) } }
                return id
            })
    }
}
