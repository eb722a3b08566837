// Isolation on a real rxe device (docs/operations.md, Isolation): a peer whose
// authentic messages break the protocol is cut off on every channel of the
// process and refused until its quarantine ends; frames forged on the fabric
// with the peer's QPN and PSN only raise the alarm; the shared quarantine list
// closes a live channel and refuses the peer without a restart.
import Dispatch
@_spi(RawQueuePair) @testable import FabricAuth
import Foundation
import Handshake
import Identity
import Synchronization
import Verbs
import XCTest

final class PeerIsolationTests: XCTestCase {
    typealias Support = AuthenticatedChannelTests
    static let victimID = "spiffe://cluster.test/trainer/rank0"
    static let peerID = "spiffe://cluster.test/trainer/rank1"

    /// Counts the fabric alarms the victim's channels raise.
    final class AlarmRecorder: ChannelObserver {
        let alarms = Mutex<[FabricAlarm]>([])
        func channelOpened(_ telemetry: ChannelTelemetry) {}
        func channelClosed(_ telemetry: ChannelTelemetry) {}
        func handshakeCompleted(resumed: Bool, duration: Duration) {}
        func fabricAlarm(_ alarm: FabricAlarm) { alarms.withLock { $0.append(alarm) } }
        var reasons: [RejectReason] { alarms.withLock { $0.map(\.reason) } }
    }

    struct Setup {
        let listener: AuthenticatedListener
        let client: ChannelConfiguration
        let quarantine: PeerQuarantine
        let alarms: AlarmRecorder
    }

    /// A victim listener with a quarantine of `duration` and an alarm
    /// recorder; the peer's configuration has no quarantine of its own.
    func makeSetup(context: Context, duration: Duration, failurePolicy: FailurePolicy = .fatal) throws -> Setup {
        let cluster = try Support.Cluster()
        var c = PeerQuarantine.Configuration()
        c.duration = duration
        let quarantine = PeerQuarantine(configuration: c)
        let alarms = AlarmRecorder()
        var server = try cluster.configuration(id: Self.victimID, policy: "allow domain cluster.test")
        server.quarantine = quarantine
        server.observer = alarms
        server.dataPath.failurePolicy = failurePolicy
        let client = try cluster.configuration(id: Self.peerID, policy: "allow domain cluster.test")
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        return Setup(listener: listener, client: client, quarantine: quarantine, alarms: alarms)
    }

    func connect(_ context: Context, _ s: Setup) throws -> (victim: AuthenticatedQueuePair, peer: AuthenticatedQueuePair) {
        let (v, p) = try Support.establish(context: context, listener: s.listener, client: s.client)
        return (try v.get(), try p.get())
    }

    /// The victim refuses the peer with `quarantined`, and the peer learns why.
    func assertRefusedAsQuarantined(_ context: Context, _ s: Setup, file: StaticString = #filePath, line: UInt = #line) throws {
        let (v, p) = try Support.establish(context: context, listener: s.listener, client: s.client)
        guard case .failure(.handshake(let victimError)) = v else { return XCTFail("victim accepted: \(v)", file: file, line: line) }
        XCTAssertEqual(victimError.code, .quarantined, "\(victimError)", file: file, line: line)
        guard case .failure(.handshake(let peerError)) = p else { return XCTFail("peer connected: \(p)", file: file, line: line) }
        XCTAssertEqual(peerError.remoteCode, .quarantined, "\(peerError)", file: file, line: line)
    }

    /// An out-of-state READ done, sealed with the peer's real keys (the
    /// channel's own `sendControl`), on one of two channels: both victim
    /// channels close, the second with `peer quarantined`, and the peer is
    /// refused until the quarantine's 4 s are over.
    func testAuthenticProtocolViolationCutsOffEveryChannelAndRefusesUntilItEnds() throws {
        let context = try DeviceTestSupport.openContext()
        let s = try makeSetup(context: context, duration: .seconds(4))
        let (victim1, peer1) = try connect(context, s)
        let (victim2, peer2) = try connect(context, s)
        let peer = try SPIFFEID(Self.peerID)
        XCTAssertEqual(s.quarantine.channelCount(for: peer), 2)
        try peer2.send(Array("before".utf8))
        XCTAssertEqual(try victim2.receive(), Array("before".utf8))

        let readDone: [UInt8] = [0, 0, 0, 3, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
        let slot = try peer1.resources.acquireSendSlot(deadline: .max)
        try peer1.sendControl(.readDone, slot: slot, length: readDone.count) { p in
            readDone.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        let quarantinedAt = Date()
        XCTAssertThrowsError(try victim1.receive(timeout: .seconds(10))) { error in
            guard case ChannelError.protocolViolation(let what) = error, what.contains("not outstanding") else {
                return XCTFail("\(error)")
            }
        }
        XCTAssertEqual(victim1.receiveMetrics.failures.total, 0, "the READ done was authentic")
        XCTAssertThrowsError(try victim2.receive(timeout: .seconds(10))) { error in
            guard case ChannelError.peerQuarantined(let why) = error, why.contains("READ done") else {
                return XCTFail("the second channel must close as quarantined: \(error)")
            }
        }
        XCTAssertEqual(try victim2.queuePair.state(), .error)
        XCTAssertEqual(s.quarantine.entry(for: peer, at: Date())?.cause, .misbehaviour)
        XCTAssertEqual(s.quarantine.channelCount(for: peer), 0)
        XCTAssertTrue(s.alarms.reasons.isEmpty, "authentic misbehaviour is no fabric alarm: \(s.alarms.reasons)")

        try assertRefusedAsQuarantined(context, s)
        // After the quarantine's time the same peer is accepted again.
        let left = 4.2 - Date().timeIntervalSince(quarantinedAt)
        if left > 0 { Thread.sleep(forTimeInterval: left) }
        let (victim3, peer3) = try connect(context, s)
        try peer3.send(Array("after".utf8))
        XCTAssertEqual(try victim3.receive(), Array("after".utf8))
    }

    /// ReDMArk's injector: an attacker QP aimed at the victim's QPN with the
    /// PSN it expects sends a frame with a forged tag and one replaying an
    /// already delivered sequence. Under drop-and-count both are dropped and
    /// the channel stays open; under the fatal policy the first closes it.
    /// Either way each raises an alarm naming the QPs, the honest peer is
    /// not quarantined, and it reconnects at once.
    func testForgedAndReplayedFramesRaiseTheAlarmAndNeverQuarantineTheHonestPeer() throws {
        let context = try DeviceTestSupport.openContext()
        for policy in [FailurePolicy.dropAndCount, .fatal] {
            let s = try makeSetup(context: context, duration: .seconds(600), failurePolicy: policy)
            let (victim, peer) = try connect(context, s)
            try peer.send(Array("genuine".utf8))
            XCTAssertEqual(try victim.receive(), Array("genuine".utf8))
            try peer.flush()

            for sequence: UInt64 in policy == .fatal ? [1] : [1, 0] {
                var frame = [UInt8](repeating: 0x5A, count: DataPathLimits.frameOverhead + 32)
                frame.withUnsafeMutableBytes { f in
                    FrameHeader(suite: victim.suite, opcode: .send, direction: .initiatorToResponder, epoch: 0,
                        qpn: victim.queuePair.number, length: 32, sequence: sequence).encode(to: f.baseAddress!)
                }
                let attacker = try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
                frame.withUnsafeBytes { attacker.region.bytes.copyMemory(from: $0) }
                try attacker.queuePair.post(SendRequest(id: 1, operation: .send, element: attacker.region.element(0..<frame.count)))
                _ = try attacker.completionQueue.poll(count: 1, timeout: .seconds(20))
            }
            do {
                _ = try victim.receive(timeout: .seconds(3))
                XCTFail("\(policy): a forged frame was delivered")
            } catch ChannelError.timedOut {
                XCTAssertEqual(policy, .dropAndCount)
            } catch ChannelError.rejected(let reason, let tornDown) {
                XCTAssertEqual(policy, .fatal)
                XCTAssertEqual(reason, .badTag)
                XCTAssertTrue(tornDown)
            }
            XCTAssertEqual(s.alarms.reasons, policy == .fatal ? [.badTag] : [.badTag, .replayed], "\(policy)")
            let alarm = try XCTUnwrap(s.alarms.alarms.withLock { $0.first })
            XCTAssertEqual(alarm.peer, Self.peerID)
            XCTAssertEqual(alarm.localQPN, victim.queuePair.number)
            XCTAssertEqual(alarm.remoteQPN, peer.queuePair.number)
            XCTAssertTrue(s.quarantine.active(at: Date()).isEmpty, "\(policy): a forgery quarantined the honest peer")
            // (The attacker's packets took PSNs the honest peer will use, so
            // its own traffic on this QP is now seen as duplicates -- the
            // ReDMArk desynchronisation; only a new channel can carry it.)
            XCTAssertEqual(victim.isOpen, policy == .dropAndCount)
            // The honest peer connects again at once.
            let (again, peerAgain) = try connect(context, s)
            try peerAgain.send(Array("again".utf8))
            XCTAssertEqual(try again.receive(), Array("again".utf8))
        }
    }

    /// An entry written to the shared list while a channel is up closes it
    /// (within the watch's interval) and refuses the peer; removing the entry
    /// lets it back in. Nothing is restarted.
    func testQuarantineListEntryClosesALiveChannelAndRefusesThePeer() throws {
        let context = try DeviceTestSupport.openContext()
        let s = try makeSetup(context: context, duration: .seconds(600))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fabricauth-quarantine-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/quarantine.txt"
        try QuarantineStore.update(path) { _ in }
        let watch = QuarantineWatch(store: try QuarantineStore(path: path), quarantine: s.quarantine, interval: .milliseconds(100))
        defer { watch.cancel() }

        let (victim, peer) = try connect(context, s)
        try peer.send(Array("up".utf8))
        XCTAssertEqual(try victim.receive(), Array("up".utf8))
        let id = try SPIFFEID(Self.peerID)
        try QuarantineStore.update(path) { $0.add(id, until: nil, reason: "detector: node 7 forging READ responses") }
        XCTAssertThrowsError(try victim.receive(timeout: .seconds(10))) { error in
            guard case ChannelError.peerQuarantined(let why) = error, why == "detector: node 7 forging READ responses" else {
                return XCTFail("\(error)")
            }
        }
        XCTAssertEqual(s.quarantine.entry(for: id, at: Date())?.cause, .listFile)
        try assertRefusedAsQuarantined(context, s)

        try QuarantineStore.update(path) { _ = $0.lift(id) }
        let deadline = Date() + 5
        while s.quarantine.entry(for: id, at: Date()) != nil, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let (victim2, peer2) = try connect(context, s)
        try peer2.send(Array("back".utf8))
        XCTAssertEqual(try victim2.receive(), Array("back".utf8))
    }
}
