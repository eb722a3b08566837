import Testing
@testable import FabricAuth
import Handshake

/// Epochs: rekey in the middle of a stream, grace for the previous epoch,
/// refusal of retired epochs, limits that force a rekey.
@Suite struct RekeyTests {
    static func sender(_ mac: TestedMAC, _ c: DataPathConfiguration) throws -> DataPathSender {
        try DataPathSender(trafficSecret: rawBytes(secretBytes(42)), suite: mac.suite, direction: .responderToInitiator,
                           remoteQPN: 99, configuration: mac.configure(c), now: 0)
    }

    static func receiver(_ mac: TestedMAC, _ c: DataPathConfiguration) throws -> DataPathReceiver {
        try DataPathReceiver(trafficSecret: rawBytes(secretBytes(42)), suite: mac.suite, direction: .responderToInitiator,
                             localQPN: 99, configuration: mac.configure(c), now: 0)
    }

    static var small: DataPathConfiguration {
        var c = DataPathConfiguration.dropping
        c.rekeyAfterMessages = 5
        c.rejectAfterMessages = 8
        c.previousEpochGraceMessages = 3
        c.previousEpochGraceNanoseconds = 1_000
        return c
    }

    /// The message limit forces a rekey every 5 frames; an in-order stream
    /// crosses 5 epochs with nothing lost.
    @Test(arguments: testedMACs)
    func messageLimitForcesRekeyMidStream(mac: TestedMAC) throws {
        var s = try Self.sender(mac, Self.small)
        var r = try Self.receiver(mac, Self.small)
        for i in 0..<30 {
            let frame = try s.sealFrame([UInt8(i), 1, 2])
            let header = r.peekHeader(frame)
            #expect(header.epoch == UInt32(i / 5) && header.sequence == UInt64(i % 5))
            #expect(r.openFrame(frame).isDelivered, "frame \(i)")
        }
        #expect(s.metrics.rekeys == 5 && r.metrics.rekeys == 5)
        #expect(s.epoch == 5 && r.epoch == 5)
        #expect(r.metrics.messagesOpened == 30 && r.metrics.failures.total == 0)
    }

    /// Age forces a rekey too.
    @Test(arguments: testedMACs)
    func timeForcesRekey(mac: TestedMAC) throws {
        var c = Self.small
        c.rekeyAfterMessages = 1_000
        c.rejectAfterMessages = 2_000
        c.rekeyAfterNanoseconds = 100
        var s = try Self.sender(mac, c)
        var r = try Self.receiver(mac, c)
        let a = try s.sealFrame([1], now: 0)
        let b = try s.sealFrame([2], now: 99)
        let d = try s.sealFrame([3], now: 100)
        #expect(r.peekHeader(a).epoch == 0 && r.peekHeader(b).epoch == 0 && r.peekHeader(d).epoch == 1)
        #expect(r.openFrame(a, now: 0).isDelivered && r.openFrame(b, now: 99).isDelivered)
        #expect(r.openFrame(d, now: 100).isDelivered)
        #expect(r.epoch == 1)
        // A clock reading before the epoch start does not rekey (no wrap-around).
        let early = try s.sealFrame([4], now: 50)
        #expect(r.peekHeader(early).epoch == 1)
        #expect(s.metrics.rekeys == 1)
    }

    /// Frames of the previous epoch that arrive after the first frame of the new
    /// one still open within the grace window, once each; after the grace
    /// (by count or by time) the old key is gone and they are refused.
    @Test(arguments: testedMACs)
    func previousEpochGraceThenRetired(mac: TestedMAC) throws {
        var s = try Self.sender(mac, Self.small)
        var r = try Self.receiver(mac, Self.small)
        var e0: [[UInt8]] = []
        for i in 0..<5 { e0.append(try s.sealFrame([UInt8(i)])) }
        var e1: [[UInt8]] = []
        for i in 0..<5 { e1.append(try s.sealFrame([UInt8(10 + i)])) }
        let e2first = try s.sealFrame([20])

        #expect(r.openFrame(e0[0]).isDelivered)
        #expect(r.openFrame(e1[0], now: 10).isDelivered)  // peer rekeyed: promote
        let hasPrevious1 = r.hasPreviousEpoch
        #expect(r.epoch == 1 && hasPrevious1)
        // Grace: 3 messages of epoch 0.
        #expect(r.openFrame(e0[2], now: 11).isDelivered)
        #expect(r.openFrame(e0[2], now: 11) == .rejected(.replayed, .drop))
        #expect(r.openFrame(e0[1], now: 12).isDelivered)
        #expect(r.openFrame(e0[4], now: 13).isDelivered)
        // Grace by count used up: epoch 0 is retired and its key wiped.
        #expect(r.openFrame(e0[3], now: 14) == .rejected(.retiredEpoch, .drop))
        let hasPrevious3 = r.hasPreviousEpoch
        #expect(!hasPrevious3)
        #expect(r.openFrame(e0[3], now: 14) == .rejected(.retiredEpoch, .drop))

        // Epoch 1 frames keep flowing; epoch 2 arrives; epoch 1 grace ends by time.
        #expect(r.openFrame(e1[1], now: 20).isDelivered)
        #expect(r.openFrame(e2first, now: 30).isDelivered)
        let hasPrevious2 = r.hasPreviousEpoch
        #expect(r.epoch == 2 && hasPrevious2)
        #expect(r.openFrame(e1[2], now: 30 + 999).isDelivered)  // inside 1000 ns
        #expect(r.openFrame(e1[3], now: 30 + 1_000) == .rejected(.retiredEpoch, .drop))  // deadline
        let hasPrevious4 = r.hasPreviousEpoch
        #expect(!hasPrevious4)
        // Epoch 0 stays refused, and replays of old frames of any epoch never open.
        #expect(r.openFrame(e0[0], now: 2_000) == .rejected(.retiredEpoch, .drop))
        #expect(r.openFrame(e2first, now: 2_000) == .rejected(.replayed, .drop))
        // An old epoch's frame relabelled as the current epoch: the current key rejects it.
        var relabelled = e0[3]
        relabelled[7] = 2  // epoch field (bytes 4..7, big-endian) := 2
        #expect(r.openFrame(relabelled, now: 2_000) == .rejected(.badTag, .drop))

        #expect(r.metrics.messagesOpened == 8)
        #expect(r.metrics.failures[.retiredEpoch] == 4 && r.metrics.failures[.replayed] == 2)
        #expect(r.metrics.failures[.badTag] == 1)
        #expect(r.metrics.failures.total == 7)
        #expect(r.metrics.rekeys == 2 && r.metrics.epochsRetired == 2)
    }

    /// A frame from two epochs ahead is refused (no key for it), and does not
    /// disturb the session.
    @Test(arguments: testedMACs)
    func futureEpochRefused(mac: TestedMAC) throws {
        var s = try Self.sender(mac, Self.small)
        var r = try Self.receiver(mac, Self.small)
        let first = try s.sealFrame([0])
        try s.rekey(now: 0)
        try s.rekey(now: 0)
        let far = try s.sealFrame([2])
        #expect(r.openFrame(far) == .rejected(.unknownEpoch, .drop))
        #expect(r.openFrame(first).isDelivered)
        #expect(r.epoch == 0)
    }

    /// The receiver refuses sequences at or above the reject limit even with a
    /// valid tag (a sender with looser limits produced it).
    @Test(arguments: testedMACs)
    func sequenceAtRejectLimitRefused(mac: TestedMAC) throws {
        var loose = Self.small
        loose.rekeyAfterMessages = 100
        loose.rejectAfterMessages = 200
        var s = try Self.sender(mac, loose)
        var r = try Self.receiver(mac, Self.small)
        s.setNextSequenceForTesting(7)
        #expect(r.openFrame(try s.sealFrame([7])).isDelivered)  // 7 < 8
        #expect(r.openFrame(try s.sealFrame([8])) == .rejected(.sequenceLimit, .drop))
        #expect(r.metrics.failures[.sequenceLimit] == 1)
    }

    /// The sender never emits a sequence at the rekey limit within an epoch,
    /// and at the last epoch it stops at the reject limit.
    @Test(arguments: testedMACs)
    func epochExhaustion(mac: TestedMAC) throws {
        var c = Self.small
        c.rekeyAfterMessages = 2
        c.rejectAfterMessages = 4
        c.maxEpoch = 2
        var s = try Self.sender(mac, c)
        var r = try Self.receiver(mac, c)
        var seen: [(UInt32, UInt64)] = []
        for i in 0..<8 {
            let f = try s.sealFrame([UInt8(i)])
            let h = r.peekHeader(f)
            seen.append((h.epoch, h.sequence))
            #expect(r.openFrame(f).isDelivered)
        }
        #expect(seen.map { $0.0 } == [0, 0, 1, 1, 2, 2, 2, 2])
        #expect(seen.map { $0.1 } == [0, 1, 0, 1, 0, 1, 2, 3])
        #expect(throws: DataPathError.epochsExhausted) { _ = try s.sealFrame([9]) }
        #expect(s.metrics.messagesSealed == 8)
    }

    @Test func configurationValidation() {
        var c = DataPathConfiguration()
        #expect(throws: Never.self) { try c.validate() }
        c.rekeyAfterMessages = c.rejectAfterMessages
        #expect(throws: DataPathError.invalidConfiguration(field: "rekeyAfterMessages")) { try c.validate() }
        c = DataPathConfiguration()
        c.rejectAfterMessages = DataPathLimits.rejectAfterMessages + 1
        #expect(throws: DataPathError.invalidConfiguration(field: "rejectAfterMessages")) { try c.validate() }
        c = DataPathConfiguration()
        c.maxEpoch = DataPathLimits.maxEpoch + 1
        #expect(throws: DataPathError.invalidConfiguration(field: "maxEpoch")) { try c.validate() }
        #expect(DataPathLimits.rekeyAfterMessages < DataPathLimits.rejectAfterMessages)
    }

    @Test func secretLengthAndFrameSize() throws {
        let short = [UInt8](repeating: 1, count: 31)
        #expect(throws: DataPathError.invalidSecretLength(31)) {
            _ = try DataPathSender(trafficSecret: rawBytes(short), suite: .chacha20Poly1305, direction: .initiatorToResponder,
                                   remoteQPN: 1, now: 0)
        }
        let secret = secretBytes(5)
        var s = try DataPathSender(trafficSecret: rawBytes(secret), suite: .chacha20Poly1305, direction: .initiatorToResponder,
                               remoteQPN: 1, now: 0)
        var small = [UInt8](repeating: 0, count: 60)
        #expect(throws: DataPathError.frameTooSmall(required: 61, available: 60)) {
            _ = try small.withUnsafeMutableBytes { (b) throws(DataPathError) in
                try s.seal(frame: b, payloadLength: 5, opcode: .send, now: 0)
            }
        }
        #expect(s.nextSequence == 0)  // a refused seal consumes no sequence
    }

    /// Where AES-NI/PCLMUL are missing, the GMAC suite refuses clearly.
    @Test func gmacAvailabilityIsReported() throws {
        if CipherSuite.aes256GMAC.isAvailable {
            #expect(CipherSuite.preferred == .aes256GMAC)
        } else {
            #expect(CipherSuite.preferred == .chacha20Poly1305)
            let secret = secretBytes(6)
            #expect(throws: DataPathError.suiteUnavailable(.aes256GMAC)) {
                _ = try DataPathSender(trafficSecret: rawBytes(secret), suite: .aes256GMAC, direction: .initiatorToResponder,
                                       remoteQPN: 1, now: 0)
            }
        }
    }
}
