import Handshake
import Identity
import Verbs

extension AuditEvent.Handshake {
    /// The event for one handshake on a connected QP: `outcome` is the
    /// negotiated suite and mode, or the error that refused it. `notes` is what
    /// the verifier recorded (the peer's leaf, its ID once verified, the policy
    /// decision). Made at the end of `AuthenticatedConnector.authenticate`, the
    /// one place every transport's handshake ends.
    static func make(
        role: ChannelBinding.Role, transport: Transport, credential: Credential, local: ChannelBinding,
        remote: ChannelBinding, resuming: Bool, notes: HandshakeAuditNotes.Notes,
        outcome: Result<(suite: CipherSuite, resumed: Bool), ChannelError>, duration: Duration
    ) -> AuditEvent.Handshake {
        let localEndpoint = AuditEvent.Endpoint(spiffeID: credential.spiffeID.description,
            certSHA256: credential.chainDER.first.map { Fingerprint(der: $0).description },
            qpn: local.qpn, gid: AuditEvent.gidText(local.gid), psn: local.psn)
        let peerEndpoint = AuditEvent.Endpoint(spiffeID: notes.peerID, certSHA256: notes.presentedLeaf,
            qpn: remote.qpn, gid: AuditEvent.gidText(remote.gid), psn: remote.psn)
        let (s, atto) = duration.components
        var event = AuditEvent.Handshake(outcome: .accepted, role: role == .initiator ? .initiator : .responder,
            mode: resuming ? .resumed : .full, transport: transport, local: localEndpoint, peer: peerEndpoint,
            policy: notes.decision.map(AuditEvent.PolicyDecision.init),
            durationMS: Double(s) * 1e3 + Double(atto) / 1e15)
        switch outcome {
        case .success(let keys):
            event.suite = "\(keys.suite)"
            event.mode = keys.resumed ? .resumed : .full
        case .failure(let error):
            event.outcome = .refused
            let why = error.auditReason
            event.reason = why.reason
            event.detail = why.detail
            event.peerReason = why.peerReason
            if case .handshake(let e) = error, e.code.isResumption { event.mode = .resumed }
        }
        return event
    }
}

extension AuditEvent {
    /// A 16-byte GID as IPv6 text.
    static func gidText(_ bytes: [UInt8]) -> String {
        Gid(bytes: bytes)?.description ?? bytes.map { String($0, radix: 16) }.joined(separator: ":")
    }
}

extension HandshakeErrorCode {
    /// Codes only a resumption (ResumeRequest) can end with.
    var isResumption: Bool {
        switch self {
        case .unknownSession, .sessionExpired, .peerRevoked, .responderBindingMismatch, .sessionRoleMismatch: true
        default: false
        }
    }
}

extension ChannelError {
    /// The audit trail's reason (snake_case, the metrics' label for handshake
    /// codes), its detail, and the reason a peer's alert gave.
    var auditReason: (reason: String, detail: String?, peerReason: String?) {
        switch self {
        case .handshake(let e):
            (SnakeCase.name(e.code), e.detail.isEmpty ? nil : e.detail, e.remoteCode.map { SnakeCase.name($0) })
        case .timedOut(let what): ("timeout", what, nil)
        case .verbs(let e): ("verbs_error", "\(e)", nil)
        case .bootstrap(let e): (SnakeCase.name(e.code), "\(e)", nil)
        case .protocolViolation(let what): ("protocol_violation", what, nil)
        case .rejected(let r, _): (SnakeCase.name(r), nil, nil)
        case .peerNoLongerValid(let why): ("peer_no_longer_valid", why, nil)
        default: ("error", "\(self)", nil)
        }
    }
}
