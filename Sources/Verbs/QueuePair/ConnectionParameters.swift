/// Path and retry parameters applied on INIT -> RTR -> RTS for RC
/// (IB spec 10.3.1, table 91; defaults follow rc_pingpong/perftest).
public struct ConnectionParameters: Sendable {
    /// nil: the smaller of both ports' active MTUs.
    public var pathMTU: Mtu? = nil
    /// Local ACK timeout, 4.096 µs × 2^timeout (IB spec 9.7.6.1.3); 14 ≈ 67 ms.
    public var timeout: UInt8 = 14
    /// Transport retries before IBV_WC_RETRY_EXC_ERR (3 bits, at most 7).
    public var retryCount: UInt8 = 7
    /// Receiver-not-ready retries (7 = infinite, IB spec 9.7.5.2.8).
    public var rnrRetry: UInt8 = 7
    /// RNR NAK timer code the responder advertises (12 ≈ 0.64 ms).
    public var minRNRTimer: UInt8 = 12
    /// Outstanding RDMA READ/atomic as initiator and as responder.
    public var maxReadAtomic: UInt8 = 4
    public var serviceLevel: UInt8 = 0
    public var hopLimit: UInt8 = 64
    public var trafficClass: UInt8 = 0

    public init() {}

    /// RC parameters for tests that expect a dead peer to be reported quickly.
    public static var shortRetry: ConnectionParameters {
        var p = ConnectionParameters()
        p.timeout = 12
        p.retryCount = 1
        p.rnrRetry = 1
        return p
    }
}
