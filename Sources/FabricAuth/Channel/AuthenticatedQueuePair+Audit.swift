import Verbs

// What a channel tells its audit log (Audit/ChannelAudit.swift) besides
// rejections: receive-side epoch changes, noticed after each delivery, and
// its close.
extension AuthenticatedQueuePair {
    /// After each delivered message: the receive counters for a scrape, and
    /// an `epoch_change` event when the peer's next epoch was promoted (an
    /// integer comparison per message; the event is made once per epoch).
    @inline(__always)
    func opened() {
        telemetry?.publishOpened(receiver.metrics)
        if let audit, receiver.epoch != audit.receiveEpoch {
            audit.receiveEpoch = receiver.epoch
            audit.epochChanged(.receive, to: receiver.epoch)
        }
    }

    /// Records the close (once) with the QP's state before it is moved to ERROR.
    func auditClose(_ reason: AuditEvent.ChannelClosed.Reason, detail: String?) {
        guard let audit else { return }
        audit.closed(reason, detail: detail, qpState: try? queuePair.state(), sent: sender.metrics, received: receiver.metrics)
    }
}
