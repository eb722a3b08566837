import Foundation
import Handshake
import Identity
import Testing

@testable import FabricAuth
@testable import FabricAuthMetrics

/// `fabricauth_reauthentications_total` and `..._collisions_total` after real
/// re-authentications: the machines a channel runs (ReauthenticationMachine,
/// keyed from a real handshake between FabricAuth's certificate credential and
/// verifier), counting into the registry's handshake counters as channels do.
@Suite struct ReauthenticationMetricsTests {
    /// Delivers `first` and every answer between the two machines until neither has more to say.
    static func exchange(_ first: ReauthenticationOutput, from: Int, _ machines: [ReauthenticationMachine]) {
        var output = first, sender = from
        let now = Timestamp(MetricsRegistryTests.now)
        while let message = output.message {
            if case .abort = output { break }
            let receiver = 1 - sender
            output = machines[receiver].receive(message, now: now)
            sender = receiver
        }
    }

    @Test func completedRunsAndCollisionsAreCounted() throws {
        let registry = MetricsRegistry()
        let pki = try MetricsRegistryTests.Authority()
        let alice = try pki.endpoint("alice", allow: "allow domain example.org")
        let bob = try pki.endpoint("bob", allow: "allow domain example.org")
        let (i, r) = MetricsRegistryTests.handshake(registry, initiator: alice, responder: bob, qp: 40)
        let results = [try #require(i), try #require(r)]
        let machines = zip(results, [alice, bob]).map { result, e in
            ReauthenticationMachine(handshake: result, credential: CertificateCredential(e.credential), verifier: e.verifier,
                counters: registry.handshakeCounters)
        }
        let now = Timestamp(MetricsRegistryTests.now)
        // alice asks, then bob asks: two runs, each counted at both ends (one process holds both).
        Self.exchange(machines[0].start(with: CertificateCredential(alice.credential), now: now), from: 0, machines)
        Self.exchange(machines[1].start(with: CertificateCredential(bob.credential), now: now), from: 1, machines)
        // Both at once: alice (the handshake initiator) wins; bob's request is ignored by alice.
        let aliceA1 = machines[0].start(with: CertificateCredential(alice.credential), now: now)
        let bobA1 = machines[1].start(with: CertificateCredential(bob.credential), now: now)
        #expect(machines[0].receive(bobA1.message!, now: now).message == nil, "the loser's A1 is ignored")
        Self.exchange(aliceA1, from: 0, machines)
        #expect(machines.allSatisfy { $0.generation == 3 && !$0.isRunning && !$0.isClosed })

        let text = registry.exposition()
        try checkWithPromtool(text)
        let e = Exposition(text)
        #expect(e["fabricauth_reauthentications_total"] == 6)
        #expect(e["fabricauth_reauthentication_collisions_total"] == 1)
        #expect(e.types["fabricauth_reauthentications_total"] == "counter")
    }
}
