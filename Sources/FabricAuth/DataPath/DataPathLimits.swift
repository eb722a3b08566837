// All data-path limits in one place, with a compile-time check that every
// "rekey" limit is below its "reject" limit (nebula's connection_state.go and
// wireguard's REKEY_AFTER_MESSAGES < REJECT_AFTER_MESSAGES).

/// Fixed sizes and default limits of the data path.
public enum DataPathLimits {
    /// Bytes of the on-wire header (FrameHeader), see docs/protocol.md "Data path".
    public static let headerSize = 40
    /// Bytes of the trailing tag (AES-256-GMAC or Poly1305).
    public static let tagSize = 16
    /// header + tag.
    public static let frameOverhead = headerSize + tagSize

    /// Offset of the payload in a frame buffer (the header comes first).
    public static let payloadOffset = headerSize

    /// Bytes a frame buffer needs for a payload of `payloadLength` bytes.
    @inlinable
    public static func frameLength(payloadLength: Int) -> Int { frameOverhead + payloadLength }

    /// Largest payload of an encrypted control frame (DataPathOpcode.isEncrypted):
    /// the rendezvous messages are 16 to 72 bytes (ControlMessage); a
    /// control frame claiming more is rejected as oversized before any
    /// crypto, and the AEAD's stack buffer is this size (EpochKey.decryptControl).
    public static let maxControlPayloadBytes = 128

    /// Wire format version carried in byte 0 of the header.
    public static let wireVersion: UInt8 = 1

    /// A sender moves to the next epoch after this many messages in one epoch.
    /// Issue 6: the key changes before 2^32 messages; we leave 2^24 of margin.
    @_transparent public static var rekeyAfterMessages: UInt64 { 4_278_190_080 }  // 2^32 - 2^24
    /// No epoch ever carries a sequence number at or above this (sender refuses,
    /// receiver rejects). 2^32 invocations per key is the bound NIST SP 800-38D
    /// §8.3 sets for GCM, which this data path keeps to even though its IVs are
    /// the deterministic construction of §8.2.1.
    @_transparent public static var rejectAfterMessages: UInt64 { 4_294_967_296 }  // 2^32

    /// A sender moves to the next epoch after this much time (WireGuard's REKEY_AFTER_TIME).
    @_transparent public static var rekeyAfterNanoseconds: UInt64 { 120_000_000_000 }
    /// A receiver accepts the previous epoch for at most this long after the peer
    /// moved on...
    @_transparent public static var previousEpochGraceNanoseconds: UInt64 { 2_000_000_000 }
    /// ...and for at most this many messages of that previous epoch.
    @_transparent public static var previousEpochGraceMessages: UInt64 { 65_536 }

    /// The nonce carries 24 bits of epoch (Nonce.swift); at 120 s per epoch that
    /// is 63 years, after which a new handshake is required.
    @_transparent public static var maxEpoch: UInt32 { 16_777_215 }  // 2^24 - 1

    /// Largest payload by default (RDMA messages are at most 2^31 bytes; the
    /// header length field is 32 bits).
    @_transparent public static var maxPayloadBytes: Int { 1_073_741_824 }  // 2^30

    /// Bits of the replay bitmap ring and the usable window (ReplayWindow.swift).
    @_transparent public static var replayRingBlocks: Int { 32 }
    @_transparent public static var replayWindowSize: UInt64 { 1_984 }  // (replayRingBlocks - 1) * 64
}

/// Compile-time checks. The limits above are plain literals (shifts and
/// conversions are not constant-folded early enough), and the subtractions below are constant-folded after
/// mandatory inlining of the @_transparent getters; if an ordering is violated
/// the unsigned arithmetic overflows and the compiler reports an error
/// ("arithmetic operation ... results in an overflow"), so a bad edit of the
/// limits above does not build.
@_transparent
func dataPathLimitsStaticChecks() {
    // rekey < reject (messages)
    _ = DataPathLimits.rejectAfterMessages - DataPathLimits.rekeyAfterMessages - 1
    // reject <= 2^32 (issue 6, NIST SP 800-38D §8.3)
    _ = UInt64(4_294_967_296) - DataPathLimits.rejectAfterMessages
    // the replay window is far smaller than an epoch's message budget
    _ = DataPathLimits.rekeyAfterMessages - DataPathLimits.replayWindowSize - 1
    // grace (previous epoch) is much shorter than an epoch's lifetime
    _ = DataPathLimits.rekeyAfterNanoseconds - DataPathLimits.previousEpochGraceNanoseconds - 1
    // the epoch fits the 24-bit nonce field
    _ = UInt32(16_777_215) - DataPathLimits.maxEpoch
    // (replayWindowSize == (replayRingBlocks - 1) * 64 and the ring's InlineArray
    // count are checked by ReplayWindowTests: conversions don't constant-fold.)
}
