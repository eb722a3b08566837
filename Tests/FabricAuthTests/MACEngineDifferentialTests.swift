import CSodium
import Testing
@testable import FabricAuth
import Handshake

/// ipsec-mb's AES-256-GMAC tags equal libsodium's, bit for bit, for both
/// layouts (contiguous: GCM with an empty plaintext and header || payload as
/// associated data; detached: the 40-byte header as plaintext and the payload
/// as associated data), and each engine accepts the other's tags. That is what
/// lets a peer on one engine talk to a peer on the other with the same suite
/// number. Where ipsec-mb's VAES/AVX-512 code does not run, every test here is
/// cancelled with the reason (TestedMAC.configure).
@Suite struct MACEngineDifferentialTests {
    /// Random bytes from libsodium's deterministic generator (ChaCha20 keyed by
    /// the seed): fast enough to fill megabytes in a debug build, and the same
    /// on every run so a failure reproduces.
    static func randomBuffer(_ count: Int, seed: UInt8) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let seedBytes = [UInt8](repeating: seed, count: Int(randombytes_SEEDBYTES))
        out.withUnsafeMutableBytes { randombytes_buf_deterministic($0.baseAddress!, $0.count, seedBytes) }
        return out
    }

    /// One key on both engines.
    struct KeyPair {
        let sodium: EpochKey
        let ipsecMB: EpochKey

        init(_ key: UnsafeRawBufferPointer) throws {
            sodium = try EpochKey(suite: .aes256GMAC, engine: .libsodium, rawKey: key)
            ipsecMB = try EpochKey(suite: .aes256GMAC, engine: .ipsecMB, rawKey: key)
            #expect(sodium.engine == .libsodium && ipsecMB.engine == .ipsecMB)
        }

        /// Both engines' tags for `count` bytes at `data` (contiguous) or for
        /// the 40 bytes at `header` with `count` payload bytes at `data`
        /// (detached); records a difference, and checks that each engine
        /// verifies the other's tag and rejects it with one bit flipped.
        /// Returns whether the tags were equal.
        @discardableResult
        func compare(nonce: UnsafeRawPointer, header: UnsafeRawPointer?, data: UnsafeRawPointer, count: Int,
                     _ what: @autoclosure () -> String) -> Bool {
            var a: (UInt64, UInt64) = (0, 0), b: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &a) { ta in
                withUnsafeMutableBytes(of: &b) { tb in
                    if let header {
                        sodium.computeDetachedTag(nonce: nonce, header: header, payload: data, count: count,
                                                  tag: ta.baseAddress!)
                        ipsecMB.computeDetachedTag(nonce: nonce, header: header, payload: data, count: count,
                                                   tag: tb.baseAddress!)
                    } else {
                        sodium.computeTag(nonce: nonce, data: data, count: count, tag: ta.baseAddress!)
                        ipsecMB.computeTag(nonce: nonce, data: data, count: count, tag: tb.baseAddress!)
                    }
                }
            }
            guard a == b else {
                Issue.record("tags differ: \(what())")
                return false
            }
            // Cross-verification: each engine accepts the other's tag...
            var flipped = b
            flipped.1 ^= 1 << 63
            func verify(_ key: EpochKey, _ tag: inout (UInt64, UInt64)) -> Bool {
                withUnsafeBytes(of: &tag) { t in
                    if let header {
                        return key.verifyDetachedTag(nonce: nonce, header: header, payload: data, count: count,
                                                     tag: t.baseAddress!)
                    }
                    return key.verifyTag(nonce: nonce, data: data, count: count, tag: t.baseAddress!)
                }
            }
            let acceptsOther = verify(sodium, &b) && verify(ipsecMB, &a)
            // ...and rejects it with its last bit flipped.
            let rejectsFlipped = !verify(sodium, &flipped) && !verify(ipsecMB, &flipped)
            #expect(acceptsOther && rejectsFlipped, "cross-verification: \(what())")
            return acceptsOther && rejectsFlipped
        }
    }

    /// Random (key, nonce, header, payload) cases, lengths 0 to 70,000 bytes at
    /// random offsets (so at every alignment), both layouts. Nine cases in ten
    /// are at most 2 KiB (where per-message code paths differ most and which
    /// keeps a debug run to seconds); one in ten spans the whole range.
    @Test(arguments: testedMACs.filter { $0.engine == .ipsecMB })
    func randomCasesAgree(mac: TestedMAC) throws {
        _ = try mac.configure()
        let cases = 100_000
        let maxLength = 70_000
        let pool = Self.randomBuffer(maxLength + 4096, seed: 13)
        var rng = SplitMix64(seed: 0x1B5EC_3B)
        var keyBytes = [UInt8](repeating: 0, count: 32)
        var nonce = [UInt8](repeating: 0, count: 12)
        var keys: KeyPair?
        var mismatches = 0
        var longest = 0
        try pool.withUnsafeBytes { p in
            let base = p.baseAddress!
            for i in 0..<cases {
                // A fresh key every 16 cases: key expansion is the slow part of
                // a debug build, and 6,250 keys still cover key schedules widely.
                if i % 16 == 0 {
                    for j in 0..<32 { keyBytes[j] = UInt8(truncatingIfNeeded: rng.next()) }
                    keys = try keyBytes.withUnsafeBytes { try KeyPair($0) }
                }
                for j in 0..<12 { nonce[j] = UInt8(truncatingIfNeeded: rng.next()) }
                let length = i % 10 == 9 ? Int(rng.next() % UInt64(maxLength + 1)) : Int(rng.next() % 2049)
                longest = max(longest, length)
                let offset = Int(rng.next() % 4096)
                let headerOffset = Int(rng.next() % 4096)
                let keys = keys!
                let ok = nonce.withUnsafeBytes { n in
                    keys.compare(nonce: n.baseAddress!, header: nil, data: base + offset, count: length,
                                 "case \(i) contiguous, length \(length), offset \(offset)")
                        && keys.compare(nonce: n.baseAddress!, header: base + headerOffset, data: base + offset,
                                        count: length, "case \(i) detached, payload \(length), offset \(offset)")
                }
                if !ok {
                    mismatches += 1
                    if mismatches > 10 { Issue.record("stopping after 10 mismatches"); return }
                }
            }
        }
        #expect(mismatches == 0)
        #expect(longest > 60_000)  // the range was covered
    }

    /// Every length around a 16-byte block boundary up to 4 KiB + 64, every
    /// length within 17 bytes of a multiple of 512 up to 70,000 (ipsec-mb's
    /// VAES code works on 16 blocks = 256 bytes at a time and 512-byte
    /// stitches), and 1 MiB give or take a block, both layouts, at two
    /// alignments.
    @Test(arguments: testedMACs.filter { $0.engine == .ipsecMB })
    func blockAndStrideBoundariesAgree(mac: TestedMAC) throws {
        _ = try mac.configure()
        var lengths = Set(0...(4096 + 64))
        for m in stride(from: 512, through: 70_000, by: 512) { lengths.formUnion((m - 17)...(m + 17)) }
        let mib = 1 << 20
        for d in [-56, -41, -40, -17, -16, -15, -1, 0, 1, 15, 16, 17] { lengths.insert(mib + d) }
        let pool = Self.randomBuffer(mib + 128, seed: 21)
        let keyBytes = Self.randomBuffer(32, seed: 22)
        let keys = try keyBytes.withUnsafeBytes { try KeyPair($0) }
        var rng = SplitMix64(seed: 512)
        var compared = 0, mismatches = 0
        pool.withUnsafeBytes { p in
            let base = p.baseAddress!
            for length in lengths.sorted() {
                let nonce = Self.randomBuffer(12, seed: UInt8(truncatingIfNeeded: length))
                for offset in [0, 1 + Int(rng.next() % 63)] {
                    let ok = nonce.withUnsafeBytes { n in
                        keys.compare(nonce: n.baseAddress!, header: nil, data: base + offset, count: length,
                                     "contiguous length \(length) offset \(offset)")
                            && keys.compare(nonce: n.baseAddress!, header: base + 64 + offset, data: base + offset,
                                            count: length, "detached payload \(length) offset \(offset)")
                    }
                    if !ok {
                        mismatches += 1
                        if mismatches > 10 { Issue.record("stopping after 10 mismatches"); return }
                    }
                    compared += 2
                }
            }
        }
        #expect(mismatches == 0)
        #expect(compared == lengths.count * 4)
    }

    /// Whole data paths across engines: a sender on one engine and a receiver
    /// on the other, both layouts, across three epochs, and a tampered frame
    /// still rejected. This is the interoperability the unchanged suite
    /// number promises.
    @Test(arguments: [(MACEngine.libsodium, MACEngine.ipsecMB), (.ipsecMB, .libsodium)])
    func peersOnDifferentEnginesInteroperate(senderEngine: MACEngine, receiverEngine: MACEngine) throws {
        guard CipherSuite.aes256GMAC.isAvailable else { try Test.cancel("no AES-NI/PCLMULQDQ: no AES-256-GMAC") }
        let sendConfig = try TestedMAC(suite: .aes256GMAC, engine: senderEngine).configure(RekeyTests.small)
        let receiveConfig = try TestedMAC(suite: .aes256GMAC, engine: receiverEngine).configure(RekeyTests.small)
        let secret = secretBytes(31)
        var s = try DataPathSender(trafficSecret: rawBytes(secret), suite: .aes256GMAC, direction: .initiatorToResponder,
                                   remoteQPN: 5, configuration: sendConfig, now: 0)
        var r = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: .aes256GMAC,
                                     direction: .initiatorToResponder, localQPN: 5, configuration: receiveConfig, now: 0)
        #expect(s.metrics.macEngine == senderEngine && r.metrics.macEngine == receiverEngine)
        var rng = SplitMix64(seed: 99)
        for i in 0..<15 {  // small config: 5 per epoch, so epochs 0, 1, 2
            let payload = rng.bytes([0, 1, 40, 300, 5000][i % 5])
            if i % 2 == 0 {
                let frame = try s.sealFrame(payload)
                var tampered = frame
                tampered[tampered.count - 1] ^= 0x01
                #expect(r.openFrame(tampered) == .rejected(.badTag, .drop), "frame \(i)")
                #expect(r.openFrame(frame) == .delivered(r.peekHeader(frame), payload), "frame \(i)")
            } else {
                let m = try DetachedMessageTests.seal(&s, payload)
                var tampered = m
                if payload.isEmpty { tampered.tag[0] ^= 1 } else { tampered.payload[0] ^= 1 }
                #expect(DetachedMessageTests.open(&r, tampered) == .rejected(.badTag, .drop), "detached \(i)")
                guard case .delivered(_, let body) = DetachedMessageTests.open(&r, m) else {
                    Issue.record("detached \(i) rejected")
                    continue
                }
                #expect(body == payload)
            }
        }
        #expect(r.epoch == 2 && r.metrics.messagesOpened == 15 && r.metrics.failures[.badTag] == 15)
        #expect(r.metrics.failures.total == 15)
    }
}
