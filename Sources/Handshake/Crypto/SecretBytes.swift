import CSodium
import Synchronization

/// A secret (a traffic secret, a resumption secret, a finished key) in one
/// allocation of its own that is never copied implicitly.
///
/// Why not `[UInt8]`: arrays are copy-on-write values, so wiping one copy
/// leaves the bytes in every other copy (issue 12: `keys?.wipe()` zeroed a
/// copy while the live value kept the key). This is a class: every holder
/// refers to the same bytes, `wipe()` zeroes them for all of them
/// (sodium_memzero, which the compiler cannot elide), and releasing the last
/// reference zeroes them again. The pages are locked with sodium_mlock where
/// RLIMIT_MEMLOCK allows (libsodium docs, "Guarded heap allocations"; a
/// failure is ignored, since RDMA memory registration needs the same limit
/// and matters more). A copy exists only where `copy()` makes one.
///
/// Honest limits: the bytes pass through registers and through the stack
/// buffers of the libsodium calls that derive or use them; Swift does not
/// promise those are cleared.
public final class SecretBytes: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    public let count: Int
    private let locked: Bool
    /// True once `wipe()` ran; using a wiped secret is a programmer error.
    public private(set) var isWiped = false

    /// `count` zero bytes, to be filled through `withUnsafeMutableBytes`.
    public init(count: Int) {
        precondition(count > 0)
        _ = sodiumReady
        self.count = count
        base = .allocate(byteCount: count, alignment: 16)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        locked = sodium_mlock(base, count) == 0
        Self.allocationLogForTesting?.record(self)
    }

    /// Takes the bytes of `bytes` and zeroes the array (which must be the
    /// only reference to its storage for that to reach the original).
    public convenience init(consuming bytes: inout [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: count) }
        bytes.wipe()
    }

    /// A copy of `bytes` (tests and known-answer vectors).
    public convenience init(copying bytes: [UInt8]) {
        var copy = bytes
        self.init(consuming: &copy)
    }

    deinit {
        sodium_memzero(base, count)
        if locked { _ = sodium_munlock(base, count) }
        base.deallocate()
    }

    /// Lends the bytes to `body`; they must not escape it.
    public func withUnsafeBytes<R: ~Copyable, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(!isWiped, "a wiped secret was used")
        return try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        precondition(!isWiped, "a wiped secret was used")
        return body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// Zeroes the secret for every holder.
    public func wipe() {
        sodium_memzero(base, count)
        isWiped = true
    }

    /// An independent copy, which its new owner wipes separately.
    public func copy() -> SecretBytes {
        let other = SecretBytes(count: count)
        withUnsafeBytes { src in other.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
        return other
    }

    /// Constant-time comparison with `other` (sodium_memcmp).
    public func constantTimeEquals(_ other: [UInt8]) -> Bool {
        guard other.count == count else { return false }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 } }
    }

    /// Constant-time comparison with another secret.
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        guard other.count == count else { return false }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 } }
    }

    /// An array copy of the bytes: for tests and known-answer vectors only
    /// (internal, so only `@testable` code can make one).
    var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The memory itself, readable even after `wipe()`, so a test can check
    /// that wiping reached the only copy.
    @_spi(Testing) public var storageForTesting: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: count)
    }

    /// Test hook: while a log is bound (in the binding task only), every SecretBytes
    /// made is recorded and kept alive, so a test can read each one's memory after the
    /// code under test wiped it (HandshakeTests.WipeTests). Nil, one task-local read
    /// per allocation, everywhere else. Internal (tests reach it with `@testable`): the
    /// TaskLocal macro cannot make an SPI projection; the memory itself is read through
    /// the SPI `storageForTesting`.
    @TaskLocal static var allocationLogForTesting: AllocationLog?

    /// The secrets made while bound as ``allocationLogForTesting``.
    final class AllocationLog: Sendable {
        private let made = Mutex<[SecretBytes]>([])
        init() {}
        func record(_ secret: SecretBytes) { made.withLock { $0.append(secret) } }
        /// Every secret made so far, oldest first.
        var secrets: [SecretBytes] { made.withLock { $0 } }
    }

    /// HKDF-Expand(prk, label) into a new secret of `length` bytes.
    static func expand(prk: SecretBytes, label: String, length: Int) -> SecretBytes {
        let out = SecretBytes(count: length)
        var info = Array(label.utf8)
        prk.withUnsafeBytes { p in
            info.withUnsafeBytes { i in out.withUnsafeMutableBytes { HKDF.expand(prk: p, info: i, into: $0) } }
        }
        info.removeAll()
        return out
    }
}
