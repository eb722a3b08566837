import Synchronization

/// What an ``AuthenticatedCMListener`` did with the connection requests it
/// received. Thread-safe, so a monitor can read it while `accept` waits.
public final class CMListenerMetrics: Sendable {
    /// The counts at one moment.
    public struct Snapshot: Sendable, Equatable {
        /// Connect requests received (rdma_cm CONNECT_REQUEST events).
        public var requests: UInt64 = 0
        /// Requests refused with rdma_reject because `maxPendingConnections`
        /// unauthenticated connections were already held.
        public var rejectedOverBound: UInt64 = 0
        /// Connections whose establishment or handshake outlived the
        /// per-connection deadline, then were torn down.
        public var timedOut: UInt64 = 0
        /// Connections whose establishment or handshake failed otherwise
        /// (garbage, a forged or refused peer, a verbs error), then were torn down.
        public var failed: UInt64 = 0
        /// Channels authenticated and handed to `accept`'s callers (or waiting for one).
        public var authenticated: UInt64 = 0

        public init() {}

        /// Connections torn down before authentication, for any reason.
        public var tornDown: UInt64 { timedOut + failed }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    /// The counts now.
    public func snapshot() -> Snapshot { state.withLock { $0 } }

    func recordRequest() { state.withLock { $0.requests += 1 } }
    func recordRejectedOverBound() { state.withLock { $0.rejectedOverBound += 1 } }
    func recordTimedOut() { state.withLock { $0.timedOut += 1 } }
    func recordFailed() { state.withLock { $0.failed += 1 } }
    func recordAuthenticated() { state.withLock { $0.authenticated += 1 } }
}
