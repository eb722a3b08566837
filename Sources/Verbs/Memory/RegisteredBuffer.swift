#if canImport(Glibc)
import Glibc
#endif

/// Page-aligned memory meant for registration. A `MemoryRegion` holds its
/// buffer, so the pages stay mapped as long as the HCA may DMA into them:
/// freeing registered memory is the classic verbs use-after-free.
public final class RegisteredBuffer: @unchecked Sendable {
    public let baseAddress: UnsafeMutableRawPointer
    public let byteCount: Int

    /// Allocates `byteCount` zeroed bytes aligned to the page size.
    public init(byteCount: Int) throws(VerbsError) {
        precondition(byteCount > 0, "RegisteredBuffer needs at least one byte")
        var p: UnsafeMutableRawPointer?
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let rc = posix_memalign(&p, page, byteCount)
        guard rc == 0, let p else {
            throw VerbsError(.callFailed, function: "posix_memalign", errno: rc, reason: "\(byteCount) bytes")
        }
        memset(p, 0, byteCount)
        baseAddress = p
        self.byteCount = byteCount
    }

    deinit { free(baseAddress) }

    public var address: UInt64 { UInt64(UInt(bitPattern: baseAddress)) }

    public var bytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: baseAddress, count: byteCount)
    }
}
