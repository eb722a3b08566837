import Testing
import Handshake
@testable import FabricAuth

/// RFC 5869 Appendix A, test cases 1-3 (SHA-256): the Expand step from the
/// listed PRK, info and L to the listed OKM.
@Suite struct HKDFExpandTests {
    struct Case: Sendable {
        let name: String, prk: String, info: String, length: Int, okm: String
    }

    static let cases: [Case] = [
        Case(name: "A.1 basic",
             prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
             info: "f0f1f2f3f4f5f6f7f8f9", length: 42,
             okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
        Case(name: "A.2 longer inputs",
             prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
             info: "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
             length: 82,
             okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
        Case(name: "A.3 empty salt/info",
             prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
             info: "", length: 42,
             okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
    ]

    @Test(arguments: cases)
    func rfc5869(_ c: Case) {
        let prk = hex(c.prk), info = hex(c.info)
        var out = [UInt8](repeating: 0, count: c.length)
        prk.withUnsafeBytes { p in
            info.withUnsafeBytes { i in
                out.withUnsafeMutableBytes { o in HKDF.expand(prk: p, info: i, into: o) }
            }
        }
        #expect(toHex(out) == c.okm, "\(c.name)")
    }

    /// A prefix of a longer output is the shorter output (T(1) || T(2) ...).
    @Test func prefixProperty() {
        let prk = hex(Self.cases[1].prk)
        var long = [UInt8](repeating: 0, count: 100), short = [UInt8](repeating: 0, count: 33)
        prk.withUnsafeBytes { p in
            long.withUnsafeMutableBytes { HKDF.expand(prk: p, label: "x", into: $0) }
            short.withUnsafeMutableBytes { HKDF.expand(prk: p, label: "x", into: $0) }
        }
        #expect(Array(long.prefix(33)) == short)
    }

    /// The epoch chain's labels, against values computed independently with
    /// Python's hmac module (HMAC-SHA256(secret, label || 0x01), L = 32).
    @Test func epochChainLabels() throws {
        let s0 = (0..<32).map { UInt8($0) }
        let secret = try TrafficSecret(copying: rawBytes(s0))
        var k0 = [UInt8](repeating: 0, count: 32), k1 = k0, p0 = k0
        k0.withUnsafeMutableBytes { secret.deriveMACKey(suite: .aes256GMAC, into: $0) }
        p0.withUnsafeMutableBytes { secret.deriveMACKey(suite: .chacha20Poly1305, into: $0) }
        let s1 = secret.next()
        k1.withUnsafeMutableBytes { s1.deriveMACKey(suite: .aes256GMAC, into: $0) }
        #expect(toHex(k0) == "4ae8fae5efc1e4dbfb02fe2fa4a94c38204c1df09f03881e0dea4a8a67651061")
        #expect(toHex(p0) == "0044e300734847eb1d455b5859580e14507bcfdaeda97770e576d2db7d2274a3")
        #expect(toHex(k1) == "d3ce2dba5032f7103e026029b288fd2a2bb99b8eee2b18face34a03888e8ba52")
        secret.wipe()
        #expect(secret.isWiped)
    }
}
