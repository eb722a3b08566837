// The session cache is the one place a resumption secret lives: each side
// finds only sessions of its own role, eviction and forgetting wipe the
// secret where it lives (issue 12 item 8), expired sessions are not offered.
@_spi(Testing) import Handshake
import Testing
@testable import FabricAuth

@Suite struct SessionCacheTests {
    struct Peer: VerifiedPeer {
        var identity = "spiffe://cluster.test/trainer/rank1"
        var notAfter = Timestamp.seconds(2_000_000_000)
        func verifySignature(_ signature: [UInt8], over message: [UInt8], algorithm: SignatureAlgorithm) -> Bool { false }
    }

    func session(_ n: UInt8, role: ChannelBinding.Role, notAfter: Timestamp = .seconds(2_000_000_000)) -> ResumableSession {
        ResumableSession(sessionID: [UInt8](repeating: n, count: 16), secret: SecretBytes(copying: [UInt8](repeating: n &+ 1, count: 32)),
            suite: .aes256GMAC, peer: Peer(), notAfter: notAfter, role: role)
    }

    static let now = Timestamp.seconds(1_900_000_000)

    @Test func eachSideFindsOnlyItsOwnRole() {
        let cache = SessionCache()
        let answered = session(1, role: .responder)
        let started = session(2, role: .initiator)
        cache.insert(answered)
        cache.insert(started, destination: "10.0.0.2:4791")
        #expect(cache.lookup(answered.sessionID)?.sessionID == answered.sessionID)
        #expect(cache.lookup(started.sessionID) == nil, "a client's session is never offered to an R1 (the selfie)")
        #expect(cache.session(for: "10.0.0.2:4791", now: Self.now)?.sessionID == started.sessionID)
        #expect(cache.session(for: "10.0.0.3:4791", now: Self.now) == nil)
    }

    @Test func evictionAndForgettingWipeTheSecretWhereItLives() {
        let cache = SessionCache(capacity: 2)
        let sessions = (1...3).map { session($0, role: .responder) }
        let secrets = sessions.map(\.secret)
        for s in sessions { cache.insert(s) }
        #expect(cache.count == 2)
        #expect(secrets[0].storageForTesting.allSatisfy { $0 == 0 }, "the evicted session's secret is zeroed")
        #expect(secrets[1].storageForTesting.contains { $0 != 0 })

        let client = session(9, role: .initiator)
        cache.insert(client, destination: "host:1")
        cache.forget(destination: "host:1")
        #expect(client.secret.storageForTesting.allSatisfy { $0 == 0 })
        #expect(cache.session(for: "host:1", now: Self.now) == nil)
    }

    @Test func aNewSessionForADestinationReplacesAndWipesTheOld() {
        let cache = SessionCache()
        let old = session(1, role: .initiator), new = session(2, role: .initiator)
        cache.insert(old, destination: "host:1")
        cache.insert(new, destination: "host:1")
        #expect(cache.count == 1)
        #expect(old.secret.storageForTesting.allSatisfy { $0 == 0 })
        #expect(cache.session(for: "host:1", now: Self.now)?.sessionID == new.sessionID)
    }

    @Test func expiredSessionsAreNotOffered() {
        let cache = SessionCache()
        let s = session(1, role: .initiator, notAfter: Self.now)
        cache.insert(s, destination: "host:1")
        #expect(cache.session(for: "host:1", now: Self.now) == nil)
        #expect(cache.count == 0)
        #expect(s.secret.storageForTesting.allSatisfy { $0 == 0 })
    }
}
