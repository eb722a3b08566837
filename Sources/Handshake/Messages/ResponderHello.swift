/// M2, responder -> initiator:
///
///     version u8 | type u8 = 2 | suite u8 | e_r [32] | binding_r [29] | ciphertext (rest)
///
/// The clear prefix is hashed; the ciphertext is EncryptAndHash(IdentityBlock) under
/// the key from MixKey(DH(e_i, e_r)), and carries the responder's chain and signature.
struct ResponderHello {
    var suite: CipherSuite
    var ephemeral: [UInt8]
    var binding: ChannelBinding
    var ciphertext: ArraySlice<UInt8>

    static func encodePrefix(suite: CipherSuite, ephemeral: [UInt8], binding: ChannelBinding) -> [UInt8] {
        var w = WireWriter()
        MessageHeader.write(.responderHello, into: &w)
        w.u8(suite.rawValue)
        w.bytes(ephemeral)
        binding.encode(into: &w)
        return w.buffer
    }

    static let prefixSize = MessageHeader.size + 1 + HandshakeLimits.publicKeySize + ChannelBinding.encodedSize

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ResponderHello {
        var r = try MessageHeader.open(bytes, expecting: .responderHello)
        let suite = CipherSuite(rawValue: try r.u8())
        let e = try r.bytes(HandshakeLimits.publicKeySize)
        let binding = try ChannelBinding.decode(from: &r)
        let ct = r.rest()
        guard ct.count >= HandshakeLimits.aeadTagSize else { throw HandshakeError(.truncated, "ciphertext shorter than a tag") }
        return ResponderHello(suite: suite, ephemeral: e, binding: binding, ciphertext: ct)
    }
}
