// Mutated messages fed to machines in the state that expects them (with crypto, so fewer
// cases than the parser fuzz). Every byte of M2, M3, M4, R1, R2, R3 is covered by the
// transcript hash or an AEAD tag, so any change must abort; M1 is clear text, so a
// changed M1 may be answered, but never crashes.
import Testing
@testable import Handshake

@Suite struct MachineFuzzTests {
    static let cases = 1500

    enum Stage: String, CaseIterable, Sendable { case m1, m2, m3, m4, r1, r2, r3 }

    @Test(arguments: Stage.allCases)
    func MutatedMessageToMachine(stage: Stage) throws {
        let f = Fixture()
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        let full = try #require(fullHandshake(f))
        let r = drive(HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1)),
                      HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session])))

        /// A fresh machine in the state that expects the message under test.
        func target() -> HandshakeMachine {
            switch stage {
            case .m1: return HandshakeMachine(configuration: f.bobConfig())
            case .m2, .m4:
                let a = HandshakeMachine(configuration: f.aliceConfig())
                _ = a.start(now: Fixture.now)
                if stage == .m4 { _ = a.receive(o.transcript[1], now: Fixture.now) }
                return a
            case .m3:
                let b = HandshakeMachine(configuration: f.bobConfig())
                _ = b.receive(o.transcript[0], now: Fixture.now)
                return b
            case .r1: return HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session]))
            case .r2:
                let a = HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1))
                _ = a.start(now: Fixture.now)
                return a
            case .r3:
                let b = HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session]))
                _ = b.receive(r.transcript[0], now: Fixture.now)
                return b
            }
        }
        let original: [UInt8] = switch stage {
        case .m1: o.transcript[0]
        case .m2: o.transcript[1]
        case .m3: o.transcript[2]
        case .m4: o.transcript[3]
        case .r1: r.transcript[0]
        case .r2: r.transcript[1]
        case .r3: r.transcript[2]
        }
        // The unmodified message succeeds (so the harness itself is right).
        #expect(target().receive(original, now: Fixture.now).error == nil)

        var rng = SplitMix64(seed: 0xC0FFEE &+ UInt64(Stage.allCases.firstIndex(of: stage)!))
        var aborted = 0
        for _ in 0..<Self.cases {
            let m = mutate(original, &rng)
            let machine = target()
            let out = machine.receive(m, now: Fixture.now)
            if let e = out.error {
                aborted += 1
                #expect(machine.isFailed)
                if e.code != .peerAborted { #expect(out.message?.count == Alert.size, "an alert tells the peer") }
            } else if m != original && stage != .m1 {
                Issue.record("\(stage): a modified message was accepted: \(m)")
            }
        }
        #expect(aborted > Self.cases / 2)
    }
}
