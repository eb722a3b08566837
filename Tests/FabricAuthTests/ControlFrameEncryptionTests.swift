import CSodium
import Testing
@testable import FabricAuth
import Handshake

/// The rendezvous control frames (WRITE grant, READ offer, READ done) are
/// AEAD-encrypted under the data-path key schedule (issue 12 item 7): the
/// rkeys and addresses they carry never appear on the wire in clear, the
/// receiver verifies before it decrypts, and a tampered frame is rejected
/// with the specific reason, counted and never parsed.
@Suite struct ControlFrameEncryptionTests {
    static let qpn: UInt32 = 0x00_0C0D

    // MARK: AEAD primitive: known answers and engines

    /// A published AEAD vector.
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let suite: CipherSuite
        let key, nonce, aad, plaintext, ciphertext, tag: String
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        // The GCM specification's Test Case 16 (McGrew and Viega, "The
        // Galois/Counter Mode of Operation", as submitted to NIST for SP
        // 800-38D): AES-256, 96-bit IV, 20 bytes of AAD, 60-byte plaintext.
        Vector(name: "AES-256-GCM test case 16", suite: .aes256GMAC,
               key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
               nonce: "cafebabefacedbaddecaf888", aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
               plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                   + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
               ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                   + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
               tag: "76fc6ece0f4e1768cddf8853bb2d551b"),
        // RFC 8439 §2.8.2: the AEAD_CHACHA20_POLY1305 example (114 bytes).
        Vector(name: "ChaCha20-Poly1305 RFC 8439 2.8.2", suite: .chacha20Poly1305,
               key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
               nonce: "070000004041424344454647", aad: "50515253c0c1c2c3c4c5c6c7",
               plaintext: toHex(Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)),
               ciphertext: "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                   + "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                   + "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                   + "3ff4def08e4b7a9de576d26586cec64b6116",
               tag: "1ae10b594f09e26a7e902ecbd0600691"),
    ]

    /// Every engine that computes `suite`'s AEAD, keyed with `key`: libsodium,
    /// and for AES-256-GCM also ipsec-mb on whatever code it chose for this
    /// CPU (the test seam; same results on every code path).
    static func keys(_ suite: CipherSuite, _ key: [UInt8]) throws -> [(String, EpochKey)] {
        let raw = rawBytes(key)
        var keys = [("libsodium", try EpochKey(suite: suite, engine: .libsodium, rawKey: raw))]
        if suite == .aes256GMAC {
            keys.append(("ipsec-mb (\(IPSecMBManager.shared.summary))",
                         try EpochKey(ipsecMBOnAnyCodePathWithRawKey: raw)))
        }
        return keys
    }

    /// `plaintext` encrypted under `key`: (ciphertext, tag).
    static func encrypt(_ key: EpochKey, nonce: [UInt8], aad: [UInt8], _ plaintext: [UInt8]) -> ([UInt8], [UInt8]) {
        var text = plaintext + [0]  // never empty, so the buffer has an address
        var tag = [UInt8](repeating: 0, count: 16)
        nonce.withUnsafeBytes { n in
            aad.withUnsafeBytes { a in
                text.withUnsafeMutableBytes { t in
                    tag.withUnsafeMutableBytes { g in
                        key.encryptControl(nonce: n.baseAddress!, header: a.baseAddress!, headerCount: a.count,
                                           text: t.baseAddress!, count: plaintext.count, tag: g.baseAddress!)
                    }
                }
            }
        }
        return (Array(text.dropLast()), tag)
    }

    /// `ciphertext` decrypted under `key`: the plaintext, or nil when the tag
    /// fails -- and then the buffer must still hold the ciphertext.
    static func decrypt(_ key: EpochKey, nonce: [UInt8], aad: [UInt8], _ ciphertext: [UInt8], tag: [UInt8]) -> [UInt8]? {
        var text = ciphertext + [0]
        let ok = nonce.withUnsafeBytes { n in
            aad.withUnsafeBytes { a in
                text.withUnsafeMutableBytes { t in
                    tag.withUnsafeBytes { g in
                        key.decryptControl(nonce: n.baseAddress!, header: a.baseAddress!, headerCount: a.count,
                                           text: t.baseAddress!, count: ciphertext.count, tag: g.baseAddress!)
                    }
                }
            }
        }
        if !ok { #expect(Array(text.dropLast()) == ciphertext, "a rejected ciphertext was changed") }
        return ok ? Array(text.dropLast()) : nil
    }

    @Test(arguments: vectors)
    func publishedVectors(_ v: Vector) throws {
        guard v.suite.isAvailable else { return }
        for (engine, key) in try Self.keys(v.suite, hex(v.key)) {
            let (c, t) = Self.encrypt(key, nonce: hex(v.nonce), aad: hex(v.aad), hex(v.plaintext))
            #expect(toHex(c) == v.ciphertext, "\(engine)")
            #expect(toHex(t) == v.tag, "\(engine)")
            #expect(Self.decrypt(key, nonce: hex(v.nonce), aad: hex(v.aad), c, tag: t) == hex(v.plaintext), "\(engine)")
            var badTag = t
            badTag[15] ^= 0x80
            #expect(Self.decrypt(key, nonce: hex(v.nonce), aad: hex(v.aad), c, tag: badTag) == nil, "\(engine)")
            var badAAD = hex(v.aad)
            badAAD[0] ^= 1
            #expect(Self.decrypt(key, nonce: hex(v.nonce), aad: badAAD, c, tag: t) == nil, "\(engine)")
        }
    }

    /// ipsec-mb and libsodium agree on AES-256-GCM for every control-frame
    /// size (0 to 128 bytes, under a 40-byte header as associated data), and
    /// each opens the other's ciphertexts and refuses them with one bit flipped.
    @Test(.enabled(if: CipherSuite.aes256GMAC.isAvailable))
    func ipsecMBAndLibsodiumAgree() throws {
        var rng = SplitMix64(seed: 0xAEAD)
        for count in 0...DataPathLimits.maxControlPayloadBytes {
            let keyBytes = rng.bytes(32), nonce = rng.bytes(12), header = rng.bytes(40), plaintext = rng.bytes(count)
            let keys = try Self.keys(.aes256GMAC, keyBytes)
            let (sodium, ipsec) = (keys[0].1, keys[1].1)
            let a = Self.encrypt(sodium, nonce: nonce, aad: header, plaintext)
            let b = Self.encrypt(ipsec, nonce: nonce, aad: header, plaintext)
            #expect(a.0 == b.0 && a.1 == b.1, "\(count) bytes: the engines differ")
            #expect(Self.decrypt(sodium, nonce: nonce, aad: header, b.0, tag: b.1) == plaintext, "\(count)")
            #expect(Self.decrypt(ipsec, nonce: nonce, aad: header, a.0, tag: a.1) == plaintext, "\(count)")
            var flipped = a.0 + a.1
            flipped[Int.random(in: 0..<flipped.count, using: &rng)] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            let (fc, ft) = (Array(flipped.prefix(count)), Array(flipped.suffix(16)))
            #expect(Self.decrypt(sodium, nonce: nonce, aad: header, fc, tag: ft) == nil, "\(count)")
            #expect(Self.decrypt(ipsec, nonce: nonce, aad: header, fc, tag: ft) == nil, "\(count)")
        }
    }

    // MARK: Control frames on the data path

    static func sender(_ mac: TestedMAC) throws -> DataPathSender {
        try DataPathSender(trafficSecret: rawBytes(secretBytes(9)), suite: mac.suite, direction: .responderToInitiator,
                           remoteQPN: qpn, configuration: mac.configure(), now: 0)
    }

    static func receiver(_ mac: TestedMAC) throws -> DataPathReceiver {
        try DataPathReceiver(trafficSecret: rawBytes(secretBytes(9)), suite: mac.suite, direction: .responderToInitiator,
                             localQPN: qpn, configuration: mac.configure(.dropping), now: 0)
    }

    static let rkey: UInt32 = 0x5A17_C3E9
    static let address: UInt64 = 0x7F3A_9C21_4B00

    /// Whether `needle` occurs anywhere in `haystack`.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    /// The byte strings an observer would look for: the rkey and the address
    /// in either byte order (the address's six significant bytes).
    static func secrets(rkey: UInt32, address: UInt64) -> [[UInt8]] {
        let r = withUnsafeBytes(of: rkey.bigEndian, Array.init)
        let a = Array(withUnsafeBytes(of: address.bigEndian, Array.init).drop { $0 == 0 })
        return [r, Array(r.reversed()), a, Array(a.reversed())]
    }

    /// A grant as the channel seals it (`sendControl`).
    static func grantFrame(_ s: inout DataPathSender, _ grant: ControlMessage.WriteGrant) throws -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: ControlMessage.WriteGrant.size)
        payload.withUnsafeMutableBytes { grant.encode(to: $0.baseAddress!) }
        return try s.sealFrame(payload, opcode: .writeGrant)
    }

    /// An offer of `data` as the channel seals it (`sendOffer`): the data's
    /// detached header and tag inside the offer's payload, then the offer.
    static func offerFrame(_ s: inout DataPathSender, data: [UInt8]) throws -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: ControlMessage.ReadOffer.size)
        try payload.withUnsafeMutableBytes { p in
            ControlMessage.ReadOffer(index: 2, generation: 5, tag: 0x77).encodePrefix(to: p.baseAddress!)
            let d = p.baseAddress! + ControlMessage.ReadOffer.dataOffset
            _ = try data.withUnsafeBytes { b in
                try s.sealDetached(payload: b, opcode: .rdmaRead, remoteAddress: address, rkey: rkey, header: d,
                                   tag: d + DataPathLimits.headerSize, now: 0)
            }
        }
        return try s.sealFrame(payload, opcode: .readOffer)
    }

    /// Neither the rkey nor the address of a grant or of an offer appears
    /// anywhere in the frame on the wire; opening recovers both, and the
    /// offered READ is admitted and verified from the decrypted data header.
    @Test(arguments: testedMACs)
    func grantsAndOffersCarryNoRkeyOrAddressInClear(mac: TestedMAC) throws {
        var s = try Self.sender(mac)
        var r = try Self.receiver(mac)
        let grant = ControlMessage.WriteGrant(index: 3, generation: 7, tag: 0x42, rkey: Self.rkey,
                                              address: Self.address, capacity: 65_536)
        let wireGrant = try Self.grantFrame(&s, grant)
        for secret in Self.secrets(rkey: Self.rkey, address: Self.address) {
            #expect(!Self.contains(wireGrant, secret), "grant frame carries \(toHex(secret)) in clear")
        }
        guard case .delivered(let gh, let gp) = r.openFrame(wireGrant) else {
            Issue.record("grant rejected: \(r.openFrame(wireGrant))")
            return
        }
        #expect(gh.opcode == .writeGrant)
        #expect(gp.withUnsafeBytes { ControlMessage.WriteGrant($0) } == grant)

        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let wireOffer = try Self.offerFrame(&s, data: data)
        for secret in Self.secrets(rkey: Self.rkey, address: Self.address) {
            #expect(!Self.contains(wireOffer, secret), "offer frame carries \(toHex(secret)) in clear")
        }
        guard case .delivered(_, let op) = r.openFrame(wireOffer) else {
            Issue.record("offer rejected")
            return
        }
        let offer = try #require(op.withUnsafeBytes { ControlMessage.ReadOffer($0) })
        #expect(offer.index == 2 && offer.generation == 5 && offer.tag == 0x77)
        let record = Array(op[ControlMessage.ReadOffer.dataOffset...])
        let dataHeader = try #require(record.withUnsafeBytes { FrameHeader.decode(from: $0.baseAddress!) })
        #expect(dataHeader.rkey == Self.rkey && dataHeader.remoteAddress == Self.address && dataHeader.length == 1000)
        // The offered-READ path runs on the decrypted header.
        let read = DetachedMessageTests.Detached(header: Array(record.prefix(40)), payload: data,
                                                 tag: Array(record.suffix(16)))
        let key = try #require(OfferedReadTests.key(OfferedReadTests.admit(&r, read)))
        #expect(OfferedReadTests.verify(&r, key: key, read).isDelivered)

        var done = [UInt8](repeating: 0, count: ControlMessage.ReadDone.size)
        done.withUnsafeMutableBytes { ControlMessage.ReadDone(index: 2, generation: 5).encode(to: $0.baseAddress!) }
        let wireDone = try s.sealFrame(done, opcode: .readDone)
        #expect(Array(wireDone[40..<56]) != done, "READ done travels encrypted too")
        #expect(r.openFrame(wireDone) == .delivered(FrameHeader.decode(from: wireDone)!, done))
        #expect(r.metrics.failures.total == 0)
    }

    /// Every single-bit flip of a grant's ciphertext and tag, and of the
    /// header fields only the tag checks (address, rkey), is rejected as a
    /// bad tag, counted, and leaves the received bytes as they arrived (the
    /// plaintext is never written where a parser could read it). Relabelling
    /// an encrypted frame as a MAC-only one, or the reverse, fails the tag:
    /// which frames are encrypted is authenticated. The genuine frame still
    /// opens afterwards.
    @Test(arguments: testedMACs)
    func tamperedControlFramesAreRejectedCountedAndNeverDecrypted(mac: TestedMAC) throws {
        var s = try Self.sender(mac)
        var r = try Self.receiver(mac)
        let grant = ControlMessage.WriteGrant(index: 1, generation: 1, tag: 9, rkey: Self.rkey, address: Self.address,
                                              capacity: 4096)
        let frame = try Self.grantFrame(&s, grant)
        var rejected: UInt64 = 0
        for byte in Array(24..<36) + Array(40..<frame.count) {
            for bit in 0..<8 {
                var f = frame
                f[byte] ^= UInt8(1 << bit)
                let received = f
                let result = f.withUnsafeMutableBytes { r.open(frame: $0, now: 0) }
                #expect(result.rejectReason == .badTag, "byte \(byte) bit \(bit)")
                #expect(f == received, "byte \(byte) bit \(bit): a rejected frame's bytes changed")
                rejected += 1
            }
        }
        // Encrypted grant relabelled as a SEND (opcode 4 -> 0), and a SEND of
        // the same bytes relabelled as a grant (0 -> 4).
        var asSend = frame
        asSend[FrameHeader.Offset.opcode] = DataPathOpcode.send.rawValue
        #expect(r.openFrame(asSend) == .rejected(.badTag, .drop))
        var plain = [UInt8](repeating: 0, count: ControlMessage.WriteGrant.size)
        plain.withUnsafeMutableBytes { grant.encode(to: $0.baseAddress!) }
        var send = try s.sealFrame(plain, opcode: .send)
        send[FrameHeader.Offset.opcode] = DataPathOpcode.writeGrant.rawValue
        #expect(r.openFrame(send) == .rejected(.badTag, .drop))
        rejected += 2
        #expect(r.metrics.failures[.badTag] == rejected)
        #expect(r.metrics.failures.total == rejected)

        // A control frame longer than any control message: refused before
        // any crypto, and a sender will not seal one.
        let long = [UInt8](repeating: 1, count: DataPathLimits.maxControlPayloadBytes + 1)
        var forged = try s.sealFrame(long, opcode: .send)
        forged[FrameHeader.Offset.opcode] = DataPathOpcode.readOffer.rawValue
        #expect(r.openFrame(forged) == .rejected(.oversized, .drop))
        #expect(throws: DataPathError.payloadTooLarge(long.count)) { try s.sealFrame(long, opcode: .writeGrant) }

        guard case .delivered(_, let payload) = r.openFrame(frame) else {
            Issue.record("the genuine grant was refused after the tampered ones")
            return
        }
        #expect(payload.withUnsafeBytes { ControlMessage.WriteGrant($0) } == grant)
        #expect(r.openFrame(frame) == .rejected(.replayed, .drop))
    }

    // MARK: Golden frame (docs/protocol.md "Example control frame")

    /// secret_0 = 00 01 .. 1f, direction 0, epoch 0, sequence 0, QPN 0x123,
    /// a WRITE grant {index 1, generation 2, tag 3, rkey 0xdeadbeef, address
    /// 0x7f0012345678, capacity 4096}. Produced by this code; AES-256-GCM's
    /// must be the same on both engines, and each must open.
    static let goldenGrants: [(CipherSuite, String)] = [
        (.aes256GMAC, "01010400000000000000012300000020000000000000000000000000000000000000000000000000"
            + "e5ce48c106fbe6a44627971af48b1d1aa6c800e25e99a41b159d196e9549a967e2f5f75993819f40ffef44bd280b0244"),
        (.chacha20Poly1305, "01020400000000000000012300000020000000000000000000000000000000000000000000000000"
            + "7ce89e52b1dc5a679d9d639c7cd2299c3cadea90d5807ed1c59ff26d1f9ac2a529dda983e2ac883046bd481af4246838"),
    ]

    @Test(arguments: testedMACs)
    func goldenGrantFrames(mac: TestedMAC) throws {
        let secret = (0..<32).map { UInt8($0) }
        let grant = ControlMessage.WriteGrant(index: 1, generation: 2, tag: 3, rkey: 0xdead_beef,
                                              address: 0x7f00_1234_5678, capacity: 4096)
        for (suite, frameHex) in Self.goldenGrants where suite == mac.suite {
            var s = try DataPathSender(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder,
                                       remoteQPN: 0x123, configuration: mac.configure(), now: 0)
            let frame = try Self.grantFrame(&s, grant)
            #expect(toHex(frame) == frameHex, "\(mac)")
            var r = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder,
                                         localQPN: 0x123, configuration: mac.configure(), now: 0)
            guard case .delivered(_, let payload) = r.openFrame(hex(frameHex)) else {
                Issue.record("golden grant \(mac) rejected")
                continue
            }
            #expect(payload.withUnsafeBytes { ControlMessage.WriteGrant($0) } == grant)
        }
    }
}
