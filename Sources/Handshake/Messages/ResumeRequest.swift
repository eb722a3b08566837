/// R1, initiator -> responder (resumption):
///
///     version u8 | type u8 = 5 | session_id [16] | nonce_i [32] | binding_i [29] | binding_r [29] | c1 [16]
///
/// `binding_r` is the responder endpoint this R1 is made for, so the responder of any
/// other QP refuses it in the clear (`responderBindingMismatch`) and both ends hash it.
/// `c1` is EncryptAndHash of nothing under the key from MixKey(nonce_i),
/// MixKeyAndHash(psk): it proves only possession of the session, not freshness, so
/// R1 carries no payload (the initiator's payload waits for R3).
struct ResumeRequest {
    var sessionID: [UInt8]
    var nonce: [UInt8]
    var binding: ChannelBinding
    var responderBinding: ChannelBinding
    var ciphertext: ArraySlice<UInt8>

    static let prefixSize = MessageHeader.size + HandshakeLimits.sessionIDSize + HandshakeLimits.nonceSize
        + 2 * ChannelBinding.encodedSize

    static func encodePrefix(sessionID: [UInt8], nonce: [UInt8], binding: ChannelBinding,
                             responderBinding: ChannelBinding) -> [UInt8] {
        var w = WireWriter()
        MessageHeader.write(.resumeRequest, into: &w)
        w.bytes(sessionID)
        w.bytes(nonce)
        binding.encode(into: &w)
        responderBinding.encode(into: &w)
        return w.buffer
    }

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ResumeRequest {
        var r = try MessageHeader.open(bytes, expecting: .resumeRequest)
        let id = try r.bytes(HandshakeLimits.sessionIDSize)
        let nonce = try r.bytes(HandshakeLimits.nonceSize)
        let binding = try ChannelBinding.decode(from: &r)
        let responderBinding = try ChannelBinding.decode(from: &r)
        let ct = r.rest()
        guard ct.count >= HandshakeLimits.aeadTagSize else { throw HandshakeError(.truncated, "ciphertext shorter than a tag") }
        guard ct.count == HandshakeLimits.aeadTagSize else {
            throw HandshakeError(.malformed, "\(ct.count - HandshakeLimits.aeadTagSize) bytes after R1's tag (R1 has no payload)")
        }
        return ResumeRequest(sessionID: id, nonce: nonce, binding: binding, responderBinding: responderBinding, ciphertext: ct)
    }
}

/// R2, responder -> initiator (resumption):
///
///     version u8 | type u8 = 6 | nonce_r [32] | binding_r [29] | c2 (rest)
///
/// `c2` is the responder's payload under the key from MixKey(nonce_r): a key only a
/// holder of the session with the same roles can derive, fresh for both sides.
struct ResumeResponse {
    var nonce: [UInt8]
    var binding: ChannelBinding
    var ciphertext: ArraySlice<UInt8>

    static let prefixSize = MessageHeader.size + HandshakeLimits.nonceSize + ChannelBinding.encodedSize

    static func encodePrefix(nonce: [UInt8], binding: ChannelBinding) -> [UInt8] {
        var w = WireWriter()
        MessageHeader.write(.resumeResponse, into: &w)
        w.bytes(nonce)
        binding.encode(into: &w)
        return w.buffer
    }

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ResumeResponse {
        var r = try MessageHeader.open(bytes, expecting: .resumeResponse)
        let nonce = try r.bytes(HandshakeLimits.nonceSize)
        let binding = try ChannelBinding.decode(from: &r)
        let ct = r.rest()
        guard ct.count >= HandshakeLimits.aeadTagSize else { throw HandshakeError(.truncated, "ciphertext shorter than a tag") }
        guard ct.count <= HandshakeLimits.maxPayloadSize + HandshakeLimits.aeadTagSize else {
            throw HandshakeError(.oversized, "payload over \(HandshakeLimits.maxPayloadSize) bytes")
        }
        return ResumeResponse(nonce: nonce, binding: binding, ciphertext: ct)
    }
}

/// R3, initiator -> responder (resumption), the initiator's key confirmation:
///
///     version u8 | type u8 = 7 | c3 (rest, 16..1040 bytes)
///
/// `c3` is the initiator's payload under the key after R2, so it opens only for the
/// responder whose fresh nonce_r the initiator saw; the responder counts the QP as
/// authenticated only after it opens (docs/protocol.md, section 6).
enum ResumeFinished {
    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ArraySlice<UInt8> {
        let ct = try EncryptedMessage.decode(bytes, expecting: .resumeFinished)
        guard ct.count <= HandshakeLimits.maxPayloadSize + HandshakeLimits.aeadTagSize else {
            throw HandshakeError(.oversized, "payload over \(HandshakeLimits.maxPayloadSize) bytes")
        }
        return ct
    }
}
