/// Signature algorithms a certificate key may use. libsodium has no P-256, so signing
/// and verification are always injected; the handshake only carries this byte.
public struct SignatureAlgorithm: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let ed25519 = SignatureAlgorithm(rawValue: 1)
    public static let ecdsaP256SHA256 = SignatureAlgorithm(rawValue: 2)
}

/// This side's identity: a certificate chain (leaf first, DER) and its private key's signer.
public protocol HandshakeCredential: Sendable {
    var certificateChain: [[UInt8]] { get }
    var signatureAlgorithm: SignatureAlgorithm { get }
    /// The leaf's notAfter; bounds the lifetime of sessions this credential takes part in.
    var notAfter: Timestamp { get }
    /// Signs `message` with the leaf certificate's key.
    func sign(_ message: [UInt8]) throws -> [UInt8]
}

/// A peer whose chain the verifier accepted. Opaque to the handshake apart from these
/// members; the caller can downcast to its own type (e.g. Identity's verified certificate).
public protocol VerifiedPeer: Sendable {
    /// E.g. the SPIFFE ID from the leaf's URI SAN.
    var identity: String { get }
    /// Earliest notAfter along the chain.
    var notAfter: Timestamp { get }
    /// Whether `signature` over `message` verifies under the leaf's public key.
    func verifySignature(_ signature: [UInt8], over message: [UInt8], algorithm: SignatureAlgorithm) -> Bool
}

/// Why the verifier rejected a chain (kept apart from policy, swift-certificates' Verifier habit).
public struct PeerRejection: Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case expired, notYetValid, untrustedIssuer, revoked, malformed, other
    }
    public var reason: Reason
    public var detail: String
    public init(_ reason: Reason, _ detail: String = "") {
        self.reason = reason
        self.detail = detail
    }
    public var description: String { detail.isEmpty ? "\(reason)" : "\(reason): \(detail)" }
}

public enum PeerVerificationResult: Sendable {
    case verified(any VerifiedPeer)
    case rejected(PeerRejection)
}

public enum PolicyDecision: Sendable, Equatable {
    case allowed
    case denied(reason: String)
    /// The peer is quarantined (isolated for misbehaviour or by an operator):
    /// refused with `HandshakeErrorCode.quarantined`.
    case quarantined(reason: String)
}

/// Everything the handshake asks about the peer. The Identity module is adapted to this by glue code.
public protocol PeerVerifier: Sendable {
    /// Full handshake: verify the peer's chain (leaf first) at `now`.
    func verify(chain: [[UInt8]], at now: Timestamp) -> PeerVerificationResult
    /// Authorisation of an authenticated peer (nebula's firewall: separate from authentication).
    /// Also asked again on every resumption.
    func authorize(_ peer: any VerifiedPeer, at now: Timestamp) -> PolicyDecision
    /// Resumption: is this previously verified peer still valid at `now` (not revoked)?
    /// Expiry is checked by the handshake itself against the session's notAfter.
    func isStillValid(_ peer: any VerifiedPeer, at now: Timestamp) -> Bool
}
