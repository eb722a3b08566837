// DataPath: the crypto core of FabricAuth's data path.
//
// Pipeline (one sender and one receiver per queue pair and direction):
//
//   send (DataPathSender.swift)
//     1. rekey if the epoch is used up (message count or age, DataPathLimits.swift)
//     2. write the 40-byte header (FrameHeader.swift) in front of the payload
//        the caller already placed in the frame buffer
//     3. nonce = direction || epoch || sequence (Nonce.swift)
//     4. tag = MAC(epoch key, nonce, header || payload) (EpochKey.swift, CipherSuite.swift),
//        written right after the payload; sequence += 1. AES-256-GMAC runs on
//        ipsec-mb where its VAES/AVX-512 code runs, else on libsodium
//        (MACEngine.swift); both give the same tag.
//
//   receive (DataPathReceiver.swift)
//     1. cheap structural checks on the unauthenticated header: size, version,
//        suite, direction, QPN, length, sequence limit
//     2. pick the epoch key: current, previous (grace window), or next (peer rekeyed)
//     3. replay window check (ReplayWindow.swift) -- no state change
//     4. verify the tag in constant time (crypto_verify_16)
//     5. only now update the window (and promote the next epoch) -- the window
//        moves only for authentic messages, as in WireGuard
//     6. deliver; every failure is counted by reason (RejectReason.swift,
//        DataPathMetrics.swift) and is fatal or dropped per FailurePolicy.
//
//   keys (TrafficSecret.swift; HKDF from the Handshake module)
//     gmac_key(e)  = HKDF-Expand(secret_e, "fabricauth gmac key", 32)
//     secret_{e+1} = HKDF-Expand(secret_e, "fabricauth next epoch", 32)
//     A retired secret or key is wiped with sodium_memzero.
//
// Nothing here allocates per message: frames are caller-provided buffers, keys
// are allocated once per epoch, and the sender/receiver are ~Copyable so a
// sequence counter can never be duplicated (a duplicated counter reuses nonces,
// which for GMAC leaks the hash key H: NIST SP 800-38D, Appendix A).
//
// Not thread-safe: one sender and one receiver belong to one completion-handling
// thread, like the QP they protect. Independent senders and receivers run on
// as many threads as the caller likes: each owns its keys, and the only state
// shared by all is read-only after a once-only initialisation (sodium_init
// below; ipsec-mb's manager, MACEngine.swift).

#if canImport(CSodium)
import CSodium
#endif
import Handshake

/// libsodium's start-up follows the package's one policy (Handshake's
/// `Libsodium.isReady`): the data path refuses to make keys without it
/// (`.sodiumUnavailable`).
var sodiumInitialized: Bool { Libsodium.isReady }
