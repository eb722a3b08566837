import Foundation

/// Why a peer that passed its handshake no longer passes: the reason a live channel is
/// closed with when trust changes under it (``PeerInvalidation/evaluate(_:verifier:policy:localID:at:)``).
/// ``description`` starts with the fixed phrase operators and tests match on.
public enum PeerInvalidation: Sendable, Equatable, CustomStringConvertible {
    /// The peer's leaf is past its notAfter (or, after a clock step, before its notBefore).
    case certificateExpired(String)
    /// The leaf or a CA in its chain is on the deny list.
    case revoked(String)
    /// The CA the chain ended at left the trust bundle, or its trust domain has no bundle now.
    case caNoLongerTrusted(String)
    /// The policy in force now denies the peer's SPIFFE ID.
    case policyDenies(String)

    /// A short stable name, for the `reason` label of closure metrics.
    public var label: String {
        switch self {
        case .certificateExpired: "expired"
        case .revoked: "revoked"
        case .caNoLongerTrusted: "untrusted"
        case .policyDenies: "policy"
        }
    }

    public var description: String {
        switch self {
        case .certificateExpired(let why): "peer certificate expired: \(why)"
        case .revoked(let why): "peer certificate revoked: \(why)"
        case .caNoLongerTrusted(let why): "CA no longer trusted: \(why)"
        case .policyDenies(let why): "policy denies peer: \(why)"
        }
    }

    /// Re-evaluates a peer verified earlier against the trust in force now: its leaf's
    /// validity at `time` (with the verifier's clock-skew tolerance), its anchor still in the
    /// bundle of its trust domain, nothing in its chain revoked
    /// (``IdentityVerifier/recheck(_:at:)``), then the policy. Nil: the peer still passes.
    /// No signature is re-verified: nothing the peer presented has changed, only the trust.
    public static func evaluate(
        _ peer: WorkloadIdentity, verifier: IdentityVerifier, policy: Policy, localID: SPIFFEID?, at time: Date
    ) -> PeerInvalidation? {
        if let rejection = verifier.recheck(peer, at: time) {
            let why = "\(rejection.rule): \(rejection)"
            switch rejection {
            case .expired, .notYetValid: return .certificateExpired(why)
            case .revoked: return .revoked(why)
            default: return .caNoLongerTrusted(why)
            }
        }
        guard !policy.allows(local: localID, peer: peer.spiffeID) else { return nil }
        let decision = policy.decide(local: localID, peer: peer.spiffeID)
        // Which policy version denied it travels with the close reason (audit `channel_closed` detail).
        return .policyDenies(decision.reason + decision.provenance)
    }
}
