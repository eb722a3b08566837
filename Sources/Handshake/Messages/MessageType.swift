/// Second byte of every handshake message (the first is the version).
enum MessageType: UInt8, Sendable {
    case initiatorHello = 1      // M1
    case responderHello = 2      // M2
    case initiatorAuth = 3       // M3
    case responderFinished = 4   // M4
    case resumeRequest = 5       // R1
    case resumeResponse = 6      // R2
    case resumeFinished = 7      // R3 (version 2)
    // In-band re-authentication, carried in data-path frames of opcode 8 (docs/protocol.md section 14).
    case reauthRequest = 0x10    // A1
    case reauthResponse = 0x11   // A2
    case reauthAuth = 0x12       // A3
    case reauthFinished = 0x13   // A4
    case alert = 0x7F
}

/// The two header bytes: version and type. Checks size limits first so no parser
/// ever looks at an oversized message.
struct MessageHeader {
    var version: UInt8
    var type: MessageType

    static let size = 2

    static func peek(_ bytes: [UInt8]) throws(HandshakeError) -> MessageHeader {
        guard bytes.count <= HandshakeLimits.maxMessageSize else {
            throw HandshakeError(.oversized, "message of \(bytes.count) bytes > \(HandshakeLimits.maxMessageSize)")
        }
        guard bytes.count >= size else { throw HandshakeError(.truncated, "message of \(bytes.count) bytes has no header") }
        guard bytes[0] == fabricAuthHandshakeVersion else {
            throw HandshakeError(.unsupportedVersion, "version \(bytes[0]), this side speaks \(fabricAuthHandshakeVersion)")
        }
        guard let type = MessageType(rawValue: bytes[1]) else { throw HandshakeError(.malformed, "message type \(bytes[1])") }
        return MessageHeader(version: bytes[0], type: type)
    }

    /// Reader positioned after the header, after checking it is `expected`.
    static func open(_ bytes: [UInt8], expecting expected: MessageType) throws(HandshakeError) -> WireReader {
        let header = try peek(bytes)
        guard header.type == expected else {
            throw HandshakeError(.unexpectedMessage, "got \(header.type), expected \(expected)")
        }
        var r = WireReader(bytes)
        _ = try r.bytes(size)
        return r
    }

    static func write(_ type: MessageType, into w: inout WireWriter) {
        w.u8(fabricAuthHandshakeVersion)
        w.u8(type.rawValue)
    }
}
