/// Plaintext inside M2's and M3's ciphertext:
///
///     sigAlg u8 | count u8 (1...4) | count x (len u16 | DER cert)      <- "identity prefix"
///     | sigLen u16 | signature | payloadLen u16 | payload
///
/// The signature is over KeySchedule.signedContent(context, h, SHA-256(identity prefix)),
/// h being the transcript hash just before this ciphertext is produced.
struct IdentityBlock: Equatable {
    var algorithm: SignatureAlgorithm
    var chain: [[UInt8]]
    var signature: [UInt8]
    var payload: [UInt8]

    /// Encodes the signed prefix; checks local limits (the caller reports `.localCredentialFailure`).
    static func encodePrefix(algorithm: SignatureAlgorithm, chain: [[UInt8]]) -> [UInt8]? {
        guard (1...HandshakeLimits.maxCertificateChainLength).contains(chain.count),
              chain.allSatisfy({ !$0.isEmpty && $0.count <= HandshakeLimits.maxCertificateSize }) else { return nil }
        var w = WireWriter()
        w.u8(algorithm.rawValue)
        w.u8(UInt8(chain.count))
        for c in chain { w.vector16(c) }
        return w.buffer
    }

    static func encode(prefix: [UInt8], signature: [UInt8], payload: [UInt8]) -> [UInt8] {
        var w = WireWriter(capacity: prefix.count + signature.count + payload.count + 4)
        w.bytes(prefix)
        w.vector16(signature)
        w.vector16(payload)
        return w.buffer
    }

    /// Returns the block and its prefix bytes (for the signature check).
    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> (block: IdentityBlock, prefix: [UInt8]) {
        var r = WireReader(bytes)
        let alg = SignatureAlgorithm(rawValue: try r.u8())
        let count = Int(try r.u8())
        guard count >= 1 else { throw HandshakeError(.malformed, "empty certificate chain") }
        guard count <= HandshakeLimits.maxCertificateChainLength else {
            throw HandshakeError(.oversized, "chain of \(count) certificates")
        }
        var chain: [[UInt8]] = []
        for _ in 0..<count {
            let cert = try r.vector16(limit: HandshakeLimits.maxCertificateSize, what: "certificate")
            guard !cert.isEmpty else { throw HandshakeError(.malformed, "empty certificate") }
            chain.append(cert)
        }
        let prefix = Array(bytes[0..<r.offset])
        let sig = try r.vector16(limit: HandshakeLimits.maxSignatureSize, what: "signature")
        guard !sig.isEmpty else { throw HandshakeError(.malformed, "empty signature") }
        let payload = try r.vector16(limit: HandshakeLimits.maxPayloadSize, what: "payload")
        try r.expectEnd("identity block")
        return (IdentityBlock(algorithm: alg, chain: chain, signature: sig, payload: payload), prefix)
    }
}
