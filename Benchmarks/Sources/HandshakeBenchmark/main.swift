// HandshakeBenchmark: CPU time per side of a full handshake, and of a resumed setup per QP.
//
//   swift run -c release --package-path Benchmarks --scratch-path .build-handshake-bench HandshakeBenchmark [iterations]
//
// Time is per-thread CPU time (CLOCK_THREAD_CPUTIME_ID) around each side's own calls into
// the machine, so one side's work is not charged to the other. Credentials are Ed25519
// with a raw-key benchmark "certificate" (one Ed25519 verification per chain), not X.509:
// real chain verification by the Identity module adds its own cost (IdentityBenchmark).
import CSodium
import Handshake
#if canImport(Glibc)
import Glibc
#endif

func cpuNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

struct Key {
    var pk = [UInt8](repeating: 0, count: 32)
    var sk = [UInt8](repeating: 0, count: 64)
    init(_ seed: UInt8) { _ = crypto_sign_seed_keypair(&pk, &sk, [UInt8](repeating: seed, count: 32)) }
    func sign(_ m: [UInt8]) -> [UInt8] {
        var s = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&s, nil, m, UInt64(m.count), sk)
        return s
    }
}

func ed25519Verify(_ s: [UInt8], _ m: [UInt8], _ pk: [UInt8]) -> Bool {
    s.count == 64 && crypto_sign_verify_detached(s, m, UInt64(m.count), pk) == 0
}

/// Benchmark certificate: identity bytes (64, padded) | subject key | issuer signature over both.
func issue(_ identity: String, _ subject: Key, _ ca: Key) -> [UInt8] {
    var tbs = Array(identity.utf8.prefix(64))
    tbs += [UInt8](repeating: 0, count: 64 - tbs.count) + subject.pk
    return tbs + ca.sign(tbs)
}

struct BenchCredential: HandshakeCredential {
    let key: Key
    let certificateChain: [[UInt8]]
    var signatureAlgorithm: SignatureAlgorithm { .ed25519 }
    var notAfter: Timestamp { .seconds(4_000_000_000) }
    func sign(_ message: [UInt8]) throws -> [UInt8] { key.sign(message) }
}

struct BenchPeer: VerifiedPeer {
    let identity: String
    let publicKey: [UInt8]
    var notAfter: Timestamp { .seconds(4_000_000_000) }
    func verifySignature(_ signature: [UInt8], over message: [UInt8], algorithm: SignatureAlgorithm) -> Bool {
        algorithm == .ed25519 && ed25519Verify(signature, message, publicKey)
    }
}

struct BenchVerifier: PeerVerifier {
    let caKey: [UInt8]
    func verify(chain: [[UInt8]], at now: Timestamp) -> PeerVerificationResult {
        guard chain.count == 1, chain[0].count == 160, ed25519Verify(Array(chain[0][96...]), Array(chain[0][..<96]), caKey) else {
            return .rejected(PeerRejection(.untrustedIssuer))
        }
        let id = String(decoding: chain[0][..<64].prefix { $0 != 0 }, as: UTF8.self)
        return .verified(BenchPeer(identity: id, publicKey: Array(chain[0][64..<96])))
    }
    func authorize(_ peer: any VerifiedPeer, at now: Timestamp) -> PolicyDecision { .allowed }
    func isStillValid(_ peer: any VerifiedPeer, at now: Timestamp) -> Bool { true }
}

func binding(_ role: ChannelBinding.Role, _ qp: Int) -> ChannelBinding {
    ChannelBinding(role: role, qpn: UInt32((role == .initiator ? 0x1000 : 0x2000) + qp % 0x1000), psn: UInt32(qp * 7919) & 0xFF_FFFF,
                   gid: [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [role == .initiator ? 1 : 2], mtu: 4096)
}

struct Stats {
    var samples: [UInt64] = []
    mutating func add(_ ns: UInt64) { samples.append(ns) }
    func row(_ name: String) -> String {
        let s = samples.sorted()
        let mean = Double(s.reduce(0, +)) / Double(s.count) / 1000
        let med = Double(s[s.count / 2]) / 1000
        let p99 = Double(s[min(s.count - 1, s.count * 99 / 100)]) / 1000
        func f(_ x: Double) -> String { String(Int((x * 10).rounded())) .withDecimal }
        return name + String(repeating: " ", count: max(0, 44 - name.count)) + "  median \(f(med)) us   mean \(f(mean)) us   p99 \(f(p99)) us"
    }
}

extension String {
    /// "123" (tenths) -> "12.3"
    var withDecimal: String { count <= 1 ? "0.\(self)" : "\(dropLast()).\(last!)" }
}

precondition(sodium_init() >= 0)
let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2000 : 2000
let ca = Key(1), aliceKey = Key(2), bobKey = Key(3)
let alice = BenchCredential(key: aliceKey, certificateChain: [issue("spiffe://bench/alice", aliceKey, ca)])
let bob = BenchCredential(key: bobKey, certificateChain: [issue("spiffe://bench/bob", bobKey, ca)])
let verifier = BenchVerifier(caKey: ca.pk)
let payload = [UInt8](repeating: 0x42, count: 64)  // e.g. a few rkeys + addresses
let clock = SystemClock()
let counters = HandshakeCounters()

func config(_ cred: BenchCredential, _ role: ChannelBinding.Role, _ qp: Int,
            lookup: (@Sendable ([UInt8]) -> ResumableSession?)? = nil) -> HandshakeConfiguration {
    HandshakeConfiguration(credential: cred, verifier: verifier, localBinding: binding(role, qp),
                           expectedRemoteBinding: binding(role == .initiator ? .responder : .initiator, qp),
                           payload: payload, counters: counters, sessionLookup: lookup)
}

var initiatorFull = Stats(), responderFull = Stats(), initiatorResume = Stats(), responderResume = Stats()
var wireFull = 0, wireResume = 0
var lastSessions: (ResumableSession, ResumableSession)?

for i in 0..<(iterations + iterations / 10) {  // the first 10% warm up and are dropped
    let now = clock.now()
    let ini = HandshakeMachine(configuration: config(alice, .initiator, i))
    let res = HandshakeMachine(configuration: config(bob, .responder, i))
    var ti: UInt64 = 0, tr: UInt64 = 0
    var t = cpuNanos()
    guard case .send(let m1) = ini.start(now: now) else { fatalError("M1") }
    ti += cpuNanos() - t; t = cpuNanos()
    guard case .send(let m2) = res.receive(m1, now: now) else { fatalError("M2") }
    tr += cpuNanos() - t; t = cpuNanos()
    guard case .send(let m3) = ini.receive(m2, now: now) else { fatalError("M3") }
    ti += cpuNanos() - t; t = cpuNanos()
    guard case .sendAndFinish(let m4, let rr) = res.receive(m3, now: now) else { fatalError("M4") }
    tr += cpuNanos() - t; t = cpuNanos()
    guard case .finished(let ir) = ini.receive(m4, now: now) else { fatalError("finish") }
    ti += cpuNanos() - t
    precondition(ir.sendSecret.constantTimeEquals(rr.receiveSecret))
    if i >= iterations / 10 { initiatorFull.add(ti); responderFull.add(tr) }
    wireFull = m1.count + m2.count + m3.count + m4.count
    lastSessions = (ir.session, rr.session)
}

let (aliceSession, bobSession) = lastSessions!
let resumeIterations = iterations * 5
for i in 0..<(resumeIterations + resumeIterations / 10) {
    let now = clock.now()
    let ini = HandshakeMachine(resuming: aliceSession, configuration: config(alice, .initiator, i))
    let res = HandshakeMachine(configuration: config(bob, .responder, i, lookup: { $0 == bobSession.sessionID ? bobSession : nil }))
    var t = cpuNanos()
    guard case .send(let r1) = ini.start(now: now) else { fatalError("R1") }
    var ti = cpuNanos() - t; t = cpuNanos()
    guard case .send(let r2) = res.receive(r1, now: now) else { fatalError("R2") }
    var tr = cpuNanos() - t; t = cpuNanos()
    guard case .sendAndFinish(let r3, let ir) = ini.receive(r2, now: now) else { fatalError("R3") }
    ti += cpuNanos() - t; t = cpuNanos()
    guard case .finished(let rr) = res.receive(r3, now: now) else { fatalError("resume finish") }
    tr += cpuNanos() - t
    precondition(ir.sendSecret.constantTimeEquals(rr.receiveSecret) && ir.resumed)
    if i >= resumeIterations / 10 { initiatorResume.add(ti); responderResume.add(tr) }
    wireResume = r1.count + r2.count + r3.count
}

let c = counters.snapshot()
precondition(c.totalFailures == 0)
print("HandshakeBenchmark: \(iterations) full handshakes, \(resumeIterations) resumed QP setups (after 10% warm-up each)")
print("data-path suite picked: \(aliceSession.suite)   AES-NI (crypto_aead_aes256gcm_is_available): \(crypto_aead_aes256gcm_is_available() != 0)")
print("per-side CPU time (CLOCK_THREAD_CPUTIME_ID), Ed25519 raw-key certificates, \(payload.count)-byte payloads:")
print(initiatorFull.row("full handshake, initiator (M1, M2->M3, M4)"))
print(responderFull.row("full handshake, responder (M1->M2, M3->M4)"))
print(initiatorResume.row("resumed QP, initiator (R1, R2->R3)"))
print(responderResume.row("resumed QP, responder (R1->R2, R3)"))
print("bytes on the wire: full \(wireFull) (4 messages), resumed \(wireResume) (3 messages)")
