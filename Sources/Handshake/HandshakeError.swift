// One error type for the whole handshake: a code (stable, on the wire in alerts,
// counted per reason) plus human detail (swift-certificates' CertificateError habit).

/// Why a handshake failed. Raw values travel in Alert messages; never renumber.
public enum HandshakeErrorCode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Message shorter than its fixed fields or declared lengths.
    case truncated = 1
    /// Message or field longer than `HandshakeLimits` allow.
    case oversized = 2
    /// A field has an impossible value, or bytes trail the message.
    case malformed = 3
    /// Version byte is not `fabricAuthHandshakeVersion`.
    case unsupportedVersion = 4
    /// The responder chose a suite the initiator did not offer (or unknown).
    case unknownSuite = 5
    /// No suite offered by the initiator is acceptable to the responder.
    case noCommonSuite = 6
    /// A well-formed message that is not the one this state expects.
    case unexpectedMessage = 7
    /// AEAD authentication failed: garbled ciphertext, wrong key or spliced transcript.
    case decryptFailed = 8
    /// The certificate's key did not sign this transcript.
    case badSignature = 9
    /// The injected verifier rejected the peer's certificate chain.
    case peerRejected = 10
    /// The injected policy denied the verified peer.
    case policyDenied = 11
    /// The peer's QP endpoint (QPN, PSN, GID, MTU, role) is not the one expected.
    case channelBindingMismatch = 12
    /// Our own ephemeral key, nonce or message came back to us.
    case reflectedMessage = 13
    /// X25519 produced the all-zero output (low-order point, RFC 7748 section 6.1).
    case invalidPublicKey = 14
    /// The handshake's deadline passed.
    case timeout = 15
    /// Resumption named a session this side does not hold.
    case unknownSession = 16
    /// Resumption after the session's notAfter (lifetime or either certificate's expiry).
    case sessionExpired = 17
    /// Resumption refused: the injected validity check says the peer is no longer valid (revoked).
    case peerRevoked = 18
    /// The local credential failed to sign, or its chain exceeds the limits.
    case localCredentialFailure = 19
    /// The peer sent an Alert; `HandshakeError.remoteCode` says why.
    case peerAborted = 20
    /// Local misuse: payload too large, bad binding, method called in the wrong state.
    case localConfiguration = 21
    /// A ResumeRequest names a responder QP endpoint other than this one: an R1
    /// captured on another QP and injected here, or a rewritten endpoint exchange.
    case responderBindingMismatch = 22
    /// Resumption with roles other than the full handshake's: a session reflected to
    /// its owner (the "selfie" attack) or resumed by the former responder.
    case sessionRoleMismatch = 23
    /// Re-authentication: the peer's new certificate names another identity (SPIFFE ID)
    /// than the channel's peer; the channel closes (docs/protocol.md section 14.6).
    case peerIdentityChanged = 24
    /// Re-authentication: an A1 of another generation than the next one (a replayed
    /// old re-authentication request).
    case staleGeneration = 25
    /// The peer's SPIFFE ID is quarantined in this process (misbehaviour, or
    /// the shared quarantine list): refused without looking at the policy.
    case quarantined = 26

    public var description: String {
        switch self {
        case .truncated: "truncated"
        case .oversized: "oversized"
        case .malformed: "malformed"
        case .unsupportedVersion: "unsupportedVersion"
        case .unknownSuite: "unknownSuite"
        case .noCommonSuite: "noCommonSuite"
        case .unexpectedMessage: "unexpectedMessage"
        case .decryptFailed: "decryptFailed"
        case .badSignature: "badSignature"
        case .peerRejected: "peerRejected"
        case .policyDenied: "policyDenied"
        case .channelBindingMismatch: "channelBindingMismatch"
        case .reflectedMessage: "reflectedMessage"
        case .invalidPublicKey: "invalidPublicKey"
        case .timeout: "timeout"
        case .unknownSession: "unknownSession"
        case .sessionExpired: "sessionExpired"
        case .peerRevoked: "peerRevoked"
        case .localCredentialFailure: "localCredentialFailure"
        case .peerAborted: "peerAborted"
        case .localConfiguration: "localConfiguration"
        case .responderBindingMismatch: "responderBindingMismatch"
        case .sessionRoleMismatch: "sessionRoleMismatch"
        case .peerIdentityChanged: "peerIdentityChanged"
        case .staleGeneration: "staleGeneration"
        case .quarantined: "quarantined"
        }
    }
}

public struct HandshakeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: HandshakeErrorCode
    /// Human-readable detail; never parsed.
    public var detail: String
    /// For `.peerAborted`: the code the peer put in its Alert.
    public var remoteCode: HandshakeErrorCode?
    /// For `.peerRejected`: the verifier's reason (expired, untrusted issuer, ...).
    public var rejection: PeerRejection?

    public init(_ code: HandshakeErrorCode, _ detail: String = "", remoteCode: HandshakeErrorCode? = nil,
                rejection: PeerRejection? = nil) {
        self.code = code
        self.detail = detail
        self.remoteCode = remoteCode
        self.rejection = rejection
    }

    public var description: String {
        var s = "handshake failed: \(code)"
        if let remoteCode { s += " (peer says \(remoteCode))" }
        if !detail.isEmpty { s += ": \(detail)" }
        return s
    }
}
