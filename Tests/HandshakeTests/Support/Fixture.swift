@testable import Handshake

/// Two endpoints (alice initiates, bob responds) under one test CA, like nebula's test setups.
struct Fixture {
    static let aliceID = "spiffe://fabric.test/ns/train/sa/alice"
    static let bobID = "spiffe://fabric.test/ns/train/sa/bob"
    static let now = Timestamp.seconds(500_000)

    let ca = Ed25519KeyPair(seed: 1)
    let aliceKey = Ed25519KeyPair(seed: 2)
    let bobKey = Ed25519KeyPair(seed: 3)
    var aliceCredential: any HandshakeCredential
    var bobCredential: any HandshakeCredential
    let aliceVerifier: TestVerifier
    let bobVerifier: TestVerifier
    let counters = HandshakeCounters()
    var aliceSuites = CipherSuite.known
    var bobSuites = CipherSuite.known
    var alicePayload: [UInt8] = Array("alice rkey=0x1234 addr=0xdead0000".utf8)
    var bobPayload: [UInt8] = Array("bob rkey=0x5678 mw=0x9abc".utf8)
    var seed: UInt64 = 7

    init() {
        aliceCredential = TestCredential(identity: Self.aliceID, key: aliceKey, issuer: ca)
        bobCredential = TestCredential(identity: Self.bobID, key: bobKey, issuer: ca)
        aliceVerifier = TestVerifier(trusting: [ca])
        bobVerifier = TestVerifier(trusting: [ca])
    }

    /// QP endpoints for QP number `qp` (distinct QPN, PSN per QP).
    static func binding(_ role: ChannelBinding.Role, qp: Int) -> ChannelBinding {
        let base: UInt32 = role == .initiator ? 0x10_0000 : 0x20_0000
        var gid = [UInt8](repeating: 0, count: 16)
        gid[0] = 0xfe; gid[1] = 0x80; gid[15] = role == .initiator ? 1 : 2
        return ChannelBinding(role: role, qpn: base + UInt32(qp), psn: (0x12_3456 &+ UInt32(qp) &* 7919) & 0xFF_FFFF,
                              gid: gid, mtu: 4096)
    }

    func aliceConfig(qp: Int = 0, expectedRemote: ChannelBinding? = nil) -> HandshakeConfiguration {
        HandshakeConfiguration(credential: aliceCredential, verifier: aliceVerifier,
                               localBinding: Self.binding(.initiator, qp: qp),
                               expectedRemoteBinding: expectedRemote ?? Self.binding(.responder, qp: qp),
                               suites: aliceSuites, payload: alicePayload, random: DeterministicRandom(seed: seed &* 1000 &+ UInt64(qp)),
                               counters: counters)
    }

    func bobConfig(qp: Int = 0, expectedRemote: ChannelBinding? = nil,
                   sessions: [ResumableSession] = []) -> HandshakeConfiguration {
        let cache = sessions
        return HandshakeConfiguration(credential: bobCredential, verifier: bobVerifier,
                                      localBinding: Self.binding(.responder, qp: qp),
                                      expectedRemoteBinding: expectedRemote ?? Self.binding(.initiator, qp: qp),
                                      suites: bobSuites, payload: bobPayload, random: DeterministicRandom(seed: seed &* 1000 &+ 500 &+ UInt64(qp)),
                                      counters: counters,
                                      sessionLookup: { id in cache.first { $0.sessionID == id } })
    }
}

struct Outcome {
    var initiator: HandshakeOutput
    var responder: HandshakeOutput?
    /// Every message on the wire, in order.
    var transcript: [[UInt8]]
}

/// Runs the two machines against each other until neither has anything to send.
/// `tamper(index, bytes)` lets a test act as the network (man in the middle).
func drive(_ initiator: HandshakeMachine, _ responder: HandshakeMachine, now: Timestamp = Fixture.now,
           tamper: ((Int, [UInt8]) -> [UInt8])? = nil) -> Outcome {
    var outcome = Outcome(initiator: initiator.start(now: now), responder: nil, transcript: [])
    var current = outcome.initiator
    var fromInitiator = true
    while let sent = current.message {
        let msg = tamper?(outcome.transcript.count, sent) ?? sent
        outcome.transcript.append(msg)
        let receiver = fromInitiator ? responder : initiator
        if receiver.isFinished || receiver.isFailed { break }
        current = receiver.receive(msg, now: now)
        if fromInitiator { outcome.responder = current } else { outcome.initiator = current }
        fromInitiator.toggle()
    }
    return outcome
}

/// A finished full handshake between the fixture's endpoints on QP 0.
func fullHandshake(_ f: Fixture) -> (alice: HandshakeResult, bob: HandshakeResult)? {
    let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
    guard let a = o.initiator.result, let b = o.responder?.result else { return nil }
    return (a, b)
}
