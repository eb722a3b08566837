// How a live channel follows trust changes without a thread of its own: the
// schedule of its rechecks (monotonic time passed in), and the listener's
// resumption cache dropping sessions whose peer no longer passes.
import Foundation
@_spi(Testing) import Handshake
import Identity
import XCTest

@testable import FabricAuth

final class TrustRecheckTests: XCTestCase {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)
    static let second: UInt64 = 1_000_000_000

    func testScheduleRechecksEachIntervalAndAtExpiry() {
        // The peer expires in 25 s; rechecks every 10 s, grace 1 s.
        var s = TrustRecheckSchedule(interval: .seconds(10), grace: .seconds(1), peerNotAfter: Self.now + 25,
            tolerance: 0, wallNow: Self.now, monotonicNow: 1000 * Self.second)
        XCTAssertFalse(s.isDue(1000 * Self.second))
        XCTAssertFalse(s.isDue(1010 * Self.second - 1))
        XCTAssertTrue(s.isDue(1010 * Self.second))
        s.checked(at: 1010 * Self.second)
        XCTAssertTrue(s.isDue(1020 * Self.second))
        s.checked(at: 1020 * Self.second)
        // The next periodic recheck would be at 1030 s; expiry (25 s + 1 s grace) comes first.
        XCTAssertFalse(s.isDue(1026 * Self.second - 1))
        XCTAssertTrue(s.isDue(1026 * Self.second), "a recheck runs within the grace of the peer's expiry")
    }

    func testScheduleCountsClockSkewToleranceAndNeverSpinsPastExpiry() {
        var s = TrustRecheckSchedule(interval: .seconds(30), grace: .seconds(2), peerNotAfter: Self.now + 5,
            tolerance: 3, wallNow: Self.now, monotonicNow: 0)
        XCTAssertEqual(s.next, 10 * Self.second, "5 s + 3 s tolerance + 2 s grace")
        // The wall clock said "still valid" at the deadline (it runs behind): the interval paces the rest.
        s.checked(at: 10 * Self.second)
        XCTAssertEqual(s.next, 40 * Self.second)
        // Already expired when the channel opened: due at once (after the grace).
        let late = TrustRecheckSchedule(interval: .seconds(10), grace: .zero, peerNotAfter: Self.now - 60,
            tolerance: 0, wallNow: Self.now, monotonicNow: 7)
        XCTAssertTrue(late.isDue(7))
    }

    func testConfigurationBoundsTheRecheckInterval() throws {
        let (authority, _) = try CertificateAuthority.create(trustDomain: "example.org", now: Self.now)
        let issued = try authority.issue(id: SPIFFEID("spiffe://example.org/ns/web"), now: Self.now)
        var c = ChannelConfiguration(credential: try Credential(chain: issued.chain, privateKey: issued.privateKey),
            verifier: IdentityVerifier(bundles: [try TrustBundle(trustDomain: "example.org", anchors: [authority.certificate])]),
            policy: try Policy(text: "allow domain example.org"))
        XCTAssertLessThanOrEqual(c.trustRecheckInterval, .seconds(30))
        XCTAssertNoThrow(try c.validate())
        c.trustRecheckInterval = .seconds(31)
        XCTAssertThrowsError(try c.validate()) { error in
            guard case ChannelError.invalidConfiguration(let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("trustRecheckInterval"), why)
        }
        c.trustRecheckInterval = .zero
        XCTAssertThrowsError(try c.validate())
    }

    /// Every handshake (AuthenticatedConnector.authenticate) runs on
    /// `resolvingSources()`: the newest credential, bundle and policy once a
    /// reload succeeded, the previous ones when it failed.
    func testHandshakesResolveTheNewestSources() throws {
        let dir = NSTemporaryDirectory() + "fabricauth-sources-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ text: String, _ name: String, mode: Int = 0o644) {
            XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/.tmp", contents: Data(text.utf8), attributes: [.posixPermissions: mode]))
            XCTAssertEqual(rename(dir + "/.tmp", dir + "/" + name), 0)
        }
        let (authority, _) = try CertificateAuthority.create(trustDomain: "example.org")
        func issue() throws -> [UInt8] {
            let issued = try authority.issue(id: SPIFFEID("spiffe://example.org/ns/web"))
            write(issued.chain.map(CertificateParsing.pem).joined(), "cert.pem")
            write(try PrivateKeyFile.pem(issued.privateKey), "key.pem", mode: 0o600)
            return CertificateParsing.der(issued.chain[0])
        }
        let first = try issue()
        write(CertificateParsing.pem(authority.certificate), "bundle.pem")
        write("allow domain example.org\n", "policy.txt")
        let sources = IdentitySources(
            credential: try CredentialSource(certificatePath: dir + "/cert.pem", keyPath: dir + "/key.pem"),
            bundles: [try TrustBundleSource(trustDomain: nil, paths: [dir + "/bundle.pem"])],
            policy: try PolicyStore(path: dir + "/policy.txt"))
        let configuration = ChannelConfiguration(sources: sources)
        XCTAssertEqual(configuration.resolvingSources().credential.chainDER[0], first)

        let second = try issue()
        write("allow domain other.org\n", "policy.txt")
        for source in [sources.credentialSource, sources.policySource] as [any ReloadableSource] {
            XCTAssertTrue(source.reloadIfChangedNow())
        }
        let resolved = configuration.resolvingSources()
        XCTAssertEqual(resolved.credential.chainDER[0], second, "the rotated credential")
        XCTAssertFalse(resolved.policy.decide(local: nil, peer: try SPIFFEID("spiffe://example.org/x")).allowed, "the new policy")
        XCTAssertEqual(configuration.credential.chainDER[0], first, "the configuration itself is a value")

        write("not a policy: [\n", "policy.txt")
        XCTAssertFalse(sources.policySource.reloadIfChangedNow())
        XCTAssertTrue(configuration.resolvingSources().policy.decide(local: nil, peer: try SPIFFEID("spiffe://other.org/x")).allowed,
            "a failed reload leaves the previous policy in force")

        // The merged verifier is kept between reloads (live channels ask for it at every
        // recheck) and merged again once a bundle reloads.
        func anchors() -> [Fingerprint] { configuration.resolvingSources().verifier.bundles.values.flatMap(\.anchorFingerprints) }
        XCTAssertEqual(anchors(), [Fingerprint(der: CertificateParsing.der(authority.certificate))])
        let (successor, _) = try CertificateAuthority.create(trustDomain: "example.org")
        write(CertificateParsing.pem(successor.certificate), "bundle.pem")
        XCTAssertTrue(sources.bundleSources[0].reloadIfChangedNow())
        XCTAssertEqual(anchors(), [Fingerprint(der: CertificateParsing.der(successor.certificate))], "the reloaded bundle")
        var skewed = sources
        skewed.clockSkewTolerance = 30
        XCTAssertEqual(skewed.verifier().clockSkewTolerance, 30)
        XCTAssertEqual(sources.verifier().clockSkewTolerance, 0, "a copy's change leaves the original's verifier alone")
    }

    /// The listener's purge (AuthenticatedListener.purgeSessions) keeps exactly
    /// the sessions whose peer passes PeerInvalidation.evaluate.
    func testSessionCachePurgeDropsPeersThatNoLongerPass() throws {
        let (authority, _) = try CertificateAuthority.create(trustDomain: "example.org", now: Self.now)
        let revocations = RevocationStore()
        let verifier = IdentityVerifier(
            bundles: [try TrustBundle(trustDomain: "example.org", anchors: [authority.certificate])], revocations: revocations)
        func peer(_ id: String) throws -> VerifiedWorkload {
            let issued = try authority.issue(id: SPIFFEID(id), now: Self.now)
            let checker = CertificatePeerVerifier(verifier: verifier, policy: try Policy(text: "allow domain example.org"))
            guard case .verified(let p) = checker.verify(chain: issued.chain.map(CertificateParsing.der), at: Timestamp(Self.now)),
                  let workload = p as? VerifiedWorkload else { throw ChannelError.closed }
            return workload
        }
        let (a, b, c) = (try peer("spiffe://example.org/a"), try peer("spiffe://example.org/b"), try peer("spiffe://example.org/c"))
        let cache = SessionCache()
        var secrets: [SecretBytes] = []
        for (n, p) in [a, b, c].enumerated() {
            let secret = SecretBytes(copying: [UInt8](repeating: UInt8(n + 1), count: 32))
            secrets.append(secret)
            cache.insert(ResumableSession(sessionID: [UInt8](repeating: UInt8(n + 1), count: 16), secret: secret,
                suite: .aes256GMAC, peer: p, notAfter: .seconds(2_000_000_000), role: .responder))
        }
        func passes(_ policy: Policy) -> (any VerifiedPeer) -> Bool {
            { p in
                guard let p = p as? VerifiedWorkload else { return false }
                return PeerInvalidation.evaluate(p.workload, verifier: verifier, policy: policy, localID: nil, at: Self.now) == nil
            }
        }
        let allowAll = try Policy(text: "allow domain example.org")
        XCTAssertEqual(cache.purge(keeping: passes(allowAll)), 0)
        var denied = RevocationList()
        denied.add(fingerprint: a.workload.leafFingerprint, entry: "compromised")
        revocations.replace(with: denied)
        XCTAssertEqual(cache.purge(keeping: passes(allowAll)), 1, "the revoked peer's session goes")
        XCTAssertTrue(secrets[0].storageForTesting.allSatisfy { $0 == 0 }, "and its secret is wiped")
        XCTAssertEqual(cache.purge(keeping: passes(try Policy(text: "allow id spiffe://example.org/c"))), 1, "policy: b goes")
        XCTAssertEqual(cache.count, 1)
        XCTAssertNotNil(cache.lookup([UInt8](repeating: 3, count: 16)))
    }
}
