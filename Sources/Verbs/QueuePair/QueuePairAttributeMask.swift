import CIBVerbs

/// The attribute bits of `ibv_modify_qp` (`enum ibv_qp_attr_mask`), named,
/// so a refused transition can say exactly which bits were missing.
public struct QueuePairAttributeMask: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ m: ibv_qp_attr_mask) { rawValue = m.rawValue }

    public static let state = Self(IBV_QP_STATE)
    public static let accessFlags = Self(IBV_QP_ACCESS_FLAGS)
    public static let pkeyIndex = Self(IBV_QP_PKEY_INDEX)
    public static let port = Self(IBV_QP_PORT)
    public static let qkey = Self(IBV_QP_QKEY)
    public static let addressVector = Self(IBV_QP_AV)
    public static let pathMTU = Self(IBV_QP_PATH_MTU)
    public static let timeout = Self(IBV_QP_TIMEOUT)
    public static let retryCount = Self(IBV_QP_RETRY_CNT)
    public static let rnrRetry = Self(IBV_QP_RNR_RETRY)
    public static let receivePSN = Self(IBV_QP_RQ_PSN)
    public static let maxInitiatorReadAtomic = Self(IBV_QP_MAX_QP_RD_ATOMIC)
    public static let minRNRTimer = Self(IBV_QP_MIN_RNR_TIMER)
    public static let sendPSN = Self(IBV_QP_SQ_PSN)
    public static let maxResponderReadAtomic = Self(IBV_QP_MAX_DEST_RD_ATOMIC)
    public static let destinationQPN = Self(IBV_QP_DEST_QPN)

    static let names: [(QueuePairAttributeMask, String)] = [
        (.state, "IBV_QP_STATE"), (.accessFlags, "IBV_QP_ACCESS_FLAGS"), (.pkeyIndex, "IBV_QP_PKEY_INDEX"),
        (.port, "IBV_QP_PORT"), (.qkey, "IBV_QP_QKEY"), (.addressVector, "IBV_QP_AV"),
        (.pathMTU, "IBV_QP_PATH_MTU"), (.timeout, "IBV_QP_TIMEOUT"), (.retryCount, "IBV_QP_RETRY_CNT"),
        (.rnrRetry, "IBV_QP_RNR_RETRY"), (.receivePSN, "IBV_QP_RQ_PSN"),
        (.maxInitiatorReadAtomic, "IBV_QP_MAX_QP_RD_ATOMIC"), (.minRNRTimer, "IBV_QP_MIN_RNR_TIMER"),
        (.sendPSN, "IBV_QP_SQ_PSN"), (.maxResponderReadAtomic, "IBV_QP_MAX_DEST_RD_ATOMIC"),
        (.destinationQPN, "IBV_QP_DEST_QPN"),
    ]

    public var description: String {
        let parts = Self.names.filter { contains($0.0) }.map(\.1)
        return parts.isEmpty ? "[]" : parts.joined(separator: " | ")
    }
}
