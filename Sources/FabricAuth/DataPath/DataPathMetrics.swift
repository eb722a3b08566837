/// Counters of one sender or receiver, read as a value snapshot
/// (`sender.metrics`, `receiver.metrics`). Plain integers updated on the data
/// path without allocation or atomics (one owner thread).
public struct DataPathMetrics: Sendable, Equatable {
    /// Frames sealed (sender) and their payload bytes.
    public internal(set) var messagesSealed: UInt64 = 0
    public internal(set) var bytesSealed: UInt64 = 0
    /// Frames opened and delivered (receiver) and their payload bytes.
    public internal(set) var messagesOpened: UInt64 = 0
    public internal(set) var bytesOpened: UInt64 = 0
    /// Epoch changes: sender rekeys, or receiver promotions to the peer's next epoch.
    public internal(set) var rekeys: UInt64 = 0
    /// Of those, the switches to a re-authentication's new secret (sender:
    /// `switchSending`; receiver: `installReceiving`, docs/protocol.md 14.4).
    public internal(set) var reauthenticationSwitches: UInt64 = 0
    /// Previous-epoch keys the receiver wiped (grace over).
    public internal(set) var epochsRetired: UInt64 = 0
    /// Rejections by reason.
    public internal(set) var failures = FailureCounts()
    /// The library computing this direction's MAC (MACEngine; libsodium for
    /// ChaCha20-Poly1305), so a channel's metrics say which one ran.
    public internal(set) var macEngine: MACEngine = .libsodium

    public init() {}
}

/// Rejection counts indexed by RejectReason.
public struct FailureCounts: Sendable, Equatable, CustomStringConvertible {
    private var counts = InlineArray<16, UInt64>(repeating: 0)

    public init() {}

    public subscript(reason: RejectReason) -> UInt64 {
        get { counts[Int(reason.rawValue)] }
        set { counts[Int(reason.rawValue)] = newValue }
    }

    /// Sum over all reasons.
    public var total: UInt64 {
        var sum: UInt64 = 0
        for r in RejectReason.allCases { sum += self[r] }
        return sum
    }

    public static func == (a: FailureCounts, b: FailureCounts) -> Bool {
        for r in RejectReason.allCases where a[r] != b[r] { return false }
        return true
    }

    public var description: String {
        var parts: [String] = []
        for r in RejectReason.allCases where self[r] != 0 { parts.append("\(r): \(self[r])") }
        return "[" + parts.joined(separator: ", ") + "]"
    }
}
