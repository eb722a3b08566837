/// The 96-bit nonce (GCM IV) of a frame:
///
///     byte 0       direction (0 = initiator->responder, 1 = responder->initiator)
///     bytes 1..3   key epoch, low 24 bits, big-endian
///     bytes 4..11  message sequence within the epoch, 64 bits, big-endian
///
/// This is the deterministic IV construction of NIST SP 800-38D §8.2.1: a
/// fixed field (direction || epoch) and an invocation field (sequence). Under
/// one key (one epoch of one direction of one QP) the sequence strictly
/// increases and is bounded by rejectAfterMessages, so no IV repeats (§8.3).
/// 96-bit IVs take the fast path J0 = IV || 0^31 || 1 (§7.1).
///
/// Laid out as one 16-byte vector (the last 4 bytes zero) so it is written
/// with a single store: ipsec-mb reads the IV with one wide load, which a CPU
/// can forward from one store but not from two narrower ones. Measured with
/// DataPathBenchmark on the reference host: about 8 ns less per `open` and
/// 15-20 ns less per detached seal or open than a (UInt64, UInt32) tuple.
@frozen
public struct Nonce {
    public static let byteCount = 12
    @usableFromInline var storage: SIMD2<UInt64>

    @inlinable
    public init(direction: Direction, epoch: UInt32, sequence: UInt64) {
        let high = (UInt64(direction.rawValue) << 56)
            | (UInt64(epoch & 0x00FF_FFFF) << 32)
            | (sequence >> 32)
        storage = SIMD2(high.bigEndian, UInt64(UInt32(truncatingIfNeeded: sequence).bigEndian))
    }

    /// Calls `body` with a pointer to the 12 nonce bytes.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage) { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<Nonce.byteCount]))
        }
    }
}
