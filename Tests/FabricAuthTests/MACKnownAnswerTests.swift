import CSodium
import Testing
@testable import FabricAuth
import Handshake

/// Known answers for both MAC suites.
@Suite struct MACKnownAnswerTests {
    struct Vector: Sendable {
        let source: String, key: String, iv: String, aad: String, tag: String
    }

    /// AES-256-GCM with an empty plaintext, i.e. GMAC (NIST SP 800-38D §3, §7.1).
    static let gmacVectors: [Vector] = [
        // The GCM specification (McGrew & Viega, "The Galois/Counter Mode of
        // Operation", 2005), Test Case 13: K = 0^256, IV = 0^96, P and A empty.
        Vector(source: "GCM spec Test Case 13",
               key: "0000000000000000000000000000000000000000000000000000000000000000",
               iv: "000000000000000000000000", aad: "", tag: "530f8afbc74536b9a963b4f1c4cb738b"),
        // NIST CAVP gcmEncryptExtIV256.rsp (gcmtestvectors.zip, CAVS 14.0),
        // [Keylen = 256] [IVlen = 96] [PTlen = 0] [AADlen = 0] [Taglen = 128], Count 0 and 1.
        Vector(source: "CAVP gcmEncryptExtIV256 PTlen=0 AADlen=0 Count=0",
               key: "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
               iv: "516c33929df5a3284ff463d7", aad: "", tag: "bdc1ac884d332457a1d2664f168c76f0"),
        Vector(source: "CAVP gcmEncryptExtIV256 PTlen=0 AADlen=0 Count=1",
               key: "5fe0861cdc2690ce69b3658c7f26f8458eec1c9243c5ba0845305d897e96ca0f",
               iv: "770ac1a5a3d476d5d96944a1", aad: "", tag: "196d691e1047093ca4b3d2ef4baba216"),
        // Same file, [PTlen = 0] [AADlen = 128], Count 0 and 1: GMAC proper.
        Vector(source: "CAVP gcmEncryptExtIV256 PTlen=0 AADlen=128 Count=0",
               key: "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
               iv: "d79cf22d504cc793c3fb6c8a", aad: "b96baa8c1c75a671bfb2d08d06be5f36",
               tag: "3e5d486aa2e30b22e040b85723a06e76"),
        Vector(source: "CAVP gcmEncryptExtIV256 PTlen=0 AADlen=128 Count=1",
               key: "4457ff33683cca6ca493878bdc00373893a9763412eef8cddb54f91318e0da88",
               iv: "699d1f29d7b8c55300bb1fd2", aad: "6749daeea367d0e9809e2dc2f309e6e3",
               tag: "d60c74d2517fde4a74e0cd4709ed43a9"),
    ]

    static let gmacEngines = testedMACs.filter { $0.suite == .aes256GMAC }

    static func tag(_ suite: CipherSuite, engine: MACEngine = .libsodium, key: [UInt8], nonce: [UInt8], data: [UInt8])
        throws -> [UInt8]
    {
        let k = try EpochKey(suite: suite, engine: engine, rawKey: rawBytes(key))
        var out = [UInt8](repeating: 0, count: 16)
        nonce.withUnsafeBytes { n in
            data.withUnsafeBytes { d in
                out.withUnsafeMutableBytes { o in
                    k.computeTag(nonce: n.baseAddress!, data: d.baseAddress ?? n.baseAddress!, count: d.count,
                                 tag: o.baseAddress!)
                }
            }
        }
        // And verification agrees, and rejects a changed tag.
        var bad = out
        bad[15] ^= 1
        let (ok, notOK) = nonce.withUnsafeBytes { n in
            data.withUnsafeBytes { d in
                (out.withUnsafeBytes { k.verifyTag(nonce: n.baseAddress!, data: d.baseAddress ?? n.baseAddress!,
                                                   count: d.count, tag: $0.baseAddress!) },
                 bad.withUnsafeBytes { k.verifyTag(nonce: n.baseAddress!, data: d.baseAddress ?? n.baseAddress!,
                                                   count: d.count, tag: $0.baseAddress!) })
            }
        }
        #expect(ok)
        #expect(!notOK)
        return out
    }

    @Test(.enabled(if: CipherSuite.aes256GMAC.isAvailable), arguments: gmacVectors, gmacEngines)
    func nistGMACVectors(_ v: Vector, mac: TestedMAC) throws {
        let engine = try mac.configure().macEngine
        let t = try Self.tag(.aes256GMAC, engine: engine, key: hex(v.key), nonce: hex(v.iv), data: hex(v.aad))
        #expect(toHex(t) == v.tag, "\(v.source) on \(engine)")
    }

    /// Our precomputed-state GMAC equals libsodium's one-shot AES-256-GCM tag over
    /// an empty plaintext with the same associated data, for many random keys,
    /// nonces and lengths (incl. non-multiples of the 16-byte block).
    @Test(.enabled(if: CipherSuite.aes256GMAC.isAvailable), arguments: gmacEngines)
    func gmacEqualsLibsodiumAES256GCMTag(mac: TestedMAC) throws {
        let engine = try mac.configure().macEngine
        var rng = SplitMix64(seed: 6)
        for length in [0, 1, 15, 16, 17, 40, 41, 63, 64, 100, 1000, 4096 + 40, 65_573] {
            let key = rng.bytes(32), nonce = rng.bytes(12), ad = rng.bytes(length)
            let ours = try Self.tag(.aes256GMAC, engine: engine, key: key, nonce: nonce, data: ad)
            var reference = [UInt8](repeating: 0, count: 16)
            var dummy: UInt8 = 0
            var maclen: UInt64 = 0
            let rc = crypto_aead_aes256gcm_encrypt_detached(
                &dummy, &reference, &maclen, nil, 0, ad, UInt64(ad.count), nil, nonce, key)
            #expect(rc == 0 && maclen == 16)
            #expect(ours == reference, "length \(length)")
        }
    }

    /// RFC 8439 §2.5.2: Poly1305 itself, as the ChaCha20-Poly1305 suite uses it.
    @Test func rfc8439Poly1305() {
        let key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
        let msg = Array("Cryptographic Forum Research Group".utf8)
        var tag = [UInt8](repeating: 0, count: 16)
        _ = crypto_onetimeauth(&tag, msg, UInt64(msg.count), key)
        #expect(toHex(tag) == "a8061dc1305136c6c22b8baf0c0127a9")
    }

    /// RFC 8439 §2.6.2 (Poly1305 key generation) fixes the one-time key for
    /// key 80..9f and nonce 00000000 00010203 04050607; the suite's tag must be
    /// Poly1305 under exactly that one-time key.
    @Test func chachaSuiteUsesRFC8439OneTimeKey() throws {
        let key = (0x80...0x9f).map { UInt8($0) }
        let nonce = hex("000000000001020304050607")
        let otk = hex("8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646")
        var rng = SplitMix64(seed: 8439)
        for length in [0, 1, 16, 57, 1000] {
            let data = rng.bytes(length)
            var expected = [UInt8](repeating: 0, count: 16)
            _ = crypto_onetimeauth(&expected, data, UInt64(data.count), otk)
            let ours = try Self.tag(.chacha20Poly1305, key: key, nonce: nonce, data: data)
            #expect(ours == expected, "length \(length)")
        }
    }

    /// Whole frames, header included, against frames built independently with
    /// Python's `cryptography` (OpenSSL AESGCM, ChaCha20, Poly1305) and hmac:
    /// secret_0 = 00..1f, direction 0, QPN 0x123, RDMA WRITE to 0x7f0012345678 with
    /// rkey 0xdeadbeef, payload "FabricAuth data path".
    static let goldenFrames: [(CipherSuite, String, String)] = [
        (.aes256GMAC, "e0s0", "01010200000000000000012300000014000000000000000000007f0012345678deadbeef0000000046616272696341757468206461746120706174687593932cea0f0d2cf6326e42ec3a67d5"),
        (.aes256GMAC, "e0s7", "01010200000000000000012300000014000000000000000700007f0012345678deadbeef00000000466162726963417574682064617461207061746812ea55dc5d16196eb515b5a7733a5b05"),
        (.aes256GMAC, "e1s0", "01010200000000010000012300000014000000000000000000007f0012345678deadbeef00000000466162726963417574682064617461207061746898829b63e346639f09f752a61cfd3cb4"),
        (.chacha20Poly1305, "e0s0", "01020200000000000000012300000014000000000000000000007f0012345678deadbeef000000004661627269634175746820646174612070617468e49276a32f29be59491c7bcd95deca35"),
        (.chacha20Poly1305, "e0s7", "01020200000000000000012300000014000000000000000700007f0012345678deadbeef0000000046616272696341757468206461746120706174685ef0f9a59036ed407b77ed6911c5f9ae"),
        (.chacha20Poly1305, "e1s0", "01020200000000010000012300000014000000000000000000007f0012345678deadbeef000000004661627269634175746820646174612070617468c5c69fc70aba1203ec176dd7efdb15b8"),
    ]

    @Test(arguments: testedMACs)
    func goldenFrames(mac: TestedMAC) throws {
        let secret = (0..<32).map { UInt8($0) }
        let payload = Array("FabricAuth data path".utf8)
        let configuration = try mac.configure()
        for (suite, which, frameHex) in Self.goldenFrames where suite == mac.suite {
            var sender = try DataPathSender(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder,
                                   remoteQPN: 0x123, configuration: configuration, now: 0)
            switch which {
            case "e0s7": sender.setNextSequenceForTesting(7)
            case "e1s0": try sender.rekey(now: 0)
            default: break
            }
            let frame = try sender.sealFrame(payload, opcode: .rdmaWrite, remoteAddress: 0x7f00_1234_5678,
                                             rkey: 0xdead_beef)
            #expect(toHex(frame) == frameHex, "\(suite) \(which)")

            // And the receiver accepts the independent frame.
            var receiver = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder,
                                     localQPN: 0x123, configuration: configuration, now: 0)
            let opened = receiver.openFrame(hex(frameHex))
            guard case .delivered(let header, let body) = opened else {
                Issue.record("golden frame \(suite) \(which) rejected: \(opened)")
                continue
            }
            #expect(body == payload)
            #expect(header.remoteAddress == 0x7f00_1234_5678 && header.rkey == 0xdead_beef)
            #expect(header.opcode == .rdmaWrite && header.qpn == 0x123)
        }
    }
}
