import Synchronization

/// What a listener did with the connections it accepted: handed over to the
/// caller (a well-formed first message with a token), or refused, counted by
/// the refusal's code. Thread-safe, so a monitor can read it while the
/// listener waits in another thread.
public final class BootstrapMetrics: Sendable {
    /// The counts at one moment.
    public struct Snapshot: Sendable, Equatable {
        /// TCP connections accepted, including those refused at once.
        public var connectionsAccepted: UInt64 = 0
        /// Clients whose first message passed every check and went to the caller.
        public var clientsHandedOver: UInt64 = 0
        /// Connections closed before a hand-over, by why.
        public var refused: [BootstrapError.Code: UInt64] = [:]

        /// Connections refused with `code`.
        public subscript(code: BootstrapError.Code) -> UInt64 { refused[code] ?? 0 }
        /// Connections refused for any reason.
        public var totalRefused: UInt64 { refused.values.reduce(0, +) }

        /// No connections yet (a registry's total starts here).
        public init() {}
    }

    private let state = Mutex(Snapshot())

    public init() {}

    /// The counts now.
    public func snapshot() -> Snapshot { state.withLock { $0 } }

    func recordAccepted() { state.withLock { $0.connectionsAccepted += 1 } }
    func recordHandedOver() { state.withLock { $0.clientsHandedOver += 1 } }
    func recordRefused(_ code: BootstrapError.Code) { state.withLock { $0.refused[code, default: 0] += 1 } }
}
