import CIBVerbs

/// A shared receive queue (`ibv_create_srq`, IB spec 10.2.9): one pool of
/// receive buffers for many QPs. QPs using it hold it alive.
public final class SharedReceiveQueue: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_srq>
    public let pd: ProtectionDomain
    private let postStorage: WorkRequestStorage

    public init(pd: ProtectionDomain, maxRequests: Int = 256, maxScatterGather: Int = 4, maxChainLength: Int = 16) throws(VerbsError) {
        self.pd = pd
        var attr = ibv_srq_init_attr()
        attr.attr.max_wr = UInt32(maxRequests)
        attr.attr.max_sge = UInt32(maxScatterGather)
        pointer = try VerbsCall.pointer("ibv_create_srq", reason: "\(maxRequests) WRs") { ibv_create_srq(pd.pointer, &attr) }
        postStorage = WorkRequestStorage(chainCapacity: maxChainLength)
    }

    deinit {
        let rc = ibv_destroy_srq(pointer)
        assert(rc == 0, "ibv_destroy_srq: \(rc) (a QP still attached?)")
    }

    /// Arms the limit event (`ibv_modify_srq` with IBV_SRQ_LIMIT, IB spec
    /// 10.2.9.4): when fewer than `limit` receives remain, the device raises
    /// IBV_EVENT_SRQ_LIMIT_REACHED once (see `Context.nextAsyncEvent`), the
    /// cue to replenish. Must be below the number currently posted.
    public func armLimit(_ limit: Int) throws(VerbsError) {
        var attr = ibv_srq_attr()
        attr.srq_limit = UInt32(limit)
        try VerbsCall.check("ibv_modify_srq", .returnsErrno, reason: "srq_limit \(limit)") {
            ibv_modify_srq(pointer, &attr, Int32(IBV_SRQ_LIMIT.rawValue))
        }
    }

    public func post(_ request: ReceiveRequest) throws(VerbsError) {
        let wr = postStorage.encodeReceive(request, at: 0)
        var bad: UnsafeMutablePointer<ibv_recv_wr>?
        let rc = ibv_post_srq_recv(pointer, wr, &bad)
        if rc != 0 { throw WorkRequestStorage.postFailure("ibv_post_srq_recv", rc, failedIndex: 0, queueFull: .receiveQueueFull) }
    }
}
