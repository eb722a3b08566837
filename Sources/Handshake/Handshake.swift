// Handshake: FabricAuth's queue-pair handshake, a pure state machine.
//
// Bytes in, bytes out, time passed in, no I/O (wireguard-go's noise-protocol.go,
// nebula's handshake/machine.go). The caller moves messages over whatever carries
// them (in-band on the new RC QP, or rdma_cm private data) and owns the timers.
//
// Pipeline (docs/protocol.md has the byte layouts and the security argument):
//
//   full handshake (Noise XX shape, Noise rev 34 section 7.5, with signatures)
//     I -> R  M1 InitiatorHello   version, offered suites, e_i, I's QP binding
//     R -> I  M2 ResponderHello   chosen suite, e_r, R's QP binding,
//                                 AEAD{R's cert chain, R's signature over the transcript}
//     I -> R  M3 InitiatorAuth    AEAD{I's cert chain, I's signature, I's payload}
//     R -> I  M4 ResponderFinished AEAD{R's payload}  (R's payload, e.g. rkeys, only
//                                 ever goes to an authenticated and authorised peer)
//   resumption (no DH, no certificate verification; PSK bound to the full handshake's roles)
//     I -> R  R1 ResumeRequest    session ID, nonce_i, I's and R's QP bindings, AEAD{}
//     R -> I  R2 ResumeResponse   nonce_r, R's QP binding, AEAD{R's payload}
//     I -> R  R3 ResumeFinished   AEAD{I's payload}  (key confirmation: the responder
//                                 finishes only when this opens under nonce_r's key)
//   either way, either side may answer a failure with an Alert (reason code).
//
// Files: Model/ (values the caller supplies and receives), Messages/ (one file per
// wire message, parsers are total: any input gives a value or a HandshakeError),
// KeyDerivation/ (HKDF, Noise SymmetricState, key schedule), Crypto/ (libsodium
// seams), Machine/ (HandshakeMachine), Fuzzing/ (libFuzzer entry point), Limits.swift, HandshakeError.swift,
// HandshakeCounters.swift.

/// The only protocol version this module speaks (docs/protocol.md, "Versioning").
/// Version 2 (issue 12): resumption names both QPs, binds the full handshake's roles and
/// ends with the initiator's key confirmation (R3). Version 1 peers are refused.
public let fabricAuthHandshakeVersion: UInt8 = 2
