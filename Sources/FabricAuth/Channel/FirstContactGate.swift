import Synchronization

/// Makes concurrent first connections to one listener wait for the first
/// full handshake instead of each running its own: NCCL opens channels x
/// peers connections between the same two processes at once, and without
/// this every one of them would find the client's ``SessionCache`` empty
/// and pay for certificates and Diffie-Hellman. With it, one full handshake
/// leaves a session and the rest resume from it.
///
/// A connection that finds a session proceeds at once. One without a session
/// leads (runs the full handshake) unless another is leading to the same
/// destination; then it waits (``ConnectorSetup`` asks again at its next
/// step) until that one ends: if the leader failed, the next to ask leads.
final class FirstContactGate: Sendable {
    enum Entry {
        /// A session is there: resume.
        case proceed
        /// No session and nobody leading: run the full handshake, then call ``finished(_:)``.
        case lead
        /// Another connection is running the full handshake to this destination.
        case wait
    }

    /// Destinations with a full handshake in progress.
    private let leading = Mutex<Set<String>>([])

    func tryEnter(_ destination: String, hasSession: () -> Bool) -> Entry {
        leading.withLock { leading in
            if hasSession() { return .proceed }
            if leading.contains(destination) { return .wait }
            leading.insert(destination)
            return .lead
        }
    }

    /// The leader's handshake to `destination` ended, with or without a session.
    func finished(_ destination: String) {
        _ = leading.withLock { $0.remove(destination) }
    }
}
