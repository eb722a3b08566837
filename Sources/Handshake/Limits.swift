// All of the handshake's size and time limits, in one place (nebula's connection_state.go habit).
// The relations between them are checked by HandshakeTests' `LimitsAreConsistent`.

public enum HandshakeLimits {
    /// Largest handshake message accepted or produced, in bytes.
    public static let maxMessageSize = 24 * 1024
    /// Certificates in one chain (leaf first).
    public static let maxCertificateChainLength = 4
    /// One DER certificate.
    public static let maxCertificateSize = 4096
    /// One signature (Ed25519: 64; ECDSA P-256 DER: at most 72).
    public static let maxSignatureSize = 256
    /// Application payload (e.g. rkeys, memory-window keys) carried by M3, M4, R2, R3.
    public static let maxPayloadSize = 1024
    /// Suites offered in M1.
    public static let maxOfferedSuites = 8
    /// Handshake timeout if the configuration gives none.
    public static let defaultTimeout: Duration = .seconds(5)
    /// Upper bound on a session's resumption lifetime (also bounded by both certificates' notAfter).
    public static let defaultSessionLifetime: Duration = .seconds(3600)

    /// Bytes of fixed-size fields.
    public static let publicKeySize = 32
    public static let nonceSize = 32
    public static let sessionIDSize = 16
    public static let secretSize = 32
    public static let aeadTagSize = 16

    /// The largest M3 an honest peer can produce within the limits above; must fit maxMessageSize.
    public static let largestHonestMessage =
        2 /* header */ + 2 /* alg, count */
        + maxCertificateChainLength * (2 + maxCertificateSize)
        + 2 + maxSignatureSize + 2 + maxPayloadSize + aeadTagSize
}
