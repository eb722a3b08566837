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
    /// The credential the run under way presents; it becomes `presented` when the run completes.
    var pending: Credential?
    /// Why the run under way started; nil when the peer started it.
    var trigger: ReauthenticationSchedule.Reason?
    /// What the verifier learns during the run, for its audit event; nil without an audit log.
    var notes: HandshakeAuditNotes?
    /// Monotonic time of the next look at the triggers.
    var nextCheck: UInt64
    let checkInterval: UInt64
    /// Runs this side started, and runs completed (either side started them).
    private(set) var started: UInt64 = 0
    private(set) var completed: UInt64 = 0

    init(machine: ReauthenticationMachine, settings: ReauthenticationSettings, presenting credential: Credential,
         monotonicNow: UInt64) {
        self.machine = machine
        self.settings = settings
        self.schedule = ReauthenticationSchedule(ownLifetimeFraction: settings.ownLifetimeFraction,
            peerLifetimeFraction: settings.peerLifetimeFraction)
        self.presented = ReauthenticationSchedule.Validity(credential)
        self.checkInterval = TrustRecheckSchedule.nanoseconds(settings.checkInterval)
        self.nextCheck = monotonicNow &+ checkInterval
    }

    /// Whether the send path should poll now: a run is under way (its next
    /// message may be waiting), or the triggers are due for a look.
    @inline(__always)
    func needsService(_ now: UInt64) -> Bool { now >= nextCheck || machine.isRunning }

    /// A run starts presenting `credential`; `trigger` nil: the peer asked.
    func begin(presenting credential: Credential, trigger: ReauthenticationSchedule.Reason?, audited: Bool) {
        pending = credential
        self.trigger = trigger
        notes = audited ? HandshakeAuditNotes() : nil
        if trigger != nil { started += 1 }
    }

    /// The run completed: what it presented is now what the peer knows.
    func finish() {
        if let pending { presented = ReauthenticationSchedule.Validity(pending) }
        pending = nil
        completed += 1
    }
}

extension ReauthenticationSchedule.Validity {
    init(_ credential: Credential) {
        self.init(fingerprint: Fingerprint(der: credential.chainDER[0]).description,
            notBefore: credential.leaf.notValidBefore, notAfter: credential.leaf.notValidAfter)
    }

    init(_ workload: WorkloadIdentity) {
        self.init(fingerprint: workload.leafFingerprint.description, notBefore: workload.notBefore,
            notAfter: workload.notAfter)
    }
}
