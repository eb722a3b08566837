import Foundation
import Handshake
import Identity

/// An X.509-SVID credential (``Identity/Credential``) in the shape the
/// handshake asks for: the chain it sends and the key that signs the transcript.
public struct CertificateCredential: HandshakeCredential {
    public let credential: Credential

    public init(_ credential: Credential) {
        self.credential = credential
    }

    public var certificateChain: [[UInt8]] { credential.chainDER }

    public var signatureAlgorithm: SignatureAlgorithm {
        SignatureAlgorithm(credential.signatureScheme)
    }

    public var notAfter: Timestamp { Timestamp(credential.leaf.notValidAfter) }

    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        credential.sign(message)
    }
}

extension SignatureAlgorithm {
    /// The handshake's one-byte code for an Identity signature scheme.
    init(_ scheme: SignatureScheme) {
        switch scheme {
        case .ed25519: self = .ed25519
        case .ecdsaP256SHA256: self = .ecdsaP256SHA256
        }
    }
}

extension Timestamp {
    /// Whole nanoseconds since the Unix epoch of a Foundation date (saturating).
    init(_ date: Date) {
        let ns = date.timeIntervalSince1970 * 1e9
        if ns >= Double(Int64.max) {
            self.init(nanosecondsSinceEpoch: .max)
        } else if ns <= Double(Int64.min) {
            self.init(nanosecondsSinceEpoch: .min)
        } else {
            self.init(nanosecondsSinceEpoch: Int64(ns))
        }
    }

    var date: Date { Date(timeIntervalSince1970: Double(nanosecondsSinceEpoch) / 1e9) }
}
