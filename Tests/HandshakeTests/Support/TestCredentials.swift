// Test-only identities: an Ed25519 "certificate" format of our own (NOT X.509; the real
// chain verification comes from the Identity module through glue code), an Ed25519
// credential signing with libsodium crypto_sign, and a verifier with switchable
// revocation and policy.
import CSodium
@testable import Handshake
import Synchronization

struct Ed25519KeyPair {
    var publicKey: [UInt8]
    var secretKey: [UInt8]

    /// Deterministic from a one-byte seed (libsodium crypto_sign_seed_keypair).
    init(seed: UInt8) {
        let s = [UInt8](repeating: seed, count: Int(crypto_sign_SEEDBYTES))
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        _ = crypto_sign_seed_keypair(&pk, &sk, s)
        publicKey = pk
        secretKey = sk
    }

    func sign(_ m: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        _ = crypto_sign_detached(&sig, nil, m, UInt64(m.count), secretKey)
        return sig
    }

    static func verify(_ sig: [UInt8], _ m: [UInt8], publicKey: [UInt8]) -> Bool {
        sig.count == Int(crypto_sign_BYTES) && publicKey.count == 32
            && crypto_sign_verify_detached(sig, m, UInt64(m.count), publicKey) == 0
    }
}

/// "FATC" | identity (u16 len) | notBefore s (u32) | notAfter s (u32) | subject key [32] | issuer key [32] | issuer sig [64]
struct TestCertificate {
    var identity: String
    var notBefore: Int64
    var notAfter: Int64
    var subjectKey: [UInt8]
    var issuerKey: [UInt8]
    var signature: [UInt8]

    static func tbs(identity: String, notBefore: Int64, notAfter: Int64, subjectKey: [UInt8], issuerKey: [UInt8]) -> [UInt8] {
        var w = WireWriter()
        w.bytes(Array("FATC".utf8))
        w.vector16(Array(identity.utf8))
        w.u32(UInt32(notBefore))
        w.u32(UInt32(notAfter))
        w.bytes(subjectKey)
        w.bytes(issuerKey)
        return w.buffer
    }

    static func issue(identity: String, subject: Ed25519KeyPair, issuer: Ed25519KeyPair,
                      notBefore: Int64, notAfter: Int64) -> [UInt8] {
        let t = tbs(identity: identity, notBefore: notBefore, notAfter: notAfter,
                    subjectKey: subject.publicKey, issuerKey: issuer.publicKey)
        return t + issuer.sign(t)
    }

    static func parse(_ der: [UInt8]) -> TestCertificate? {
        var r = WireReader(der)
        guard let magic = try? r.bytes(4), magic == Array("FATC".utf8),
              let id = try? r.vector16(limit: 256, what: "id"), let ident = String(validating: id, as: UTF8.self),
              let nb = try? r.u32(), let na = try? r.u32(),
              let sk = try? r.bytes(32), let ik = try? r.bytes(32), let sig = try? r.bytes(64), r.isAtEnd else { return nil }
        return TestCertificate(identity: ident, notBefore: Int64(nb), notAfter: Int64(na), subjectKey: sk, issuerKey: ik, signature: sig)
    }

    var signatureValid: Bool {
        Ed25519KeyPair.verify(signature, Self.tbs(identity: identity, notBefore: notBefore, notAfter: notAfter,
                                                  subjectKey: subjectKey, issuerKey: issuerKey), publicKey: issuerKey)
    }
}

/// A local credential: one test certificate and an Ed25519 key. `signingKey` may differ
/// from the certified key to model a forged signature.
struct TestCredential: HandshakeCredential {
    var certificateChain: [[UInt8]]
    var signatureAlgorithm: SignatureAlgorithm = .ed25519
    var notAfter: Timestamp
    var signingKey: Ed25519KeyPair

    init(identity: String, key: Ed25519KeyPair, issuer: Ed25519KeyPair, notBefore: Int64 = 1_000, notAfter: Int64 = 1_000_000) {
        certificateChain = [TestCertificate.issue(identity: identity, subject: key, issuer: issuer, notBefore: notBefore, notAfter: notAfter)]
        self.notAfter = .seconds(notAfter)
        signingKey = key
    }

    func sign(_ message: [UInt8]) throws -> [UInt8] { signingKey.sign(message) }
}

struct FailingCredential: HandshakeCredential {
    struct SignerDown: Error {}
    var certificateChain: [[UInt8]]
    var signatureAlgorithm: SignatureAlgorithm = .ed25519
    var notAfter: Timestamp = .seconds(1_000_000)
    func sign(_ message: [UInt8]) throws -> [UInt8] { throw SignerDown() }
}

struct TestPeer: VerifiedPeer {
    var identity: String
    var notAfter: Timestamp
    var publicKey: [UInt8]
    func verifySignature(_ signature: [UInt8], over message: [UInt8], algorithm: SignatureAlgorithm) -> Bool {
        algorithm == .ed25519 && Ed25519KeyPair.verify(signature, message, publicKey: publicKey)
    }
}

/// Trusts certificates issued by `trustedIssuers`; revocation and denial can be switched mid-test.
final class TestVerifier: PeerVerifier {
    let trustedIssuers: [[UInt8]]
    private let revoked = Mutex<Set<String>>([])
    private let denied = Mutex<Set<String>>([])
    let verifyCalls = Mutex(0)

    init(trusting issuers: [Ed25519KeyPair]) { trustedIssuers = issuers.map(\.publicKey) }

    func revoke(_ identity: String) { revoked.withLock { _ = $0.insert(identity) } }
    func deny(_ identity: String) { denied.withLock { _ = $0.insert(identity) } }

    func verify(chain: [[UInt8]], at now: Timestamp) -> PeerVerificationResult {
        verifyCalls.withLock { $0 += 1 }
        guard chain.count == 1, let cert = TestCertificate.parse(chain[0]) else { return .rejected(PeerRejection(.malformed)) }
        guard trustedIssuers.contains(cert.issuerKey), cert.signatureValid else {
            return .rejected(PeerRejection(.untrustedIssuer, cert.identity))
        }
        if now < .seconds(cert.notBefore) { return .rejected(PeerRejection(.notYetValid, cert.identity)) }
        if now >= .seconds(cert.notAfter) { return .rejected(PeerRejection(.expired, cert.identity)) }
        if revoked.withLock({ $0.contains(cert.identity) }) { return .rejected(PeerRejection(.revoked, cert.identity)) }
        return .verified(TestPeer(identity: cert.identity, notAfter: .seconds(cert.notAfter), publicKey: cert.subjectKey))
    }

    func authorize(_ peer: any VerifiedPeer, at now: Timestamp) -> PolicyDecision {
        denied.withLock { $0.contains(peer.identity) } ? .denied(reason: "not in the allow list") : .allowed
    }

    func isStillValid(_ peer: any VerifiedPeer, at now: Timestamp) -> Bool {
        !revoked.withLock { $0.contains(peer.identity) } && now < peer.notAfter
    }
}

/// Deterministic randomness: libsodium randombytes_buf_deterministic keyed by SHA-256(seed || call counter).
final class DeterministicRandom: RandomSource {
    private let seed: UInt64
    private let counter = Mutex<UInt64>(0)
    init(seed: UInt64) { self.seed = seed }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let n = counter.withLock { c -> UInt64 in c += 1; return c }
        var material = [UInt8]()
        for v in [seed, n] { for i in 0..<8 { material.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        let key = Sodium.sha256(material)
        randombytes_buf_deterministic(base, buffer.count, key)
    }
}
