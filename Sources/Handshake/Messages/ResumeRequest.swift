/// R1, initiator -> responder (resumption):
///
///     version u8 | type u8 = 5 | session_id [16] | nonce_i [32] | binding_i [29] | ciphertext (rest)
///
/// The ciphertext is the initiator's payload under the key from
/// MixKey(nonce_i), MixKeyAndHash(resumption secret).
struct ResumeRequest {
    var sessionID: [UInt8]
    var nonce: [UInt8]
    var binding: ChannelBinding
    var ciphertext: ArraySlice<UInt8>

    static let prefixSize = MessageHeader.size + HandshakeLimits.sessionIDSize + HandshakeLimits.nonceSize + ChannelBinding.encodedSize

    static func encodePrefix(sessionID: [UInt8], nonce: [UInt8], binding: ChannelBinding) -> [UInt8] {
        var w = WireWriter()
        MessageHeader.write(.resumeRequest, into: &w)
        w.bytes(sessionID)
        w.bytes(nonce)
        binding.encode(into: &w)
        return w.buffer
    }

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> ResumeRequest {
        var r = try MessageHeader.open(bytes, expecting: .resumeRequest)
        let id = try r.bytes(HandshakeLimits.sessionIDSize)
        let nonce = try r.bytes(HandshakeLimits.nonceSize)
        let binding = try ChannelBinding.decode(from: &r)
        let ct = r.rest()
        guard ct.count >= HandshakeLimits.aeadTagSize else { throw HandshakeError(.truncated, "ciphertext shorter than a tag") }
        guard ct.count <= HandshakeLimits.maxPayloadSize + HandshakeLimits.aeadTagSize else {
            throw HandshakeError(.oversized, "payload over \(HandshakeLimits.maxPayloadSize) bytes")
        }
        return ResumeRequest(sessionID: id, nonce: nonce, binding: binding, ciphertext: ct)
    }
}

/// R2, responder -> initiator (resumption):
///
///     version u8 | type u8 = 6 | nonce_r [32] | binding_r [29] | ciphertext (rest)
///
/// The ciphertext is the responder's payload under the key from MixKey(nonce_r).
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
