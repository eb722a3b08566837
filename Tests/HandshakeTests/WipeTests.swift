// Issue 12 item 8: every secret the handshake makes (ephemeral private keys, Diffie-
// Hellman outputs, the chaining key ck, the key k, the transcript hash h, Noise HKDF's
// PRK and output block, the resumption PSK, the final PRK and the derived keys) lives in
// a SecretBytes, and is zero where it lives once it is no longer needed. The tests bind
// SecretBytes.allocationLogForTesting (an @_spi hook) to keep every secret the machines
// make alive, then read each one's memory through `storageForTesting` after the step
// that must have wiped it. Before this change ck, k, h and the ephemeral keys were
// arrays: the machine zeroed whichever copy it held, and nothing reached the others.
import Testing
@_spi(Testing) @testable import Handshake

@Suite struct WipeTests {
    /// Runs `body` with every SecretBytes it makes recorded.
    func recording<R>(_ body: () throws -> R) rethrows -> (R, [SecretBytes]) {
        let log = SecretBytes.AllocationLog()
        let r = try SecretBytes.$allocationLogForTesting.withValue(log) { try body() }
        return (r, log.secrets)
    }

    func isZero(_ s: SecretBytes) -> Bool { s.storageForTesting.allSatisfy { $0 == 0 } }

    /// What a finished handshake may still hold: the result's own copies.
    func handedOut(_ results: [HandshakeResult]) -> [SecretBytes] {
        results.flatMap { [$0.initiatorToResponder, $0.responderToInitiator, $0.session.secret, $0.reauthenticationAnchor] }
    }

    @Test func EverySecretOfAFullHandshakeIsZeroWhenItEnds() throws {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        let bob = HandshakeMachine(configuration: f.bobConfig())
        let (o, made) = recording { drive(alice, bob) }
        let a = try #require(o.initiator.result)
        let b = try #require(o.responder?.result)
        let kept = handedOut([a, b])
        // Both ephemerals, two DH outputs, three states of three, HKDF temporaries, keys.
        #expect(made.count > 20, "\(made.count) secrets recorded")
        let left = made.filter { s in !kept.contains { $0 === s } && !isZero(s) }
        #expect(left.isEmpty, "\(left.count) of \(made.count) secrets survived the handshake")
        for s in kept { #expect(!isZero(s), "the result's copies are intact until the channel wipes them") }
        // The machines' own state: ck, k and h zeroed in place.
        for m in [alice, bob] {
            for s in [m.symmetric.ck, m.symmetric.k, m.symmetric.h] { #expect(isZero(s)) }
        }
    }

    /// Each secret is wiped at the step where it stops being needed, not only at the end.
    @Test func InitiatorWipesAtEachStep() throws {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        let bob = HandshakeMachine(configuration: f.bobConfig())
        let m1 = try #require(alice.start(now: Fixture.now).message)
        let ephemeral = try #require(alice.ephemeralSecret)
        let (ck, h) = (alice.symmetric.ck, alice.symmetric.h)
        #expect(!isZero(ephemeral) && !isZero(ck) && !isZero(h))
        let m2 = try #require(bob.receive(m1, now: Fixture.now).message)

        // M2 in, M3 out: the ephemeral after ee, and the whole symmetric state once the
        // final PRK is derived; only the transcript for M4's associated data remains.
        let m3 = try #require(alice.receive(m2, now: Fixture.now).message)
        #expect(isZero(ephemeral), "the initiator's ephemeral key outlived its only DH")
        #expect(alice.ephemeralSecret == nil)
        for s in [alice.symmetric.ck, alice.symmetric.k, alice.symmetric.h] { #expect(isZero(s)) }
        #expect(alice.symmetric.ck === ck, "ck is overwritten where it lives, not reallocated")
        let transcript = try #require(alice.finalTranscript)
        #expect(!isZero(transcript))

        let m4 = try #require(bob.receive(m3, now: Fixture.now).message)
        _ = try #require(alice.receive(m4, now: Fixture.now).result)
        #expect(isZero(transcript) && alice.finalTranscript == nil)
    }

    /// The responder's ephemeral key, its DH output and the HKDF temporaries of M1's
    /// step are zero when M2 leaves; only ck, k and h (still needed for M3) are not.
    @Test func ResponderWipesItsEphemeralWhenM2Leaves() throws {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        let bob = HandshakeMachine(configuration: f.bobConfig())
        let m1 = try #require(alice.start(now: Fixture.now).message)
        let (out, made) = recording { bob.receive(m1, now: Fixture.now) }
        #expect(out.message != nil)
        let live = [bob.symmetric.ck, bob.symmetric.k, bob.symmetric.h]
        let rest = made.filter { s in !live.contains { $0 === s } }
        #expect(rest.count >= 4, "ephemeral, DH output, HKDF PRK and output block: \(rest.count)")
        #expect(rest.allSatisfy(isZero), "a secret of the M1 step survived it")
        for s in live { #expect(!isZero(s)) }
        #expect(bob.ephemeralSecret == nil)
    }

    @Test func EverySecretIsZeroAfterAFailure() throws {
        let f = Fixture()
        let alice = HandshakeMachine(configuration: f.aliceConfig())
        let bob = HandshakeMachine(configuration: f.bobConfig())
        let (failed, made) = recording { () -> Bool in
            guard let m1 = alice.start(now: Fixture.now).message,
                  let m2 = bob.receive(m1, now: Fixture.now).message else { return false }
            _ = alice.receive(Array(m2.dropLast()), now: Fixture.now)  // decryptFailed
            _ = bob.receive([fabricAuthHandshakeVersion, 0x7F, HandshakeErrorCode.timeout.rawValue], now: Fixture.now)
            return alice.isFailed && bob.isFailed
        }
        #expect(failed)
        #expect(!made.isEmpty)
        #expect(made.allSatisfy(isZero), "\(made.filter { !isZero($0) }.count) secrets survived the failure")
    }

    @Test func EverySecretOfAResumptionIsZeroWhenItEnds() throws {
        let f = Fixture()
        let full = try #require(fullHandshake(f))
        let alice = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1))
        let bob = HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session]))
        let (o, made) = recording { drive(alice, bob) }
        let a = try #require(o.initiator.result)
        let b = try #require(o.responder?.result)
        #expect(a.resumed && b.resumed)
        let kept = handedOut([a, b])
        #expect(made.count > 10, "\(made.count) secrets recorded")
        let left = made.filter { s in !kept.contains { $0 === s } && !isZero(s) }
        #expect(left.isEmpty, "\(left.count) of \(made.count) secrets (PSK, ck, k, h, keys) survived the resumption")
        // The cache's sessions are the cache's to wipe.
        #expect(!isZero(full.alice.session.secret) && !isZero(full.bob.session.secret))
    }

    /// Re-authentication (docs/protocol.md section 14): after a run, only the new
    /// secrets handed to the data path and each machine's new anchor are non-zero; the
    /// old anchor, ephemerals, DH outputs, ck/k/h and the finished key are zero.
    @Test func EverySecretOfAReauthenticationIsZeroWhenItEnds() throws {
        let c = try ReauthChannel()
        let oldAnchors = [c.alice.anchor, c.bob.anchor]
        let (run, made) = recording { runReauth(c.alice, c.bob, credential: c.credential(Fixture.aliceID, seed: 80)) }
        let a = try #require(run.requesterResult), b = try #require(run.responderResult)
        let kept: [SecretBytes] = [try #require(run.requesterSendSecret), a.receiveSecret, b.receiveSecret,
                                   try #require(b.sendSecret), c.alice.anchor, c.bob.anchor]
        #expect(made.count > 20, "\(made.count) secrets recorded")
        let left = made.filter { s in !kept.contains { $0 === s } && !isZero(s) }
        #expect(left.isEmpty, "\(left.count) of \(made.count) secrets survived the re-authentication")
        for s in kept { #expect(!isZero(s)) }
        for s in oldAnchors { #expect(isZero(s), "the previous generation's anchor was wiped") }
    }

    @Test func AFailedReauthenticationLeavesNoSecret() throws {
        let c = try ReauthChannel()
        let (run, made) = recording {
            runReauth(c.alice, c.bob, credential: c.credential("spiffe://fabric.test/ns/train/sa/mallory", seed: 81))
        }
        #expect(run.responder?.error?.code == .peerIdentityChanged)
        // Alice had switched her sender after A3 (the channel holds that secret and
        // closes); everything else the run made is zero.
        #expect(made.filter { $0 !== run.requesterSendSecret }.allSatisfy(isZero), "a secret survived the failed run")
        #expect(isZero(c.alice.anchor) && isZero(c.bob.anchor))
    }
}
