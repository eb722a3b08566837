import CIBVerbs

/// A protection domain (`ibv_alloc_pd`, IB spec 10.2.3): the scope in which
/// keys, QPs and memory are allowed to meet. Holds its Context alive.
public final class ProtectionDomain: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_pd>
    public let context: Context

    init(context: Context) throws(VerbsError) {
        self.context = context
        pointer = try VerbsCall.pointer("ibv_alloc_pd") { ibv_alloc_pd(context.pointer) }
    }

    deinit {
        // EBUSY here would mean a child outlived us, which ownership rules out.
        let rc = ibv_dealloc_pd(pointer)
        assert(rc == 0, "ibv_dealloc_pd: \(rc)")
    }

    /// Registers `buffer` with the given access; the region keeps the buffer alive.
    public func register(_ buffer: RegisteredBuffer, access: AccessFlags = .localWrite) throws(VerbsError) -> MemoryRegion {
        try MemoryRegion(pd: self, buffer: buffer, access: access)
    }

    /// Allocates and registers a fresh page-aligned, zeroed buffer.
    public func allocateRegion(bytes: Int, access: AccessFlags = .localWrite) throws(VerbsError) -> MemoryRegion {
        try MemoryRegion(pd: self, buffer: RegisteredBuffer(byteCount: bytes), access: access)
    }

    /// A type 2 memory window (IB spec 10.6.7.2.2). Bind it with `QueuePair.bind`.
    public func allocateWindow() throws(VerbsError) -> MemoryWindow {
        try MemoryWindow(pd: self)
    }
}
