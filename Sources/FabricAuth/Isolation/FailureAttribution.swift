import Handshake

/// Who a failure is proven to have come from: the one question that decides
/// between isolating a peer and raising an alarm.
///
/// Only what arrived under a verified MAC, or a signature over the
/// handshake transcript, is the peer's doing. A frame that fails its MAC, a
/// replay of an old authentic frame, a notice naming no window (matched
/// before its MAC is checked) -- anyone on the fabric can send those with
/// the victim's QPN and PSN (ReDMArk, USENIX Security 2021, section 5), so
/// quarantining the peer for them would let an attacker isolate honest
/// nodes. They raise a fabric-under-attack alarm instead.
public enum FailureAttribution: Sendable, Equatable, CustomStringConvertible {
    /// An authentic message of the peer broke the protocol: grounds to quarantine it.
    case peerMisbehaviour
    /// Unauthenticated, anyone on the fabric could have sent it: alarm, never quarantine.
    case fabricAlarm
    /// Neither: this side's own state (a session already closed).
    case local

    public var description: String {
        switch self {
        case .peerMisbehaviour: "peer misbehaviour"
        case .fabricAlarm: "fabric alarm"
        case .local: "local"
        }
    }
}

extension RejectReason {
    /// Every rejected frame failed a check made before, or in place of, a
    /// verified MAC (DataPathReceiver's order: window, then MAC, then window
    /// move), so none of them is proven to be the peer's.
    public var attribution: FailureAttribution {
        switch self {
        case .sessionClosed: .local
        case .truncated, .oversized, .malformedHeader, .wrongDirection, .wrongQPN, .unknownEpoch, .retiredEpoch,
             .sequenceLimit, .replayed, .tooOld, .badTag, .unknownTarget:
            .fabricAlarm
        }
    }
}

extension RendezvousViolation {
    /// Violations are raised only for control messages whose MAC verified
    /// (AuthenticatedQueuePair+Receive.swift, `dispatchControl`): the peer's own.
    var attribution: FailureAttribution { .peerMisbehaviour }
}

extension HandshakeErrorCode {
    /// Only a policy denial follows proof of identity (the transcript
    /// signature is checked before authorisation); it counts towards the
    /// denied-handshake threshold (`PeerQuarantine.Configuration`). A bad
    /// certificate, tag or binding in a handshake proves nothing about who
    /// sent it, and a handshake refused for a quarantine is not counted again.
    public var attribution: FailureAttribution {
        switch self {
        case .policyDenied: .peerMisbehaviour
        case .quarantined, .localConfiguration, .localCredentialFailure, .timeout: .local
        default: .fabricAlarm
        }
    }
}
