import CIBVerbs

/// Per-request send flags (`enum ibv_send_flags`, IB spec 11.4.1.1).
public struct SendFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Produce a completion even when the QP is not `signalAll`.
    public static let signaled = SendFlags(rawValue: IBV_SEND_SIGNALED.rawValue)
    /// Copy the payload into the WQE; the buffer may be reused at once and
    /// need not be registered. Only up to `QueuePair.maxInlineData` bytes.
    public static let inline = SendFlags(rawValue: IBV_SEND_INLINE.rawValue)
    /// Wait for earlier RDMA READs to finish first.
    public static let fence = SendFlags(rawValue: IBV_SEND_FENCE.rawValue)
    /// Wake a receiver that asked for solicited events only.
    public static let solicited = SendFlags(rawValue: IBV_SEND_SOLICITED.rawValue)
}
