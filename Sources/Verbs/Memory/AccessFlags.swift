import CIBVerbs

/// Access rights of a memory region or window, or of a QP's responder side
/// (`enum ibv_access_flags`, IB spec 10.6.3.1). Remote write and remote
/// atomic require local write (the spec's rule; ibv_reg_mr answers EINVAL).
public struct AccessFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let localWrite = AccessFlags(rawValue: IBV_ACCESS_LOCAL_WRITE.rawValue)
    public static let remoteWrite = AccessFlags(rawValue: IBV_ACCESS_REMOTE_WRITE.rawValue)
    public static let remoteRead = AccessFlags(rawValue: IBV_ACCESS_REMOTE_READ.rawValue)
    public static let remoteAtomic = AccessFlags(rawValue: IBV_ACCESS_REMOTE_ATOMIC.rawValue)
    /// Lets memory windows be bound on this region.
    public static let memoryWindowBind = AccessFlags(rawValue: IBV_ACCESS_MW_BIND.rawValue)
    public static let zeroBased = AccessFlags(rawValue: IBV_ACCESS_ZERO_BASED.rawValue)

    public static let remoteReadWrite: AccessFlags = [.localWrite, .remoteWrite, .remoteRead]
}
