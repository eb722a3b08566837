// Known-answer test against an independent implementation of docs/protocol.md
// (Vectors/handshake_vector.py, Python `cryptography`): same fixed inputs, the Swift
// machine must produce the same bytes on the wire and the same secrets.
import Foundation
import Testing
import Synchronization
@testable import Handshake

/// Hands out fixed byte strings in order (ephemeral keys, nonces).
final class FixedRandom: RandomSource {
    private let queue: Mutex<[[UInt8]]>
    init(_ values: [[UInt8]]) { queue = Mutex(values) }
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        let next = queue.withLock { $0.isEmpty ? [] : $0.removeFirst() }
        precondition(next.count == buffer.count, "FixedRandom: unexpected request of \(buffer.count) bytes")
        buffer.copyBytes(from: next)
    }
}

/// KAT "certificate": 32-byte Ed25519 public key followed by the identity.
struct KATCredential: HandshakeCredential {
    let key: Ed25519KeyPair
    let identity: String
    var certificateChain: [[UInt8]] { [key.publicKey + Array(identity.utf8)] }
    var signatureAlgorithm: SignatureAlgorithm { .ed25519 }
    var notAfter: Timestamp { .seconds(2_000_000) }
    func sign(_ message: [UInt8]) throws -> [UInt8] { key.sign(message) }
}

struct KATVerifier: PeerVerifier {
    func verify(chain: [[UInt8]], at now: Timestamp) -> PeerVerificationResult {
        guard chain.count == 1, chain[0].count > 32 else { return .rejected(PeerRejection(.malformed)) }
        return .verified(TestPeer(identity: String(decoding: chain[0][32...], as: UTF8.self), notAfter: .seconds(2_000_000),
                                  publicKey: Array(chain[0][..<32])))
    }
    func authorize(_ peer: any VerifiedPeer, at now: Timestamp) -> PolicyDecision { .allowed }
    func isStillValid(_ peer: any VerifiedPeer, at now: Timestamp) -> Bool { true }
}

@Suite struct KnownAnswerTests {
    static func binding(_ role: ChannelBinding.Role, _ qpn: UInt32, _ psn: UInt32, _ mtu: UInt32) -> ChannelBinding {
        ChannelBinding(role: role, qpn: qpn, psn: psn,
                       gid: [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [role == .initiator ? 1 : 2], mtu: mtu)
    }

    static func config(_ cred: KATCredential, local: ChannelBinding, remote: ChannelBinding, payload: String,
                       random: [[UInt8]], sessions: [ResumableSession] = []) -> HandshakeConfiguration {
        HandshakeConfiguration(credential: cred, verifier: KATVerifier(), localBinding: local, expectedRemoteBinding: remote,
                               suites: [.aes256GMAC, .chacha20Poly1305], payload: Array(payload.utf8),
                               random: FixedRandom(random), sessionLookup: { id in sessions.first { $0.sessionID == id } })
    }

    @Test func MatchesIndependentImplementation() throws {
        let alice = KATCredential(key: Ed25519KeyPair(seed: 2), identity: "spiffe://kat/alice")
        let bob = KATCredential(key: Ed25519KeyPair(seed: 3), identity: "spiffe://kat/bob")
        let bI = Self.binding(.initiator, 0x000101, 0x123456, 4096), bR = Self.binding(.responder, 0x000202, 0x654321, 4096)
        let now = Timestamp.seconds(1_000_000)
        let ini = HandshakeMachine(configuration: Self.config(alice, local: bI, remote: bR, payload: "alice rkey=0x1234",
                                                             random: [[UInt8](repeating: 0x11, count: 32)]))
        let res = HandshakeMachine(configuration: Self.config(bob, local: bR, remote: bI, payload: "bob rkey=0x5678",
                                                             random: [[UInt8](repeating: 0x22, count: 32)]))
        let o = drive(ini, res, now: now)
        #expect(o.transcript.count == 4)
        guard o.transcript.count == 4 else { return }
        #expect(o.transcript[0] == KnownAnswerVector.m1)
        #expect(o.transcript[1] == KnownAnswerVector.m2)
        #expect(o.transcript[2] == KnownAnswerVector.m3)
        #expect(o.transcript[3] == KnownAnswerVector.m4)
        let a = try #require(o.initiator.result)
        let b = try #require(o.responder?.result)
        #expect(a.initiatorToResponder.bytes == KnownAnswerVector.i2r && b.initiatorToResponder.bytes == KnownAnswerVector.i2r)
        #expect(a.responderToInitiator.bytes == KnownAnswerVector.r2i && b.responderToInitiator.bytes == KnownAnswerVector.r2i)
        #expect(a.session.sessionID == KnownAnswerVector.sessionID)
        #expect(a.session.secret.bytes == KnownAnswerVector.resumptionSecret)
        #expect(KeySchedule.resumptionPSK(secret: a.session.secret, fullHandshakeRoleOfInitiator: .initiator).bytes
            == KnownAnswerVector.resumptionPSK)

        let bI2 = Self.binding(.initiator, 0x000103, 0x000777, 1024), bR2 = Self.binding(.responder, 0x000204, 0xabcdef, 1024)
        let ri = HandshakeMachine(resuming: a.session,
                                  configuration: Self.config(alice, local: bI2, remote: bR2, payload: "alice rkey=0x1234",
                                                             random: [[UInt8](repeating: 0x33, count: 32)]))
        let rr = HandshakeMachine(configuration: Self.config(bob, local: bR2, remote: bI2, payload: "bob rkey=0x5678",
                                                             random: [[UInt8](repeating: 0x44, count: 32)], sessions: [b.session]))
        let ro = drive(ri, rr, now: now)
        #expect(ro.transcript == [KnownAnswerVector.r1, KnownAnswerVector.r2, KnownAnswerVector.r3])
        let ra = try #require(ro.initiator.result)
        let rb = try #require(ro.responder?.result)
        #expect(ra.initiatorToResponder.bytes == KnownAnswerVector.resumedI2R && rb.initiatorToResponder.bytes == KnownAnswerVector.resumedI2R)
        #expect(ra.responderToInitiator.bytes == KnownAnswerVector.resumedR2I && rb.responderToInitiator.bytes == KnownAnswerVector.resumedR2I)
        #expect(rb.peerPayload == Array("alice rkey=0x1234".utf8) && ra.peerPayload == Array("bob rkey=0x5678".utf8))
        // Re-authentication anchors (docs/protocol.md section 14.1).
        #expect(a.reauthenticationAnchor.bytes == KnownAnswerVector.reauthAnchor0 && b.reauthenticationAnchor.bytes == KnownAnswerVector.reauthAnchor0)
        #expect(ra.reauthenticationAnchor.bytes == KnownAnswerVector.resumedReauthAnchor0
            && rb.reauthenticationAnchor.bytes == KnownAnswerVector.resumedReauthAnchor0)
    }

    /// docs/protocol.md sections 13 and 14.8 print the resumption and re-authentication vectors; they must be these.
    @Test func ProtocolDocumentCarriesTheseVectors() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/protocol.md").standardized
        let text = try String(contentsOf: doc, encoding: .utf8).filter { !$0.isWhitespace }
        func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        for v in [KnownAnswerVector.sessionID, KnownAnswerVector.resumptionSecret, KnownAnswerVector.resumptionPSK,
                  KnownAnswerVector.r1, KnownAnswerVector.r2, KnownAnswerVector.r3,
                  KnownAnswerVector.resumedI2R, KnownAnswerVector.resumedR2I,
                  KnownAnswerVector.reauthAnchor0, KnownAnswerVector.resumedReauthAnchor0,
                  KnownAnswerVector.a1, KnownAnswerVector.a2, KnownAnswerVector.a3, KnownAnswerVector.a4,
                  KnownAnswerVector.reauthI2R, KnownAnswerVector.reauthR2I, KnownAnswerVector.reauthAnchor1] {
            let documented = text.contains(hexString(v))
            #expect(documented, "docs/protocol.md lacks \(hexString(v).prefix(16))...")
        }
    }
}
