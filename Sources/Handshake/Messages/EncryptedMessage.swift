/// M3 (initiatorAuth), M4 (responderFinished), R3 (resumeFinished): header then one AEAD ciphertext.
///
///     version u8 | type u8 | ciphertext (rest, >= 16 bytes)
///
/// M3's plaintext is an IdentityBlock with the initiator's payload; M4's plaintext
/// is the responder's payload alone, sealed under the finished key; R3's is the
/// initiator's payload (ResumeRequest.swift).
enum EncryptedMessage {
    static func encode(_ type: MessageType, ciphertext: [UInt8]) -> [UInt8] {
        var w = WireWriter(capacity: 2 + ciphertext.count)
        MessageHeader.write(type, into: &w)
        w.bytes(ciphertext)
        return w.buffer
    }

    static func header(_ type: MessageType) -> [UInt8] { [fabricAuthHandshakeVersion, type.rawValue] }

    static func decode(_ bytes: [UInt8], expecting type: MessageType) throws(HandshakeError) -> ArraySlice<UInt8> {
        var r = try MessageHeader.open(bytes, expecting: type)
        let ct = r.rest()
        guard ct.count >= HandshakeLimits.aeadTagSize else { throw HandshakeError(.truncated, "ciphertext shorter than a tag") }
        return ct
    }
}
