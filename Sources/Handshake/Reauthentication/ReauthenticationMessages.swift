// The four re-authentication messages (docs/protocol.md section 14.2). Each travels as
// the payload of one data-path frame of opcode 8; the data path has already checked
// QPN, direction, epoch, replay window and tag before these parsers see a byte.
// Parsers are total (WireReader), as the handshake's: every input either decodes or
// throws a HandshakeError with its code.

/// A1: version | 0x10 | generation u32 | requester's handshake role u8 | e_a (32)
/// | binding_I (29) | binding_R (29) | c1 (16, a tag only). 113 bytes.
struct ReauthRequest: Equatable {
    var generation: UInt32
    var requesterRole: ChannelBinding.Role
    var ephemeral: [UInt8]
    var initiatorBinding: ChannelBinding
    var responderBinding: ChannelBinding
    var tag: [UInt8]

    /// Bytes before c1: what MixHash covers.
    static let prefixSize = MessageHeader.size + 4 + 1 + HandshakeLimits.publicKeySize + 2 * ChannelBinding.encodedSize
    static let size = prefixSize + HandshakeLimits.aeadTagSize

    static func encodePrefix(generation: UInt32, requesterRole: ChannelBinding.Role, ephemeral: [UInt8],
                             initiatorBinding: ChannelBinding, responderBinding: ChannelBinding) -> [UInt8] {
        var w = WireWriter(capacity: size)
        MessageHeader.write(.reauthRequest, into: &w)
        w.u32(generation)
        w.u8(requesterRole.rawValue)
        w.bytes(ephemeral)
        initiatorBinding.encode(into: &w)
        responderBinding.encode(into: &w)
        return w.buffer
    }

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ReauthRequest {
        var r = try MessageHeader.open(bytes, expecting: .reauthRequest)
        let generation = try r.u32()
        let roleByte = try r.u8()
        let ephemeral = try r.bytes(HandshakeLimits.publicKeySize)
        let bI = try ChannelBinding.decode(from: &r)
        let bR = try ChannelBinding.decode(from: &r)
        let tag = try r.bytes(HandshakeLimits.aeadTagSize)
        try r.expectEnd("ReauthRequest")
        guard let role = ChannelBinding.Role(rawValue: roleByte) else {
            throw HandshakeError(.malformed, "requester role \(roleByte)")
        }
        guard bI.role == .initiator, bR.role == .responder else {
            throw HandshakeError(.malformed, "ReauthRequest bindings out of order")
        }
        return ReauthRequest(generation: generation, requesterRole: role, ephemeral: ephemeral,
                             initiatorBinding: bI, responderBinding: bR, tag: tag)
    }
}

/// A2: version | 0x11 | e_b (32) | c2 = EncryptAndHash(IdentityBlock_b).
struct ReauthResponse: Equatable {
    var ephemeral: [UInt8]
    var ciphertext: ArraySlice<UInt8>

    static let prefixSize = MessageHeader.size + HandshakeLimits.publicKeySize

    static func encodePrefix(ephemeral: [UInt8]) -> [UInt8] {
        var w = WireWriter(capacity: prefixSize)
        MessageHeader.write(.reauthResponse, into: &w)
        w.bytes(ephemeral)
        return w.buffer
    }

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ReauthResponse {
        var r = try MessageHeader.open(bytes, expecting: .reauthResponse)
        let ephemeral = try r.bytes(HandshakeLimits.publicKeySize)
        guard r.remaining >= HandshakeLimits.aeadTagSize else { throw HandshakeError(.truncated, "ReauthResponse without ciphertext") }
        return ReauthResponse(ephemeral: ephemeral, ciphertext: r.rest())
    }
}

/// A3 (version | 0x12 | c3) and A4 (version | 0x13 | c4, exactly a 16-byte tag)
/// have EncryptedMessage's shape.
enum ReauthFinished {
    static let size = MessageHeader.size + HandshakeLimits.aeadTagSize

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ArraySlice<UInt8> {
        let c = try EncryptedMessage.decode(bytes, expecting: .reauthFinished)
        guard c.count == HandshakeLimits.aeadTagSize else {
            throw HandshakeError(.malformed, "ReauthFinished of \(bytes.count) bytes, expected \(size)")
        }
        return c
    }
}
