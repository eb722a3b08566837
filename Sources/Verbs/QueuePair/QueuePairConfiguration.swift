/// Sizes and options of a new QP (`struct ibv_qp_init_attr`). Defaults suit
/// a small RC connection and fit within rxe's limits.
public struct QueuePairConfiguration: Sendable {
    public var transport: QueuePairTransport = .reliableConnection
    public var maxSendRequests: Int = 128
    public var maxReceiveRequests: Int = 128
    /// At most `ScatterGatherList.capacity` (4) are used per request by this layer.
    public var maxSendScatterGather: Int = 4
    public var maxReceiveScatterGather: Int = 4
    /// Bytes the device copies from the WQE instead of DMA-reading the buffer.
    /// The provider may grant more; `QueuePair.maxInlineData` says what it granted.
    public var maxInlineData: Int = 64
    /// When true every send request completes with a CQE; otherwise only
    /// those posted with `.signaled` (IB spec 10.8.3.1 "selective signaling").
    public var signalAll: Bool = false
    /// Port the QP is bound to (from 1).
    public var port: UInt8 = 1
    /// GID table index used as the source GID; nil picks `GidSelection.defaultEntry`.
    public var gidIndex: Int? = nil
    /// Q_Key for UD (IB spec 10.2.4); ignored for RC.
    public var qkey: UInt32 = 0x1111_1111
    /// Responder rights for RC (remote write/read/atomic).
    public var accessFlags: AccessFlags = [.localWrite, .remoteWrite, .remoteRead]
    /// The initial send PSN (24 bits); nil draws a random one, which is what
    /// production code wants. Fixed values are for tests and reproductions.
    public var initialPSN: UInt32? = nil
    /// The longest chain one `post` call accepts; the QP preallocates WR and SGE storage for it.
    public var maxChainLength: Int = 16

    public init() {}

    public init(transport: QueuePairTransport) { self.transport = transport }
}
