import CIBVerbs

/// A QP that reached RTS: the data path. Posting encodes requests into
/// storage the QP preallocated, so a post allocates nothing.
///
/// Errors on the wire (remote access error, retry exceeded) come back as
/// failed completions and move the QP to ERR; `state()` reports it and
/// `reset()` takes it back to RESET as a new `PreparedQueuePair` (IB spec
/// 10.3.1: any state -> RESET). After `reset()` this object is retired and
/// every post on it throws `.queuePairRetired`.
///
/// One thread posts to a QP at a time (as libibverbs expects per QP).
public final class QueuePair: @unchecked Sendable {
    let handle: QueuePairHandle
    /// The peer this RC QP is connected to (nil for UD and rdma_cm QPs).
    public let remote: QueuePairEndpoint?
    private var retired = false

    init(handle: QueuePairHandle, remote: QueuePairEndpoint?) {
        self.handle = handle
        self.remote = remote
    }

    public var number: UInt32 { handle.number }
    public var transport: QueuePairTransport { handle.transport }
    public var maxInlineData: Int { handle.maxInlineData }
    public var maxChainLength: Int { handle.storage.chainCapacity }
    public var protectionDomain: ProtectionDomain { handle.pd }
    public var sendCompletionQueue: CompletionQueue { handle.sendCompletionQueue }
    public var receiveCompletionQueue: CompletionQueue { handle.receiveCompletionQueue }

    /// The state the device reports now (`ibv_query_qp`).
    public func state() throws(VerbsError) -> QueuePairState { try handle.queryState() }


    /// Forces the QP into ERR (IB spec 10.3.1: allowed from any state):
    /// outstanding requests complete with IBV_WC_WR_FLUSH_ERR.
    public func moveToError() throws(VerbsError) {
        var attr = ibv_qp_attr()
        let from = try handle.queryState()
        try handle.modify(from: from, to: .error, &attr, [.state])
    }

    /// Changes what the peer may do to memory through this QP (RTS -> RTS with
    /// IBV_QP_ACCESS_FLAGS, IB spec 11.2.3.2 / table 91 optional attribute).
    /// The responder checks these rights before any memory key (rxe:
    /// check_op_valid), so a QP created with none can be opened to RDMA WRITE
    /// or READ later -- after its peer has been authenticated.
    public func setAccessFlags(_ flags: AccessFlags) throws(VerbsError) {
        try checkLive()
        var attr = ibv_qp_attr()
        attr.qp_access_flags = flags.rawValue
        try handle.modify(from: .readyToSend, to: .readyToSend, &attr, [.state, .accessFlags])
    }

    /// What the peer may do to memory through this QP now (`ibv_query_qp`
    /// with IBV_QP_ACCESS_FLAGS).
    public func accessFlags() throws(VerbsError) -> AccessFlags {
        var attr = ibv_qp_attr()
        var initAttr = ibv_qp_init_attr()
        try VerbsCall.check("ibv_query_qp", .returnsErrno) {
            ibv_query_qp(handle.pointer, &attr, Int32(IBV_QP_ACCESS_FLAGS.rawValue), &initAttr)
        }
        return AccessFlags(rawValue: attr.qp_access_flags)
    }

    /// Takes the QP back to RESET and returns it prepared for a new
    /// connection (a fresh random PSN). This object is retired.
    public func reset() throws(VerbsError) -> PreparedQueuePair {
        try checkLive()
        try handle.reset()
        retired = true
        return try PreparedQueuePair(handle: handle)
    }

    @inline(__always)
    func checkLive(file: String = #fileID, line: UInt = #line) throws(VerbsError) {
        if retired {
            throw VerbsError(.queuePairRetired, function: "ibv_post_send",
                reason: "QP \(handle.number) was reset; use the PreparedQueuePair reset() returned", file: file, line: line)
        }
    }

    // MARK: Send

    /// Posts one send request.
    @inline(__always)
    public func post(_ request: SendRequest) throws(VerbsError) {
        try checkLive()
        try checkInline(request)
        let wr = handle.storage.encodeSend(request, at: 0)
        wr.pointee.next = nil
        var bad: UnsafeMutablePointer<ibv_send_wr>?
        let rc = ibv_post_send(handle.pointer, wr, &bad)
        if rc != 0 { throw WorkRequestStorage.postFailure("ibv_post_send", rc, failedIndex: 0, queueFull: .sendQueueFull) }
    }

    /// Posts a chain of send requests with one `ibv_post_send` (one doorbell).
    /// On failure the error names the first refused request; earlier ones were posted.
    public func post(chain requests: UnsafeBufferPointer<SendRequest>) throws(VerbsError) {
        try checkLive()
        guard !requests.isEmpty else { return }
        precondition(requests.count <= maxChainLength, "chain of \(requests.count) exceeds maxChainLength \(maxChainLength)")
        for (i, r) in requests.enumerated() {
            try checkInline(r)
            let wr = handle.storage.encodeSend(r, at: i)
            wr.pointee.next = i + 1 < requests.count ? handle.storage.send + (i + 1) : nil
        }
        var bad: UnsafeMutablePointer<ibv_send_wr>?
        let rc = ibv_post_send(handle.pointer, handle.storage.send, &bad)
        if rc != 0 {
            let index = bad.map { $0 - handle.storage.send } ?? 0
            throw WorkRequestStorage.postFailure("ibv_post_send", rc, failedIndex: index, queueFull: .sendQueueFull)
        }
    }

    /// Posts a chain given as an array (no copy: the array's storage is read in place).
    public func post(chain requests: [SendRequest]) throws(VerbsError) {
        // The buffer pointer escapes only for the duration of the post; the
        // array is borrowed, not copied.
        var failure: VerbsError?
        requests.withUnsafeBufferPointer { buffer in
            do throws(VerbsError) { try post(chain: buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    @inline(__always)
    private func checkInline(_ r: SendRequest) throws(VerbsError) {
        if r.flags.contains(.inline) && r.elements.totalLength > handle.maxInlineData {
            throw VerbsError(.invalidArgument, function: "ibv_post_send",
                reason: "\(r.elements.totalLength) bytes inline, the QP allows \(handle.maxInlineData)")
        }
    }

    // MARK: Receive

    /// Posts one receive request (on the QP's own receive queue).
    @inline(__always)
    public func post(_ request: ReceiveRequest) throws(VerbsError) {
        try checkLive()
        try Self.postReceive(request, on: handle)
    }

    /// Posts a chain of receive requests with one `ibv_post_recv`.
    public func post(chain requests: UnsafeBufferPointer<ReceiveRequest>) throws(VerbsError) {
        try checkLive()
        guard !requests.isEmpty else { return }
        precondition(handle.sharedReceiveQueue == nil, "this QP receives through its shared receive queue")
        precondition(requests.count <= maxChainLength, "chain of \(requests.count) exceeds maxChainLength \(maxChainLength)")
        for (i, r) in requests.enumerated() {
            let wr = handle.storage.encodeReceive(r, at: i)
            wr.pointee.next = i + 1 < requests.count ? handle.storage.receive + (i + 1) : nil
        }
        var bad: UnsafeMutablePointer<ibv_recv_wr>?
        let rc = ibv_post_recv(handle.pointer, handle.storage.receive, &bad)
        if rc != 0 {
            let index = bad.map { $0 - handle.storage.receive } ?? 0
            throw WorkRequestStorage.postFailure("ibv_post_recv", rc, failedIndex: index, queueFull: .receiveQueueFull)
        }
    }

    @inline(__always)
    static func postReceive(_ request: ReceiveRequest, on handle: QueuePairHandle) throws(VerbsError) {
        precondition(handle.sharedReceiveQueue == nil, "this QP receives through its shared receive queue")
        let wr = handle.storage.encodeReceive(request, at: 0)
        var bad: UnsafeMutablePointer<ibv_recv_wr>?
        let rc = ibv_post_recv(handle.pointer, wr, &bad)
        if rc != 0 { throw WorkRequestStorage.postFailure("ibv_post_recv", rc, failedIndex: 0, queueFull: .receiveQueueFull) }
    }

    // MARK: Memory windows

    /// Binds a type 2 memory window to `range` of `region` through this QP
    /// (IBV_WR_BIND_MW, IB spec 10.6.7.2.2). The window gets a new rkey
    /// (a random key byte) and accepts RDMA only from this QP's peer. The region
    /// needs `.memoryWindowBind`. Completion comes as IBV_WC_BIND_MW when signaled.
    public func bind(_ window: MemoryWindow, to region: MemoryRegion, range: Range<Int>, access: AccessFlags,
        id: UInt64, flags: SendFlags = .signaled) throws(VerbsError) {
        try checkLive()
        precondition(range.lowerBound >= 0 && range.upperBound <= region.length, "window range outside the region")
        let newKey = window.nextRKey
        let wr = handle.storage.send
        wr.pointee = ibv_send_wr()
        wr.pointee.wr_id = id
        wr.pointee.opcode = IBV_WR_BIND_MW
        wr.pointee.send_flags = flags.rawValue
        wr.pointee.bind_mw.mw = window.pointer
        wr.pointee.bind_mw.rkey = newKey
        wr.pointee.bind_mw.bind_info.mr = region.pointer
        wr.pointee.bind_mw.bind_info.addr = region.address + UInt64(range.lowerBound)
        wr.pointee.bind_mw.bind_info.length = UInt64(range.count)
        wr.pointee.bind_mw.bind_info.mw_access_flags = access.rawValue
        var bad: UnsafeMutablePointer<ibv_send_wr>?
        let rc = ibv_post_send(handle.pointer, wr, &bad)
        if rc != 0 { throw WorkRequestStorage.postFailure("ibv_post_send", rc, failedIndex: 0, queueFull: .sendQueueFull) }
        // libibverbs leaves ibv_mw.rkey at the old key for type 2 binds, but
        // providers read it as the window's current key on the next bind
        // (rxe: wqe mw_rkey, checked against the kernel's key), so advance it
        // here as the type 1 path (ibv_bind_mw) does.
        window.pointer.pointee.rkey = newKey
        window.rkey = newKey
        window.boundRegion = region
        window.boundAddress = region.address + UInt64(range.lowerBound)
        window.boundQueuePairNumber = number
    }

    /// Invalidates a window's current rkey locally (IBV_WR_LOCAL_INV).
    public func invalidate(_ window: MemoryWindow, id: UInt64, flags: SendFlags = .signaled) throws(VerbsError) {
        try post(SendRequest(id: id, operation: .localInvalidate(rkey: window.rkey), flags: flags))
        window.boundQueuePairNumber = nil
    }
}
