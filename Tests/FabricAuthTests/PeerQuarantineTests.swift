// The process-wide quarantine with the time passed in: expiry, lift,
// re-quarantine, the denied-handshake threshold, the shared list, and the
// cutting off of every registered channel of a peer.
import Foundation
import Handshake
import Identity
import Synchronization
import Testing
@testable import FabricAuth

/// A registered channel stand-in: counts how often its QP was stopped.
final class FakeChannel: Sendable {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
    let counter = Counter()
    let cutoff: ChannelCutoff
    init(_ id: SPIFFEID) {
        let counter = self.counter
        cutoff = ChannelCutoff(peer: id.description) { counter.value.add(1, ordering: .relaxed) }
    }
    var stops: Int { counter.value.load(ordering: .relaxed) }
}

@Suite struct PeerQuarantineTests {
    let peer = try! SPIFFEID("spiffe://cluster.example/node/7")
    let other = try! SPIFFEID("spiffe://cluster.example/node/8")
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func quarantine(threshold: Int = 5) -> PeerQuarantine {
        var c = PeerQuarantine.Configuration()
        c.duration = .seconds(600)
        c.deniedHandshakeThreshold = threshold
        c.deniedHandshakeWindow = .seconds(60)
        return PeerQuarantine(configuration: c)
    }

    @Test func endsByItselfAfterItsTime() {
        let q = quarantine()
        q.quarantine(peer, reason: "forged grants", now: t0)
        #expect(q.entry(for: peer, at: t0)?.reason == "forged grants")
        #expect(q.entry(for: peer, at: t0 + 599)?.until == t0 + 600)
        #expect(q.entry(for: peer, at: t0 + 600) == nil)
        #expect(q.entry(for: other, at: t0) == nil)
        #expect(q.active(at: t0 + 600).isEmpty)
    }

    @Test func liftEndsItAndReQuarantineStartsAgain() {
        let q = quarantine()
        q.quarantine(peer, reason: "a", for: .seconds(30), now: t0)
        #expect(q.lift(peer))
        #expect(!q.lift(peer))
        #expect(q.entry(for: peer, at: t0 + 1) == nil)
        q.quarantine(peer, reason: "b", for: .seconds(30), now: t0 + 10)
        #expect(q.entry(for: peer, at: t0 + 39)?.reason == "b")
        #expect(q.entry(for: peer, at: t0 + 40) == nil)
        // A shorter quarantine never cuts a longer one short.
        q.quarantine(peer, reason: "long", for: .seconds(300), now: t0 + 50)
        q.quarantine(peer, reason: "short", for: .seconds(10), now: t0 + 60)
        #expect(q.entry(for: peer, at: t0 + 200)?.reason == "short")
        #expect(q.entry(for: peer, at: t0 + 349) != nil)
        #expect(q.events[.manual] == 4)
    }

    @Test func deniedHandshakesQuarantineAtTheThresholdWithinTheWindow() {
        let q = quarantine(threshold: 5)
        // Four denials, then a gap longer than the window: the count restarts.
        for i in 0..<4 { #expect(q.recordDeniedHandshake(peer, reason: "no rule", now: t0 + Double(i)) == nil) }
        for i in 0..<4 { #expect(q.recordDeniedHandshake(peer, reason: "no rule", now: t0 + 100 + Double(i)) == nil) }
        let entry = q.recordDeniedHandshake(peer, reason: "no rule", now: t0 + 104)
        #expect(entry?.cause == .deniedHandshakes)
        #expect(entry?.until == t0 + 704)
        #expect(q.entry(for: peer, at: t0 + 105) != nil)
        #expect(q.entry(for: other, at: t0 + 105) == nil)
        #expect(q.events[.deniedHandshakes] == 1)
        // Threshold 0: denials never quarantine.
        let off = quarantine(threshold: 0)
        for i in 0..<20 { #expect(off.recordDeniedHandshake(peer, reason: "x", now: t0 + Double(i)) == nil) }
    }

    @Test func quarantineCutsOffEveryRegisteredChannelOfThatPeerOnly() {
        let q = quarantine()
        let a = FakeChannel(peer), b = FakeChannel(peer), c = FakeChannel(other)
        for ch in [a, b] { #expect(q.register(ch.cutoff, peer: peer, now: t0) == nil) }
        #expect(q.register(c.cutoff, peer: other, now: t0) == nil)
        #expect(q.channelCount(for: peer) == 2)
        q.quarantine(peer, reason: "protocol violation: READ done for offer 9", cause: .misbehaviour, now: t0)
        for ch in [a, b] {
            #expect(ch.cutoff.isCut)
            #expect(ch.cutoff.reason == "protocol violation: READ done for offer 9")
            #expect(ch.stops == 1)
        }
        #expect(!c.cutoff.isCut && c.stops == 0)
        // A second quarantine doesn't stop a QP twice; a new channel is refused.
        q.quarantine(peer, reason: "again", now: t0 + 1)
        #expect(a.stops == 1)
        #expect(q.register(FakeChannel(peer).cutoff, peer: peer, now: t0 + 2)?.reason == "again")
        q.unregister(a.cutoff)
        q.unregister(b.cutoff)
        #expect(q.channelCount(for: peer) == 0)
        // After its time the peer may open channels again.
        #expect(q.register(FakeChannel(peer).cutoff, peer: peer, now: t0 + 602) == nil)
    }

    @Test func theSharedListQuarantinesAndAnEditLiftsOnlyItsOwnEntries() throws {
        let q = quarantine()
        let ch = FakeChannel(peer)
        #expect(q.register(ch.cutoff, peer: peer, now: t0) == nil)
        var list = QuarantineList()
        list.add(peer, until: t0 + 60, reason: "detector: forged READ responses")
        list.add(other, until: t0 - 1, reason: "already over")
        q.apply(list, now: t0)
        #expect(ch.cutoff.isCut && ch.cutoff.reason == "detector: forged READ responses")
        #expect(q.entry(for: peer, at: t0)?.cause == .listFile)
        #expect(q.entry(for: other, at: t0) == nil)
        #expect(q.entry(for: peer, at: t0 + 60) == nil)
        // Re-applying the same list is no new event; removing the entry lifts it.
        q.apply(list, now: t0 + 1)
        #expect(q.events[.listFile] == 1)
        q.quarantine(other, reason: "local", now: t0 + 2)
        q.apply(QuarantineList(), now: t0 + 3)
        #expect(q.entry(for: peer, at: t0 + 3) == nil)
        #expect(q.entry(for: other, at: t0 + 3)?.reason == "local")
    }

    /// The verifier the handshake asks: a quarantined peer is refused before
    /// the policy, and policy denials count towards the threshold.
    @Test func verifierRefusesQuarantinedPeersAndCountsDenials() throws {
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        let (authority, _) = try CertificateAuthority.create(trustDomain: "example.org", now: now)
        let (chain, _) = try authority.issue(id: SPIFFEID("spiffe://example.org/ns/web"), now: now)
        let identities = IdentityVerifier(bundles: [try TrustBundle(trustDomain: "example.org", anchors: [authority.certificate])])
        let q = quarantine(threshold: 3)
        let denyAll = try Policy(text: "allow domain other.example")
        let v = CertificatePeerVerifier(verifier: identities, policy: denyAll, quarantine: q)
        guard case .verified(let workload) = v.verify(chain: chain.map(CertificateParsing.der), at: Timestamp(now)) else {
            Issue.record("the CA's own leaf did not verify")
            return
        }
        let id = try SPIFFEID("spiffe://example.org/ns/web")
        for _ in 0..<2 {
            guard case .denied = v.authorize(workload, at: Timestamp(now)) else { Issue.record("not denied"); return }
        }
        #expect(q.entry(for: id, at: now) == nil)
        guard case .denied = v.authorize(workload, at: Timestamp(now)) else { Issue.record("not denied"); return }
        guard case .quarantined(let why) = v.authorize(workload, at: Timestamp(now + 1)) else {
            Issue.record("not refused as quarantined")
            return
        }
        #expect(why.hasPrefix("3 handshakes denied by the policy"))
        // An allowing policy doesn't help while the quarantine lasts.
        let allow = CertificatePeerVerifier(verifier: identities, policy: try Policy(text: "allow domain example.org"), quarantine: q)
        guard case .quarantined = allow.authorize(workload, at: Timestamp(now + 1)) else { Issue.record("allowed"); return }
        #expect(allow.authorize(workload, at: Timestamp(now + 601)) == .allowed)
    }
}
