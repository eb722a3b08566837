/// Counters of the RDMA WRITE/READ path of one channel (the MAC counters are
/// in the sender's and receiver's DataPathMetrics, which include these
/// messages).
public struct RemoteAccessMetrics: Sendable, Equatable {
    /// WRITEs posted by `isend` and completed.
    public internal(set) var writesSent: UInt64 = 0
    /// WRITEs into granted windows that verified and were delivered.
    public internal(set) var writesReceived: UInt64 = 0
    /// READs of offered windows that verified.
    public internal(set) var readsCompleted: UInt64 = 0
    /// Offers whose reader reported done.
    public internal(set) var readsServed: UInt64 = 0
    /// Windows bound and invalidated (each transfer binds one and invalidates it).
    public internal(set) var windowsBound: UInt64 = 0
    public internal(set) var windowsInvalidated: UInt64 = 0
    /// Authentic control messages that broke the protocol (the channel closed).
    public internal(set) var protocolViolations: UInt64 = 0

    public init() {}
}
