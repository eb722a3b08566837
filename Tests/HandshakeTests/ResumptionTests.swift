// Many QPs, one proof: resumption from the session of a full handshake.
import Testing
@testable import Handshake

@Suite struct ResumptionTests {
    func resume(_ f: Fixture, qp: Int, aliceSession: ResumableSession, bobSessions: [ResumableSession],
                now: Timestamp = Fixture.now, tamper: ((Int, [UInt8]) -> [UInt8])? = nil) -> Outcome {
        drive(HandshakeMachine(resuming: aliceSession, configuration: f.aliceConfig(qp: qp)),
              HandshakeMachine(configuration: f.bobConfig(qp: qp, sessions: bobSessions)), now: now, tamper: tamper)
    }

    @Test func ResumedHappyPath() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let callsAfterFull = f.aliceVerifier.verifyCalls.withLock { $0 } + f.bobVerifier.verifyCalls.withLock { $0 }
        var seen: [[UInt8]] = [full.alice.initiatorToResponder.bytes, full.alice.responderToInitiator.bytes]
        for qp in 1...4 {
            let o = resume(f, qp: qp, aliceSession: full.alice.session, bobSessions: [full.bob.session])
            #expect(o.transcript.count == 3)  // R1, R2, R3
            let a = try #require(o.initiator.result)
            let b = try #require(o.responder?.result)
            #expect(a.resumed && b.resumed)
            #expect(a.sendSecret.bytes == b.receiveSecret.bytes && a.receiveSecret.bytes == b.sendSecret.bytes)
            #expect(a.suite == full.alice.suite && a.epoch == 0)
            #expect(a.peer.identity == Fixture.bobID && b.peer.identity == Fixture.aliceID)
            #expect(a.peerPayload == f.bobPayload && b.peerPayload == f.alicePayload)
            #expect(a.localBinding == Fixture.binding(.initiator, qp: qp))
            for s in [a.initiatorToResponder.bytes, a.responderToInitiator.bytes] {
                #expect(!seen.contains(s), "traffic secret repeated across QPs")
                seen.append(s)
            }
        }
        // No certificate verification happened on the resumed QPs.
        #expect(f.aliceVerifier.verifyCalls.withLock { $0 } + f.bobVerifier.verifyCalls.withLock { $0 } == callsAfterFull)
        #expect(f.counters.snapshot().resumedCompleted == 8)
    }

    @Test func ResumptionPayloadNotInClear() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let o = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [full.bob.session])
        #expect(!contains(o.transcript.flatMap { $0 }, f.alicePayload))
        #expect(!contains(o.transcript.flatMap { $0 }, f.bobPayload))
    }

    @Test func ResumptionRefusedAfterRevocationAtInitiator() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        f.aliceVerifier.revoke(Fixture.bobID)
        let alice = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1))
        let out = alice.start(now: Fixture.now)
        #expect(out.error?.code == .peerRevoked)
        #expect(out.message == nil)  // nothing was sent, nothing to tell
    }

    @Test func ResumptionRefusedAfterRevocationAtResponder() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        f.bobVerifier.revoke(Fixture.aliceID)
        let o = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [full.bob.session])
        #expect(o.responder?.error?.code == .peerRevoked)
        #expect(o.initiator.error?.code == .peerAborted && o.initiator.error?.remoteCode == .peerRevoked)
    }

    @Test func ResumptionRefusedAfterPolicyChange() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        f.bobVerifier.deny(Fixture.aliceID)
        let o = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [full.bob.session])
        #expect(o.responder?.error?.code == .policyDenied)
    }

    @Test func ResumptionRefusedAfterSessionLifetime() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        #expect(full.alice.session.notAfter == Fixture.now.adding(HandshakeLimits.defaultSessionLifetime))
        let later = Fixture.now.adding(HandshakeLimits.defaultSessionLifetime)
        let alice = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1))
        #expect(alice.start(now: later).error?.code == .sessionExpired)
        // Bob refuses too, even if alice's clock is behind: feed him a fresh R1 late.
        let r1 = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1)).start(now: Fixture.now).message!
        let bob = HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session]))
        #expect(bob.receive(r1, now: later).error?.code == .sessionExpired)
        // Just before: fine.
        let o = resume(f, qp: 2, aliceSession: full.alice.session, bobSessions: [full.bob.session],
                       now: later.adding(.nanoseconds(-1)))
        #expect(o.initiator.result != nil)
    }

    @Test func ResumptionRefusedAfterCertificateExpiry() throws {
        // Bob's certificate expires 100 s after the full handshake, long before the session lifetime.
        var f = Fixture()
        let bobExpiry: Int64 = 500_100
        f.bobCredential = TestCredential(identity: Fixture.bobID, key: f.bobKey, issuer: f.ca, notAfter: bobExpiry)
        let full = try #require(fullHandshake(f))
        #expect(full.alice.session.notAfter == .seconds(bobExpiry))
        #expect(full.bob.session.notAfter == .seconds(bobExpiry))
        let ok = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [full.bob.session], now: .seconds(bobExpiry - 1))
        #expect(ok.initiator.result != nil)
        let late = resume(f, qp: 2, aliceSession: full.alice.session, bobSessions: [full.bob.session], now: .seconds(bobExpiry))
        #expect(late.initiator.error?.code == .sessionExpired)
    }

    @Test func UnknownSession() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let o = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [])
        #expect(o.responder?.error?.code == .unknownSession)
        #expect(o.initiator.error?.remoteCode == .unknownSession)
    }

    @Test func WrongSessionSecret() throws {
        // Same session ID, different secret (e.g. an attacker who saw R1's clear ID): R1 does not open.
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let s = full.bob.session
        let fake = ResumableSession(sessionID: s.sessionID, secret: SecretBytes(copying: [UInt8](repeating: 9, count: 32)),
                                    suite: s.suite, peer: s.peer, notAfter: s.notAfter, role: .initiator)
        let o = resume(f, qp: 1, aliceSession: fake, bobSessions: [s])
        #expect(o.responder?.error?.code == .decryptFailed)
    }

    @Test func ResumeRequestReplayedOntoAnotherQP() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let o = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [full.bob.session])
        #expect(o.initiator.result != nil)
        let bob2 = HandshakeMachine(configuration: f.bobConfig(qp: 2, sessions: [full.bob.session]))
        #expect(bob2.receive(o.transcript[0], now: Fixture.now).error?.code == .channelBindingMismatch)
        // binding_i rewritten to what bob's QP 2 expects: R1 still names QP 1's responder.
        var r1 = o.transcript[0]
        let bindingI = ResumeRequest.prefixSize - 2 * ChannelBinding.encodedSize
        var w = WireWriter(); Fixture.binding(.initiator, qp: 2).encode(into: &w)
        r1.replaceSubrange(bindingI..<(bindingI + ChannelBinding.encodedSize), with: w.buffer)
        let bob3 = HandshakeMachine(configuration: f.bobConfig(qp: 2, sessions: [full.bob.session]))
        #expect(bob3.receive(r1, now: Fixture.now).error?.code == .responderBindingMismatch)
        // Both bindings rewritten: both are hashed, so R1's AEAD breaks.
        var w2 = WireWriter(); Fixture.binding(.responder, qp: 2).encode(into: &w2)
        r1.replaceSubrange((bindingI + ChannelBinding.encodedSize)..<ResumeRequest.prefixSize, with: w2.buffer)
        let bob4 = HandshakeMachine(configuration: f.bobConfig(qp: 2, sessions: [full.bob.session]))
        #expect(bob4.receive(r1, now: Fixture.now).error?.code == .decryptFailed)
    }

    @Test func ResumeResponseReplayedOntoAnotherQP() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let o1 = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [full.bob.session])
        let alice = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 2))
        _ = alice.start(now: Fixture.now)
        #expect(alice.receive(o1.transcript[1], now: Fixture.now).error?.code == .channelBindingMismatch)
    }

    @Test func ReflectedResumeRequest() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let alice = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1))
        let r1 = alice.start(now: Fixture.now).message!
        #expect(alice.receive(r1, now: Fixture.now).error?.code == .reflectedMessage)
    }

    @Test func ReflectedNonceInResumeResponse() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let o = resume(f, qp: 1, aliceSession: full.alice.session, bobSessions: [full.bob.session]) { i, m in
            guard i == 1 else { return m }
            var t = m
            t.replaceSubrange(2..<34, with: [UInt8](repeating: 0, count: 32))
            return t
        }
        #expect(o.initiator.error?.code == .decryptFailed)
        // Now echo alice's own nonce.
        let alice = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1))
        let r1 = alice.start(now: Fixture.now).message!
        let bob = HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session]))
        var r2 = bob.receive(r1, now: Fixture.now).message!
        r2.replaceSubrange(2..<34, with: r1[18..<50])
        #expect(alice.receive(r2, now: Fixture.now).error?.code == .reflectedMessage)
    }
}
