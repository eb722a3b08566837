// Re-authentication across the data path (docs/protocol.md section 14.4): two ends with
// real X.509-SVIDs (Identity's CA, FabricAuth's CertificateCredential and
// CertificatePeerVerifier), the real DataPathSender/DataPathReceiver per direction, and
// the re-authentication messages carried in opcode-8 frames in the same in-order
// streams as application SENDs (as on one RC QP). Frames stay in flight across each key
// switch; every application message must arrive exactly once, in order, none rejected.
import Foundation
import Handshake
import Identity
import X509
import XCTest

@testable import FabricAuth

final class ReauthenticationDataPathTests: XCTestCase {
    static let start = Date(timeIntervalSince1970: 1_900_000_000)
    static let trustDomain = "reauth.test"

    var authority: CertificateAuthority!
    var verifier: CertificatePeerVerifier!

    override func setUpWithError() throws {
        (authority, _) = try CertificateAuthority.create(trustDomain: Self.trustDomain, now: Self.start)
        let identity = IdentityVerifier(bundles: [try TrustBundle(trustDomain: Self.trustDomain, anchors: [authority.certificate])])
        verifier = CertificatePeerVerifier(verifier: identity, policy: try Policy(text: "allow domain \(Self.trustDomain)"))
    }

    /// A short-lived SVID for `name`, valid from `at` for 30 s.
    func credential(_ name: String, at: Date) throws -> CertificateCredential {
        let (chain, key) = try authority.issue(id: SPIFFEID("spiffe://\(Self.trustDomain)/\(name)"), ttl: 30, now: at)
        return CertificateCredential(try Credential(chain: chain, privateKey: key))
    }

    static func binding(_ role: ChannelBinding.Role) -> ChannelBinding {
        ChannelBinding(role: role, qpn: role == .initiator ? 0x111 : 0x222, psn: 0x1234,
                       gid: [UInt8](repeating: role == .initiator ? 1 : 2, count: 16), mtu: 4096)
    }

    /// One end of the channel: its data path, its re-authentication machine, and what it saw.
    final class End {
        let name: String
        var sender: DataPathSender
        var receiver: DataPathReceiver
        let machine: ReauthenticationMachine
        var outbox: [[UInt8]] = []
        var nextCounter: UInt64 = 0
        var received: [UInt64] = []
        var rejections: [RejectReason] = []
        var errors: [HandshakeError] = []
        var completed = 0
        /// Frames sealed under the old key still in flight at each switch of this sender.
        var inFlightAtSwitch: [Int] = []
        /// A copy of the handshake's send secret, for the attacker who stole it.
        var handshakeSendSecretForTesting: SecretBytes?

        init(_ name: String, result: HandshakeResult, credential: any HandshakeCredential, verifier: any PeerVerifier,
             configuration: DataPathConfiguration) throws {
            self.name = name
            let sendDirection: Direction = result.role == .initiator ? .initiatorToResponder : .responderToInitiator
            let receiveDirection: Direction = result.role == .initiator ? .responderToInitiator : .initiatorToResponder
            sender = try result.sendSecret.withUnsafeBytes {
                try DataPathSender(trafficSecret: $0, suite: result.suite, direction: sendDirection,
                                   remoteQPN: result.remoteBinding.qpn, configuration: configuration, now: 0)
            }
            receiver = try result.receiveSecret.withUnsafeBytes {
                try DataPathReceiver(trafficSecret: $0, suite: result.suite, direction: receiveDirection,
                                     localQPN: result.localBinding.qpn, configuration: configuration, now: 0)
            }
            machine = ReauthenticationMachine(handshake: result, credential: credential, verifier: verifier)
            handshakeSendSecretForTesting = result.sendSecret.copy()
            result.wipe()
        }

        func sendApplication(_ count: Int) throws {
            for _ in 0..<count {
                var payload = [UInt8](repeating: 0, count: 8)
                withUnsafeBytes(of: nextCounter.bigEndian) { payload = Array($0) }
                outbox.append(try sender.sealFrame(payload, opcode: .send))
                nextCounter += 1
            }
        }

        func sendReauthentication(_ message: [UInt8]) throws {
            outbox.append(try sender.sealFrame(message, opcode: .reauthentication))
        }

        /// Carries out one machine output, as the channel will (section 14.4's order).
        func execute(_ output: ReauthenticationOutput, carrierEpoch: UInt32?) throws {
            switch output {
            case .none:
                break
            case .send(let message):
                try sendReauthentication(message)
            case .sendThenSwitchSending(let message, let secret):
                try sendReauthentication(message)
                inFlightAtSwitch.append(outbox.count)
                try secret.withUnsafeBytes { try sender.switchSending(to: $0, now: 0) }
                secret.wipe()
            case .finished(let result, let thenSend):
                let epoch = try XCTUnwrap(carrierEpoch)
                try result.receiveSecret.withUnsafeBytes { try receiver.installReceiving(secret: $0, afterEpoch: epoch) }
                if let thenSend { try sendReauthentication(thenSend) }
                if let secret = result.sendSecret {
                    inFlightAtSwitch.append(outbox.count)
                    try secret.withUnsafeBytes { try sender.switchSending(to: $0, now: 0) }
                }
                result.wipe()
                completed += 1
            case .abort(let error, let alert):
                errors.append(error)
                if let alert { try sendReauthentication(alert) }
            }
        }

        func deliver(_ frame: [UInt8], now: Timestamp) throws {
            switch receiver.openFrame(frame) {
            case .delivered(let header, let payload):
                switch header.opcode {
                case .send:
                    received.append(payload.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) })
                case .reauthentication:
                    try execute(machine.receive(payload, now: now), carrierEpoch: header.epoch)
                default:
                    XCTFail("unexpected opcode \(header.opcode)")
                }
            case .rejected(let reason, _):
                rejections.append(reason)
            }
        }
    }

    /// Runs the handshake between alice (initiator) and bob with fresh SVIDs at `start`.
    func channel(configuration: DataPathConfiguration = .init()) throws -> (alice: End, bob: End) {
        let aliceCredential = try credential("trainer/rank0", at: Self.start)
        let bobCredential = try credential("trainer/rank1", at: Self.start)
        let now = Timestamp(Self.start)
        let ini = HandshakeMachine(configuration: HandshakeConfiguration(
            credential: aliceCredential, verifier: verifier, localBinding: Self.binding(.initiator),
            expectedRemoteBinding: Self.binding(.responder)))
        let res = HandshakeMachine(configuration: HandshakeConfiguration(
            credential: bobCredential, verifier: verifier, localBinding: Self.binding(.responder),
            expectedRemoteBinding: Self.binding(.initiator)))
        var output = ini.start(now: now)
        var results: [HandshakeResult?] = [nil, nil]
        let machines = [ini, res]
        var sender = 0
        while let message = output.message {
            let receiver = 1 - sender
            if machines[receiver].isFinished { break }
            output = machines[receiver].receive(message, now: now)
            if let r = output.result { results[receiver] = r }
            if let e = output.error { XCTFail("handshake: \(e)") }
            sender = receiver
        }
        let a = try XCTUnwrap(results[0]), b = try XCTUnwrap(results[1])
        return (try End("alice", result: a, credential: aliceCredential, verifier: verifier, configuration: configuration),
                try End("bob", result: b, credential: bobCredential, verifier: verifier, configuration: configuration))
    }

    /// Moves at most `budget` frames from each end's outbox to the other end, in order.
    func pump(_ alice: End, _ bob: End, budget: Int, now: Timestamp) throws {
        for _ in 0..<budget {
            if !alice.outbox.isEmpty { try bob.deliver(alice.outbox.removeFirst(), now: now) }
            if !bob.outbox.isEmpty { try alice.deliver(bob.outbox.removeFirst(), now: now) }
        }
    }

    func drain(_ alice: End, _ bob: End, now: Timestamp) throws {
        while !alice.outbox.isEmpty || !bob.outbox.isEmpty { try pump(alice, bob, budget: 64, now: now) }
    }

    func assertExactlyOnceInOrder(_ end: End, sent: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(end.received, Array(0..<sent), "\(end.name) lost, duplicated or reordered a message",
                       file: file, line: line)
        XCTAssertEqual(end.rejections, [], "\(end.name) rejected frames", file: file, line: line)
        XCTAssertEqual(end.receiver.metrics.failures.total, 0, file: file, line: line)
        XCTAssertEqual(end.errors.map(\.code), [], file: file, line: line)
    }

    /// Both directions busy; alice then bob then both at once re-authenticate with new
    /// 30-second SVIDs while frames of the old epoch are still in flight (each side
    /// sends 3 frames per step, 2 are delivered: the backlog grows across the switch).
    func testMessagesInterleavedWithReauthenticationArriveExactlyOnce() throws {
        let (alice, bob) = try channel()
        var clock = Self.start
        for round in 0..<3 {
            for step in 0..<40 {
                clock += 0.001
                let now = Timestamp(clock)
                try alice.sendApplication(3)
                try bob.sendApplication(3)
                if step == 5 {
                    let renewed = clock + 0  // new certificates issued "now"
                    if round == 0 || round == 2 {
                        try alice.execute(alice.machine.start(with: try credential("trainer/rank0", at: renewed), now: now),
                                          carrierEpoch: nil)
                    }
                    if round == 1 || round == 2 {
                        try bob.execute(bob.machine.start(with: try credential("trainer/rank1", at: renewed), now: now),
                                        carrierEpoch: nil)
                    }
                }
                try pump(alice, bob, budget: 2, now: now)
            }
            try drain(alice, bob, now: Timestamp(clock))
            XCTAssertEqual(alice.completed, round + 1)
            XCTAssertEqual(bob.completed, round + 1)
            XCTAssertEqual(alice.machine.generation, UInt32(round + 1))
        }
        assertExactlyOnceInOrder(alice, sent: bob.nextCounter)
        assertExactlyOnceInOrder(bob, sent: alice.nextCounter)
        // Each direction switched once per re-authentication, at both ends.
        XCTAssertEqual(alice.sender.metrics.reauthenticationSwitches, 3)
        XCTAssertEqual(bob.receiver.metrics.reauthenticationSwitches, 3)
        XCTAssertEqual(bob.sender.metrics.reauthenticationSwitches, 3)
        XCTAssertEqual(alice.receiver.metrics.reauthenticationSwitches, 3)
        XCTAssertEqual(alice.sender.epoch, 3)
        XCTAssertEqual(bob.receiver.epoch, 3)
        XCTAssertEqual(alice.receiver.epoch, 3)
        XCTAssertEqual(bob.machine.peer.identity, "spiffe://\(Self.trustDomain)/trainer/rank0")
        // The switches really happened with old-key frames in flight (the backlog).
        XCTAssertEqual(alice.inFlightAtSwitch.count, 3)
        XCTAssertEqual(bob.inFlightAtSwitch.count, 3)
        XCTAssertTrue((alice.inFlightAtSwitch + bob.inFlightAtSwitch).allSatisfy { $0 > 10 },
                      "\(alice.inFlightAtSwitch) \(bob.inFlightAtSwitch)")
    }

    /// Someone holding alice's old traffic secret (secret_0, e.g. read from a crashed
    /// process) who follows the old hash chain cannot forge a frame of the epochs after
    /// the switch: those keys come from the re-authentication, not from the chain.
    func testOldChainKeyCannotForgeTheEpochsAfterTheSwitch() throws {
        let (alice, bob) = try channel(configuration: .dropping)
        let stolen = try XCTUnwrap(alice.handshakeSendSecretForTesting)
        var attacker = try stolen.withUnsafeBytes {
            try DataPathSender(trafficSecret: $0, suite: alice.sender.suite, direction: .initiatorToResponder,
                               remoteQPN: Self.binding(.responder).qpn, configuration: .dropping, now: 0)
        }
        let now = Timestamp(Self.start)
        try alice.execute(alice.machine.start(with: try credential("trainer/rank0", at: Self.start), now: now), carrierEpoch: nil)
        try drain(alice, bob, now: now)
        XCTAssertEqual(bob.completed, 1)
        try alice.sendApplication(1)  // the first frame of alice's new epoch 1
        try drain(alice, bob, now: now)
        XCTAssertEqual(bob.receiver.epoch, 1)
        let forged = [UInt8](repeating: 0xEE, count: 8)
        try attacker.rekey(now: 0)  // the old chain's epoch 1
        _ = try attacker.sealFrame(forged)  // sequence 0 of epoch 1 is alice's genuine frame (a replay)
        try bob.deliver(try attacker.sealFrame(forged), now: now)  // epoch 1, sequence 1
        try attacker.rekey(now: 0)  // the old chain's epoch 2 (bob precomputed the new chain's)
        try bob.deliver(try attacker.sealFrame(forged), now: now)
        XCTAssertEqual(bob.rejections, [.badTag, .badTag])
        XCTAssertEqual(bob.received, [0])
    }

    func testInstallAfterAnEpochOtherThanTheCurrentOneIsRefused() throws {
        let (alice, bob) = try channel()
        _ = alice
        XCTAssertThrowsError(try bob.receiver.installReceiving(secret: rawBytes(secretBytes(9)), afterEpoch: 1)) { error in
            XCTAssertEqual(error as? DataPathError, .reauthenticationOutOfOrder(carrierEpoch: 1, currentEpoch: 0))
        }
    }
}
