import Verbs

/// What the out-of-band TCP exchange carries: a QP endpoint and up to
/// 1024 bytes of payload (a client's random token, `RemoteMemory.encoded`).
///
/// Wire form: "FAX2" | endpoint (28 bytes, `QueuePairEndpoint.encoded`) |
/// payload length (2 bytes, big-endian) | payload. Unauthenticated, like
/// perftest's exchange without -R: this is the seam where FabricAuth's
/// handshake authenticates the endpoint. "FAX1" was the earlier exchange
/// (one TCP connection per message, listener speaking first); the magic
/// changed with the protocol so the two never half-work together.
public struct ExchangeMessage: Hashable, Sendable {
    public static let magic: [UInt8] = Array("FAX2".utf8)
    /// The magic of the retired one-connection-per-message exchange, named in
    /// the error so a mixed-version deployment says what is wrong.
    static let retiredMagic: [UInt8] = Array("FAX1".utf8)
    /// Largest payload; a header announcing more is refused before its
    /// payload is read, so a peer cannot make the listener buffer more.
    public static let maxPayload = 1024
    /// Bytes of the fixed header (magic, endpoint, payload length).
    public static let headerSize = 4 + QueuePairEndpoint.encodedSize + 2

    /// The sender's QP: what the peer connects its own QP to.
    public var endpoint: QueuePairEndpoint
    /// Up to `maxPayload` bytes: a client's token first, or application data.
    public var payload: [UInt8]

    /// A message; traps on a payload over `maxPayload` (a caller's error).
    public init(endpoint: QueuePairEndpoint, payload: [UInt8] = []) {
        precondition(payload.count <= Self.maxPayload, "exchange payload is at most \(Self.maxPayload) bytes")
        self.endpoint = endpoint
        self.payload = payload
    }

    /// The wire form described above.
    public var encoded: [UInt8] {
        var out = Self.magic + endpoint.encoded
        out.append(UInt8(payload.count >> 8))
        out.append(UInt8(payload.count & 0xff))
        return out + payload
    }

    /// Refuses anything but the magic; the listener calls it as soon as four
    /// bytes are in, so a short banner (SSH's, for one) is refused at once.
    static func checkMagic(_ first4: some Collection<UInt8>) throws(BootstrapError) {
        let magic = Array(first4)
        guard magic != Self.magic else { return }
        let why = magic == retiredMagic
            ? "the peer speaks FAX1, the exchange of an older fabricauth: upgrade both ends"
            : "the peer is not a FabricAuth exchange"
        throw BootstrapError(.badMagic, function: "exchange header", reason: why)
    }

    /// Parses the fixed header; returns the endpoint and the payload length
    /// still to read. Checks in wire order, so a scanner's first bytes are
    /// refused as `badMagic` before anything else is looked at.
    public static func parseHeader(_ b: some Collection<UInt8>) throws(BootstrapError) -> (QueuePairEndpoint, Int) {
        let b = Array(b)
        guard b.count == headerSize else {
            throw BootstrapError(.truncated, function: "exchange header", reason: "\(b.count) of \(headerSize) bytes")
        }
        try checkMagic(b.prefix(4))
        guard let ep = QueuePairEndpoint(encoded: b[4..<(4 + QueuePairEndpoint.encodedSize)]) else {
            throw BootstrapError(.malformedEndpoint, function: "exchange header", reason: "QPN/PSN over 24 bits, unknown MTU or reserved byte set")
        }
        let n = Int(b[headerSize - 2]) << 8 | Int(b[headerSize - 1])
        guard n <= maxPayload else {
            throw BootstrapError(.oversized, function: "exchange header", reason: "payload length \(n) exceeds \(maxPayload)")
        }
        return (ep, n)
    }
}

extension ExchangeMessage {
    /// Bytes of the random token a client's first message carries
    /// (`EndpointExchangeListener.Configuration.clientTokenSize`).
    public static let clientTokenSize = 16

    /// A fresh random client token. Unauthenticated and not secret: it only
    /// lets a listener tell a FabricAuth client from a scanner and pair a
    /// setup's two messages; the handshake authenticates. The system RNG is
    /// getrandom(2) on Linux.
    public static func randomClientToken() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<clientTokenSize).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }
}
