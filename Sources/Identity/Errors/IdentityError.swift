/// The one error type of the Identity module for *input and I/O problems* (bad files,
/// bad flags, unusable keys). "This peer is not trusted" is not an error: the verifier
/// returns a ``Rejection`` instead, and policy returns a ``Decision``.
///
/// Like swift-certificates' `CertificateError`, it is a struct with a code to switch on
/// and a message meant for people, plus where it was thrown.
public struct IdentityError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, stable for callers and tests to match on.
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// The text is not a PEM document of the expected kind (RFC 7468), or a PEM block is cut short.
        case malformedPEM
        /// The DER bytes are not a valid certificate or key (RFC 5280 §4.1, RFC 5958).
        case malformedDER
        /// A certificate repeats an extension (RFC 5280 §4.2: "MUST NOT include more than one instance").
        case duplicateExtension
        /// The file holds no certificate, or no key, where one is required.
        case empty
        /// The private key does not belong to the leaf certificate.
        case keyMismatch
        /// A key type other than Ed25519 or ECDSA P-256.
        case unsupportedKeyType
        /// A string is not a valid SPIFFE ID (SPIFFE-ID §2).
        case invalidSPIFFEID
        /// A certificate that should be a CA is not one, or a CA certificate is malformed for its role.
        case invalidCACertificate
        /// A revocation-list line could not be parsed.
        case malformedRevocationList
        /// A quarantine-list line could not be parsed.
        case malformedQuarantineList
        /// A policy rule could not be parsed.
        case malformedPolicy
        /// A duration such as `24h` could not be parsed, or is out of range.
        case invalidDuration
        /// Refusing to overwrite an existing file (pass `--force`).
        case fileExists
        /// A private-key file is owned by another user or accessible by group or others
        /// (refused as OpenSSH refuses such identity files).
        case insecureKeyFile
        /// Reading or writing a file failed.
        case io
        /// A certificate could not be built or signed.
        case issuance
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func == (lhs: IdentityError, rhs: IdentityError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}
