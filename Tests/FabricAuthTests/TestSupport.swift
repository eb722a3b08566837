import CSodium
import Testing
@testable import FabricAuth
import Handshake

/// Hex string -> bytes (test vectors).
func hex(_ s: String) -> [UInt8] {
    let chars = Array(s.utf8).filter { $0 != UInt8(ascii: " ") }
    precondition(chars.count % 2 == 0)
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: preconditionFailure("not hex")
        }
    }
    return stride(from: 0, to: chars.count, by: 2).map { nibble(chars[$0]) << 4 | nibble(chars[$0 + 1]) }
}

func toHex(_ b: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(b.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}

/// Deterministic PRNG (SplitMix64) so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

/// The suites this CPU can run (AES-256-GMAC needs AES-NI + PCLMUL).
var availableSuites: [CipherSuite] { CipherSuite.known.filter(\.isAvailable) }

extension DataPathSender {
    /// Seals `payload` into a fresh frame array.
    mutating func sealFrame(
        _ payload: [UInt8], opcode: DataPathOpcode = .send, remoteAddress: UInt64 = 0, rkey: UInt32 = 0,
        now: UInt64 = 0
    ) throws -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: DataPathLimits.frameOverhead + payload.count)
        frame.replaceSubrange(DataPathLimits.headerSize..<(DataPathLimits.headerSize + payload.count), with: payload)
        let sealed = try frame.withUnsafeMutableBytes { buf in
            try seal(frame: buf, payloadLength: payload.count, opcode: opcode,
                     remoteAddress: remoteAddress, rkey: rkey, now: now)
        }
        precondition(sealed.frameLength == frame.count)
        return frame
    }
}

/// Result of opening a frame array, with the payload copied out.
enum Opened: Equatable {
    case delivered(FrameHeader, [UInt8])
    case rejected(RejectReason, RejectAction)

    var reason: RejectReason? {
        if case .rejected(let r, _) = self { return r }
        return nil
    }
    var isDelivered: Bool {
        if case .delivered = self { return true }
        return false
    }
}

extension DataPathReceiver {
    /// Opens a copy of `frame` (a control frame is decrypted in place in the copy).
    mutating func openFrame(_ frame: [UInt8], now: UInt64 = 0) -> Opened {
        var copy = frame
        return copy.withUnsafeMutableBytes { buf in
            switch open(frame: buf, now: now) {
            case .delivered(let m): return .delivered(m.header, Array(m.payload))
            case .rejected(let r, let a): return .rejected(r, a)
            }
        }
    }
}

extension DataPathConfiguration {
    static var dropping: DataPathConfiguration {
        var c = DataPathConfiguration()
        c.failurePolicy = .dropAndCount
        return c
    }
}

func secretBytes(_ seed: UInt8) -> [UInt8] { (0..<32).map { UInt8(truncatingIfNeeded: Int($0) &* 7 &+ Int(seed)) } }

/// A stable copy of `bytes` for APIs that take a raw buffer (tests only; never freed).
func rawBytes(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
    let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
    bytes.withUnsafeBytes { if $0.count > 0 { p.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    return UnsafeRawBufferPointer(rebasing: p[0..<bytes.count])
}

/// One MAC implementation under test: a suite on one engine.
struct TestedMAC: Sendable, CustomTestStringConvertible {
    let suite: CipherSuite
    let engine: MACEngine

    var testDescription: String { "\(suite) on \(engine)" }

    /// `c` with this engine. Where the engine can't run on this CPU (ipsec-mb
    /// without its VAES/AVX-512 code, e.g. in the QEMU/TCG test bed) the test
    /// case records a warning saying why and is cancelled: skipped in the
    /// open, never passed silently. (A cancelled case alone is listed as
    /// passed by swift-testing 6.3's console output; the warning is what shows.)
    func configure(_ c: DataPathConfiguration = .init()) throws -> DataPathConfiguration {
        guard engine.isAvailable else {
            let why = "\(suite) on \(engine) NOT TESTED: \(engine) is not available here (\(MACEngine.selectionReason))"
            Issue.record(Comment(rawValue: why), severity: .warning)
            try Test.cancel(Comment(rawValue: why))
        }
        var c = c
        c.macEngine = engine
        return c
    }
}

/// Every suite this CPU runs, on every engine that computes it: AES-256-GMAC on
/// libsodium and on ipsec-mb, ChaCha20-Poly1305 on libsodium. The ipsec-mb
/// cases are listed even where it can't run, so that they show as cancelled
/// with the reason (TestedMAC.configure).
var testedMACs: [TestedMAC] {
    availableSuites.flatMap { suite in
        suite == .aes256GMAC ? MACEngine.allCases.map { TestedMAC(suite: suite, engine: $0) }
            : [TestedMAC(suite: suite, engine: .libsodium)]
    }
}
