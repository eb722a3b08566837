import CIBVerbs

/// One work completion, copied out of `struct ibv_wc` (IB spec 11.4.2.1).
/// Plain value, no references: polling into a caller-provided buffer of
/// these allocates nothing.
public struct WorkCompletion: Sendable {
    /// The caller's 64-bit handle from the work request.
    public var id: UInt64
    public var status: CompletionStatus
    /// Valid only when `status` is success (IB spec: other fields undefined on error).
    public var opcode: WorkCompletionOpcode
    public var byteLength: UInt32
    /// Immediate data in host order, for SEND_WITH_IMM / WRITE_WITH_IMM receives.
    public var immediateData: UInt32?
    /// rkey invalidated by an incoming SEND_WITH_INV.
    public var invalidatedRKey: UInt32?
    public var queuePairNumber: UInt32
    public var sourceQueuePairNumber: UInt32
    public var vendorError: UInt32

    public init() {
        id = 0
        status = .success
        opcode = .other(0)
        byteLength = 0
        queuePairNumber = 0
        sourceQueuePairNumber = 0
        vendorError = 0
    }

    init(_ wc: ibv_wc) {
        id = wc.wr_id
        status = CompletionStatus(wc.status)
        opcode = WorkCompletionOpcode(wc.opcode)
        byteLength = wc.byte_len
        let flags = wc.wc_flags
        immediateData = flags & IBV_WC_WITH_IMM.rawValue != 0 ? UInt32(bigEndian: wc.imm_data) : nil
        invalidatedRKey = flags & IBV_WC_WITH_INV.rawValue != 0 ? wc.invalidated_rkey : nil
        queuePairNumber = wc.qp_num
        sourceQueuePairNumber = wc.src_qp
        vendorError = wc.vendor_err
    }

    /// Throws `.completionFailed` carrying `ibv_wc_status_str` if this completion failed.
    public func check(file: String = #fileID, line: UInt = #line) throws(VerbsError) {
        guard !status.isSuccess else { return }
        throw VerbsError(.completionFailed, function: "ibv_poll_cq", completionStatus: status,
            reason: "wr_id \(id) on QP \(queuePairNumber), vendor error 0x\(String(vendorError, radix: 16))",
            file: file, line: line)
    }
}
