import Synchronization

/// Counts handshake outcomes per reason; share one instance between all machines of a
/// process (thread-safe). Failures are counted once, by the side that detects them;
/// a received Alert counts as `.peerAborted` at the receiver.
public final class HandshakeCounters: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var fullCompleted: UInt64 = 0
        public var resumedCompleted: UInt64 = 0
        /// In-band re-authentications completed (each side counts its own; docs/protocol.md section 14).
        public var reauthenticationsCompleted: UInt64 = 0
        /// A1s of the losing side ignored when both ends started at once (section 14.5).
        public var reauthenticationCollisions: UInt64 = 0
        public var failures: [HandshakeErrorCode: UInt64] = [:]

        public subscript(code: HandshakeErrorCode) -> UInt64 { failures[code] ?? 0 }
        public var totalFailures: UInt64 { failures.values.reduce(0, +) }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public func snapshot() -> Snapshot { state.withLock { $0 } }

    func recordFailure(_ code: HandshakeErrorCode) {
        state.withLock { $0.failures[code, default: 0] += 1 }
    }

    func recordReauthentication() { state.withLock { $0.reauthenticationsCompleted += 1 } }

    func recordReauthenticationCollision() { state.withLock { $0.reauthenticationCollisions += 1 } }

    func recordCompletion(resumed: Bool) {
        state.withLock {
            if resumed { $0.resumedCompleted += 1 } else { $0.fullCompleted += 1 }
        }
    }
}
