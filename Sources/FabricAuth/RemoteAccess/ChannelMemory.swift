import Verbs

/// Application memory registered with one authenticated channel (NCCL's
/// `regMr`): the source of `isend` and `offerForRead`, the target of `irecv`
/// and `iread`.
///
/// Registered for local access and window binding only: its own rkey opens
/// nothing remotely. The peer reaches it solely through a type 2 memory
/// window bound for one transfer on this channel's QP and invalidated after it.
public final class ChannelMemory {
    let region: MemoryRegion

    init(region: MemoryRegion) {
        self.region = region
    }

    /// The registered bytes.
    public var bytes: UnsafeMutableRawBufferPointer { region.bytes }
    public var count: Int { region.length }

    static let access: AccessFlags = [.localWrite, .memoryWindowBind]
}
