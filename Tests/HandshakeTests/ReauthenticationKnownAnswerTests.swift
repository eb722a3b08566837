// Re-authentication known answer (docs/protocol.md section 14.8) against the independent
// Python implementation (Vectors/handshake_vector.py): the full handshake of
// KnownAnswerTests, then alice (handshake initiator) re-authenticates with a new key.
import Testing
@testable import Handshake

@Suite struct ReauthenticationKnownAnswerTests {
    @Test func MatchesIndependentImplementation() throws {
        let alice = KATCredential(key: Ed25519KeyPair(seed: 2), identity: "spiffe://kat/alice")
        let bob = KATCredential(key: Ed25519KeyPair(seed: 3), identity: "spiffe://kat/bob")
        let bI = KnownAnswerTests.binding(.initiator, 0x000101, 0x123456, 4096)
        let bR = KnownAnswerTests.binding(.responder, 0x000202, 0x654321, 4096)
        let now = Timestamp.seconds(1_000_000)
        let o = drive(
            HandshakeMachine(configuration: KnownAnswerTests.config(alice, local: bI, remote: bR, payload: "alice rkey=0x1234",
                                                                    random: [[UInt8](repeating: 0x11, count: 32)])),
            HandshakeMachine(configuration: KnownAnswerTests.config(bob, local: bR, remote: bI, payload: "bob rkey=0x5678",
                                                                    random: [[UInt8](repeating: 0x22, count: 32)])),
            now: now)
        let a = try #require(o.initiator.result), b = try #require(o.responder?.result)
        #expect(o.transcript == [KnownAnswerVector.m1, KnownAnswerVector.m2, KnownAnswerVector.m3, KnownAnswerVector.m4])

        let requester = ReauthenticationMachine(handshake: a, credential: alice, verifier: KATVerifier(),
                                                random: FixedRandom([[UInt8](repeating: 0x55, count: 32)]))
        let responder = ReauthenticationMachine(handshake: b, credential: bob, verifier: KATVerifier(),
                                                random: FixedRandom([[UInt8](repeating: 0x66, count: 32)]))
        let newAlice = KATCredential(key: Ed25519KeyPair(seed: 4), identity: "spiffe://kat/alice")
        let run = runReauth(requester, responder, credential: newAlice, now: now)
        #expect(run.transcript == [KnownAnswerVector.a1, KnownAnswerVector.a2, KnownAnswerVector.a3, KnownAnswerVector.a4])
        let aliceSend = try #require(run.requesterSendSecret)
        let ra = try #require(run.requesterResult), rb = try #require(run.responderResult)
        #expect(aliceSend.bytes == KnownAnswerVector.reauthI2R && rb.receiveSecret.bytes == KnownAnswerVector.reauthI2R)
        #expect(rb.sendSecret?.bytes == KnownAnswerVector.reauthR2I && ra.receiveSecret.bytes == KnownAnswerVector.reauthR2I)
        #expect(requester.anchor.bytes == KnownAnswerVector.reauthAnchor1 && responder.anchor.bytes == KnownAnswerVector.reauthAnchor1)
    }
}
