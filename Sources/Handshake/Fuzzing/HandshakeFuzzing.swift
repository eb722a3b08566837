/// Entry point for coverage-guided fuzzers (libFuzzer): runs every message parser on
/// one input. Parsers are total, so this never traps; a trap is a bug.
///
/// A libFuzzer target is an executable built with `-sanitize=fuzzer` that exports
///
///     @_cdecl("LLVMFuzzerTestOneInput")
///     public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
///         HandshakeFuzzing.parseAll(Array(UnsafeBufferPointer(start: data, count: size)))
///         return 0
///     }
///
/// (needs a target in Package.swift with `swiftSettings: [.unsafeFlags(["-sanitize=fuzzer"])]`).
public enum HandshakeFuzzing {
    /// Returns how many parsers accepted the input (for corpus statistics).
    @discardableResult
    public static func parseAll(_ bytes: [UInt8]) -> Int {
        var accepted = 0
        // Every parser throws only HandshakeError (typed throws); the closure erases that.
        func attempt(_ body: () throws -> Void) {
            if (try? body()) != nil { accepted += 1 }
        }
        attempt { _ = try MessageHeader.peek(bytes) }
        attempt { _ = try InitiatorHello.decode(bytes) }
        attempt { _ = try ResponderHello.decode(bytes) }
        attempt { _ = try EncryptedMessage.decode(bytes, expecting: .initiatorAuth) }
        attempt { _ = try EncryptedMessage.decode(bytes, expecting: .responderFinished) }
        attempt { _ = try ResumeRequest.decode(bytes) }
        attempt { _ = try ResumeResponse.decode(bytes) }
        attempt { _ = try ResumeFinished.decode(bytes) }
        attempt { _ = try Alert.decode(bytes) }
        attempt { _ = try IdentityBlock.decode(bytes) }
        // Re-authentication A1..A4 (docs/protocol.md section 14.2).
        attempt { _ = try ReauthRequest.decode(bytes) }
        attempt { _ = try ReauthResponse.decode(bytes) }
        attempt { _ = try EncryptedMessage.decode(bytes, expecting: .reauthAuth) }
        attempt { _ = try ReauthFinished.decode(bytes) }
        // Also read the input as the payload of every message type (header + body).
        if bytes.count < HandshakeLimits.maxMessageSize - 2 {
            for type in [MessageType.initiatorHello, .responderHello, .resumeRequest, .resumeResponse, .resumeFinished,
                         .reauthRequest, .reauthResponse, .reauthFinished] {
                let framed = [fabricAuthHandshakeVersion, type.rawValue] + bytes
                attempt { _ = try InitiatorHello.decode(framed) }
                attempt { _ = try ResponderHello.decode(framed) }
                attempt { _ = try ResumeRequest.decode(framed) }
                attempt { _ = try ResumeResponse.decode(framed) }
                attempt { _ = try ResumeFinished.decode(framed) }
                attempt { _ = try ReauthRequest.decode(framed) }
                attempt { _ = try ReauthResponse.decode(framed) }
                attempt { _ = try ReauthFinished.decode(framed) }
            }
        }
        return accepted
    }
}
