import Synchronization

/// Counts handshake outcomes per reason; share one instance between all machines of a
/// process (thread-safe). Failures are counted once, by the side that detects them;
/// a received Alert counts as `.peerAborted` at the receiver.
public final class HandshakeCounters: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var fullCompleted: UInt64 = 0
        public var resumedCompleted: UInt64 = 0
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

    func recordCompletion(resumed: Bool) {
        state.withLock {
            if resumed { $0.resumedCompleted += 1 } else { $0.fullCompleted += 1 }
        }
    }
}
