// Interposed allocators that count every heap allocation in the process.
// See main.swift for why this is sound. Each wrapper only increments a
// counter and forwards to glibc's own entry point, so it allocates nothing
// itself and is safe to call before Swift's runtime is initialised.

@_silgen_name("__libc_malloc") func libcMalloc(_ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_calloc") func libcCalloc(_ n: Int, _ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_realloc") func libcRealloc(_ p: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_memalign") func libcMemalign(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer?

@_cdecl("malloc")
public func countingMalloc(_ size: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcMalloc(size)
}

@_cdecl("calloc")
public func countingCalloc(_ n: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcCalloc(n, size)
}

@_cdecl("realloc")
public func countingRealloc(_ p: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcRealloc(p, size)
}

@_cdecl("aligned_alloc")
public func countingAlignedAlloc(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcMemalign(alignment, size)
}

@_cdecl("memalign")
public func countingMemalign(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcMemalign(alignment, size)
}

@_cdecl("posix_memalign")
public func countingPosixMemalign(_ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int) -> Int32 {
    allocationCount &+= 1
    guard let p = libcMemalign(alignment, size) else { return 12 }  // ENOMEM
    out.pointee = p
    return 0
}
