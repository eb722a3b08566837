// Who is proven to have caused each failure (Isolation/FailureAttribution.swift):
// the rendezvous machine's violations are the peer's, every rejected frame is
// only an alarm, and a real receiver's bad-tag and replay rejections are alarms.
import Handshake
import Testing
@testable import FabricAuth

@Suite struct FailureAttributionTests {
    static let limits = Rendezvous.Limits(requests: 2, targets: 2, peerEntries: 2)
    func key(_ n: UInt32) -> WindowKey { WindowKey(rkey: 0x100 + n, address: 0x1000 * UInt64(n + 1)) }

    /// Every way an authentic control message can break the machine, each
    /// driven through the machine itself.
    func violations() -> [RendezvousViolation] {
        var found: [RendezvousViolation] = []
        func record(_ body: (inout Rendezvous) throws(RendezvousViolation) -> Void) {
            var r = Rendezvous(limits: Self.limits)
            do throws(RendezvousViolation) {
                for _ in 0..<4 { try body(&r) }
            } catch { found.append(error) }
        }
        var n: UInt32 = 0
        record { r throws(RendezvousViolation) in
            n += 1
            try r.peerGranted(PeerGrant(index: n, generation: 0, tag: 0, key: key(0), capacity: 1))
        }
        record { r throws(RendezvousViolation) in
            n += 1
            _ = try r.peerOffered(PeerOffer(index: n, generation: 0, tag: 0, key: key(0), length: 1))
        }
        record { r throws(RendezvousViolation) in try r.peerReadDone(index: 99, generation: 0) }
        record { r throws(RendezvousViolation) in try r.peerReadDone(index: 1, generation: 0) }
        return found
    }

    @Test func authenticControlMessagesThatBreakTheProtocolAreThePeers() {
        let v = violations()
        #expect(v.map(\.what) == ["more than 2 WRITE grants outstanding", "more than 2 READ offers outstanding",
            "READ done for offer 99, which does not exist", "READ done for offer 1.0, which is not outstanding"])
        for violation in v { #expect(violation.attribution == .peerMisbehaviour, "\(violation)") }
    }

    @Test func noRejectedFrameIsProvenToBeThePeers() {
        for reason in RejectReason.allCases {
            #expect(reason.attribution == (reason == .sessionClosed ? .local : .fabricAlarm), "\(reason)")
            #expect(reason.attribution != .peerMisbehaviour, "\(reason) would let a forger quarantine the peer")
        }
    }

    @Test func onlyAPolicyDenialInAHandshakeIsThePeers() {
        for code in HandshakeErrorCode.allCases {
            #expect((code.attribution == .peerMisbehaviour) == (code == .policyDenied), "\(code)")
        }
        #expect(HandshakeErrorCode.quarantined.attribution == .local)
        #expect(HandshakeErrorCode.decryptFailed.attribution == .fabricAlarm)
    }

    /// A real receiver's rejections of a forged tag and of a replayed
    /// authentic frame: both attributed to the fabric, never to the peer.
    @Test(arguments: testedMACs)
    func badTagAndReplayFromARealReceiverAreAlarms(mac: TestedMAC) throws {
        let config = try mac.configure(.dropping)
        var rng = SplitMix64(seed: 16)
        let secret = rng.bytes(32)
        var sender = try DataPathSender(trafficSecret: rawBytes(secret), suite: mac.suite, direction: .initiatorToResponder,
            remoteQPN: 7, configuration: config, now: 0)
        var receiver = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: mac.suite, direction: .initiatorToResponder,
            localQPN: 7, configuration: config, now: 0)
        let frame = try sender.sealFrame([1, 2, 3])
        var forged = frame
        forged[forged.count - 1] ^= 1
        var reasons: [RejectReason] = []
        for f in [forged, frame, frame] {
            if let reason = receiver.openFrame(f).reason { reasons.append(reason) }
        }
        #expect(reasons == [.badTag, .replayed])
        #expect(reasons.allSatisfy { $0.attribution == .fabricAlarm })
    }

    @Test func alarmLinesAreRateLimitedToPowersOfTwo() {
        let logged = (1...1000).filter { FabricAlarm.shouldLog(count: UInt64($0)) }
        #expect(logged == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
        let alarm = FabricAlarm(reason: .badTag, peer: "spiffe://a.org/w", localQPN: 17, remoteQPN: 18,
            remoteGID: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2], count: 3, total: 4)
        #expect(alarm.description == "fabric under attack? bad tag frame on QP 17 claiming to come from spiffe://a.org/w "
            + "(QP 18, GID 0000:0000:0000:0000:0000:ffff:0a00:0002): 3 bad tag, 4 rejected in all on this channel; "
            + "unauthenticated, so the peer is not quarantined")
    }
}
