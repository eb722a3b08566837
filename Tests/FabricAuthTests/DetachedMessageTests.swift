import CSodium
import Testing
@testable import FabricAuth

/// Detached messages (RDMA WRITE notices and READ offers): the header and tag
/// travel apart from the payload, which sits in remote memory.
@Suite struct DetachedMessageTests {
    static let qpn: UInt32 = 0x00_4242

    /// A detached message as arrays: header bytes, payload, tag.
    struct Detached {
        var header: [UInt8]
        var payload: [UInt8]
        var tag: [UInt8]
    }

    static func seal(_ sender: inout DataPathSender, _ payload: [UInt8], opcode: DataPathOpcode = .rdmaWrite,
                     address: UInt64 = 0x7f00_0000_1000, rkey: UInt32 = 0x1234_5601) throws -> Detached {
        var header = [UInt8](repeating: 0, count: DataPathLimits.headerSize)
        var tag = [UInt8](repeating: 0, count: DataPathLimits.tagSize)
        let sealed = try header.withUnsafeMutableBytes { h in
            try tag.withUnsafeMutableBytes { t in
                try payload.withUnsafeBytes { p in
                    try sender.sealDetached(payload: p, opcode: opcode, remoteAddress: address, rkey: rkey,
                        header: h.baseAddress!, tag: t.baseAddress!, now: 0)
                }
            }
        }
        #expect(sealed.frameLength == DataPathLimits.frameOverhead)
        return Detached(header: header, payload: payload, tag: tag)
    }

    static func open(_ receiver: inout DataPathReceiver, _ m: Detached) -> Opened {
        m.header.withUnsafeBytes { h in
            m.tag.withUnsafeBytes { t in
                m.payload.withUnsafeBytes { p in
                    switch receiver.openDetached(header: h.baseAddress!, payload: p, tag: t.baseAddress!, now: 0) {
                    case .delivered(let o): return .delivered(o.header, Array(o.payload))
                    case .rejected(let r, let a): return .rejected(r, a)
                    }
                }
            }
        }
    }

    static func sender(_ mac: TestedMAC, seed: UInt8 = 1) throws -> DataPathSender {
        try DataPathSender(trafficSecret: rawBytes(secretBytes(seed)), suite: mac.suite, direction: .initiatorToResponder,
                           remoteQPN: qpn, configuration: mac.configure(), now: 0)
    }

    static func receiver(_ mac: TestedMAC, seed: UInt8 = 1) throws -> DataPathReceiver {
        try DataPathReceiver(trafficSecret: rawBytes(secretBytes(seed)), suite: mac.suite, direction: .initiatorToResponder,
                             localQPN: qpn, configuration: mac.configure(.dropping), now: 0)
    }

    /// AES-256-GMAC's detached tag is libsodium's one-shot AES-256-GCM tag with
    /// the header as plaintext and the payload as associated data; ChaCha's is
    /// the contiguous Poly1305 tag over header || payload.
    @Test(arguments: testedMACs)
    func knownAnswerAgainstOneShotLibsodium(mac: TestedMAC) throws {
        let suite = mac.suite
        var rng = SplitMix64(seed: 77)
        let rawKey = rng.bytes(32)
        let key = try EpochKey(suite: suite, engine: mac.configure().macEngine, rawKey: rawBytes(rawKey))
        for n in [0, 1, 16, 17, 40, 1000, 65_536] {
            let header = rng.bytes(40), payload = rng.bytes(n), nonce = rng.bytes(12)
            var detached = [UInt8](repeating: 0, count: 16)
            header.withUnsafeBytes { h in payload.withUnsafeBytes { p in nonce.withUnsafeBytes { nb in
                detached.withUnsafeMutableBytes { t in
                    key.computeDetachedTag(nonce: nb.baseAddress!, header: h.baseAddress!, payload: p.baseAddress,
                                           count: n, tag: t.baseAddress!)
                }
            } } }
            var reference = [UInt8](repeating: 0, count: 16)
            switch suite {
            case .aes256GMAC:
                var ciphertext = [UInt8](repeating: 0, count: 40)
                var maclen: UInt64 = 0
                #expect(crypto_aead_aes256gcm_encrypt_detached(&ciphertext, &reference, &maclen, header, 40,
                                                               payload, UInt64(n), nil, nonce, rawKey) == 0)
                #expect(maclen == 16)
            case .chacha20Poly1305:
                let joined = header + payload
                joined.withUnsafeBytes { j in nonce.withUnsafeBytes { nb in reference.withUnsafeMutableBytes { t in
                    key.computeTag(nonce: nb.baseAddress!, data: j.baseAddress!, count: joined.count, tag: t.baseAddress!)
                } } }
            default:
                Issue.record("no reference for suite \(suite)")
            }
            #expect(detached == reference, "\(mac) n=\(n)")
            let ok = header.withUnsafeBytes { h in payload.withUnsafeBytes { p in nonce.withUnsafeBytes { nb in
                detached.withUnsafeBytes { t in
                    key.verifyDetachedTag(nonce: nb.baseAddress!, header: h.baseAddress!, payload: p.baseAddress,
                                          count: n, tag: t.baseAddress!)
                }
            } } }
            #expect(ok)
        }
    }

    /// The GCM detached tag differs from the contiguous tag over the same
    /// header and payload (different length block), so neither layout's tag
    /// can be replayed as the other's.
    @Test(arguments: testedMACs.filter { $0.suite == .aes256GMAC })
    func aesLayoutsAreSeparated(mac: TestedMAC) throws {
        var sender = try Self.sender(mac)
        var receiver = try Self.receiver(mac)
        let frame = try sender.sealFrame([1, 2, 3], opcode: .rdmaWrite)
        let asDetached = Detached(header: Array(frame[0..<40]), payload: [1, 2, 3], tag: Array(frame[43...]))
        #expect(Self.open(&receiver, asDetached) == .rejected(.badTag, .drop))
        #expect(receiver.metrics.failures[.badTag] == 1)
    }

    /// Sizes 0 B to 4 MiB round-trip; every bit of header and tag and sampled
    /// payload bits flipped, a payload one byte short or long, a SEND opcode,
    /// a replay: each rejected for its specific reason, none delivered, counters exact.
    @Test(arguments: testedMACs)
    func roundTripAndTampering(mac: TestedMAC) throws {
        let suite = mac.suite
        var sender = try Self.sender(mac)
        var receiver = try Self.receiver(mac)
        var rng = SplitMix64(seed: 0xDE7 + UInt64(suite.rawValue))
        var expected = FailureCounts()
        let sizes = [0, 1, 40, 4096, 65_537, 4 << 20]
        var delivered: [Detached] = []
        for (i, n) in sizes.enumerated() {
            let opcode: DataPathOpcode = i % 2 == 0 ? .rdmaWrite : .rdmaRead
            let m = try Self.seal(&sender, rng.bytes(n), opcode: opcode, address: rng.next(), rkey: UInt32(truncatingIfNeeded: rng.next()))
            let seq = UInt64(i)
            for byte in 0..<40 {
                for bit in 0..<8 {
                    var f = m
                    f.header[byte] ^= UInt8(1 << bit)
                    let want: RejectReason
                    if byte == 2 {
                        let flipped = DataPathOpcode(rawValue: opcode.rawValue ^ UInt8(1 << bit))
                        want = flipped?.isDetached == true ? .badTag : .malformedHeader
                    } else if (12..<16).contains(byte) {
                        let len = UInt64(n) ^ (1 << UInt64(8 * (15 - byte) + bit))
                        want = len > UInt64(DataPathConfiguration.dropping.maxPayloadBytes) ? .oversized
                            : len > UInt64(n) ? .truncated : .oversized
                    } else {
                        want = TamperingTests.expectedReason(byte: byte, bit: bit, seq: seq, n: n, opcode: .send,
                                                             configuration: .dropping)
                    }
                    #expect(Self.open(&receiver, f) == .rejected(want, .drop), "header byte \(byte) bit \(bit), n=\(n)")
                    expected[want] += 1
                }
            }
            for byte in 0..<16 {
                var f = m
                f.tag[byte] ^= UInt8(1 << (byte % 8))
                #expect(Self.open(&receiver, f) == .rejected(.badTag, .drop))
                expected[.badTag] += 1
            }
            if n > 0 {
                for _ in 0..<24 {
                    var f = m
                    f.payload[Int.random(in: 0..<n, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                    #expect(Self.open(&receiver, f) == .rejected(.badTag, .drop))
                    expected[.badTag] += 1
                }
                var short = m
                short.payload.removeLast()
                #expect(Self.open(&receiver, short) == .rejected(.truncated, .drop))
                expected[.truncated] += 1
            }
            var long = m
            long.payload.append(0)
            #expect(Self.open(&receiver, long) == .rejected(.oversized, .drop))
            expected[.oversized] += 1

            guard case .delivered(let header, let body) = Self.open(&receiver, m) else {
                Issue.record("authentic detached message \(i) rejected")
                continue
            }
            #expect(body == m.payload && header.opcode == opcode && header.sequence == seq)
            delivered.append(m)
            for old in delivered {
                #expect(Self.open(&receiver, old) == .rejected(.replayed, .drop))
                expected[.replayed] += 1
            }
        }
        #expect(receiver.metrics.failures == expected)
        #expect(receiver.metrics.messagesOpened == UInt64(sizes.count))
        #expect(receiver.metrics.bytesOpened == UInt64(sizes.reduce(0, +)))
    }

    /// Detached and contiguous messages share one sequence space: interleaved,
    /// every one opens once and no nonce repeats.
    @Test(arguments: testedMACs)
    func sharedSequenceSpace(mac: TestedMAC) throws {
        var sender = try Self.sender(mac)
        var receiver = try Self.receiver(mac)
        for i in 0..<10 {
            if i % 2 == 0 {
                let m = try Self.seal(&sender, [UInt8(i)])
                guard case .delivered(let h, _) = Self.open(&receiver, m) else { Issue.record("detached \(i)"); continue }
                #expect(h.sequence == UInt64(i))
            } else {
                let frame = try sender.sealFrame([UInt8(i)])
                guard case .delivered(let h, _) = receiver.openFrame(frame) else { Issue.record("frame \(i)"); continue }
                #expect(h.sequence == UInt64(i))
            }
        }
        #expect(receiver.metrics.messagesOpened == 10 && receiver.metrics.failures.total == 0)
    }
}
