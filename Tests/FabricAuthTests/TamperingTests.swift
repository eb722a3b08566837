import Testing
@testable import FabricAuth

/// Every modification of an authentic frame is rejected, nothing tampered is
/// delivered, and the failure counters are exactly the expected ones.
@Suite struct TamperingTests {
    static let qpn: UInt32 = 0x00_1234
    static let otherQPN: UInt32 = 0x00_5678

    /// The reason the receiver must give for frame `original` (sequence `seq`,
    /// payload `n` bytes, epoch 0, sequences 0..<seq already delivered, next
    /// epoch 1 precomputed) with bit `bit` of byte `byte` flipped. Derived from
    /// the wire layout (docs/protocol.md) and the documented check order.
    static func expectedReason(byte: Int, bit: Int, seq: UInt64, n: Int, opcode: DataPathOpcode,
                               configuration c: DataPathConfiguration) -> RejectReason {
        let frameCount = DataPathLimits.frameOverhead + n
        // Value of a big-endian field with one bit flipped.
        func flipped(_ value: UInt64, fieldStart: Int, fieldSize: Int) -> UInt64 {
            let shift = UInt64(8 * (fieldStart + fieldSize - 1 - byte) + bit)
            return value ^ (1 << shift)
        }
        switch byte {
        case 0, 1: return .malformedHeader  // version, suite
        case 2:
            guard let changed = DataPathOpcode(rawValue: opcode.rawValue ^ UInt8(1 << bit)) else { return .malformedHeader }
            // A control opcode is refused before the tag when the payload is
            // longer than any control message.
            return changed.isEncrypted && n > DataPathLimits.maxControlPayloadBytes ? .oversized : .badTag
        case 3: return .wrongDirection
        case 4..<8:
            let e = flipped(0, fieldStart: 4, fieldSize: 4)
            return e == 1 ? .badTag : .unknownEpoch  // epoch 1 is the precomputed next one
        case 8..<12: return .wrongQPN
        case 12..<16:
            let len = flipped(UInt64(n), fieldStart: 12, fieldSize: 4)
            if len > UInt64(c.maxPayloadBytes) { return .oversized }
            if UInt64(DataPathLimits.frameOverhead) + len > UInt64(frameCount) { return .truncated }
            return .oversized  // frame longer than the header says
        case 16..<24:
            let s = flipped(seq, fieldStart: 16, fieldSize: 8)
            if s >= c.rejectAfterMessages { return .sequenceLimit }
            if s < seq { return seq - s > ReplayWindow.windowSize ? .tooOld : .replayed }
            return .badTag
        case 24..<36: return .badTag  // remote address, rkey
        case 36..<40: return .malformedHeader  // reserved
        default: return .badTag  // payload and tag
        }
    }

    @Test(arguments: testedMACs)
    func bitFlipsTruncationsExtensionsReplays(mac: TestedMAC) throws {
        let suite = mac.suite
        let base = try mac.configure(), dropping = try mac.configure(.dropping)
        var rng = SplitMix64(seed: 0xFAB + UInt64(suite.rawValue))
        let secret = rng.bytes(32)
        let config = dropping
        var sender = try DataPathSender(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder,
                               remoteQPN: Self.qpn, configuration: base, now: 0)
        var receiver = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder,
                                 localQPN: Self.qpn, configuration: config, now: 0)
        var expected = FailureCounts()
        var delivered: [[UInt8]] = []
        var attempts = 0
        let lengths = [0, 1, 15, 16, 17, 31, 64, 100, 255, 1, 7, 48]
        for (i, n) in lengths.enumerated() {
            let seq = UInt64(i)
            // Encrypted control opcodes too, where the payload fits one.
            let opcode = DataPathOpcode.allCases[n <= DataPathLimits.maxControlPayloadBytes ? i % 7 : i % 4]
            let payload = rng.bytes(n)
            let frame = try sender.sealFrame(payload, opcode: opcode, remoteAddress: rng.next(),
                                             rkey: UInt32.random(in: 0...UInt32.max, using: &rng))
            #expect(frame.count == n + 56)

            // 1. Every single-bit flip of header, payload and tag.
            for byte in 0..<frame.count {
                for bit in 0..<8 {
                    var f = frame
                    f[byte] ^= UInt8(1 << bit)
                    let got = receiver.openFrame(f)
                    let want = Self.expectedReason(byte: byte, bit: bit, seq: seq, n: n, opcode: opcode,
                                                   configuration: config)
                    #expect(got == .rejected(want, .drop), "byte \(byte) bit \(bit) of frame \(i)")
                    expected[want] += 1
                    attempts += 1
                }
            }
            // 2. Every truncation.
            for length in 0..<frame.count {
                #expect(receiver.openFrame(Array(frame.prefix(length))) == .rejected(.truncated, .drop))
                expected[.truncated] += 1
                attempts += 1
            }
            // 3. Extensions.
            for extra in [1, 15, 16, 1000] {
                #expect(receiver.openFrame(frame + rng.bytes(extra)) == .rejected(.oversized, .drop))
                expected[.oversized] += 1
                attempts += 1
            }
            // 4. Wrong tag of the right length: a tag from another frame.
            if let previous = delivered.last, previous.count == frame.count {
                var f = frame
                f.replaceSubrange((f.count - 16)..., with: previous.suffix(16))
                #expect(receiver.openFrame(f) == .rejected(.badTag, .drop))
                expected[.badTag] += 1
                attempts += 1
            }
            // 5. The authentic frame is delivered, intact.
            let opened = receiver.openFrame(frame)
            guard case .delivered(let header, let body) = opened else {
                Issue.record("authentic frame \(i) rejected: \(opened)")
                continue
            }
            #expect(body == payload && header.sequence == seq && header.opcode == opcode)
            delivered.append(frame)
            // 6. Replays of it and of every earlier frame.
            for old in delivered {
                #expect(receiver.openFrame(old) == .rejected(.replayed, .drop))
                expected[.replayed] += 1
                attempts += 1
            }
        }
        #expect(receiver.metrics.failures == expected)
        #expect(receiver.metrics.failures.total == UInt64(attempts))
        #expect(receiver.metrics.messagesOpened == UInt64(lengths.count))
        #expect(receiver.metrics.bytesOpened == UInt64(lengths.reduce(0, +)))
        #expect(sender.metrics.messagesSealed == UInt64(lengths.count))
        #expect(receiver.epoch == 0 && receiver.metrics.rekeys == 0)
    }

    /// A frame moved to another QP, sealed with the other direction's key, or
    /// reflected back to its sender is rejected.
    @Test(arguments: testedMACs)
    func otherQPAndOtherDirection(mac: TestedMAC) throws {
        let suite = mac.suite
        let base = try mac.configure(), dropping = try mac.configure(.dropping)
        let secretAB = secretBytes(1), secretBA = secretBytes(2), secretOther = secretBytes(3)
        func sender(_ s: [UInt8], _ d: Direction, _ q: UInt32) throws -> DataPathSender {
            try DataPathSender(trafficSecret: rawBytes(s), suite: suite, direction: d, remoteQPN: q, configuration: base, now: 0)
        }
        func receiver(_ s: [UInt8], _ d: Direction, _ q: UInt32) throws -> DataPathReceiver {
            try DataPathReceiver(trafficSecret: rawBytes(s), suite: suite, direction: d, localQPN: q,
                                     configuration: dropping, now: 0)
        }
        var a2b = try sender(secretAB, .initiatorToResponder, Self.qpn)
        var atB = try receiver(secretAB, .initiatorToResponder, Self.qpn)
        var otherQP = try receiver(secretOther, .initiatorToResponder, Self.otherQPN)
        var atA = try receiver(secretBA, .responderToInitiator, Self.qpn)

        let payload = Array("move me".utf8)
        let frame = try a2b.sealFrame(payload)
        // Moved to another QP: its QPN doesn't match...
        #expect(otherQP.openFrame(frame) == .rejected(.wrongQPN, .drop))
        // ...and rewriting the QPN to match makes the tag fail (other QP's key).
        var moved = frame
        moved[8] = 0; moved[9] = 0; moved[10] = 0x56; moved[11] = 0x78
        #expect(otherQP.openFrame(moved) == .rejected(.badTag, .drop))
        // Reflected to the sender's own receiver (the other direction).
        #expect(atA.openFrame(frame) == .rejected(.wrongDirection, .drop))
        var reflected = frame
        reflected[3] = Direction.responderToInitiator.rawValue
        #expect(atA.openFrame(reflected) == .rejected(.badTag, .drop))
        // Sealed with the other direction's key but claiming this direction.
        var wrongKey = try sender(secretBA, .initiatorToResponder, Self.qpn)
        wrongKey.setNextSequenceForTesting(1000)  // a fresh sequence: the MAC decides
        #expect(atB.openFrame(try wrongKey.sealFrame(payload)) == .rejected(.badTag, .drop))
        // Sealed honestly for the other direction.
        var b2a = try sender(secretBA, .responderToInitiator, Self.qpn)
        #expect(atB.openFrame(try b2a.sealFrame(payload)) == .rejected(.wrongDirection, .drop))
        // None of this moved B's window: the authentic frame still opens.
        #expect(atB.openFrame(frame).isDelivered)

        #expect(otherQP.metrics.failures[.wrongQPN] == 1 && otherQP.metrics.failures[.badTag] == 1)
        #expect(otherQP.metrics.failures.total == 2 && otherQP.metrics.messagesOpened == 0)
        #expect(atA.metrics.failures[.wrongDirection] == 1 && atA.metrics.failures[.badTag] == 1)
        #expect(atA.metrics.failures.total == 2 && atA.metrics.messagesOpened == 0)
        #expect(atB.metrics.failures[.badTag] == 1 && atB.metrics.failures[.wrongDirection] == 1)
        #expect(atB.metrics.failures.total == 2 && atB.metrics.messagesOpened == 1)
    }

    /// Reordering inside the window is accepted (UD, multipath, multi-threaded
    /// completion handling); each frame still opens exactly once.
    @Test(arguments: testedMACs)
    func reorderWithinWindowOnce(mac: TestedMAC) throws {
        let suite = mac.suite
        let base = try mac.configure(), dropping = try mac.configure(.dropping)
        let secret = secretBytes(9)
        var s = try DataPathSender(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder, remoteQPN: 7, configuration: base, now: 0)
        var r = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder, localQPN: 7,
                                 configuration: dropping, now: 0)
        var frames: [[UInt8]] = []
        for i in 0..<64 { frames.append(try s.sealFrame([UInt8(i)])) }
        var rng = SplitMix64(seed: 64)
        let order = Array(0..<64).shuffled(using: &rng)
        for i in order {
            let header = r.peekHeader(frames[i])
            #expect(r.openFrame(frames[i]) == .delivered(header, [UInt8(i)]))
        }
        for i in order { #expect(r.openFrame(frames[i]) == .rejected(.replayed, .drop)) }
        #expect(r.metrics.messagesOpened == 64 && r.metrics.failures[.replayed] == 64)
        #expect(r.metrics.failures.total == 64)
    }

    /// Default policy: the first rejection is fatal, later frames are refused.
    @Test(arguments: testedMACs)
    func fatalPolicyClosesTheReceiver(mac: TestedMAC) throws {
        let suite = mac.suite
        let base = try mac.configure()
        let secret = secretBytes(4)
        var s = try DataPathSender(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder, remoteQPN: 7, configuration: base, now: 0)
        var r = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder, localQPN: 7, configuration: base, now: 0)
        let good = try s.sealFrame([1, 2, 3])
        var bad = good
        bad[41] ^= 0x80
        #expect(r.openFrame(bad) == .rejected(.badTag, .tearDown))
        let closed = r.isClosed
        #expect(closed)
        #expect(r.openFrame(good) == .rejected(.sessionClosed, .tearDown))
        #expect(r.metrics.failures[.badTag] == 1 && r.metrics.failures[.sessionClosed] == 1)
        #expect(r.metrics.messagesOpened == 0)
    }
}

extension DataPathReceiver {
    /// The header of a frame, parsed without any check (test helper).
    func peekHeader(_ frame: [UInt8]) -> FrameHeader {
        frame.withUnsafeBytes { FrameHeader.decode(from: $0.baseAddress!)! }
    }
}
