import CIBVerbs
import CRDMACM

/// Owns one `ibv_qp` and everything it depends on. Shared by the typed
/// views (`PreparedQueuePair`, `QueuePair`) that move it through its states.
///
/// Holds the PD, both CQs and the SRQ, because `ibv_destroy_cq` and
/// `ibv_destroy_srq` fail with EBUSY while a QP is attached (rdma-core 44,
/// man ibv_destroy_cq); the QP is destroyed first in deinit, then these
/// references drop, which gives rc_pingpong's teardown order for free.
final class QueuePairHandle: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_qp>
    let pd: ProtectionDomain
    let sendCompletionQueue: CompletionQueue
    let receiveCompletionQueue: CompletionQueue
    let sharedReceiveQueue: SharedReceiveQueue?
    let configuration: QueuePairConfiguration
    /// Inline bytes the provider actually granted (ibv_qp_init_attr.cap after create).
    let maxInlineData: Int
    let storage: WorkRequestStorage
    /// Set when librdmacm created the QP: it must be destroyed with rdma_destroy_qp.
    let connectionIdentifier: ConnectionIdentifier?

    init(
        pd: ProtectionDomain, sendCompletionQueue: CompletionQueue, receiveCompletionQueue: CompletionQueue,
        sharedReceiveQueue: SharedReceiveQueue?, configuration: QueuePairConfiguration,
        connectionIdentifier: ConnectionIdentifier? = nil
    ) throws(VerbsError) {
        precondition(configuration.maxChainLength >= 1)
        self.pd = pd
        self.sendCompletionQueue = sendCompletionQueue
        self.receiveCompletionQueue = receiveCompletionQueue
        self.sharedReceiveQueue = sharedReceiveQueue
        self.configuration = configuration
        self.connectionIdentifier = connectionIdentifier
        var attr = ibv_qp_init_attr()
        attr.send_cq = sendCompletionQueue.pointer
        attr.recv_cq = receiveCompletionQueue.pointer
        attr.srq = sharedReceiveQueue?.pointer
        attr.qp_type = configuration.transport.ibv
        attr.sq_sig_all = configuration.signalAll ? 1 : 0
        attr.cap.max_send_wr = UInt32(configuration.maxSendRequests)
        attr.cap.max_recv_wr = sharedReceiveQueue == nil ? UInt32(configuration.maxReceiveRequests) : 0
        attr.cap.max_send_sge = UInt32(configuration.maxSendScatterGather)
        attr.cap.max_recv_sge = sharedReceiveQueue == nil ? UInt32(configuration.maxReceiveScatterGather) : 0
        attr.cap.max_inline_data = UInt32(configuration.maxInlineData)
        let reason = "\(configuration.transport) QP, \(configuration.maxSendRequests)/\(configuration.maxReceiveRequests) WRs, inline \(configuration.maxInlineData)"
        if let id = connectionIdentifier {
            try VerbsCall.check("rdma_create_qp", .minusOneSetsErrno, reason: reason) {
                rdma_create_qp(id.pointer, pd.pointer, &attr)
            }
            pointer = id.pointer.pointee.qp
        } else {
            pointer = try VerbsCall.pointer("ibv_create_qp", reason: reason) { ibv_create_qp(pd.pointer, &attr) }
        }
        maxInlineData = Int(attr.cap.max_inline_data)
        storage = WorkRequestStorage(chainCapacity: configuration.maxChainLength)
    }

    deinit {
        if let id = connectionIdentifier {
            rdma_destroy_qp(id.pointer)
        } else {
            let rc = ibv_destroy_qp(pointer)
            assert(rc == 0, "ibv_destroy_qp: \(rc)")
        }
    }

    var number: UInt32 { pointer.pointee.qp_num }
    var transport: QueuePairTransport { configuration.transport }

    func queryState() throws(VerbsError) -> QueuePairState {
        var attr = ibv_qp_attr()
        var initAttr = ibv_qp_init_attr()
        try VerbsCall.check("ibv_query_qp", .returnsErrno) {
            ibv_query_qp(pointer, &attr, Int32(IBV_QP_STATE.rawValue), &initAttr)
        }
        return QueuePairState(attr.qp_state)
    }

    /// `ibv_modify_qp` with the transition checked against IB spec table 91
    /// first, so a wrong mask is refused with the missing bits named; if the
    /// kernel still refuses, the error carries the current state.
    func modify(from: QueuePairState, to: QueuePairState, _ attr: inout ibv_qp_attr, _ mask: QueuePairAttributeMask,
        file: String = #fileID, line: UInt = #line) throws(VerbsError) {
        let diagnosis = QueuePairTransition.diagnose(from: from, to: to, transport: transport, mask: mask)
        guard diagnosis == .valid else {
            throw VerbsError(.invalidTransition, function: "ibv_modify_qp", reason: "QP \(number): \(diagnosis)", file: file, line: line)
        }
        attr.qp_state = to.ibv
        let rc = ibv_modify_qp(pointer, &attr, Int32(bitPattern: mask.rawValue))
        if rc != 0 {
            let now = (try? queryState()).map { "\($0)" } ?? "unknown"
            throw VerbsCall.failure("ibv_modify_qp", errno: rc > 0 ? rc : -rc, code: .invalidTransition,
                reason: "QP \(number) \(from) -> \(to) with \(mask); QP is now \(now)", file: file, line: line)
        }
    }

    /// Moves any state to RESET (IB spec 10.3.1: always allowed). Outstanding
    /// work requests are discarded without completions.
    func reset() throws(VerbsError) {
        var attr = ibv_qp_attr()
        let from = (try? queryState()) ?? .error
        try modify(from: from, to: .reset, &attr, [.state])
    }
}
