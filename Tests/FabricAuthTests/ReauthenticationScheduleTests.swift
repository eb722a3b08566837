// When a live channel starts a re-authentication by itself (ReauthenticationSchedule,
// wall time passed in), and how a re-authentication message is cut into opcode-8
// fragments that fit a slot and put together again (ReauthenticationReassembly).
import Foundation
import Handshake
import Identity
import XCTest

@testable import FabricAuth

final class ReauthenticationScheduleTests: XCTestCase {
    static let t0 = Date(timeIntervalSince1970: 1_900_000_000)
    typealias Validity = ReauthenticationSchedule.Validity

    /// A leaf valid for `lifetime` seconds from t0 + `from`.
    static func leaf(_ name: String, from: TimeInterval = 0, lifetime: TimeInterval = 60) -> Validity {
        Validity(fingerprint: Fingerprint(der: Array(name.utf8)), notBefore: t0 + from, notAfter: t0 + from + lifetime)
    }

    func testOwnLifetimeTriggersOnceAtTwoThirds() {
        var s = ReauthenticationSchedule()
        let own = Self.leaf("own"), peer = Self.leaf("peer", lifetime: 3600)
        XCTAssertNil(s.reason(now: Self.t0 + 39.9, presented: own, newest: own, peer: peer))
        XCTAssertEqual(s.reason(now: Self.t0 + 40, presented: own, newest: own, peer: peer), .ownLifetime)
        // The source was not rotated: the same leaf never triggers again.
        XCTAssertNil(s.reason(now: Self.t0 + 41, presented: own, newest: own, peer: peer))
        XCTAssertNil(s.reason(now: Self.t0 + 59, presented: own, newest: own, peer: peer))
        // A rotated leaf presented since has a lifetime of its own.
        let next = Self.leaf("own2", from: 30)
        XCTAssertNil(s.reason(now: Self.t0 + 60, presented: next, newest: next, peer: peer))
        XCTAssertEqual(s.reason(now: Self.t0 + 70, presented: next, newest: next, peer: peer), .ownLifetime)
    }

    func testReloadedCredentialTriggersAtOnceUntilPresented() {
        var s = ReauthenticationSchedule()
        let old = Self.leaf("old"), new = Self.leaf("new", from: 5), peer = Self.leaf("peer", lifetime: 3600)
        XCTAssertNil(s.reason(now: Self.t0 + 5, presented: old, newest: old, peer: peer))
        XCTAssertEqual(s.reason(now: Self.t0 + 6, presented: old, newest: new, peer: peer), .credentialReloaded)
        // Until a run presents it (a run that fails closes the channel), it stays due.
        XCTAssertEqual(s.reason(now: Self.t0 + 7, presented: old, newest: new, peer: peer), .credentialReloaded)
        XCTAssertNil(s.reason(now: Self.t0 + 8, presented: new, newest: new, peer: peer))
    }

    func testPeerExpiringTriggersOncePerPeerLeafAtFiveSixths() {
        var s = ReauthenticationSchedule()
        let own = Self.leaf("own", lifetime: 3600), peer = Self.leaf("peer")
        XCTAssertNil(s.reason(now: Self.t0 + 49.9, presented: own, newest: own, peer: peer))
        XCTAssertEqual(s.reason(now: Self.t0 + 50, presented: own, newest: own, peer: peer), .peerExpiring)
        // The peer answered with the same leaf (it had no newer one): no loop; expiry cuts it off.
        XCTAssertNil(s.reason(now: Self.t0 + 55, presented: own, newest: own, peer: peer))
        let renewed = Self.leaf("peer2", from: 50)
        XCTAssertNil(s.reason(now: Self.t0 + 60, presented: own, newest: own, peer: renewed))
        XCTAssertEqual(s.reason(now: Self.t0 + 100, presented: own, newest: own, peer: renewed), .peerExpiring)
    }

    /// A CA backdates notBefore against clock skew (ours by 60 s): the fractions are of the
    /// lifetime from when the channel saw the leaf, or a 20 s leaf would be due at once.
    func testBackdatedLeafCountsFromWhenItWasObserved() throws {
        let authority = try CertificateAuthority.create(trustDomain: "cluster.test", now: Self.t0).authority
        let issued = try authority.issue(id: try SPIFFEID("spiffe://cluster.test/a"), ttl: 20, now: Self.t0)
        let credential = try Credential(chain: issued.chain, privateKey: issued.privateKey)
        XCTAssertEqual(credential.leaf.notValidBefore, Self.t0 - CertificateAuthority.backdate)
        let own = Validity(credential, observed: Self.t0)
        XCTAssertEqual(own.notBefore, Self.t0)
        XCTAssertEqual(own.notAfter, Self.t0 + 20)
        var s = ReauthenticationSchedule()
        let peer = Self.leaf("peer", lifetime: 3600)
        XCTAssertNil(s.reason(now: Self.t0 + 13, presented: own, newest: own, peer: peer))
        XCTAssertEqual(s.reason(now: Self.t0 + 13.4, presented: own, newest: own, peer: peer), .ownLifetime)
        // Observed before its notBefore (a leaf issued for later): notBefore stands.
        XCTAssertEqual(Validity(credential, observed: Self.t0 - 100).notBefore, Self.t0 - CertificateAuthority.backdate)
    }

    func testFractionsAreConfigurable() {
        var s = ReauthenticationSchedule(ownLifetimeFraction: 0.5, peerLifetimeFraction: 0.9)
        let own = Self.leaf("own", lifetime: 20), peer = Self.leaf("peer", lifetime: 100)
        XCTAssertNil(s.reason(now: Self.t0 + 9.9, presented: own, newest: own, peer: peer))
        XCTAssertEqual(s.reason(now: Self.t0 + 10, presented: own, newest: own, peer: peer), .ownLifetime)
        XCTAssertNil(s.reason(now: Self.t0 + 89, presented: own, newest: own, peer: peer))
        XCTAssertEqual(s.reason(now: Self.t0 + 90, presented: own, newest: own, peer: peer), .peerExpiring)
    }

    func testSettingsOutsideTheirRangesAreRefused() {
        var settings = ReauthenticationSettings()
        XCTAssertNoThrow(try settings.validate())
        settings.ownLifetimeFraction = 1
        XCTAssertThrowsError(try settings.validate()) { XCTAssertTrue("\($0)".contains("ownLifetimeFraction"), "\($0)") }
        settings = ReauthenticationSettings()
        settings.checkInterval = .zero
        XCTAssertThrowsError(try settings.validate()) { XCTAssertTrue("\($0)".contains("checkInterval"), "\($0)") }
        settings = ReauthenticationSettings()
        settings.timeout = .seconds(3601)
        XCTAssertThrowsError(try settings.validate()) { XCTAssertTrue("\($0)".contains("timeout"), "\($0)") }
    }
}

final class ReauthenticationReassemblyTests: XCTestCase {
    func feed(_ r: inout ReauthenticationReassembly, _ fragment: [UInt8]) throws -> [UInt8]? {
        var out: [UInt8]?
        var failure: ReauthenticationReassembly.Failure?
        fragment.withUnsafeBytes { b in
            do throws(ReauthenticationReassembly.Failure) { out = try r.add(b) } catch { failure = error }
        }
        if let failure { throw failure }
        return out
    }

    /// Fragments as the channel sends them: a flags byte before each piece.
    func frames(_ message: [UInt8], capacity: Int) -> [[UInt8]] {
        let pieces = ReauthenticationReassembly.fragments(of: message, capacity: capacity)
        return pieces.enumerated().map { i, p in
            [i + 1 < pieces.count ? ReauthenticationReassembly.moreFragments : 0] + Array(p)
        }
    }

    func testEveryMessageSizeRoundTripsAtEveryCapacity() throws {
        var r = ReauthenticationReassembly()
        for capacity in [2, 3, 17, 72, 1025] {
            for size in [0, 1, 2, 70, 71, 72, 113, 1500, 3000, HandshakeLimits.maxMessageSize] {
                let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ capacity) }
                let fs = frames(message, capacity: capacity)
                XCTAssertEqual(fs.count, max(1, (size + capacity - 2) / (capacity - 1)), "size \(size) capacity \(capacity)")
                XCTAssertTrue(fs.allSatisfy { $0.count <= capacity })
                for f in fs.dropLast() { XCTAssertNil(try feed(&r, f)) }
                XCTAssertEqual(try feed(&r, fs.last!), message)
                XCTAssertFalse(r.isPartial, "the next message starts afresh")
            }
        }
    }

    func testBrokenFragmentsAreRefused() throws {
        var r = ReauthenticationReassembly()
        XCTAssertThrowsError(try feed(&r, [])) { XCTAssertEqual($0 as? ReauthenticationReassembly.Failure, .emptyFragment) }
        XCTAssertThrowsError(try feed(&r, [0x02, 1])) { XCTAssertEqual($0 as? ReauthenticationReassembly.Failure, .unknownFlags(2)) }
        XCTAssertThrowsError(try feed(&r, [0x81])) { XCTAssertEqual($0 as? ReauthenticationReassembly.Failure, .unknownFlags(0x81)) }
        // One byte past the limit, across fragments: refused before it is stored.
        let piece = [UInt8](repeating: 9, count: 4096)
        r = ReauthenticationReassembly()
        for _ in 0..<(HandshakeLimits.maxMessageSize / 4096) { XCTAssertNil(try feed(&r, [1] + piece)) }
        XCTAssertThrowsError(try feed(&r, [0, 1])) {
            XCTAssertEqual($0 as? ReauthenticationReassembly.Failure, .tooLarge(HandshakeLimits.maxMessageSize + 1))
        }
    }
}
