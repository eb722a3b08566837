import CIBVerbs

/// The status of a work completion (`enum ibv_wc_status`, IB spec 11.4.2.1).
/// `description` is rdma-core's own text from `ibv_wc_status_str`, so errors
/// read the same as perftest and rc_pingpong output.
public struct CompletionStatus: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ status: ibv_wc_status) { self.rawValue = status.rawValue }

    public static let success = CompletionStatus(IBV_WC_SUCCESS)
    public static let localLengthError = CompletionStatus(IBV_WC_LOC_LEN_ERR)
    public static let localProtectionError = CompletionStatus(IBV_WC_LOC_PROT_ERR)
    public static let workRequestFlushed = CompletionStatus(IBV_WC_WR_FLUSH_ERR)
    public static let memoryWindowBindError = CompletionStatus(IBV_WC_MW_BIND_ERR)
    public static let remoteInvalidRequest = CompletionStatus(IBV_WC_REM_INV_REQ_ERR)
    public static let remoteAccessError = CompletionStatus(IBV_WC_REM_ACCESS_ERR)
    public static let remoteOperationError = CompletionStatus(IBV_WC_REM_OP_ERR)
    public static let retryExceeded = CompletionStatus(IBV_WC_RETRY_EXC_ERR)
    public static let receiverNotReadyRetryExceeded = CompletionStatus(IBV_WC_RNR_RETRY_EXC_ERR)

    public var isSuccess: Bool { rawValue == IBV_WC_SUCCESS.rawValue }

    public var description: String {
        String(cString: ibv_wc_status_str(ibv_wc_status(rawValue: rawValue)))
    }
}
