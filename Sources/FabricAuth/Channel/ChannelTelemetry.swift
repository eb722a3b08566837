import Handshake
import Identity
import Synchronization

/// A copy of one channel's counters that another thread may read while the
/// channel runs (a metrics scrape).
///
/// The channel's own counters (`DataPathMetrics`, `RemoteAccessMetrics`) are
/// plain integers of its one owner thread. After each message the channel
/// stores the few that changed here with relaxed atomic stores (no lock, no
/// allocation, no read-modify-write: one writer), and all of them when it
/// rejects a frame or closes. A reader sees each counter at some value the
/// channel had; the counters only grow.
public final class ChannelTelemetry: Sendable {
    /// The negotiated MAC and the library computing it.
    public let suite: CipherSuite
    public let macEngine: MACEngine
    /// Whether the channel's keys came from a resumed session.
    public let resumed: Bool

    /// The counters at one moment.
    public struct Snapshot: Sendable, Equatable {
        public var messagesSealed: UInt64 = 0
        public var bytesSealed: UInt64 = 0
        public var messagesOpened: UInt64 = 0
        public var bytesOpened: UInt64 = 0
        /// Sender rekeys, and receiver promotions to the peer's next epoch.
        public var rekeysSent: UInt64 = 0
        public var rekeysReceived: UInt64 = 0
        /// Authentic control messages that broke the WRITE/READ protocol.
        public var protocolViolations: UInt64 = 0
        /// Frames refused by reason.
        public var rejections = FailureCounts()

        public init() {}

        /// Adds `other`'s counters to these (folding a closed channel into a total).
        public mutating func add(_ other: Snapshot) {
            messagesSealed &+= other.messagesSealed
            bytesSealed &+= other.bytesSealed
            messagesOpened &+= other.messagesOpened
            bytesOpened &+= other.bytesOpened
            rekeysSent &+= other.rekeysSent
            rekeysReceived &+= other.rekeysReceived
            protocolViolations &+= other.protocolViolations
            for r in RejectReason.allCases { rejections[r] &+= other.rejections[r] }
        }
    }

    private let messagesSealed = Atomic<UInt64>(0)
    private let bytesSealed = Atomic<UInt64>(0)
    private let messagesOpened = Atomic<UInt64>(0)
    private let bytesOpened = Atomic<UInt64>(0)
    private let rekeysSent = Atomic<UInt64>(0)
    private let rekeysReceived = Atomic<UInt64>(0)
    private let protocolViolations = Atomic<UInt64>(0)
    /// 1 + the index in ``trustClosureReasons`` of why trust closed the channel; 0: it did not.
    private let trustClosure = Atomic<UInt8>(0)
    /// Indexed by `RejectReason.rawValue`, as `FailureCounts`.
    private let rejections = InlineArray<16, Atomic<UInt64>> { _ in Atomic<UInt64>(0) }

    public init(suite: CipherSuite, macEngine: MACEngine, resumed: Bool) {
        self.suite = suite
        self.macEngine = macEngine
        self.resumed = resumed
    }

    /// Publishes the sending half's traffic counters (after each seal).
    @inline(__always)
    func publishSent(_ m: borrowing DataPathMetrics) {
        messagesSealed.store(m.messagesSealed, ordering: .relaxed)
        bytesSealed.store(m.bytesSealed, ordering: .relaxed)
        rekeysSent.store(m.rekeys, ordering: .relaxed)
    }

    /// Publishes the receiving half's traffic counters (after each delivery).
    @inline(__always)
    func publishOpened(_ m: borrowing DataPathMetrics) {
        messagesOpened.store(m.messagesOpened, ordering: .relaxed)
        bytesOpened.store(m.bytesOpened, ordering: .relaxed)
        rekeysReceived.store(m.rekeys, ordering: .relaxed)
    }

    /// Publishes every counter: after a rejection, at close, and from tests
    /// that drive a `DataPathSender`/`DataPathReceiver` pair without a channel.
    public func publish(sender: DataPathMetrics, receiver: DataPathMetrics, protocolViolations violations: UInt64 = 0) {
        publishSent(sender)
        publishOpened(receiver)
        protocolViolations.store(violations, ordering: .relaxed)
        for r in RejectReason.allCases {
            rejections[Int(r.rawValue)].store(receiver.failures[r], ordering: .relaxed)
        }
    }

    /// The `reason` labels of channels closed because their peer no longer
    /// passed (``PeerInvalidation/label``).
    public static let trustClosureReasons = ["expired", "revoked", "untrusted", "policy"]

    /// Records why a trust recheck closed the channel (once, before close).
    func recordTrustClosure(_ invalidation: PeerInvalidation) {
        let index = Self.trustClosureReasons.firstIndex(of: invalidation.label) ?? 0
        trustClosure.store(UInt8(index + 1), ordering: .relaxed)
    }

    /// Why a trust recheck closed the channel (a ``trustClosureReasons``
    /// label), nil if none did.
    public var trustClosureReason: String? {
        let v = Int(trustClosure.load(ordering: .relaxed))
        return v == 0 ? nil : Self.trustClosureReasons[v - 1]
    }

    /// The counters now.
    public func snapshot() -> Snapshot {
        var s = Snapshot()
        s.messagesSealed = messagesSealed.load(ordering: .relaxed)
        s.bytesSealed = bytesSealed.load(ordering: .relaxed)
        s.messagesOpened = messagesOpened.load(ordering: .relaxed)
        s.bytesOpened = bytesOpened.load(ordering: .relaxed)
        s.rekeysSent = rekeysSent.load(ordering: .relaxed)
        s.rekeysReceived = rekeysReceived.load(ordering: .relaxed)
        s.protocolViolations = protocolViolations.load(ordering: .relaxed)
        for r in RejectReason.allCases { s.rejections[r] = rejections[Int(r.rawValue)].load(ordering: .relaxed) }
        return s
    }
}

/// Told of every channel's life and every handshake's outcome, for a
/// process-wide view (FabricAuthMetrics' registry). Set it in
/// `ChannelConfiguration.observer`. Called on the thread that sets up or
/// closes a channel, never per message; implementations must be thread-safe
/// and quick.
public protocol ChannelObserver: AnyObject, Sendable {
    /// A channel finished its handshake and will publish into `telemetry`.
    func channelOpened(_ telemetry: ChannelTelemetry)
    /// The channel closed (or was released without `close()`); `telemetry`
    /// holds its final counters and is not written again.
    func channelClosed(_ telemetry: ChannelTelemetry)
    /// A handshake produced keys, `duration` after it started on the connected QP.
    func handshakeCompleted(resumed: Bool, duration: Duration)
    /// A frame failed verification (FabricAlarm.swift): count it; called for
    /// every rejected frame, on the channel's thread.
    func fabricAlarm(_ alarm: FabricAlarm)
}

extension ChannelObserver {
    /// A frame failed verification on a channel (never the peer's proven
    /// doing); the default ignores it.
    public func fabricAlarm(_ alarm: FabricAlarm) {}
}

