import CSodium

// Live-machine entry points for the libFuzzer target Fuzz/Sources/FuzzHandshakeMachine
// (docs/fuzzing.md). SPI, not API: `@_spi(Fuzzing) import Handshake` to reach them.
//
// Two ways in, chosen by the input's first byte:
//   - raw messages: a machine is brought into one of its seven waiting states by
//     replaying an honest transcript, then fed the input's messages. Oracle: it may
//     finish only on exactly the honest messages (every later message is bound to the
//     transcript by AEAD), and every abort leaves it failed with an alert where one is due.
//   - a hostile credential: an honest peer machine whose certificate chain, signature
//     and payload come from the input runs a whole handshake (full or resumed) against a
//     live machine. This reaches what lies behind the AEAD (identity-block contents,
//     the verifier, the signature check, payload sizes), which random bytes never open.
//     Oracle: the live side finishes only when the chain is the known certificate and
//     the signature is genuine.
//
// Certificates here are "FUZZ" || Ed25519 public key (a format of this file, not X.509):
// the X.509 parsers have targets of their own (FuzzCertificateParsing, FuzzTrustFiles).

extension HandshakeFuzzing {
    /// Runs one machine input; see the file comment. Traps when an oracle fails.
    /// Returns whether the live machine finished.
    @_spi(Fuzzing) @discardableResult public static func machine(_ input: [UInt8]) -> Bool {
        precondition(seedsFinish)
        return run(input)
    }

    static func run(_ input: [UInt8]) -> Bool {
        guard let selector = input.first else { return false }
        let rest = Array(input.dropFirst())
        if selector & 0x80 == 0 {
            return rawMessages(stage: Stage.allCases[Int(selector) % Stage.allCases.count], messages: splitMessages(rest))
        }
        return hostilePeer(resumed: selector & 0x40 != 0, peerIsInitiator: selector & 0x20 != 0, rest)
    }

    /// The harness checks itself once: every seed (honest messages, an honest hostile-peer
    /// input) must finish the live machine, or a protocol change left the fuzzer exploring
    /// nothing but early failures.
    static let seedsFinish: Bool = {
        for seed in seedInputs() where !run(seed.bytes) {
            preconditionFailure("fuzz seed \(seed.name) no longer finishes the handshake; update HandshakeFuzzing+Machine.swift")
        }
        return true
    }()

    /// The state a live machine waits in, named after the message it waits for.
    @_spi(Fuzzing) public enum Stage: UInt8, CaseIterable, Sendable {
        case m1, m2, m3, m4, r1, r2, r3
    }

    /// Seed inputs: each stage with its honest message, and hostile-peer inputs that succeed.
    @_spi(Fuzzing) public static func seedInputs() -> [(name: String, bytes: [UInt8])] {
        let s = FuzzScenario.shared
        var seeds: [(String, [UInt8])] = []
        for stage in Stage.allCases {
            let honest = s.honest(stage)
            seeds.append(("raw-\(stage)", [stage.rawValue] + joinMessages(honest)))
        }
        let chain = joinMessages([FuzzScenario.certificate(s.peerKey.publicKey)])
        let payload: [UInt8] = Array("rkey=0x1234 addr=0xdead0000".utf8)
        for (name, selector): (String, UInt8) in [("peer-full-responder", 0x80), ("peer-full-initiator", 0xA0),
                                                   ("peer-resumed-responder", 0xC0), ("peer-resumed-initiator", 0xE0)] {
            // flags bit 0: sign honestly with the certified key.
            seeds.append((name, [selector, 0x01] + joinMessages([chain, [], payload])))
        }
        return seeds
    }

    /// The messages of a seed input (after its selector byte), for the parser target's corpus.
    @_spi(Fuzzing) public static func splitMessagesForSeeds(_ bytes: [UInt8]) -> [[UInt8]] { splitMessages(bytes) }

    /// Length-prefixed (u16 big-endian) messages; a short tail is one last message.
    static func splitMessages(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count, out.count < 8 {
            guard i + 2 <= bytes.count else { out.append(Array(bytes[i...])); break }
            let n = Int(bytes[i]) << 8 | Int(bytes[i + 1])
            let end = min(bytes.count, i + 2 + n)
            out.append(Array(bytes[(i + 2)..<end]))
            i = end
        }
        return out
    }

    static func joinMessages(_ messages: [[UInt8]]) -> [UInt8] {
        messages.flatMap { [UInt8(($0.count >> 8) & 0xFF), UInt8($0.count & 0xFF)] + $0 }
    }

    static func rawMessages(stage: Stage, messages: [[UInt8]]) -> Bool {
        let s = FuzzScenario.shared
        let machine = s.machine(waitingFor: stage)
        let honest = s.honest(stage)
        for (index, message) in messages.enumerated() {
            let wasOver = machine.isFinished || machine.isFailed
            let out = machine.receive(message, now: FuzzScenario.now)
            if let error = out.error {
                precondition(machine.isFailed, "an abort left the machine \(machine.phase)")
                let alertDue = !wasOver && error.code != .peerAborted
                precondition(!alertDue || out.message?.count == Alert.size, "\(error.code) without an alert")
            }
            if out.result != nil {
                precondition(index < honest.count && Array(messages[...index]) == Array(honest[...index]),
                             "\(stage): finished on messages that are not the honest transcript")
            }
        }
        return machine.isFinished
    }

    /// Input: flags byte, then length-prefixed chain (itself length-prefixed certificates),
    /// signature and payload. Flags bit 0: sign with the certified key instead of the input's bytes.
    static func hostilePeer(resumed: Bool, peerIsInitiator: Bool, _ bytes: [UInt8]) -> Bool {
        guard let flags = bytes.first else { return false }
        let parts = splitMessages(Array(bytes.dropFirst()))
        let chain = parts.count > 0 ? Array(splitMessages(parts[0]).prefix(6)) : []
        let signature = parts.count > 1 ? parts[1] : []
        let payload = parts.count > 2 ? Array(parts[2].prefix(HandshakeLimits.maxPayloadSize + 1)) : []
        let s = FuzzScenario.shared
        let credential = FuzzCredential(certificateChain: chain, key: s.peerKey,
                                        fixedSignature: flags & 1 == 1 ? nil : signature)
        let peerRole: ChannelBinding.Role = peerIsInitiator ? .initiator : .responder
        let liveRole: ChannelBinding.Role = peerIsInitiator ? .responder : .initiator
        let peerConfig = s.configuration(role: peerRole, credential: credential, payload: payload, qp: resumed ? 1 : 0)
        let liveConfig = s.configuration(role: liveRole, credential: s.liveCredential, payload: [7], qp: resumed ? 1 : 0)
        let peer: HandshakeMachine
        let live: HandshakeMachine
        switch (resumed, peerIsInitiator) {
        case (false, _):
            peer = HandshakeMachine(configuration: peerConfig)
            live = HandshakeMachine(configuration: liveConfig)
        case (true, true):
            // Only the payloads travel in a resumption; the session is the honest one.
            peer = HandshakeMachine(resuming: s.initiatorSession, configuration: peerConfig)
            live = HandshakeMachine(configuration: liveConfig)
        case (true, false):
            peer = HandshakeMachine(configuration: peerConfig)
            live = HandshakeMachine(resuming: s.initiatorSession, configuration: liveConfig)
        }
        let (initiator, responder) = peerIsInitiator ? (peer, live) : (live, peer)
        var current = initiator.start(now: FuzzScenario.now)
        var toResponder = true
        while let sent = current.message {
            let receiver = toResponder ? responder : initiator
            if receiver.isFinished || receiver.isFailed { break }
            current = receiver.receive(sent, now: FuzzScenario.now)
            toResponder.toggle()
        }
        if live.isFinished && !resumed {
            precondition(chain.first == FuzzScenario.certificate(s.peerKey.publicKey) && flags & 1 == 1,
                         "a full handshake finished with a chain or signature the peer does not hold")
        }
        if live.isFinished {
            precondition(payload.count <= HandshakeLimits.maxPayloadSize, "an oversized payload was accepted")
        }
        return live.isFinished
    }
}

/// The fixed world every input runs in: keys, bindings, honest transcripts, sessions.
final class FuzzScenario: Sendable {
    static let shared = FuzzScenario()
    static let now = Timestamp.seconds(1_000_000)

    let liveKey = FuzzKey(seed: 1)
    let peerKey = FuzzKey(seed: 2)
    let liveCredential: FuzzCredential
    let fullTranscript: [[UInt8]]
    let resumeTranscript: [[UInt8]]
    let initiatorSession: ResumableSession
    let responderSession: ResumableSession

    private init() {
        _ = sodiumReady
        liveCredential = FuzzCredential(certificateChain: [Self.certificate(liveKey.publicKey)], key: liveKey, fixedSignature: nil)
        let honestPeer = FuzzCredential(certificateChain: [Self.certificate(peerKey.publicKey)], key: peerKey, fixedSignature: nil)
        // The honest transcripts: initiator = peer credential, responder = live credential.
        let full = Self.run(HandshakeMachine(configuration: Self.config(.initiator, honestPeer, qp: 0)),
                            HandshakeMachine(configuration: Self.config(.responder, liveCredential, qp: 0)))
        guard case .some(let i) = full.results.0, case .some(let r) = full.results.1 else {
            preconditionFailure("the fuzz scenario's honest handshake failed")
        }
        fullTranscript = full.messages
        initiatorSession = i.session
        responderSession = r.session
        let resumed = Self.run(HandshakeMachine(resuming: i.session, configuration: Self.config(.initiator, honestPeer, qp: 1)),
                               HandshakeMachine(configuration: Self.config(.responder, liveCredential, qp: 1, sessions: [r.session])))
        precondition(resumed.results.0 != nil && resumed.results.1 != nil, "the fuzz scenario's resumption failed")
        resumeTranscript = resumed.messages
    }

    static func certificate(_ publicKey: [UInt8]) -> [UInt8] { Array("FUZZ".utf8) + publicKey }

    static func binding(_ role: ChannelBinding.Role, qp: UInt32) -> ChannelBinding {
        var gid = [UInt8](repeating: 0, count: 16)
        gid[0] = 0xfe; gid[1] = 0x80; gid[15] = role.rawValue
        return ChannelBinding(role: role, qpn: (role == .initiator ? 0x10_0000 : 0x20_0000) + qp, psn: 0x12_3456 + qp,
                              gid: gid, mtu: 4096)
    }

    static func config(_ role: ChannelBinding.Role, _ credential: any HandshakeCredential, payload: [UInt8] = [1, 2, 3],
                       qp: UInt32, sessions: [ResumableSession] = []) -> HandshakeConfiguration {
        let other: ChannelBinding.Role = role == .initiator ? .responder : .initiator
        let cache = sessions
        return HandshakeConfiguration(
            credential: credential, verifier: FuzzVerifier(), localBinding: binding(role, qp: qp),
            expectedRemoteBinding: binding(other, qp: qp), suites: CipherSuite.known, payload: payload,
            random: FuzzRandom(seed: UInt64(role.rawValue) << 8 | UInt64(qp)),
            sessionLookup: { id in cache.first { $0.sessionID == id } })
    }

    func configuration(role: ChannelBinding.Role, credential: any HandshakeCredential, payload: [UInt8],
                       qp: UInt32) -> HandshakeConfiguration {
        Self.config(role, credential, payload: payload, qp: qp, sessions: role == .responder ? [responderSession] : [])
    }

    static func run(_ initiator: HandshakeMachine, _ responder: HandshakeMachine)
        -> (messages: [[UInt8]], results: (HandshakeResult?, HandshakeResult?)) {
        var messages: [[UInt8]] = []
        var results: (HandshakeResult?, HandshakeResult?) = (nil, nil)
        var current = initiator.start(now: now)
        var toResponder = true
        while let sent = current.message, current.error == nil {
            messages.append(sent)
            let receiver = toResponder ? responder : initiator
            if receiver.isFinished || receiver.isFailed { break }
            current = receiver.receive(sent, now: now)
            if let r = current.result { if toResponder { results.1 = r } else { results.0 = r } }
            toResponder.toggle()
        }
        return (messages, results)
    }

    /// The honest messages a machine waiting in `stage` receives, in order.
    func honest(_ stage: HandshakeFuzzing.Stage) -> [[UInt8]] {
        switch stage {
        case .m1: [fullTranscript[0], fullTranscript[2]]
        case .m2: [fullTranscript[1], fullTranscript[3]]
        case .m3: [fullTranscript[2]]
        case .m4: [fullTranscript[3]]
        case .r1: [resumeTranscript[0], resumeTranscript[2]]
        case .r2: [resumeTranscript[1]]
        case .r3: [resumeTranscript[2]]
        }
    }

    /// A live machine (same keys and randomness as the honest run) in the state that waits for `stage`.
    func machine(waitingFor stage: HandshakeFuzzing.Stage) -> HandshakeMachine {
        let honestPeer = FuzzCredential(certificateChain: [Self.certificate(peerKey.publicKey)], key: peerKey, fixedSignature: nil)
        switch stage {
        case .m1, .m3:
            let m = HandshakeMachine(configuration: Self.config(.responder, liveCredential, qp: 0))
            if stage == .m3 { _ = m.receive(fullTranscript[0], now: Self.now) }
            return m
        case .m2, .m4:
            let m = HandshakeMachine(configuration: Self.config(.initiator, honestPeer, qp: 0))
            _ = m.start(now: Self.now)
            if stage == .m4 { _ = m.receive(fullTranscript[1], now: Self.now) }
            return m
        case .r1, .r3:
            let m = HandshakeMachine(configuration: Self.config(.responder, liveCredential, qp: 1, sessions: [responderSession]))
            if stage == .r3 { _ = m.receive(resumeTranscript[0], now: Self.now) }
            return m
        case .r2:
            let m = HandshakeMachine(resuming: initiatorSession, configuration: Self.config(.initiator, honestPeer, qp: 1))
            _ = m.start(now: Self.now)
            return m
        }
    }
}

/// An Ed25519 key pair from a one-byte seed (libsodium crypto_sign_seed_keypair).
struct FuzzKey: Sendable {
    let publicKey: [UInt8]
    let secretKey: [UInt8]
    init(seed: UInt8) {
        _ = sodiumReady
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        _ = crypto_sign_seed_keypair(&pk, &sk, [UInt8](repeating: seed, count: Int(crypto_sign_SEEDBYTES)))
        publicKey = pk
        secretKey = sk
    }
}

/// Signs with `key`, or answers `fixedSignature` (a hostile peer's bytes) when set.
struct FuzzCredential: HandshakeCredential {
    let certificateChain: [[UInt8]]
    let key: FuzzKey
    let fixedSignature: [UInt8]?
    var signatureAlgorithm: SignatureAlgorithm { .ed25519 }
    var notAfter: Timestamp { .seconds(2_000_000) }
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        if let fixedSignature { return fixedSignature }
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), key.secretKey)
        return signature
    }
}

struct FuzzPeer: VerifiedPeer {
    let publicKey: [UInt8]
    var identity: String { "spiffe://fuzz.test/peer" }
    var notAfter: Timestamp { .seconds(2_000_000) }
    func verifySignature(_ signature: [UInt8], over message: [UInt8], algorithm: SignatureAlgorithm) -> Bool {
        algorithm == .ed25519 && signature.count == Int(crypto_sign_BYTES)
            && crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

/// Accepts a one-certificate chain of the two known keys; everything else is malformed or untrusted.
struct FuzzVerifier: PeerVerifier {
    static let trustedKeys = [FuzzKey(seed: 1).publicKey, FuzzKey(seed: 2).publicKey]
    func verify(chain: [[UInt8]], at now: Timestamp) -> PeerVerificationResult {
        guard chain.count == 1, let leaf = chain.first, leaf.count == 36, leaf.starts(with: Array("FUZZ".utf8)) else {
            return .rejected(PeerRejection(.malformed))
        }
        let key = Array(leaf.dropFirst(4))
        guard Self.trustedKeys.contains(key) else {
            return .rejected(PeerRejection(.untrustedIssuer))
        }
        return .verified(FuzzPeer(publicKey: key))
    }
    func authorize(_ peer: any VerifiedPeer, at now: Timestamp) -> PolicyDecision { .allowed }
    func isStillValid(_ peer: any VerifiedPeer, at now: Timestamp) -> Bool { true }
}

/// Deterministic randomness (SplitMix64), so a machine rebuilt for every input sends
/// the same messages as the honest run it replays.
struct FuzzRandom: RandomSource {
    let seed: UInt64
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var state = seed
        for i in 0..<buffer.count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            buffer[i] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }
}
