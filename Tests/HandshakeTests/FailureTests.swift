// Every failure reason the machine reports, each provoked on purpose.
import Testing
@_spi(Testing) @testable import Handshake

@Suite struct FailureTests {
    /// A responder that has answered M1, plus the messages so far.
    func afterM2(_ f: Fixture) -> (alice: HandshakeMachine, bob: HandshakeMachine, m1: [UInt8], m2: [UInt8])? {
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        let bob = HandshakeMachine(configuration: f.bobConfig())
        guard let m1 = alice.start(now: Fixture.now).message, case .send(let m2) = bob.receive(m1, now: Fixture.now) else { return nil }
        return (alice, bob, m1, m2)
    }

    @Test func ReplayOntoAnotherQP() throws {
        let f = Fixture()
        // Record a whole handshake on QP 0...
        let o = drive(HandshakeMachine(configuration: f.aliceConfig(qp: 0)), HandshakeMachine(configuration: f.bobConfig(qp: 0)))
        #expect(o.initiator.result != nil)
        // ...and replay its M1 to bob's machine for QP 1.
        let bob1 = HandshakeMachine(configuration: f.bobConfig(qp: 1))
        let out = bob1.receive(o.transcript[0], now: Fixture.now)
        #expect(out.error?.code == .channelBindingMismatch)
        #expect(out.message == Alert(code: .channelBindingMismatch).encode())
        // M2 of QP 0 replayed to alice's QP 1 machine.
        let alice1 = HandshakeMachine(configuration: f.aliceConfig(qp: 1))
        _ = alice1.start(now: Fixture.now)
        #expect(alice1.receive(o.transcript[1], now: Fixture.now).error?.code == .channelBindingMismatch)
    }

    @Test func ReplayOfM3IntoAFreshHandshake() throws {
        // Same QP endpoints, new handshake (QP reuse): the old M3 does not open under new keys.
        var f = Fixture()
        let old = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        f.seed = 1234
        let p = try #require(afterM2(f))
        #expect(p.bob.receive(old.transcript[2], now: Fixture.now).error?.code == .decryptFailed)
    }

    @Test func SplicedQPsRewritingBinding() {
        // A man in the middle rewrites alice's binding in M1 to the QP bob expects
        // (bob expects QP 1, alice is on QP 0): bob accepts M1, alice's transcript differs.
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig(qp: 0, expectedRemote: Fixture.binding(.responder, qp: 0)))
        let bob = HandshakeMachine(configuration: f.bobConfig(qp: 1))
        let o = drive(alice, bob) { i, m in
            var t = m
            if i == 0 {  // M1: replace binding_i (last 29 bytes)
                var w = WireWriter(); Fixture.binding(.initiator, qp: 1).encode(into: &w)
                t.replaceSubrange((t.count - ChannelBinding.encodedSize)..., with: w.buffer)
            } else if i == 1 {  // M2: replace binding_r
                var w = WireWriter(); Fixture.binding(.responder, qp: 0).encode(into: &w)
                let start = 2 + 1 + 32
                t.replaceSubrange(start..<(start + ChannelBinding.encodedSize), with: w.buffer)
            }
            return t
        }
        #expect(o.initiator.error?.code == .decryptFailed)
        #expect(o.responder?.error?.remoteCode == .decryptFailed)
    }

    @Test func WrongRoleInBinding() {
        let f = Fixture()
        var wrong = Fixture.binding(.initiator, qp: 0)
        wrong.role = .initiator
        // Expecting an initiator while being one is local misuse.
        let alice = HandshakeMachine(configuration: f.aliceConfig(expectedRemote: wrong))
        #expect(alice.start(now: Fixture.now).error?.code == .localConfiguration)
    }

    @Test func ReflectedHello() {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        let m1 = alice.start(now: Fixture.now).message!
        let out = alice.receive(m1, now: Fixture.now)
        #expect(out.error?.code == .reflectedMessage)
        #expect(f.counters.snapshot()[.reflectedMessage] == 1)
    }

    @Test func ReflectedEphemeralInResponderHello() throws {
        // The network answers alice's M1 with an M2 carrying alice's own ephemeral.
        let f = Fixture()
        let p = try #require(afterM2(f))
        var m2 = p.m2
        let e_i = Array(p.m1[5..<37])  // version, type, n=2, 2 suites, e_i
        m2.replaceSubrange(3..<35, with: e_i)
        #expect(p.alice.receive(m2, now: Fixture.now).error?.code == .reflectedMessage)
    }

    @Test func ReflectedResponderHelloToResponder() throws {
        let f = Fixture()
        let p = try #require(afterM2(f))
        #expect(p.bob.receive(p.m2, now: Fixture.now).error?.code == .reflectedMessage)
    }

    @Test func WrongMessageForState() throws {
        let f = Fixture()
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        // M3 to a fresh responder.
        #expect(HandshakeMachine(configuration: f.bobConfig()).receive(o.transcript[2], now: Fixture.now).error?.code == .unexpectedMessage)
        // M4 to an initiator waiting for M2.
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        _ = alice.start(now: Fixture.now)
        #expect(alice.receive(o.transcript[3], now: Fixture.now).error?.code == .unexpectedMessage)
        // Anything to an initiator that has not started.
        #expect(HandshakeMachine(configuration: f.aliceConfig()).receive(o.transcript[1], now: Fixture.now).error?.code == .unexpectedMessage)
        // start() on a responder.
        #expect(HandshakeMachine(configuration: f.bobConfig()).start(now: Fixture.now).error?.code == .localConfiguration)
        // A message after the end.
        let p = try #require(afterM2(f))
        _ = p.alice.receive(p.m2, now: Fixture.now)
        #expect(p.alice.receive(p.m2, now: Fixture.now).error?.code == .unexpectedMessage)
    }

    @Test func WrongVersion() {
        let f = Fixture()
        var m1 = HandshakeMachine(configuration: f.aliceConfig()).start(now: Fixture.now).message!
        m1[0] = 1  // a version 1 peer: its resumption is the one issue 12 broke
        let out = HandshakeMachine(configuration: f.bobConfig()).receive(m1, now: Fixture.now)
        #expect(out.error?.code == .unsupportedVersion)
        #expect(out.message == [fabricAuthHandshakeVersion, 0x7F, HandshakeErrorCode.unsupportedVersion.rawValue])
    }

    @Test func UnknownSuiteChosenByResponder() throws {
        let f = Fixture()
        let p = try #require(afterM2(f))
        var m2 = p.m2
        m2[2] = 0x33
        #expect(p.alice.receive(m2, now: Fixture.now).error?.code == .unknownSuite)
    }

    @Test func TruncatedMessages() throws {
        let f = Fixture()
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        let m1 = o.transcript[0]
        #expect(HandshakeMachine(configuration: f.bobConfig()).receive(Array(m1.prefix(20)), now: Fixture.now).error?.code == .truncated)
        #expect(HandshakeMachine(configuration: f.bobConfig()).receive([1], now: Fixture.now).error?.code == .truncated)
        #expect(HandshakeMachine(configuration: f.bobConfig()).receive([], now: Fixture.now).error?.code == .truncated)
        let p = try #require(afterM2(f))
        #expect(p.alice.receive(Array(p.m2.prefix(ResponderHello.prefixSize + 5)), now: Fixture.now).error?.code == .truncated)
    }

    @Test func OversizedMessage() {
        let f = Fixture()
        var big = HandshakeMachine(configuration: f.aliceConfig()).start(now: Fixture.now).message!
        big += [UInt8](repeating: 0, count: HandshakeLimits.maxMessageSize)
        #expect(HandshakeMachine(configuration: f.bobConfig()).receive(big, now: Fixture.now).error?.code == .oversized)
    }

    @Test func TrailingBytesAreMalformed() {
        let f = Fixture()
        let m1 = HandshakeMachine(configuration: f.aliceConfig()).start(now: Fixture.now).message! + [0]
        #expect(HandshakeMachine(configuration: f.bobConfig()).receive(m1, now: Fixture.now).error?.code == .malformed)
    }

    @Test func GarbledCiphertext() throws {
        let f = Fixture()
        let p = try #require(afterM2(f))
        var m2 = p.m2
        m2[m2.count - 20] ^= 0x01
        #expect(p.alice.receive(m2, now: Fixture.now).error?.code == .decryptFailed)
    }

    @Test func GarbledFinished() throws {
        let f = Fixture()
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig())) { i, m in
            var t = m
            if i == 3 { t[t.count - 1] ^= 0x80 }
            return t
        }
        #expect(o.initiator.error?.code == .decryptFailed)
        #expect(o.initiator.result == nil)
    }

    @Test func LowOrderEphemeral() throws {
        let f = Fixture()
        var m1 = HandshakeMachine(configuration: f.aliceConfig()).start(now: Fixture.now).message!
        m1.replaceSubrange(5..<37, with: [UInt8](repeating: 0, count: 32))  // the identity point
        #expect(HandshakeMachine(configuration: f.bobConfig()).receive(m1, now: Fixture.now).error?.code == .invalidPublicKey)
    }

    @Test func GarbledAlertIsMalformed() throws {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        _ = alice.start(now: Fixture.now)
        #expect(alice.receive([fabricAuthHandshakeVersion, 0x7F, 200], now: Fixture.now).error?.code == .malformed)
    }

    @Test func Timeout() throws {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        _ = alice.start(now: Fixture.now)
        #expect(alice.checkTimeout(now: Fixture.now.adding(.seconds(4))) == nil)
        let out = try #require(alice.checkTimeout(now: Fixture.now.adding(.seconds(5))))
        #expect(out.error?.code == .timeout)
        #expect(out.message == Alert(code: .timeout).encode())
        #expect(alice.isFailed)
        #expect(alice.checkTimeout(now: Fixture.now.adding(.seconds(9))) == nil)  // reported once
        #expect(f.counters.snapshot()[.timeout] == 1)
    }

    @Test func LateMessageTimesOut() throws {
        let f = Fixture()
        let p = try #require(afterM2(f))
        let late = p.alice.receive(p.m2, now: Fixture.now.adding(.seconds(6)))
        #expect(late.error?.code == .timeout)
    }

    @Test func OversizedLocalPayloadRefused() {
        var f = Fixture()
        f.alicePayload = [UInt8](repeating: 1, count: HandshakeLimits.maxPayloadSize + 1)
        #expect(HandshakeMachine(configuration: f.aliceConfig()).start(now: Fixture.now).error?.code == .localConfiguration)
    }

    @Test func MaximalPayloadsAndChainFit() throws {
        var f = Fixture()
        f.alicePayload = [UInt8](repeating: 0xA5, count: HandshakeLimits.maxPayloadSize)
        f.bobPayload = [UInt8](repeating: 0x5A, count: HandshakeLimits.maxPayloadSize)
        let r = try #require(fullHandshake(f))
        #expect(r.bob.peerPayload == f.alicePayload && r.alice.peerPayload == f.bobPayload)
    }

    /// The keys the machine derived (traffic secrets, resumption secret and
    /// the finished key) are zeroed where they live when it finishes, not in a
    /// copy-on-write copy (issue 12 item 8: `keys?.wipe()` used to zero a copy
    /// while the live value kept the bytes, and the finished key was never wiped).
    @Test func DerivedKeysWipedWhereTheyLiveOnFinish() throws {
        let f = Fixture()
        let p = try #require(afterM2(f))
        let m3 = try #require(p.alice.receive(p.m2, now: Fixture.now).message)
        let held = try #require(p.alice.keys)  // initiator, awaiting M4
        let secrets = [held.initiatorToResponder, held.responderToInitiator, held.resumptionSecret, held.finishedKey]
        for s in secrets { #expect(s.storageForTesting.contains { $0 != 0 }) }
        let m4 = try #require(p.bob.receive(m3, now: Fixture.now).message)
        let result = try #require(p.alice.receive(m4, now: Fixture.now).result)
        for s in secrets {
            #expect(s.storageForTesting.allSatisfy { $0 == 0 }, "a secret the machine held survived it")
        }
        // What the machine handed out is its own copy, intact until the data path wipes it.
        #expect(result.initiatorToResponder.storageForTesting.contains { $0 != 0 })
        #expect(result.session.secret.storageForTesting.contains { $0 != 0 })
    }

    @Test func SecretsWipedOnFinishAndFailure() throws {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        let bob = HandshakeMachine(configuration: f.bobConfig())
        let o = drive(alice, bob)
        let a = try #require(o.initiator.result)
        for m in [alice, bob] {
            #expect(m.keys == nil)
            #expect(m.symmetric.h.storageForTesting.allSatisfy { $0 == 0 })
            #expect(m.ephemeralSecret == nil)
            #expect(m.finalTranscript == nil)
        }
        // The result the data path got is intact, and its wipe() reaches the
        // memory itself: every copy of the value shares the one allocation.
        let copy = a
        let secrets = [a.initiatorToResponder, a.responderToInitiator, a.session.secret]
        for s in secrets { #expect(s.storageForTesting.contains { $0 != 0 }) }
        copy.wipe()
        for s in secrets {
            #expect(s.storageForTesting.allSatisfy { $0 == 0 }, "wiped where it lives, not in a copy")
            #expect(s.isWiped)
        }

        let p = try #require(afterM2(f))
        _ = p.alice.receive(Array(p.m2.dropLast()), now: Fixture.now)  // fails (decryptFailed)
        #expect(p.alice.isFailed)
        #expect(p.alice.ephemeralSecret == nil)
        #expect(p.alice.symmetric.h.storageForTesting.allSatisfy { $0 == 0 })
    }

    @Test func CountersPerReason() {
        let f = Fixture()
        let bob = { HandshakeMachine(configuration: f.bobConfig()) }
        _ = bob().receive([], now: Fixture.now)
        _ = bob().receive([9, 1], now: Fixture.now)
        _ = bob().receive([9, 1], now: Fixture.now)
        _ = bob().receive([fabricAuthHandshakeVersion, 0x7F, HandshakeErrorCode.timeout.rawValue], now: Fixture.now)
        let c = f.counters.snapshot()
        #expect(c[.truncated] == 1 && c[.unsupportedVersion] == 2 && c[.peerAborted] == 1 && c.totalFailures == 4)
    }
}
