import Foundation
import Identity

extension AuditLog {
    /// Records every quarantine `quarantine` starts, lifts or lets run out as a
    /// `quarantine` event (``PeerQuarantine/observe(_:at:)``), and first one
    /// `started` event for each quarantine already in force (a list entry
    /// applied before the log opened: the NCCL plug-in makes its quarantine
    /// before its log). On each of its ticks the writer asks the quarantine to
    /// drop what has run out, so an `expired` line follows the end of a
    /// quarantine within a tick even when no handshake looks at it. The log is
    /// held weakly. Call once per log and quarantine.
    public func recordQuarantines(of quarantine: PeerQuarantine) {
        let inForce = quarantine.observe { [weak self] change in
            _ = self?.record(.quarantine(AuditEvent.Quarantine(change)))
        }
        for entry in inForce { record(.quarantine(AuditEvent.Quarantine(PeerQuarantine.Change(action: .started, entry: entry)))) }
        register(QuarantineExpirySweep(quarantine))
    }
}

/// Asks a quarantine, on each tick of the audit writer, to drop the
/// quarantines whose time is over; their `expired` events reach the log
/// through its observer. Holds the quarantine weakly: once it is gone the
/// log forgets this.
final class QuarantineExpirySweep: AuditRateLimitedSource, @unchecked Sendable {
    // @unchecked: `quarantine` is a weak reference to a Sendable object, written only in init.
    private weak var quarantine: PeerQuarantine?

    init(_ quarantine: PeerQuarantine) { self.quarantine = quarantine }

    func takeDue(at now: AuditInstant) -> [AuditEvent] {
        quarantine?.expire(now: Date())
        return []
    }

    /// At close the log takes no more events: nothing to sweep.
    func takeAll(at now: AuditInstant) -> [AuditEvent] { [] }

    var isFinished: Bool { quarantine == nil }
}

extension AuditEvent.Quarantine {
    /// The event for one change: `origin` from the cause (`local` for what this
    /// process saw the peer do, `list_file`, `operator` for the API), `reason`
    /// the cause as `fabricauth_quarantine_events_total` labels it, `detail` the
    /// entry's own words.
    init(_ change: PeerQuarantine.Change) {
        let action: Action = switch change.action {
        case .started: .started
        case .lifted: .lifted
        case .expired: .expired
        }
        let origin: Origin = switch change.entry.cause {
        case .misbehaviour, .deniedHandshakes: .local
        case .listFile: .listFile
        case .manual: .operator
        }
        self.init(action: action, peerID: change.entry.id.description, origin: origin, reason: change.entry.cause.rawValue,
            detail: change.entry.reason.isEmpty ? nil : change.entry.reason,
            until: change.entry.until.map { AuditInstant.iso8601(wallNanoseconds: Int64($0.timeIntervalSince1970 * 1e9)) },
            channelsClosed: change.channelsClosed)
    }
}
