import Synchronization

/// What a listener did with the connections it accepted: handed over to the
/// caller (a well-formed first message with a token), or refused, counted by
/// the refusal's code. Thread-safe, so a monitor can read it while the
/// listener waits in another thread.
public final class BootstrapMetrics: Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// TCP connections accepted, including those refused at once.
        public var connectionsAccepted: UInt64 = 0
        /// Clients whose first message passed every check and went to the caller.
        public var clientsHandedOver: UInt64 = 0
        /// Connections closed before a hand-over, by why.
        public var refused: [BootstrapError.Code: UInt64] = [:]

        public subscript(code: BootstrapError.Code) -> UInt64 { refused[code] ?? 0 }
        public var totalRefused: UInt64 { refused.values.reduce(0, +) }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public func snapshot() -> Snapshot { state.withLock { $0 } }

    func recordAccepted() { state.withLock { $0.connectionsAccepted += 1 } }
    func recordHandedOver() { state.withLock { $0.clientsHandedOver += 1 } }
    func recordRefused(_ code: BootstrapError.Code) { state.withLock { $0.refused[code, default: 0] += 1 } }
}
