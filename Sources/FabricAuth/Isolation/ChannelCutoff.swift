import Synchronization

/// One channel's registration with a ``PeerQuarantine``: the switch another
/// thread throws to cut the channel off.
///
/// A channel is driven by one thread and may sit idle in nobody's hands, so
/// the quarantining thread does two things that are safe from any thread:
/// it moves the QP to ERROR (libibverbs is thread-safe, and the verb only
/// changes the QP's state: the peer sees the connection end at once and no
/// bound window of this QP can be reached any more, IB spec 10.6.7.2), and
/// it sets a flag that the owning thread reads (one relaxed-acquire load per
/// `send`/progress call, no lock, no allocation) to close the channel with
/// `ChannelError.peerQuarantined`.
final class ChannelCutoff: Sendable {
    let peer: String
    /// Moves the channel's QP to ERROR (a closure, so the quarantine is tested without a device).
    private let stop: @Sendable () -> Void
    private let cut = Atomic<Bool>(false)
    private let why = Mutex<String>("")

    init(peer: String, stop: @escaping @Sendable () -> Void) {
        self.peer = peer
        self.stop = stop
    }

    /// Whether the peer has been quarantined since the channel registered.
    @inline(__always)
    var isCut: Bool { cut.load(ordering: .acquiring) }

    /// Why (set before `isCut` turns true).
    var reason: String { why.withLock { $0 } }

    /// Cuts the channel off: from any thread, once is enough.
    func cutOff(_ reason: String) {
        let first = why.withLock { (current: inout String) -> Bool in
            guard current.isEmpty else { return false }
            current = reason
            return true
        }
        guard first else { return }
        cut.store(true, ordering: .releasing)
        stop()
    }
}
