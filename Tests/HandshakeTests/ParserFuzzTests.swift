// Seeded mutation fuzzing of every message parser: 1,281,000 cases in all, parsers only
// (no crypto), so it stays fast in debug builds. Each parser must return a value or a
// HandshakeError (typed throws; a trap fails the whole test run), only with codes a
// parser may produce, and what it accepts must re-encode to the same bytes.
import Testing
@testable import Handshake

enum ParserKind: String, CaseIterable, Sendable {
    case header, initiatorHello, responderHello, initiatorAuth, responderFinished, identityBlock, resumeRequest, resumeResponse,
        resumeFinished, alert, reauthRequest, reauthResponse, reauthAuth, reauthFinished
}

/// Valid messages of every kind, from real runs.
struct Corpus {
    var messages: [ParserKind: [[UInt8]]] = [:]

    static let shared: Corpus = {
        var c = Corpus()
        let f = Fixture()
        let o = drive(HandshakeMachine(configuration: f.aliceConfig()), HandshakeMachine(configuration: f.bobConfig()))
        let full = fullHandshake(f)!
        let r = drive(HandshakeMachine(resuming: full.alice.session, configuration: f.aliceConfig(qp: 1)),
                      HandshakeMachine(configuration: f.bobConfig(qp: 1, sessions: [full.bob.session])))
        c.messages[.initiatorHello] = [o.transcript[0]]
        c.messages[.responderHello] = [o.transcript[1]]
        c.messages[.initiatorAuth] = [o.transcript[2]]
        c.messages[.responderFinished] = [o.transcript[3]]
        c.messages[.resumeRequest] = [r.transcript[0]]
        c.messages[.resumeResponse] = [r.transcript[1]]
        c.messages[.resumeFinished] = [r.transcript[2]]
        c.messages[.alert] = HandshakeErrorCode.allCases.map { Alert(code: $0).encode() }
        // Re-authentication A1..A4 from a real run (docs/protocol.md section 14).
        let channel = try! ReauthChannel(f, qp: 2)
        let a = runReauth(channel.alice, channel.bob, credential: channel.credential(Fixture.aliceID, seed: 70)).transcript
        c.messages[.reauthRequest] = [a[0]]
        c.messages[.reauthResponse] = [a[1]]
        c.messages[.reauthAuth] = [a[2]]
        c.messages[.reauthFinished] = [a[3]]
        c.messages[.header] = o.transcript + r.transcript + a
        let prefix = IdentityBlock.encodePrefix(algorithm: .ed25519, chain: f.aliceCredential.certificateChain)!
        let prefix3 = IdentityBlock.encodePrefix(algorithm: .ecdsaP256SHA256, chain: [[1, 2, 3], [4], [5, 6]])!
        c.messages[.identityBlock] = [
            IdentityBlock.encode(prefix: prefix, signature: [UInt8](repeating: 7, count: 64), payload: f.alicePayload),
            IdentityBlock.encode(prefix: prefix3, signature: [9], payload: []),
        ]
        return c
    }()
}

/// Runs one parser; returns whether it accepted. Records an issue on a wrong error code or a failed round trip.
func parse(_ kind: ParserKind, _ m: [UInt8]) -> Bool {
    let allowed: Set<HandshakeErrorCode> = [.truncated, .oversized, .malformed, .unsupportedVersion, .unexpectedMessage]
    do throws(HandshakeError) {
        switch kind {
        case .header:
            _ = try MessageHeader.peek(m)
        case .initiatorHello:
            let v = try InitiatorHello.decode(m)
            if v.encode() != m { Issue.record("InitiatorHello round trip \(m)") }
        case .responderHello:
            let v = try ResponderHello.decode(m)
            if ResponderHello.encodePrefix(suite: v.suite, ephemeral: v.ephemeral, binding: v.binding) + v.ciphertext != m {
                Issue.record("ResponderHello round trip \(m)")
            }
        case .initiatorAuth:
            let ct = try EncryptedMessage.decode(m, expecting: .initiatorAuth)
            if EncryptedMessage.encode(.initiatorAuth, ciphertext: Array(ct)) != m { Issue.record("M3 round trip") }
        case .responderFinished:
            let ct = try EncryptedMessage.decode(m, expecting: .responderFinished)
            if EncryptedMessage.encode(.responderFinished, ciphertext: Array(ct)) != m { Issue.record("M4 round trip") }
        case .identityBlock:
            let (b, prefix) = try IdentityBlock.decode(m)
            if IdentityBlock.encode(prefix: prefix, signature: b.signature, payload: b.payload) != m
                || IdentityBlock.encodePrefix(algorithm: b.algorithm, chain: b.chain) != prefix {
                Issue.record("IdentityBlock round trip \(m)")
            }
        case .resumeRequest:
            let v = try ResumeRequest.decode(m)
            if ResumeRequest.encodePrefix(sessionID: v.sessionID, nonce: v.nonce, binding: v.binding,
                                          responderBinding: v.responderBinding) + v.ciphertext != m {
                Issue.record("ResumeRequest round trip")
            }
        case .resumeResponse:
            let v = try ResumeResponse.decode(m)
            if ResumeResponse.encodePrefix(nonce: v.nonce, binding: v.binding) + v.ciphertext != m {
                Issue.record("ResumeResponse round trip")
            }
        case .resumeFinished:
            let ct = try ResumeFinished.decode(m)
            if EncryptedMessage.encode(.resumeFinished, ciphertext: Array(ct)) != m { Issue.record("R3 round trip") }
        case .reauthRequest:
            let v = try ReauthRequest.decode(m)
            if ReauthRequest.encodePrefix(generation: v.generation, requesterRole: v.requesterRole, ephemeral: v.ephemeral,
                                          initiatorBinding: v.initiatorBinding, responderBinding: v.responderBinding) + v.tag != m {
                Issue.record("ReauthRequest round trip")
            }
        case .reauthResponse:
            let v = try ReauthResponse.decode(m)
            if ReauthResponse.encodePrefix(ephemeral: v.ephemeral) + v.ciphertext != m { Issue.record("A2 round trip") }
        case .reauthAuth:
            let ct = try EncryptedMessage.decode(m, expecting: .reauthAuth)
            if EncryptedMessage.encode(.reauthAuth, ciphertext: Array(ct)) != m { Issue.record("A3 round trip") }
        case .reauthFinished:
            let ct = try ReauthFinished.decode(m)
            if EncryptedMessage.encode(.reauthFinished, ciphertext: Array(ct)) != m { Issue.record("A4 round trip") }
        case .alert:
            let a = try Alert.decode(m)
            if a.encode() != m { Issue.record("Alert round trip") }
        }
        return true
    } catch {
        if !allowed.contains(error.code) { Issue.record("\(kind) threw \(error.code) for \(m)") }
        return false
    }
}

@Suite struct ParserFuzzTests {
    static let casesPerParser = 128_100  // x 14 parsers = 1,793,400 cases

    @Test(arguments: ParserKind.allCases)
    func MutatedMessagesNeverCrash(kind: ParserKind) throws {
        let seeds = try #require(Corpus.shared.messages[kind])
        for s in seeds { #expect(parse(kind, s), "seed of \(kind) must parse") }
        var rng = SplitMix64(seed: 0xFAB0_0000 &+ UInt64(ParserKind.allCases.firstIndex(of: kind)!))
        var accepted = 0, rejected = 0
        for _ in 0..<Self.casesPerParser {
            let seed = seeds[rng.below(seeds.count)]
            if parse(kind, mutate(seed, &rng)) { accepted += 1 } else { rejected += 1 }
        }
        // The mutator must exercise both outcomes, or this test proves nothing.
        #expect(accepted > 100, "\(kind): only \(accepted) accepted")
        #expect(rejected > Self.casesPerParser / 20, "\(kind): only \(rejected) rejected")
    }

    @Test func TotalCasesAtLeastOneMillion() {
        #expect(Self.casesPerParser * ParserKind.allCases.count >= 1_000_000)
    }

    @Test func ChannelBindingRejectsOver24Bits() {
        var w = WireWriter()
        w.u8(1); w.u32(0x0100_0000); w.u32(0); w.bytes([UInt8](repeating: 0, count: 16)); w.u32(4096)
        var r = WireReader(w.buffer)
        #expect(throws: HandshakeError.self) { try ChannelBinding.decode(from: &r) }
    }
}

@Suite struct FuzzEntryPointTests {
    /// The libFuzzer entry point accepts valid messages and survives garbage.
    @Test func ParseAllOnCorpus() {
        for (_, seeds) in Corpus.shared.messages {
            for s in seeds { #expect(HandshakeFuzzing.parseAll(s) >= 1) }
        }
        var rng = SplitMix64(seed: 77)
        for _ in 0..<2000 { HandshakeFuzzing.parseAll((0..<rng.below(200)).map { _ in rng.byte() }) }
        #expect(HandshakeFuzzing.parseAll([]) == 0)
    }
}
