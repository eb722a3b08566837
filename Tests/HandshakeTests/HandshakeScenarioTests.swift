// Named scenarios for the full handshake (nebula's handshake test habit).
import CSodium
import Testing
@testable import Handshake

@Suite struct HandshakeScenarioTests {
    @Test func HappyPath() throws {
        let f = Fixture()
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.transcript.count == 4)  // M1..M4
        let a = try #require(o.initiator.result)
        let b = try #require(o.responder?.result)
        guard case .finished = o.initiator else { Issue.record("initiator should finish on M4"); return }
        guard case .sendAndFinish = o.responder else { Issue.record("responder should send M4 and finish"); return }

        #expect(a.sendSecret.bytes == b.receiveSecret.bytes)
        #expect(a.receiveSecret.bytes == b.sendSecret.bytes)
        #expect(a.initiatorToResponder.count == 32 && a.responderToInitiator.count == 32)
        #expect(a.initiatorToResponder.bytes != a.responderToInitiator.bytes)
        #expect(a.epoch == 0 && b.epoch == 0)
        #expect(a.suite == .aes256GMAC && b.suite == .aes256GMAC)  // bob prefers GMAC in this fixture
        #expect(a.peer.identity == Fixture.bobID)
        #expect(b.peer.identity == Fixture.aliceID)
        #expect(a.peerPayload == f.bobPayload)
        #expect(b.peerPayload == f.alicePayload)
        #expect(a.session.sessionID == b.session.sessionID)
        #expect(a.session.secret.bytes == b.session.secret.bytes)
        #expect(a.session.secret.bytes != a.initiatorToResponder.bytes)
        #expect(!a.resumed && !b.resumed)
        #expect(a.remoteBinding == b.localBinding && b.remoteBinding == a.localBinding)
        let c = f.counters.snapshot()
        #expect(c.fullCompleted == 2 && c.totalFailures == 0)
    }

    @Test func PayloadsNeverInClear() {
        let f = Fixture()
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        let wire = o.transcript.flatMap { $0 }
        for secret in [f.alicePayload, f.bobPayload, Array("spiffe://".utf8)] {
            #expect(!contains(wire, secret), "found \(secret) in the clear")
        }
    }

    @Test func DifferentRandomnessGivesDifferentKeys() throws {
        var f = Fixture()
        let first = try #require(fullHandshake(f))
        f.seed = 99
        let second = try #require(fullHandshake(f))
        #expect(first.alice.initiatorToResponder.bytes != second.alice.initiatorToResponder.bytes)
        #expect(first.alice.session.sessionID != second.alice.session.sessionID)
    }

    @Test func SameRandomnessIsDeterministic() throws {
        let f = Fixture()
        let o1 = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        let o2 = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o1.transcript == o2.transcript)
    }

    @Test func ResponderPicksItsPreferredSuite() throws {
        var f = Fixture()
        f.aliceSuites = [.aes256GMAC, .chacha20Poly1305]
        f.bobSuites = [.chacha20Poly1305, .aes256GMAC]
        let r = try #require(fullHandshake(f))
        #expect(r.alice.suite == .chacha20Poly1305 && r.bob.suite == .chacha20Poly1305)
    }

    @Test func UnknownSuitesOfferedAreIgnored() throws {
        var f = Fixture()
        f.aliceSuites = [CipherSuite(rawValue: 0xEE), .chacha20Poly1305]
        let r = try #require(fullHandshake(f))
        #expect(r.alice.suite == .chacha20Poly1305)
    }

    @Test func DefaultSuitesMatchTheCPU() {
        // AES-256-GMAC only where libsodium has AES-NI + PCLMUL (the data path refuses it otherwise).
        let d = CipherSuite.defaultPreference
        #expect(d.first == (crypto_aead_aes256gcm_is_available() != 0 ? .aes256GMAC : .chacha20Poly1305))
        #expect(d.contains(.chacha20Poly1305))
        #expect(d.contains(.aes256GMAC) == (crypto_aead_aes256gcm_is_available() != 0))
    }

    @Test func NoCommonSuite() {
        var f = Fixture()
        f.aliceSuites = [CipherSuite(rawValue: 0xEE)]
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.responder?.error?.code == .noCommonSuite)
        #expect(o.initiator.error?.code == .peerAborted)
        #expect(o.initiator.error?.remoteCode == .noCommonSuite)
    }

    @Test func DowngradeByStrippingSuitesIsDetected() {
        var f = Fixture()
        f.bobSuites = [.aes256GMAC, .chacha20Poly1305]
        // The network rewrites M1's offer to BLAKE2b only (same length, so it parses).
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig())) { i, m in
            guard i == 0 else { return m }
            var t = m
            t[3] = CipherSuite.chacha20Poly1305.rawValue
            t[4] = CipherSuite.chacha20Poly1305.rawValue
            return t
        }
        // Bob accepts the (tampered) offer, but alice's transcript differs: M2 does not open.
        #expect(o.initiator.error?.code == .decryptFailed)
        #expect(o.responder?.error?.code == .peerAborted)
    }

    @Test func ExpiredCert() {
        var f = Fixture()
        f.bobCredential = TestCredential(identity: Fixture.bobID, key: f.bobKey, issuer: f.ca, notBefore: 1_000, notAfter: 400_000)
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.initiator.error?.code == .peerRejected)
        #expect(o.initiator.error?.rejection?.reason == .expired)
        #expect(o.responder?.error?.remoteCode == .peerRejected)
    }

    @Test func NotYetValidCert() {
        var f = Fixture()
        f.aliceCredential = TestCredential(identity: Fixture.aliceID, key: f.aliceKey, issuer: f.ca, notBefore: 600_000, notAfter: 900_000)
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.responder?.error?.code == .peerRejected)
        #expect(o.responder?.error?.rejection?.reason == .notYetValid)
        #expect(o.initiator.error?.remoteCode == .peerRejected)
        #expect(o.initiator.result == nil)
    }

    @Test func DifferentCAs() {
        var f = Fixture()
        let otherCA = Ed25519KeyPair(seed: 42)
        f.bobCredential = TestCredential(identity: Fixture.bobID, key: f.bobKey, issuer: otherCA)
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.initiator.error?.code == .peerRejected)
        #expect(o.initiator.error?.rejection?.reason == .untrustedIssuer)
        #expect(o.responder?.error?.code == .peerAborted)
    }

    @Test func ForgedSignatureFromResponder() {
        var f = Fixture()
        var forged = TestCredential(identity: Fixture.bobID, key: f.bobKey, issuer: f.ca)
        forged.signingKey = Ed25519KeyPair(seed: 66)  // certificate says bobKey, signature by someone else
        f.bobCredential = forged
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.initiator.error?.code == .badSignature)
        #expect(o.responder?.error?.code == .peerAborted)
        #expect(o.responder?.error?.remoteCode == .badSignature)
        let c = f.counters.snapshot()
        #expect(c[.badSignature] == 1 && c[.peerAborted] == 1 && c.fullCompleted == 0)
    }

    @Test func ForgedSignatureFromInitiator() {
        var f = Fixture()
        var forged = TestCredential(identity: Fixture.aliceID, key: f.aliceKey, issuer: f.ca)
        forged.signingKey = Ed25519KeyPair(seed: 67)
        f.aliceCredential = forged
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.responder?.error?.code == .badSignature)
        #expect(o.initiator.error?.remoteCode == .badSignature)
        // Bob never released his payload: M4 was never produced.
        #expect(o.transcript.count == 4 && o.transcript[3].count == Alert.size)
    }

    @Test func StolenCertificateWithoutKey() {
        // Mallory presents bob's certificate but signs with her own key.
        var f = Fixture()
        let mallory = Ed25519KeyPair(seed: 13)
        var stolen = TestCredential(identity: Fixture.bobID, key: f.bobKey, issuer: f.ca)
        stolen.signingKey = mallory
        f.bobCredential = stolen
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.initiator.error?.code == .badSignature)
    }

    @Test func PeerRejectedByPolicyAtInitiator() {
        let f = Fixture()
        f.aliceVerifier.deny(Fixture.bobID)
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.initiator.error?.code == .policyDenied)
        #expect(o.responder?.error?.remoteCode == .policyDenied)
    }

    @Test func PeerRejectedByPolicyAtResponder() {
        let f = Fixture()
        f.bobVerifier.deny(Fixture.aliceID)
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.responder?.error?.code == .policyDenied)
        #expect(o.initiator.error?.remoteCode == .policyDenied)
        #expect(o.initiator.result == nil)
    }

    @Test func RevokedCertInFullHandshake() {
        let f = Fixture()
        f.bobVerifier.revoke(Fixture.aliceID)
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.responder?.error?.rejection?.reason == .revoked)
        #expect(o.initiator.error?.remoteCode == .peerRejected)
    }

    @Test func LocalSignerFailure() {
        var f = Fixture()
        f.bobCredential = FailingCredential(certificateChain: f.bobCredential.certificateChain)
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        #expect(o.responder?.error?.code == .localCredentialFailure)
        #expect(o.initiator.error?.remoteCode == .localCredentialFailure)
    }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
    return false
}
