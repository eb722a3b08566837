import Dispatch
import Foundation
import Handshake
import Identity

/// Answers the handshake's questions about a peer with FabricAuth's identity
/// layer: chain verification and revocation (``IdentityVerifier``), then
/// authorisation by SPIFFE ID (``Policy``), kept as two separate steps.
///
/// Every decision is reported to `log` with its reason, so an operator can see
/// why a peer was refused without turning on debugging.
public struct CertificatePeerVerifier: PeerVerifier {
    public let verifier: IdentityVerifier
    public let policy: Policy
    /// This endpoint's own SPIFFE ID, for policy rules with a local selector (nil: such rules never match).
    public let localID: SPIFFEID?
    public let log: (@Sendable (String) -> Void)?
    /// Where this handshake's audit event learns the presented leaf, the
    /// verified ID and the policy decision (AuthenticatedConnector.authenticate).
    var auditNotes: HandshakeAuditNotes?
    /// Refuses quarantined peers before the policy is asked, and counts the
    /// policy's denials towards its threshold; nil: no isolation.
    public let quarantine: PeerQuarantine?

    public init(verifier: IdentityVerifier, policy: Policy, localID: SPIFFEID? = nil,
                quarantine: PeerQuarantine? = nil, log: (@Sendable (String) -> Void)? = nil) {
        self.verifier = verifier
        self.policy = policy
        self.localID = localID
        self.quarantine = quarantine
        self.log = log
    }

    public func verify(chain: [[UInt8]], at now: Timestamp) -> PeerVerificationResult {
        // The handshake machine is synchronous (bytes in, bytes out) while
        // swift-certificates' verifier is async. Connection setup may run inside a Task,
        // on a thread of the cooperative pool, so the verification runs on this thread
        // instead of blocking it while another thread does the work (see CallingThreadExecutor).
        auditNotes?.presented(chain: chain)
        let result = Self.runToCompletion { [verifier] in await verifier.verify(chain: chain, at: now.date) }
        switch result {
        case .verified(let workload):
            auditNotes?.verified(workload)
            log?("peer \(workload.spiffeID): certificate chain verified")
            return .verified(VerifiedWorkload(workload: workload))
        case .rejected(let rejection):
            log?("peer rejected: \(rejection.rule): \(rejection)")
            return .rejected(PeerRejection(Self.reason(of: rejection), "\(rejection.rule): \(rejection)"))
        }
    }

    public func authorize(_ peer: any VerifiedPeer, at now: Timestamp) -> PolicyDecision {
        guard let peer = peer as? VerifiedWorkload else {
            return .denied(reason: "peer was not verified by FabricAuth's certificate verifier")
        }
        // Asked after the transcript signature verified (full handshake) or
        // on resumption with a session only this peer holds: the identity is
        // proven, so a quarantine applies and a denial counts against it.
        let id = peer.workload.spiffeID
        auditNotes?.verified(peer.workload)
        if let entry = quarantine?.entry(for: id, at: now.date) {
            log?("peer \(id): quarantined: \(entry.reason)")
            return .quarantined(reason: entry.reason)
        }
        let decision = policy.decide(local: localID, peer: id)
        auditNotes?.decided(decision)
        log?("peer \(id): \(decision)")
        if decision.allowed { return .allowed }
        quarantine?.recordDeniedHandshake(id, reason: decision.reason, now: now.date)
        return .denied(reason: decision.reason)
    }

    public func isStillValid(_ peer: any VerifiedPeer, at now: Timestamp) -> Bool {
        guard let peer = peer as? VerifiedWorkload else { return false }
        auditNotes?.verified(peer.workload)
        if let rejection = verifier.recheck(peer.workload, at: now.date) {
            log?("peer \(peer.workload.spiffeID) no longer valid: \(rejection.rule): \(rejection)")
            return false
        }
        return true
    }

    static func reason(of rejection: Rejection) -> PeerRejection.Reason {
        switch rejection {
        case .expired: .expired
        case .notYetValid: .notYetValid
        case .revoked, .anchorRemoved: .revoked
        case .untrusted, .wrongTrustDomain: .untrustedIssuer
        case .emptyChain, .malformedCertificate, .chainLoop, .chainTooLong: .malformed
        default: .other
        }
    }

    private static func runToCompletion<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        if #available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, visionOS 2.0, *) {
            return CallingThreadExecutor.run(body)
        }
        // Task executors (SE-0417) need macOS 15. Before it, the verification runs on the
        // global executor while this thread waits: this can deadlock if every cooperative
        // thread is blocked here, so on those systems call connection setup off the pool.
        let box = AsyncResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}
