import Foundation

/// Makes concurrent first connections to one listener wait for the first
/// full handshake instead of each running its own: NCCL opens channels x
/// peers connections between the same two processes at once, and without
/// this every one of them would find the client's ``SessionCache`` empty
/// and pay for certificates and Diffie-Hellman. With it, one full handshake
/// leaves a session and the rest resume from it.
///
/// A connection that finds a session proceeds at once. One without a session
/// leads (runs the full handshake) unless another is leading to the same
/// destination; then it waits until that one ends, or its own deadline
/// passes, and looks again: if the leader failed, the next waiter leads.
final class FirstContactGate: @unchecked Sendable {
    private let condition = NSCondition()
    /// Destinations with a full handshake in progress.
    private var leading: Set<String> = []

    /// Waits while another connection leads to `destination` and
    /// `hasSession` is false; returns whether the caller leads now (it must
    /// then call ``finished(_:)``). Past `deadline` the caller proceeds
    /// without waiting longer (and without leading: a second full handshake
    /// is only slower, not wrong).
    func enter(_ destination: String, deadline: ContinuousClock.Instant, hasSession: () -> Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !hasSession() && leading.contains(destination) {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return false }
            let seconds = Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
            _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
        }
        guard !hasSession() else { return false }
        leading.insert(destination)
        return true
    }

    /// The leader's handshake to `destination` ended, with or without a session.
    func finished(_ destination: String) {
        condition.lock()
        leading.remove(destination)
        condition.broadcast()
        condition.unlock()
    }
}
