import Foundation
import Handshake
import Identity

/// One channel's in-band re-authentication state (docs/protocol.md section
/// 14): the pure machine that runs the exchange, the reassembly of the
/// peer's fragments, the schedule of this side's own starts, and which leaf
/// this side last presented. The channel executes what the machine asks
/// (AuthenticatedQueuePair+Reauthentication.swift). One owner thread.
final class ChannelReauthentication {
    let machine: ReauthenticationMachine
    let settings: ReauthenticationSettings
    var reassembly = ReauthenticationReassembly()
    var schedule: ReauthenticationSchedule
    /// The leaf this side last presented to the peer (handshake or re-authentication).
    var presented: ReauthenticationSchedule.Validity
    /// The peer's leaf as last verified.
    var peerValidity: ReauthenticationSchedule.Validity
    /// The credential the run under way presents; it becomes `presented` when the run completes.
    var pending: Credential?
    /// Why the run under way started; nil when the peer started it.
    var trigger: ReauthenticationSchedule.Reason?
    /// What the verifier learns during the run, for its audit event; nil without an audit log.
    var notes: HandshakeAuditNotes?
    /// Monotonic time of the next look at the triggers.
    var nextCheck: UInt64
    let checkInterval: UInt64

    init(machine: ReauthenticationMachine, settings: ReauthenticationSettings, presenting credential: Credential,
         peer: WorkloadIdentity, monotonicNow: UInt64) {
        self.machine = machine
        self.settings = settings
        self.schedule = ReauthenticationSchedule(ownLifetimeFraction: settings.ownLifetimeFraction,
            peerLifetimeFraction: settings.peerLifetimeFraction)
        let now = Date()
        self.presented = ReauthenticationSchedule.Validity(credential, observed: now)
        self.peerValidity = ReauthenticationSchedule.Validity(peer, observed: now)
        self.checkInterval = TrustRecheckSchedule.nanoseconds(settings.checkInterval)
        self.nextCheck = monotonicNow &+ checkInterval
    }

    /// While a run is under way the channel looks this often (its deadline;
    /// from the send path, the peer's next message), instead of `checkInterval`.
    static let runPollInterval: UInt64 = 1_000_000

    /// Whether the triggers, or the run under way, are due for a look: one comparison.
    @inline(__always)
    func needsService(_ now: UInt64) -> Bool { now >= nextCheck }

    /// A run starts presenting `credential`; `trigger` nil: the peer asked.
    func begin(presenting credential: Credential, trigger: ReauthenticationSchedule.Reason?, audited: Bool) {
        pending = credential
        self.trigger = trigger
        notes = audited ? HandshakeAuditNotes() : nil
    }

    /// The run completed: what it presented is now what the peer knows, and
    /// `peer` is the peer's leaf just verified.
    func finish(peer: WorkloadIdentity) {
        let now = Date()
        if let pending { presented = ReauthenticationSchedule.Validity(pending, observed: now) }
        peerValidity = ReauthenticationSchedule.Validity(peer, observed: now)
        pending = nil
    }
}

extension ReauthenticationSchedule.Validity {
    /// A leaf's validity from when the channel `observed` it (presented or
    /// verified it) at the earliest: CAs backdate notBefore (ours by 60 s,
    /// CertificateAuthority.backdate) against clock skew, which would put
    /// the fractions of a short-lived leaf's lifetime in the past.
    init(_ credential: Credential, observed: Date) {
        self.init(fingerprint: credential.leafFingerprint,
            notBefore: max(credential.leaf.notValidBefore, observed), notAfter: credential.leaf.notValidAfter)
    }

    init(_ workload: WorkloadIdentity, observed: Date) {
        self.init(fingerprint: workload.leafFingerprint, notBefore: max(workload.notBefore, observed),
            notAfter: workload.notAfter)
    }
}
