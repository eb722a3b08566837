/// What the out-of-band TCP exchange carries: a QP endpoint and up to
/// 1024 bytes of application payload (e.g. `RemoteMemory.encoded`).
///
/// Wire form: "FAX1" | endpoint (28 bytes, `QueuePairEndpoint.encoded`) |
/// payload length (2 bytes, big-endian) | payload. Unauthenticated, like
/// perftest's exchange without -R: this is the seam where FabricAuth's
/// handshake authenticates the endpoint.
public struct ExchangeMessage: Hashable, Sendable {
    public static let magic: [UInt8] = Array("FAX1".utf8)
    public static let maxPayload = 1024
    static let headerSize = 4 + QueuePairEndpoint.encodedSize + 2

    public var endpoint: QueuePairEndpoint
    public var payload: [UInt8]

    public init(endpoint: QueuePairEndpoint, payload: [UInt8] = []) {
        precondition(payload.count <= Self.maxPayload, "exchange payload is at most \(Self.maxPayload) bytes")
        self.endpoint = endpoint
        self.payload = payload
    }

    public var encoded: [UInt8] {
        var out = Self.magic + endpoint.encoded
        out.append(UInt8(payload.count >> 8))
        out.append(UInt8(payload.count & 0xff))
        return out + payload
    }

    /// Parses the fixed header; returns the endpoint and the payload length still to read.
    static func parseHeader(_ b: [UInt8]) throws(VerbsError) -> (QueuePairEndpoint, Int) {
        guard b.count == headerSize, Array(b[0..<4]) == magic else {
            throw VerbsError(.protocolViolation, function: "tcp exchange", reason: "bad magic: the peer is not a FabricAuth exchange")
        }
        guard let ep = QueuePairEndpoint(encoded: b[4..<(4 + QueuePairEndpoint.encodedSize)]) else {
            throw VerbsError(.protocolViolation, function: "tcp exchange", reason: "malformed QP endpoint")
        }
        let n = Int(b[headerSize - 2]) << 8 | Int(b[headerSize - 1])
        guard n <= maxPayload else {
            throw VerbsError(.protocolViolation, function: "tcp exchange", reason: "payload length \(n) exceeds \(maxPayload)")
        }
        return (ep, n)
    }
}
