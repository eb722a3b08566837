// Attacks on resumption from issue 12, items 1 and 2, each as the attacker would run it
// against the machine: a captured R1 injected into a new QP (ReDMArk-style injection,
// the endpoint exchange discloses QPN and PSN), and the "selfie" reflection of a
// resumed session to its owner (as the TLS 1.3 PSK selfie attack, Drucker and Gueron,
// ePrint 2019/347).
import Testing
@testable import Handshake

@Suite struct ResumptionAttackTests {
    /// 600 s after the capture: well inside the session's lifetime (3600 s).
    static let later = Fixture.now.adding(.seconds(600))

    /// Issue 12, item 1. The attacker declared the victim's old initiator endpoint over
    /// TCP, so the listener's new QP expects exactly the binding R1 carries; the
    /// listener's own QP (binding_r) is new. R1 names the responder QP it was made
    /// for and hashes it, so the responder refuses before anything is delivered.
    @Test func CapturedResumeRequestIsRefusedOnANewQueuePair() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let qp1 = drive(HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1)),
                        HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session])))
        #expect(qp1.initiator.result != nil && qp1.responder?.result != nil)
        let capturedR1 = try #require(qp1.transcript.first)

        let before = f.counters.snapshot()
        var attacked = f
        attacked.seed = 99  // a new QP on the listener: its own fresh randomness
        let newQP = HandshakeMachine(configuration: attacked.bobConfig(
            qp: 2, expectedRemote: Fixture.binding(.initiator, qp: 1), sessions: [full.bob.session]))
        let out = newQP.receive(capturedR1, now: Self.later)
        #expect(out.result == nil, "a captured R1 authenticated a new QP")
        #expect(out.error?.code == .responderBindingMismatch)
        #expect(out.message == Alert(code: .responderBindingMismatch).encode())
        #expect(newQP.isFailed)
        let after = f.counters.snapshot()
        #expect(after[.responderBindingMismatch] == before[.responderBindingMismatch] + 1)
        #expect(after.resumedCompleted == before.resumedCompleted)
    }

    /// Issue 12, item 1, when the attacker even gets the old responder endpoint
    /// (QPN and PSN predicted, or the endpoint reused): the responder answers R1 but
    /// does not count the QP as authenticated until the initiator proves, in R3, that
    /// it saw this responder's fresh nonce. The old R3 does not open.
    @Test func ReplayedResumeExchangeOnAPredictedEndpointFailsKeyConfirmation() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let qp1 = drive(HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1)),
                        HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session])))
        try #require(qp1.transcript.count == 3, "resumption must end with the initiator's key confirmation (R3)")

        var attacked = f
        attacked.seed = 99
        let sameEndpoint = HandshakeMachine(configuration: attacked.bobConfig(qp: 1, sessions: [full.bob.session]))
        let answer = sameEndpoint.receive(qp1.transcript[0], now: Self.later)
        #expect(answer.result == nil, "the responder finished on a replayed R1")
        #expect(answer.message != nil && answer.error == nil)
        #expect(!sameEndpoint.isFinished)
        let before = f.counters.snapshot()
        let confirmation = sameEndpoint.receive(qp1.transcript[2], now: Self.later)
        #expect(confirmation.result == nil, "a replayed R3 authenticated the QP")
        #expect(confirmation.error?.code == .decryptFailed)
        #expect(f.counters.snapshot()[.decryptFailed] == before[.decryptFailed] + 1)
        #expect(f.counters.snapshot().resumedCompleted == before.resumedCompleted)
    }

    /// The replayer cannot produce R3 at all: the responder that answered a replayed R1
    /// gives up at its deadline, counts a timeout, and never hands out a channel.
    @Test func ResponderWithoutKeyConfirmationTimesOut() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let capturedR1 = try #require(HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1))
            .start(now: Fixture.now).message)
        let responder = HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session]))
        #expect(responder.receive(capturedR1, now: Self.later).message != nil)
        #expect(responder.checkTimeout(now: Self.later.adding(HandshakeLimits.defaultTimeout)
            .adding(.nanoseconds(-1))) == nil)
        let before = f.counters.snapshot()
        let out = responder.checkTimeout(now: Self.later.adding(HandshakeLimits.defaultTimeout))
        #expect(out?.error?.code == .timeout && out?.result == nil)
        #expect(f.counters.snapshot()[.timeout] == before[.timeout] + 1)
        #expect(f.counters.snapshot().resumedCompleted == before.resumedCompleted)
    }

    /// Issue 12, item 2. Alice's connection to "bob" is redirected at TCP level to
    /// alice's own listener, which holds alice's copy of the session (as it would if it
    /// shared a session store). Both of alice's channels would believe the peer is bob
    /// and alice's frames would verify as bob's. The session remembers alice was the
    /// initiator of the full handshake, so her responder refuses it.
    @Test func ResumedSessionCannotBeReflectedToItsOwnerSelfie() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let aliceSession = full.alice.session
        let aliceAsListener = HandshakeConfiguration(
            credential: f.aliceCredential, verifier: f.aliceVerifier,
            localBinding: Fixture.binding(.responder, qp: 1), expectedRemoteBinding: Fixture.binding(.initiator, qp: 1),
            payload: f.alicePayload, random: DeterministicRandom(seed: 4242), counters: f.counters,
            sessionLookup: { $0 == aliceSession.sessionID ? aliceSession : nil })
        let before = f.counters.snapshot()
        let o = drive(HandshakeMachine(resuming: aliceSession, configuration: f.aliceConfig(qp: 1)),
                      HandshakeMachine(configuration: aliceAsListener))
        #expect(o.initiator.result == nil && o.responder?.result == nil, "alice authenticated herself as bob")
        #expect(o.responder?.error?.code == .sessionRoleMismatch)
        #expect(o.initiator.error?.code == .peerAborted && o.initiator.error?.remoteCode == .sessionRoleMismatch)
        let after = f.counters.snapshot()
        #expect(after[.sessionRoleMismatch] == before[.sessionRoleMismatch] + 1)
        #expect(after.resumedCompleted == before.resumedCompleted)
    }

    /// The same rule from the other side: bob's copy says he was the responder, so he
    /// cannot resume it as an initiator; refused before anything is sent.
    @Test func ResumptionWithSwappedRolesIsRefused() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let bobAsInitiator = HandshakeConfiguration(
            credential: f.bobCredential, verifier: f.bobVerifier,
            localBinding: Fixture.binding(.initiator, qp: 9), expectedRemoteBinding: Fixture.binding(.responder, qp: 9),
            random: DeterministicRandom(seed: 5), counters: f.counters)
        let out = HandshakeMachine(resuming: full.bob.session, configuration: bobAsInitiator).start(now: Fixture.now)
        #expect(out.error?.code == .sessionRoleMismatch)
        #expect(out.message == nil)
    }
}

extension ResumptionAttackTests {
    /// Defence in depth for item 2: with the explicit role check taken out, a responder
    /// holding the initiator's own record derives another PSK and R1 does not open.
    @Test func ReflectedSessionKeysDifferEvenWithoutTheRoleCheck() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let aliceSession = full.alice.session
        let r1 = try #require(HandshakeMachine(resuming: aliceSession, configuration: f.aliceConfig(qp: 1))
            .start(now: Fixture.now).message)
        let parsed = try ResumeRequest.decode(r1)
        let aliceAsResponder = HandshakeMachine(configuration: HandshakeConfiguration(
            credential: f.aliceCredential, verifier: f.aliceVerifier,
            localBinding: Fixture.binding(.responder, qp: 1), expectedRemoteBinding: Fixture.binding(.initiator, qp: 1)))
        // As receiveResumeRequest does after its checks, minus the role check.
        aliceAsResponder.symmetric = SymmetricState(protocolName: KeySchedule.resumeProtocolName)
        aliceAsResponder.absorbResumeRequest(prefix: r1[0..<ResumeRequest.prefixSize], nonce: parsed.nonce,
                                             session: aliceSession)
        #expect(throws: HandshakeError(.decryptFailed, "AEAD tag mismatch")) {
            try aliceAsResponder.symmetric.decryptAndHash(parsed.ciphertext)
        }
        // The honest responder's record (role responder) opens the same R1.
        let bob = HandshakeMachine(configuration: f.bobConfig(qp: 1))
        bob.symmetric = SymmetricState(protocolName: KeySchedule.resumeProtocolName)
        bob.absorbResumeRequest(prefix: r1[0..<ResumeRequest.prefixSize], nonce: parsed.nonce, session: full.bob.session)
        #expect(throws: Never.self) { try bob.symmetric.decryptAndHash(parsed.ciphertext) }
    }
}
