import Handshake
import Identity
import Verbs

/// One channel's link to the audit log: who it is between (for every event
/// about it), its rate limits for rejected frames and fabric alarms, and what
/// its close reports.
/// Used by the channel's one thread; the rate limiter inside is shared with
/// the log's writer.
final class ChannelAudit {
    let log: AuditLog
    /// Who the channel is between; the peer's certificate changes with each re-authentication.
    private(set) var channel: AuditEvent.Channel
    let rejections: RateLimitedAudit<RejectReason>
    /// The rejections that raised a fabric alarm (bad tags, replays: forgeable
    /// by an injector), as `fabric_under_attack` events under the same rate
    /// limit, so a flood of forgeries costs at most one line per interval.
    let alarms: RateLimitedAudit<RejectReason>
    /// Monotonic time the channel opened.
    let opened: UInt64
    /// The receive epoch last reported.
    var receiveEpoch: UInt32 = 0
    /// Set by `tearDown` before it closes: why.
    var closeReason: (AuditEvent.ChannelClosed.Reason, String?)?
    private(set) var reportedClose = false

    init(log: AuditLog, localID: SPIFFEID, peer: WorkloadIdentity, local: ChannelBinding, remote: ChannelBinding,
         failurePolicy: FailurePolicy) {
        self.log = log
        let channel = AuditEvent.Channel(localID: localID.description, peerID: peer.spiffeID.description,
            peerCertSHA256: peer.leafFingerprint.description, localQPN: local.qpn, localGID: AuditEvent.gidText(local.gid),
            peerQPN: remote.qpn, peerGID: AuditEvent.gidText(remote.gid))
        self.channel = channel
        let policy = failurePolicy == .fatal ? "fatal" : "drop_and_count"
        rejections = RateLimitedAudit(log: log) { report, _ in
            .rejectedFrames(AuditEvent.RejectedFrames(channel: channel,
                counts: AuditEvent.counts(report) { SnakeCase.name($0) }, total: report.total,
                windowStart: report.start.iso8601, windowEnd: report.end.iso8601, failurePolicy: policy))
        }
        alarms = RateLimitedAudit(log: log) { report, _ in
            .fabricUnderAttack(AuditEvent.FabricUnderAttack(channel: channel,
                counts: AuditEvent.counts(report) { SnakeCase.name($0) }, total: report.total,
                windowStart: report.start.iso8601, windowEnd: report.end.iso8601))
        }
        opened = ChannelClock.monotonicNanoseconds()
    }

    /// A re-authentication verified the peer's new leaf: later events name it.
    func peerCertificateChanged(to sha256: String) {
        channel.peerCertSHA256 = sha256
    }

    func rejected(_ reason: RejectReason) {
        rejections.record(reason)
    }

    /// A rejection that raised a fabric alarm (`FabricAlarm`): counted towards the next `fabric_under_attack` event.
    func fabricAlarm(_ reason: RejectReason) {
        alarms.record(reason)
    }

    func epochChanged(_ direction: AuditEvent.EpochChange.Direction, to epoch: UInt32) {
        log.record(.epochChange(AuditEvent.EpochChange(channel: channel, direction: direction, epoch: epoch)))
    }

    /// The channel closed; `qpState` is what the device reported just before.
    func closed(_ reason: AuditEvent.ChannelClosed.Reason, detail: String?, qpState: QueuePairState?,
                sent: DataPathMetrics, received: DataPathMetrics) {
        guard !reportedClose else { return }
        reportedClose = true
        let open = Double(ChannelClock.monotonicNanoseconds() &- opened) / 1e9
        log.record(.channelClosed(AuditEvent.ChannelClosed(channel: channel, reason: reason, detail: detail,
            qpState: qpState.map { "\($0)".lowercased() }, messagesSealed: sent.messagesSealed,
            messagesOpened: received.messagesOpened, framesRejected: received.failures.total, openSeconds: open)))
        rejections.finish()
        alarms.finish()
    }
}

extension ChannelError {
    /// Why a channel that fails with this error closes, for its audit event.
    var closeReason: AuditEvent.ChannelClosed.Reason {
        switch self {
        case .rejected: .rejectedFrame
        case .protocolViolation: .protocolViolation
        case .peerNoLongerValid: .peerNoLongerValid
        case .reauthenticationFailed: .reauthenticationFailed
        case .peerQuarantined: .quarantined
        default: .error
        }
    }
}
