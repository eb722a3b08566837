// Named scenarios for in-band re-authentication (docs/protocol.md section 14), one test
// per scenario (nebula's habit). The data path's side of the key switch (frames in
// flight, none lost or duplicated) is in FabricAuthTests.ReauthenticationDataPathTests.
import Testing
@testable import Handshake

/// Both ends of one channel after its handshake: alice was the handshake initiator.
struct ReauthChannel {
    let f: Fixture
    let alice: ReauthenticationMachine
    let bob: ReauthenticationMachine
    let handshake: (alice: HandshakeResult, bob: HandshakeResult)

    init(_ f: Fixture = Fixture(), qp: Int = 0, timeout: Duration = .seconds(5)) throws {
        self.f = f
        let o = drive(HandshakeMachine(configuration: f.aliceConfig(qp: qp)), HandshakeMachine(configuration: f.bobConfig(qp: qp)))
        let ar = try #require(o.initiator.result), br = try #require(o.responder?.result)
        handshake = (ar, br)
        alice = ReauthenticationMachine(handshake: ar, credential: f.aliceCredential, verifier: f.aliceVerifier,
                                        timeout: timeout, random: DeterministicRandom(seed: 900 + UInt64(qp)), counters: f.counters)
        bob = ReauthenticationMachine(handshake: br, credential: f.bobCredential, verifier: f.bobVerifier,
                                      timeout: timeout, random: DeterministicRandom(seed: 950 + UInt64(qp)), counters: f.counters)
    }

    /// A credential for `identity` with a fresh key (seed) from the fixture's CA (or `issuer`).
    func credential(_ identity: String, seed: UInt8, issuer: Ed25519KeyPair? = nil) -> TestCredential {
        TestCredential(identity: identity, key: Ed25519KeyPair(seed: seed), issuer: issuer ?? f.ca)
    }
}

/// What a run left at each end.
struct ReauthRun {
    var requester: ReauthenticationOutput
    var responder: ReauthenticationOutput?
    var transcript: [[UInt8]] = []
    var requesterSendSecret: SecretBytes?
    var requesterResult: ReauthenticationResult?
    var responderResult: ReauthenticationResult?
}

/// Ferries messages between the two machines (in order, as RC would) until neither sends.
func runReauth(_ requester: ReauthenticationMachine, _ responder: ReauthenticationMachine,
               credential: any HandshakeCredential, now: Timestamp = Fixture.now,
               tamper: ((Int, [UInt8]) -> [UInt8])? = nil) -> ReauthRun {
    var run = ReauthRun(requester: requester.start(with: credential, now: now))
    var current = run.requester
    var fromRequester = true
    while let sent = current.message {
        let msg = tamper?(run.transcript.count, sent) ?? sent
        run.transcript.append(msg)
        let receiver = fromRequester ? responder : requester
        if receiver.isClosed { break }
        current = receiver.receive(msg, now: now)
        if fromRequester { run.responder = current } else { run.requester = current }
        switch current {
        case .sendThenSwitchSending(_, let s): run.requesterSendSecret = s
        case .finished(let r, _): if fromRequester { run.responderResult = r } else { run.requesterResult = r }
        default: break
        }
        fromRequester.toggle()
    }
    return run
}

@Suite struct ReauthenticationScenarioTests {
    @Test func HappyPath() throws {
        let c = try ReauthChannel()
        let newAlice = c.credential(Fixture.aliceID, seed: 40)
        let run = runReauth(c.alice, c.bob, credential: newAlice)
        #expect(run.transcript.count == 4)  // A1..A4
        #expect(run.transcript[0].count == 113 && run.transcript[3].count == 18)
        let aliceSend = try #require(run.requesterSendSecret)
        let a = try #require(run.requesterResult), b = try #require(run.responderResult)
        let bobSend = try #require(b.sendSecret)
        #expect(a.sendSecret == nil)
        // Each direction's new secret agrees at both ends and is new.
        #expect(aliceSend.bytes == b.receiveSecret.bytes)
        #expect(bobSend.bytes == a.receiveSecret.bytes)
        #expect(aliceSend.bytes != bobSend.bytes)
        #expect(aliceSend.bytes != c.handshake.alice.initiatorToResponder.bytes)
        #expect(bobSend.bytes != c.handshake.alice.responderToInitiator.bytes)
        // The i2r direction is alice's (the handshake initiator), whoever requested.
        #expect(a.generation == 1 && b.generation == 1 && c.alice.generation == 1 && c.bob.generation == 1)
        // Bob now knows alice by her new certificate's key; the identity is unchanged.
        let seen = try #require(b.peer as? TestPeer)
        #expect(seen.identity == Fixture.aliceID && seen.publicKey == Ed25519KeyPair(seed: 40).publicKey)
        #expect(c.bob.peer.identity == Fixture.aliceID && c.alice.peer.identity == Fixture.bobID)
        // The anchors ratcheted to the same value and differ from the handshake's.
        #expect(c.alice.anchor.bytes == c.bob.anchor.bytes)
        #expect(c.alice.anchor.bytes != c.handshake.alice.reauthenticationAnchor.bytes)
        #expect(!c.alice.isRunning && !c.bob.isRunning && !c.alice.isClosed && !c.bob.isClosed)
        let counts = c.f.counters.snapshot()
        #expect(counts.reauthenticationsCompleted == 2 && counts.totalFailures == 0)
        // Identities and signatures never in the clear.
        let wire = run.transcript.flatMap { $0 }
        #expect(!contains(wire, Array("spiffe://".utf8)))
    }

    @Test func RepeatedReauthenticationsRatchetTheAnchor() throws {
        let c = try ReauthChannel()
        var anchors: [[UInt8]] = [c.alice.anchor.bytes]
        for g in 1...4 {
            let requesterIsAlice = g % 2 == 1
            let run = requesterIsAlice
                ? runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: UInt8(40 + g)))
                : runReauth(c.bob, c.alice, credential: c.credential(Fixture.bobID, seed: UInt8(60 + g)))
            #expect(run.requesterResult?.generation == UInt32(g) && run.responderResult?.generation == UInt32(g))
            #expect(c.alice.anchor.bytes == c.bob.anchor.bytes)
            anchors.append(c.alice.anchor.bytes)
        }
        #expect(Set(anchors).count == 5)
        #expect(c.f.counters.snapshot().reauthenticationsCompleted == 8)
    }

    @Test func HandshakeInitiatorRequests() throws {
        let c = try ReauthChannel()
        let run = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 41))
        guard case .finished(_, nil) = run.requester else { Issue.record("requester finishes on A4: \(run.requester)"); return }
        guard case .finished(_, let a4?)? = run.responder else { Issue.record("responder sends A4"); return }
        #expect(a4 == run.transcript[3])
    }

    @Test func HandshakeResponderRequests() throws {
        let c = try ReauthChannel()
        let run = runReauth(c.bob, c.alice, credential: c.credential(Fixture.bobID, seed: 42))
        let bobSend = try #require(run.requesterSendSecret)
        let a = try #require(run.responderResult), b = try #require(run.requesterResult)
        // Bob requested, but bob's direction is still r2i: alice receives bob's new secret.
        #expect(bobSend.bytes == a.receiveSecret.bytes)
        #expect(try #require(a.sendSecret).bytes == b.receiveSecret.bytes)
        #expect((a.peer as? TestPeer)?.publicKey == Ed25519KeyPair(seed: 42).publicKey)
        #expect(c.alice.generation == 1 && c.bob.generation == 1)
    }

    /// Both send A1 for generation 1; the handshake initiator's (alice's) wins at both
    /// ends, in either delivery order.
    @Test(arguments: [true, false]) func BothAtOnce(aliceReceivesFirst: Bool) throws {
        let c = try ReauthChannel()
        let aliceA1 = try #require(c.alice.start(with: c.credential(Fixture.aliceID, seed: 43), now: Fixture.now).message)
        let bobA1 = try #require(c.bob.start(with: c.credential(Fixture.bobID, seed: 44), now: Fixture.now).message)
        var a2: [UInt8]
        if aliceReceivesFirst {
            guard case .none = c.alice.receive(bobA1, now: Fixture.now) else { Issue.record("alice ignores bob's A1"); return }
            a2 = try #require(c.bob.receive(aliceA1, now: Fixture.now).message)
        } else {
            a2 = try #require(c.bob.receive(aliceA1, now: Fixture.now).message)
            guard case .none = c.alice.receive(bobA1, now: Fixture.now) else { Issue.record("alice ignores bob's A1"); return }
        }
        guard case .sendThenSwitchSending(let a3, let aliceSend) = c.alice.receive(a2, now: Fixture.now) else {
            Issue.record("alice sends A3"); return
        }
        guard case .finished(let b, let a4?) = c.bob.receive(a3, now: Fixture.now) else { Issue.record("bob finishes"); return }
        guard case .finished(let a, nil) = c.alice.receive(a4, now: Fixture.now) else { Issue.record("alice finishes"); return }
        #expect(aliceSend.bytes == b.receiveSecret.bytes && b.sendSecret?.bytes == a.receiveSecret.bytes)
        // Bob answered with his new credential (it became his current one at start).
        #expect((a.peer as? TestPeer)?.publicKey == Ed25519KeyPair(seed: 44).publicKey)
        let counts = c.f.counters.snapshot()
        #expect(counts.reauthenticationCollisions == 1 && counts.reauthenticationsCompleted == 2 && counts.totalFailures == 0)
    }

    @Test func PeerChangesItsSPIFFEID() throws {
        let c = try ReauthChannel()
        let mallory = c.credential("spiffe://fabric.test/ns/train/sa/mallory", seed: 45)  // trusted CA, other ID
        let run = runReauth(c.alice, c.bob, credential: mallory)
        #expect(run.responder?.error?.code == .peerIdentityChanged)
        #expect(run.requester.error?.code == .peerAborted && run.requester.error?.remoteCode == .peerIdentityChanged)
        #expect(c.alice.isClosed && c.bob.isClosed && c.bob.peer.identity == Fixture.aliceID)
        #expect(run.responderResult == nil && run.requesterResult == nil)
        #expect(c.f.counters.snapshot()[.peerIdentityChanged] == 1)
    }

    @Test func ResponderChangesItsSPIFFEID() throws {
        let c = try ReauthChannel()
        c.bob.updateCredential(c.credential("spiffe://fabric.test/ns/train/sa/eve", seed: 46))
        let run = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 47))
        #expect(run.requester.error?.code == .peerIdentityChanged)
        #expect(run.responder?.error?.code == .peerAborted)
        #expect(run.requesterSendSecret == nil)  // alice never switched
    }

    @Test func PeersNewCertificateUntrusted() throws {
        let c = try ReauthChannel()
        let otherCA = Ed25519KeyPair(seed: 99)
        let run = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 48, issuer: otherCA))
        #expect(run.responder?.error?.code == .peerRejected)
        #expect(run.responder?.error?.rejection?.reason == .untrustedIssuer)
        #expect(run.requester.error?.remoteCode == .peerRejected)
        #expect(c.bob.isClosed)
    }

    @Test func PeersNewCertificateRevoked() throws {
        let c = try ReauthChannel()
        c.f.bobVerifier.revoke(Fixture.aliceID)
        let run = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 49))
        #expect(run.responder?.error?.code == .peerRejected)
        #expect(run.responder?.error?.rejection?.reason == .revoked)
        #expect(c.bob.isClosed && c.alice.isClosed)
    }

    @Test func PeersNewCertificateExpired() throws {
        let c = try ReauthChannel()
        let expired = TestCredential(identity: Fixture.aliceID, key: Ed25519KeyPair(seed: 50), issuer: c.f.ca,
                                     notBefore: 1_000, notAfter: 400_000)  // Fixture.now is 500,000
        let run = runReauth(c.alice, c.bob, credential: expired)
        #expect(run.responder?.error?.rejection?.reason == .expired)
    }

    @Test func PolicyNowDeniesThePeer() throws {
        let c = try ReauthChannel()
        c.f.aliceVerifier.deny(Fixture.bobID)
        let run = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 51))
        #expect(run.requester.error?.code == .policyDenied)
    }

    /// The A1 of generation 1, replayed once generation 1 is done.
    @Test func ReplayOfAnOldReauthRequest() throws {
        let c = try ReauthChannel()
        let first = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 52))
        #expect(first.responderResult != nil)
        let out = c.bob.receive(first.transcript[0], now: Fixture.now)
        #expect(out.error?.code == .staleGeneration)
        #expect(out.message == Alert(code: .staleGeneration).encode())
        #expect(c.bob.isClosed)
    }

    /// A3 of generation 1 injected into generation 2's run: its h holds other ephemerals.
    @Test func ReplayOfAnOldReauthAuth() throws {
        let c = try ReauthChannel()
        let first = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 53))
        let a1 = try #require(c.alice.start(with: c.credential(Fixture.aliceID, seed: 54), now: Fixture.now).message)
        _ = try #require(c.bob.receive(a1, now: Fixture.now).message)  // A2 of generation 2
        #expect(c.bob.receive(first.transcript[2], now: Fixture.now).error?.code == .decryptFailed)
    }

    /// An A1 made on another QP of the same two workloads (its own anchor and bindings).
    @Test func ReauthRequestFromAnotherQueuePair() throws {
        let f = Fixture()
        let qp0 = try ReauthChannel(f, qp: 0)
        let qp1 = try ReauthChannel(f, qp: 1)
        let a1 = try #require(qp1.alice.start(with: qp1.credential(Fixture.aliceID, seed: 55), now: Fixture.now).message)
        #expect(qp0.bob.receive(a1, now: Fixture.now).error?.code == .channelBindingMismatch)
    }

    /// The same A1 with its clear bindings rewritten to this QP's: the anchor and the
    /// bindings are in h, so c1 does not open.
    @Test func ReauthRequestFromAnotherQueuePairWithRewrittenBindings() throws {
        let f = Fixture()
        let qp0 = try ReauthChannel(f, qp: 0)
        let qp1 = try ReauthChannel(f, qp: 1)
        var a1 = try #require(qp1.alice.start(with: qp1.credential(Fixture.aliceID, seed: 56), now: Fixture.now).message)
        var w = WireWriter()
        Fixture.binding(.initiator, qp: 0).encode(into: &w)
        Fixture.binding(.responder, qp: 0).encode(into: &w)
        a1.replaceSubrange(39..<97, with: w.buffer)
        #expect(qp0.bob.receive(a1, now: Fixture.now).error?.code == .decryptFailed)
    }

    @Test func ReflectedReauthRequest() throws {
        let c = try ReauthChannel()
        let a1 = try #require(c.alice.start(with: c.credential(Fixture.aliceID, seed: 57), now: Fixture.now).message)
        #expect(c.alice.receive(a1, now: Fixture.now).error?.code == .reflectedMessage)
    }

    @Test func RequesterTimesOutWithoutAnAnswer() throws {
        let c = try ReauthChannel(timeout: .seconds(5))
        _ = c.alice.start(with: c.credential(Fixture.aliceID, seed: 58), now: Fixture.now)
        #expect(c.alice.checkTimeout(now: Fixture.now.adding(.milliseconds(4999))) == nil)
        let out = try #require(c.alice.checkTimeout(now: Fixture.now.adding(.seconds(5))))
        #expect(out.error?.code == .timeout && out.message == Alert(code: .timeout).encode())
        #expect(c.alice.isClosed)
    }

    @Test func ResponderTimesOutWithoutA3() throws {
        let c = try ReauthChannel(timeout: .seconds(5))
        let a1 = try #require(c.alice.start(with: c.credential(Fixture.aliceID, seed: 59), now: Fixture.now).message)
        let later = Fixture.now.adding(.seconds(3))
        _ = try #require(c.bob.receive(a1, now: later).message)
        #expect(c.bob.checkTimeout(now: Fixture.now.adding(.seconds(7))) == nil)  // 5 s from A1's arrival
        #expect(c.bob.checkTimeout(now: later.adding(.seconds(5)))?.error?.code == .timeout)
    }

    @Test func IdleMachineNeverTimesOut() throws {
        let c = try ReauthChannel()
        #expect(c.alice.checkTimeout(now: Timestamp.seconds(1 << 40)) == nil)
    }

    @Test func TamperedMessagesFailAndClose() throws {
        for index in 0..<4 {
            let c = try ReauthChannel()
            let run = runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 60)) { i, m in
                var m = m
                if i == index { m[m.count - 1] ^= 1 }
                return m
            }
            let detector = index % 2 == 0 ? run.responder : run.requester
            #expect(detector?.error?.code == .decryptFailed, "tampered A\(index + 1)")
            #expect(run.requesterResult == nil || run.responderResult == nil)
        }
    }

    @Test func SecondStartWhileRunningIsRefusedWithoutClosing() throws {
        let c = try ReauthChannel()
        _ = c.alice.start(with: c.credential(Fixture.aliceID, seed: 61), now: Fixture.now)
        let again = c.alice.start(with: c.credential(Fixture.aliceID, seed: 62), now: Fixture.now)
        #expect(again.error?.code == .localConfiguration && again.message == nil && !c.alice.isClosed)
    }

    @Test func HandshakeSignatureCannotStandInForAReauthSignature() {
        #expect(ReauthenticationMachine.requesterSignatureContext != KeySchedule.initiatorSignatureContext)
        #expect(ReauthenticationMachine.responderSignatureContext != KeySchedule.responderSignatureContext)
        #expect(ReauthenticationMachine.requesterSignatureContext != ReauthenticationMachine.responderSignatureContext)
    }
}
