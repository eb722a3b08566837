/// Alert, either direction, in the clear and unauthenticated:
///
///     version u8 | type u8 = 0x7F | code u8 (HandshakeErrorCode)
///
/// An alert only ever ends a handshake (which an on-path attacker can do anyway by
/// dropping messages); it never changes keys or state otherwise.
struct Alert: Equatable {
    var code: HandshakeErrorCode

    static let size = 3

    func encode() -> [UInt8] { [fabricAuthHandshakeVersion, MessageType.alert.rawValue, code.rawValue] }

    static func decode(_ bytes: [UInt8]) throws(HandshakeError) -> Alert {
        var r = try MessageHeader.open(bytes, expecting: .alert)
        let raw = try r.u8()
        try r.expectEnd("Alert")
        guard let code = HandshakeErrorCode(rawValue: raw) else { throw HandshakeError(.malformed, "alert code \(raw)") }
        return Alert(code: code)
    }
}
