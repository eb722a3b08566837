import Testing
@testable import Handshake

func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}

@Suite struct KeyDerivationTests {
    // RFC 5869 Appendix A.1 (Test Case 1, SHA-256).
    @Test func RFC5869TestCase1() {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        let salt = hex("000102030405060708090a0b0c")
        let info = hex("f0f1f2f3f4f5f6f7f8f9")
        let prk = HKDF.extract(salt: salt, ikm: ikm)
        #expect(prk == hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"))
        #expect(HKDF.expand(prk: prk, info: info, length: 42)
            == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
    }

    // RFC 5869 Appendix A.2 (Test Case 2: longer inputs/outputs).
    @Test func RFC5869TestCase2() {
        let ikm = (0x00...0x4f).map { UInt8($0) }
        let salt = (0x60...0xaf).map { UInt8($0) }
        let info = (0xb0...0xff).map { UInt8($0) }
        let prk = HKDF.extract(salt: salt, ikm: ikm)
        #expect(prk == hex("06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244"))
        #expect(HKDF.expand(prk: prk, info: info, length: 82) == hex(
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"))
    }

    // RFC 5869 Appendix A.3 (Test Case 3: zero-length salt and info).
    @Test func RFC5869TestCase3() {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        let prk = HKDF.extract(salt: [], ikm: ikm)
        #expect(prk == hex("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"))
        #expect(HKDF.expand(prk: prk, info: [], length: 42)
            == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
        #expect(HKDF.deriveKey(salt: [], ikm: ikm, info: [], length: 42) == HKDF.expand(prk: prk, info: [], length: 42))
    }

    // RFC 4231 test case 2 (HMAC-SHA-256 with a key shorter than a block).
    @Test func HMACSHA256RFC4231Case2() {
        #expect(HKDF.hmac(key: Array("Jefe".utf8), Array("what do ya want ".utf8), Array("for nothing?".utf8))
            == hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
    }

    @Test func ExpandLengths() {
        let prk = [UInt8](repeating: 7, count: 32)
        #expect(HKDF.expand(prk: prk, info: [], length: 0).isEmpty)
        let long = HKDF.expand(prk: prk, info: [1], length: 100)
        #expect(long.count == 100)
        #expect(Array(HKDF.expand(prk: prk, info: [1], length: 32)) == Array(long.prefix(32)))
    }

    /// The data path's documented per-epoch schedule (docs/protocol.md): distinct, deterministic.
    @Test func DataPathEpochLabelsDiffer() {
        let s0 = [UInt8](repeating: 3, count: 32)
        let k0 = HKDF.expand(prk: s0, label: "fabricauth gmac key", length: 32)
        let s1 = HKDF.expand(prk: s0, label: "fabricauth next epoch", length: 32)
        #expect(k0 != s1 && k0 != s0 && s1 != s0)
    }

    @Test func LimitsAreConsistent() {
        #expect(HandshakeLimits.largestHonestMessage <= HandshakeLimits.maxMessageSize)
        #expect(HandshakeLimits.maxMessageSize <= Int(UInt16.max))
        #expect(HandshakeLimits.maxCertificateChainLength <= Int(UInt8.max))
        #expect(HandshakeLimits.maxOfferedSuites <= Int(UInt8.max))
        #expect(HandshakeLimits.defaultTimeout < HandshakeLimits.defaultSessionLifetime)
    }

    @Test func NoiseNameInitialisation() {
        // Names over 32 bytes are hashed (Noise rev 34 section 5.2, InitializeSymmetric).
        let s = SymmetricState(protocolName: KeySchedule.fullProtocolName)
        #expect(s.h.bytes == Sodium.sha256(Array(KeySchedule.fullProtocolName.utf8)))
        let short = SymmetricState(protocolName: "abc")
        #expect(short.h.bytes == Array("abc".utf8) + [UInt8](repeating: 0, count: 29))
    }

    /// The resumption PSK names the full handshake's roles (docs/protocol.md section 6):
    /// the two orders give unrelated keys, and the honest one is the labelled Expand.
    @Test func ResumptionPSKIsRoleBound() {
        let secret = [UInt8](repeating: 0x5a, count: 32)
        let honest = KeySchedule.resumptionPSK(secret: SecretBytes(copying: secret), fullHandshakeRoleOfInitiator: .initiator)
        let reflected = KeySchedule.resumptionPSK(secret: SecretBytes(copying: secret), fullHandshakeRoleOfInitiator: .responder)
        #expect(!honest.constantTimeEquals(reflected))
        #expect(honest.bytes == HKDF.expand(prk: secret, info: Array("fabricauth resumption psk".utf8) + [1, 2], length: 32))
        #expect(reflected.bytes == HKDF.expand(prk: secret, info: Array("fabricauth resumption psk".utf8) + [2, 1], length: 32))
    }
}
