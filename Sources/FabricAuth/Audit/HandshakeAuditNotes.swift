import Handshake
import Identity
import Synchronization

/// What the verifier learnt about the peer during one handshake, for its
/// audit event: the handshake machine reports only an error code when it
/// refuses, while the audit trail wants the certificate that was presented
/// and the policy rule that decided. ``CertificatePeerVerifier`` fills it in;
/// one instance per handshake.
final class HandshakeAuditNotes: Sendable {
    struct Notes {
        /// SHA-256 of the leaf the peer presented, verified or not.
        var presentedLeaf: String?
        /// The peer's SPIFFE ID, once its chain verified (or from the session when resuming).
        var peerID: String?
        var decision: Decision?
    }

    private let notes = Mutex(Notes())

    var current: Notes { notes.withLock { $0 } }

    func presented(chain: [[UInt8]]) {
        guard let leaf = chain.first else { return }
        let fingerprint = Fingerprint(der: leaf).description
        notes.withLock { $0.presentedLeaf = fingerprint }
    }

    func verified(_ workload: WorkloadIdentity) {
        notes.withLock {
            $0.peerID = workload.spiffeID.description
            $0.presentedLeaf = workload.leafFingerprint.description
        }
    }

    func decided(_ decision: Decision) {
        notes.withLock { $0.decision = decision }
    }
}

extension AuditEvent.PolicyDecision {
    init(_ decision: Decision) {
        self.init(decision: decision.allowed ? .allow : .deny, rule: decision.ruleName, version: decision.policyVersion,
            sha256: decision.policyHash)
    }
}
