import CIBVerbs

/// A type 2 memory window (`ibv_alloc_mw(IBV_MW_TYPE_2)`, IB spec 10.6.7.2.2):
/// a remote-access grant over part of a region, bound by a work request on one
/// QP and valid only for RDMA arriving on that QP. Every bind uses a new rkey
/// (the spec's 8-bit key, drawn at random), so a peer holding an old rkey is
/// locked out; local or remote invalidation revokes it.
public final class MemoryWindow: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_mw>
    public let pd: ProtectionDomain
    /// The rkey of the current (or last) binding. libibverbs does not update
    /// `ibv_mw.rkey` for type 2 binds, so the window tracks it here.
    public internal(set) var rkey: UInt32
    /// The region of the current binding; held so it outlives the grant.
    public internal(set) var boundRegion: MemoryRegion?
    /// First byte the current binding covers.
    public internal(set) var boundAddress: UInt64 = 0
    /// The QP number the window is bound to, if any.
    public internal(set) var boundQueuePairNumber: UInt32?

    init(pd: ProtectionDomain) throws(VerbsError) {
        self.pd = pd
        pointer = try VerbsCall.pointer("ibv_alloc_mw", reason: "type 2") { ibv_alloc_mw(pd.pointer, IBV_MW_TYPE_2) }
        rkey = pointer.pointee.rkey
    }

    deinit {
        let rc = ibv_dealloc_mw(pointer)
        assert(rc == 0, "ibv_dealloc_mw: \(rc)")
    }

    /// The rkey the next bind will use: the same index (the upper 24 bits,
    /// the device's) with a fresh random key byte, never the current one. The
    /// 8-bit key is the consumer's to choose (IB spec 10.6.7.2.2; rxe takes
    /// the bind's low byte as is, Linux rxe_mw.c rxe_do_bind_mw), and
    /// `ibv_inc_rkey`'s +1 would let a peer who saw one rkey predict the next.
    var nextRKey: UInt32 {
        var generator = SystemRandomNumberGenerator()  // getrandom(2), no allocation
        let current = UInt8(truncatingIfNeeded: rkey)
        var key = UInt8.random(in: 0...254, using: &generator)
        if key >= current { key &+= 1 }  // uniform over the 255 other values
        return (rkey & 0xFFFF_FF00) | UInt32(key)
    }

    /// Where a peer may write/read through the current binding.
    public func remote(offset: Int = 0, length: Int) -> RemoteMemory {
        guard boundRegion != nil else { preconditionFailure("memory window is not bound") }
        return RemoteMemory(address: boundAddress + UInt64(offset), rkey: rkey, length: UInt32(length))
    }
}
