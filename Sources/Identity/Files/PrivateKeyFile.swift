import X509

/// Serializes private keys for key files (PKCS#8 `PRIVATE KEY` for Ed25519, SEC1 for P-256).
public enum PrivateKeyFile {
    public static func pem(_ key: Certificate.PrivateKey) throws(IdentityError) -> String {
        do {
            return try key.serializeAsPEM().pemString + "\n"
        } catch {
            throw IdentityError(.issuance, "cannot serialize the private key: \(error)")
        }
    }
}
