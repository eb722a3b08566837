/// M1, initiator -> responder, all in the clear:
///
///     version u8 | type u8 = 1 | n u8 (1...8) | suites u8[n] | e_i [32] | binding_i [29]
///
/// The whole message is hashed into the transcript (so the offered suite list is
/// signed by both sides later: downgrade protection).
struct InitiatorHello: Equatable {
    var offeredSuites: [CipherSuite]
    var ephemeral: [UInt8]
    var binding: ChannelBinding

    func encode() -> [UInt8] {
        var w = WireWriter()
        MessageHeader.write(.initiatorHello, into: &w)
        w.u8(UInt8(offeredSuites.count))
        for s in offeredSuites { w.u8(s.rawValue) }
        w.bytes(ephemeral)
        binding.encode(into: &w)
        return w.buffer
    }

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> InitiatorHello {
        var r = try MessageHeader.open(bytes, expecting: .initiatorHello)
        let n = Int(try r.u8())
        guard n >= 1 else { throw HandshakeError(.malformed, "no suites offered") }
        guard n <= HandshakeLimits.maxOfferedSuites else { throw HandshakeError(.oversized, "\(n) suites offered") }
        let suites = try r.bytes(n).map(CipherSuite.init(rawValue:))
        let e = try r.bytes(HandshakeLimits.publicKeySize)
        let binding = try ChannelBinding.decode(from: &r)
        try r.expectEnd("InitiatorHello")
        return InitiatorHello(offeredSuites: suites, ephemeral: e, binding: binding)
    }
}
