// DataPathBenchmark: per-core throughput of FabricAuth's data-path MAC, per engine.
//
//   swift run -c release --package-path Benchmarks DataPathBenchmark [--json]
//
// For each message size and each MAC suite it measures, on one core in one
// run, side by side:
//   memcpy      copying the payload (the "free" baseline a NIC DMA competes with)
//   and for each MAC engine that runs here (MACEngine: libsodium; ipsec-mb
//   where its VAES/AVX-512 code runs):
//   raw MAC     the library alone over header || payload (libsodium's
//               crypto_aead_aes256gcm_encrypt_detached_afternm with mlen 0,
//               ipsec-mb's one-shot IMB_AES256_GCM_ENC with an empty message
//               through CIPSecMBShim, or ChaCha20 + Poly1305)
//   seal        DataPathSender.seal (header, nonce, MAC, counters)
//   raw verify  the library's verification alone (recompute, constant-time
//               compare), each batch after an untimed pass of seals, as `open`'s
//   open        DataPathReceiver.open (checks, window, MAC verify, window update)
//   detached    sealDetached / openDetached: the RDMA WRITE/READ layout, header
//               and tag apart from the payload (GCM with the header as
//               plaintext, docs/protocol.md "RDMA WRITE and READ")
// Working sets: 64 B and 4 KiB rotate over 1,024 frames (from cache, as NIC
// rings with DDIO are); "64 KiB (cache)" over 8 frames (512 KiB, inside L2);
// "64 KiB (DRAM)", 1 MiB and 16 MiB over 64 MiB (twice the 32 MiB L3 of the
// reference host), so they stream from DRAM.
// GB/s are payload bytes per second (10^9) of this thread's CPU time. Each
// figure is the fastest of 7 rounds of >= 40 ms; every round measures every
// variant of every engine, interleaved, so a noisy neighbour hits all alike.
// Mallocs are counted around every timed seal and open loop (and the untimed
// seals feeding the open loops).
//
// --json prints one JSON object per (suite, engine, layout, size) row instead
// of the Markdown tables; --bytes N measures only the cases of N payload bytes.
import BenchmarkSupport
import CIPSecMB
import CIPSecMBShim
import CSodium
import FabricAuth
#if canImport(Glibc)
import Glibc
#endif
import Handshake

let json = CommandLine.arguments.contains("--json")
/// `--bytes N`: only the size cases of N payload bytes (profiling one size).
let onlyBytes: Int? = CommandLine.arguments.firstIndex(of: "--bytes").flatMap { i in
    i + 1 < CommandLine.arguments.count ? Int(CommandLine.arguments[i + 1]) : nil
}
MallocCounter.setUp()
guard sodium_init() >= 0 else { fatalError("sodium_init failed") }

@inline(__always) func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    // This thread's CPU time, not wall time: on a shared host, time spent
    // descheduled while other processes run is not charged to the variant
    // being measured (cache and memory-bandwidth interference still is).
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// One message size and the bytes its frames rotate over.
struct SizeCase {
    let size: Int
    let workingSet: Int
    let name: String
    var stride: Int { (DataPathLimits.frameOverhead + size + 63) & ~63 }
    var frameCount: Int { min(1024, max(4, workingSet / stride)) }
}

/// A contiguous set of frame buffers: [header 40][payload size][tag 16], 64-byte aligned.
struct FrameSet {
    let base: UnsafeMutableRawPointer
    let stride: Int
    let count: Int
    let size: Int

    init(_ c: SizeCase) {
        size = c.size
        stride = c.stride
        count = c.frameCount
        base = UnsafeMutableRawPointer.allocate(byteCount: stride * count, alignment: 64)
        randombytes_buf(base, stride * count)
    }

    @inline(__always) func frame(_ i: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + (i % count) * stride, count: DataPathLimits.frameOverhead + size)
    }
}

/// One timed run: `body(i)` for i = 0, 1, ... in batches of `batch` until
/// `minimumNanoseconds` have passed; `prepare(i)` runs untimed before each batch.
/// Returns nanoseconds per call and the number of calls.
func measureOnce(
    batch: Int, minimumNanoseconds: UInt64 = 40_000_000, prepare: (Int) -> Void = { _ in }, _ body: (Int) -> Void
) -> (nsPerOp: Double, ops: Int) {
    var elapsed: UInt64 = 0
    var ops = 0
    var i = 0
    while elapsed < minimumNanoseconds {
        prepare(i)
        let t0 = nowNanoseconds()
        for j in 0..<batch { body(i + j) }
        elapsed += nowNanoseconds() - t0
        ops += batch
        i += batch
    }
    return (Double(elapsed) / Double(ops), ops)
}

let rounds = 7

/// The library calls alone, with keys expanded once (what the data path's
/// EpochKey does), for the "raw" baselines.
enum RawEngine {
    case sodiumGCM(UnsafePointer<crypto_aead_aes256gcm_state>)
    case ipsecMB(UnsafePointer<IMB_MGR>, UnsafePointer<gcm_key_data>)
    case chacha(UnsafePointer<UInt8>)

    /// ipsec-mb's manager for the raw baseline (the data path has its own).
    nonisolated(unsafe) static let manager: UnsafeMutablePointer<IMB_MGR>? = {
        guard let m = alloc_mb_mgr(0) else { return nil }
        init_mb_mgr_auto(m, nil)
        return m
    }()

    init(suite: CipherSuite, engine: MACEngine) {
        let key = UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 16)
        randombytes_buf(key, 32)
        let k = key.assumingMemoryBound(to: UInt8.self)
        switch (suite, engine) {
        case (.chacha20Poly1305, _):
            self = .chacha(UnsafePointer(k))
            return
        case (.aes256GMAC, .libsodium):
            let s = UnsafeMutableRawPointer.allocate(byteCount: crypto_aead_aes256gcm_statebytes(), alignment: 64)
                .assumingMemoryBound(to: crypto_aead_aes256gcm_state.self)
            _ = crypto_aead_aes256gcm_beforenm(s, k)
            self = .sodiumGCM(UnsafePointer(s))
        case (.aes256GMAC, .ipsecMB):
            let kd = UnsafeMutableRawPointer.allocate(byteCount: fa_imb_gcm_key_data_size(), alignment: 64)
                .assumingMemoryBound(to: gcm_key_data.self)
            fa_imb_aes256_gcm_pre(Self.manager!, k, kd)
            self = .ipsecMB(UnsafePointer(Self.manager!), UnsafePointer(kd))
        default:
            preconditionFailure("no raw engine for \(suite) (the caller iterates CipherSuite.known)")
        }
        key.deallocate()
    }

    /// The tag over `count` bytes at `f`, written at f + count.
    @inline(__always) func tag(nonce np: UnsafePointer<UInt8>, _ f: UnsafeMutablePointer<UInt8>, _ count: Int) {
        switch self {
        case .sodiumGCM(let st):
            _ = crypto_aead_aes256gcm_encrypt_detached_afternm(f + count, f + count, nil, nil, 0, f, UInt64(count), nil,
                                                               np, st)
        case .ipsecMB(let m, let kd):
            fa_imb_aes256_gmac_tag(m, kd, np, f, UInt64(count), f + count)
        case .chacha(let key):
            var otk: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &otk) { o in
                let op = o.baseAddress!.assumingMemoryBound(to: UInt8.self)
                _ = crypto_stream_chacha20_ietf(op, 32, np, key)
                _ = crypto_onetimeauth(f + count, f, UInt64(count), op)
            }
        }
    }

    /// Full recomputation and a constant-time compare: the same work whether
    /// or not the tag matches (these frames were sealed under another key).
    @inline(__always) func verify(nonce np: UnsafePointer<UInt8>, _ f: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int32 {
        switch self {
        case .sodiumGCM(let st):
            var sink: UInt8 = 0
            return crypto_aead_aes256gcm_decrypt_detached_afternm(&sink, nil, f + count, 0, f + count, f, UInt64(count),
                                                                  np, st)
        case .ipsecMB(let m, let kd):
            var expected: (UInt64, UInt64) = (0, 0)
            return withUnsafeMutableBytes(of: &expected) { e in
                let ep = e.baseAddress!.assumingMemoryBound(to: UInt8.self)
                fa_imb_aes256_gmac_tag(m, kd, np, f, UInt64(count), ep)
                return crypto_verify_16(ep, f + count)
            }
        case .chacha(let key):
            var otk: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            return withUnsafeMutableBytes(of: &otk) { o in
                let op = o.baseAddress!.assumingMemoryBound(to: UInt8.self)
                _ = crypto_stream_chacha20_ietf(op, 32, np, key)
                return crypto_onetimeauth_verify(f + count, f, UInt64(count), op)
            }
        }
    }
}

/// Best nanoseconds per message of one engine at one size, and its allocations.
struct EngineResult {
    var rawMAC = Double.infinity, seal = Double.infinity, rawVerify = Double.infinity, open = Double.infinity
    var sealDetached = Double.infinity, openDetached = Double.infinity
    var mallocs: UInt64 = 0, messages = 0
    var mallocsDetached: UInt64 = 0, messagesDetached = 0
    var mallocsPerMessage: Double { Double(mallocs) / Double(max(messages, 1)) }
    var mallocsPerDetachedMessage: Double { Double(mallocsDetached) / Double(max(messagesDetached, 1)) }
}

// Keeps the raw verification results alive (single-threaded benchmark).
nonisolated(unsafe) var verifySink: Int32 = 0

/// One round of every variant of one engine over `frames`, folded into `r`.
/// A fresh sender and receiver per round (made outside the timed loops):
/// they are ~Copyable, and a round needs fresh sequence numbers anyway.
func measureRound(suite: CipherSuite, engine: MACEngine, raw: RawEngine, frames: FrameSet,
                  secret: UnsafeRawBufferPointer, into r: inout EngineResult) {
    let size = frames.size
    let authenticated = DataPathLimits.headerSize + size
    var config = DataPathConfiguration()
    config.maxPayloadBytes = 1 << 30
    config.macEngine = engine
    var sender = try! DataPathSender(trafficSecret: secret, suite: suite, direction: .initiatorToResponder,
                                     remoteQPN: 0x1234, configuration: config, now: 0)
    var receiver = try! DataPathReceiver(trafficSecret: secret, suite: suite, direction: .initiatorToResponder,
                                         localQPN: 0x1234, configuration: config, now: 0)
    precondition(sender.metrics.macEngine == (suite == .aes256GMAC ? engine : .libsodium))
    // Warm up (first-touch, lazy globals) before counting allocations.
    for i in 0..<4 { _ = try! sender.seal(frame: frames.frame(i), payloadLength: size, opcode: .send, now: 0) }
    for i in 0..<4 {
        guard case .delivered = receiver.open(frame: frames.frame(i), now: 0) else {
            fatalError("warm-up frame rejected")
        }
    }
    var nonce: (UInt64, UInt32) = (1, 2)
    withUnsafeBytes(of: &nonce) { n in
        let np = n.baseAddress!.assumingMemoryBound(to: UInt8.self)
        r.rawMAC = min(r.rawMAC, measureOnce(batch: frames.count) { i in
            raw.tag(nonce: np, frames.frame(i).baseAddress!.assumingMemoryBound(to: UInt8.self), authenticated)
        }.nsPerOp)
    }
    // Raw verification under the same conditions as `open` below: every batch
    // follows an untimed pass of seals over all frames.
    withUnsafeBytes(of: &nonce) { n in
        let np = n.baseAddress!.assumingMemoryBound(to: UInt8.self)
        r.rawVerify = min(r.rawVerify, measureOnce(
            batch: frames.count,
            prepare: { _ in
                for j in 0..<frames.count {
                    _ = try! sender.seal(frame: frames.frame(j), payloadLength: size, opcode: .send, now: 0)
                }
            }
        ) { i in
            verifySink &+= raw.verify(nonce: np, frames.frame(i).baseAddress!.assumingMemoryBound(to: UInt8.self),
                                      authenticated)
        }.nsPerOp)
    }

    var m0 = MallocCounter.read()
    let sealRun = measureOnce(batch: frames.count) { i in
        _ = try! sender.seal(frame: frames.frame(i), payloadLength: size, opcode: .send, now: 0)
    }
    r.mallocs += MallocCounter.read() &- m0
    r.messages += sealRun.ops
    r.seal = min(r.seal, sealRun.nsPerOp)

    // open needs fresh sequences: each batch is sealed untimed first (the
    // malloc count covers both).
    var rejected = 0
    m0 = MallocCounter.read()
    let openRun = measureOnce(
        batch: frames.count,
        prepare: { _ in
            for j in 0..<frames.count {
                _ = try! sender.seal(frame: frames.frame(j), payloadLength: size, opcode: .send, now: 0)
            }
        }
    ) { i in
        if case .rejected = receiver.open(frame: frames.frame(i), now: 0) { rejected += 1 }
    }
    r.mallocs += MallocCounter.read() &- m0
    r.messages += 2 * openRun.ops
    r.open = min(r.open, openRun.nsPerOp)

    // Detached layout in the same buffers: header at 0, payload at 40, tag after it.
    @inline(__always) func sealDetached(_ i: Int) {
        let f = frames.frame(i).baseAddress!
        _ = try! sender.sealDetached(payload: UnsafeRawBufferPointer(start: f + 40, count: size), opcode: .rdmaWrite,
            remoteAddress: 0x7f00_0000_0000, rkey: 0x1234, header: f, tag: f + 40 + size, now: 0)
    }
    m0 = MallocCounter.read()
    let sealDetachedRun = measureOnce(batch: frames.count) { i in sealDetached(i) }
    let openDetachedRun = measureOnce(
        batch: frames.count,
        prepare: { _ in for j in 0..<frames.count { sealDetached(j) } }
    ) { i in
        let f = frames.frame(i).baseAddress!
        if case .rejected = receiver.openDetached(header: f, payload: UnsafeRawBufferPointer(start: f + 40, count: size),
                                                  tag: f + 40 + size, now: 0) {
            rejected += 1
        }
    }
    r.mallocsDetached += MallocCounter.read() &- m0
    r.messagesDetached += sealDetachedRun.ops + 2 * openDetachedRun.ops
    r.sealDetached = min(r.sealDetached, sealDetachedRun.nsPerOp)
    r.openDetached = min(r.openDetached, openDetachedRun.nsPerOp)
    precondition(rejected == 0, "benchmark frames rejected")
    precondition(receiver.metrics.messagesOpened == UInt64(openRun.ops + openDetachedRun.ops + 4))
}

/// memcpy and every engine at one size, interleaved round by round.
func measure(suite: CipherSuite, engines: [MACEngine], _ c: SizeCase) -> (memcpy: Double, results: [EngineResult]) {
    let secret = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
    randombytes_buf(secret.baseAddress!, 32)
    let frames = FrameSet(c), dst = FrameSet(c)
    let raws = engines.map { RawEngine(suite: suite, engine: $0) }
    var memcpyBest = Double.infinity
    var results = [EngineResult](repeating: EngineResult(), count: engines.count)
    for _ in 0..<rounds {
        memcpyBest = min(memcpyBest, measureOnce(batch: frames.count) { i in
            memcpy(dst.frame(i).baseAddress! + 40, frames.frame(i).baseAddress! + 40, c.size)
        }.nsPerOp)
        for (k, engine) in engines.enumerated() {
            measureRound(suite: suite, engine: engine, raw: raws[k], frames: frames,
                         secret: UnsafeRawBufferPointer(secret), into: &results[k])
        }
    }
    frames.base.deallocate()
    dst.base.deallocate()
    secret.deallocate()
    return (memcpyBest, results)
}

// MARK: - Output

func fmt(_ x: Double, _ digits: Int = 2) -> String {
    guard x.isFinite else { return "-" }
    let negative = x < 0
    var s = String(Int((abs(x) * pow(10, Double(digits))).rounded()))
    if digits > 0 {
        while s.count <= digits { s = "0" + s }
        s.insert(".", at: s.index(s.endIndex, offsetBy: -digits))
    }
    return negative ? "-" + s : s
}

func gbps(_ size: Int, _ ns: Double) -> Double { Double(size) / ns }
func rate(_ size: Int, _ ns: Double) -> String { size == 0 ? "\(fmt(ns, 1)) ns" : fmt(gbps(size, ns)) }
func cores(_ size: Int, _ slowerNs: Double) -> String {
    let perCoreGbps = gbps(size, slowerNs) * 8
    return [100.0, 200.0, 400.0].map { fmt($0 / perCoreGbps, 1) }.joined(separator: " / ")
}

func jsonRow(suite: CipherSuite, engine: MACEngine, layout: String, c: SizeCase, memcpyNs: Double, raw: Double?,
             seal: Double, open: Double, mallocs: Double) -> String {
    func g(_ ns: Double) -> String { c.size == 0 ? "0" : fmt(gbps(c.size, ns), 3) }
    let rawField = raw.map { "\"raw_mac_gbps\":\(g($0)),\"raw_mac_ns\":\(fmt($0, 1))," } ?? ""
    return "{\"suite\":\"\(suite)\",\"engine\":\"\(engine)\",\"layout\":\"\(layout)\",\"bytes\":\(c.size),"
        + "\"working_set_bytes\":\(c.frameCount * c.stride),\"case\":\"\(c.name)\","
        + "\"memcpy_gbps\":\(g(memcpyNs)),\(rawField)\"seal_gbps\":\(g(seal)),\"open_gbps\":\(g(open)),"
        + "\"seal_ns\":\(fmt(seal, 1)),\"open_ns\":\(fmt(open, 1)),\"mallocs_per_message\":\(fmt(mallocs, 3))}"
}

let cases: [SizeCase] = [
    SizeCase(size: 0, workingSet: 64 << 20, name: "0 B (header only)"),
    SizeCase(size: 64, workingSet: 64 << 20, name: "64 B"),
    SizeCase(size: 4 << 10, workingSet: 64 << 20, name: "4 KiB"),
    SizeCase(size: 64 << 10, workingSet: 512 << 10, name: "64 KiB (cache)"),
    SizeCase(size: 64 << 10, workingSet: 64 << 20, name: "64 KiB (DRAM)"),
    SizeCase(size: 1 << 20, workingSet: 64 << 20, name: "1 MiB"),
    SizeCase(size: 16 << 20, workingSet: 64 << 20, name: "16 MiB"),
]

func printTables(suite: CipherSuite, engines: [MACEngine], _ table: [(SizeCase, Double, [EngineResult])],
                 counterWorks: Bool) {
    let names = engines.map(\.description)
    print("\n## \(suite)\n")
    print("Seal / open GB/s per engine (0 B: ns per message), the speed-up of the last engine over the first, cores per direction for 100 / 200 / 400 Gb/s (the slower of seal and open sets it), mallocs per message (all engines, both layouts):\n")
    var head = "| size | memcpy GB/s | " + names.map { "\($0) seal / open" }.joined(separator: " | ")
    if engines.count > 1 { head += " | \(names.last!) / \(names[0]) (seal / open)" }
    head += " | " + names.map { "cores \($0)" }.joined(separator: " | ") + " | mallocs/msg |"
    print(head)
    print("|" + String(repeating: "---:|", count: 3 + engines.count * 2 + (engines.count > 1 ? 1 : 0)))
    for (c, memcpyNs, rs) in table {
        var line = "| \(c.name) | \(c.size == 0 ? "-" : fmt(gbps(c.size, memcpyNs))) | "
        line += rs.map { "\(rate(c.size, $0.seal)) / \(rate(c.size, $0.open))" }.joined(separator: " | ")
        if rs.count > 1 {
            line += " | \(fmt(rs[0].seal / rs.last!.seal))x / \(fmt(rs[0].open / rs.last!.open))x"
        }
        line += " | " + rs.map { c.size == 0 ? "-" : cores(c.size, max($0.seal, $0.open)) }.joined(separator: " | ")
        let mallocs = rs.map { max($0.mallocsPerMessage, $0.mallocsPerDetachedMessage) }.max() ?? 0
        line += " | \(counterWorks ? fmt(mallocs, 3) : "not measured") |"
        print(line)
    }
    for (k, name) in names.enumerated() {
        print("\n### \(suite) on \(name): the data path against the raw library call\n")
        print("| size | raw MAC | seal | raw verify | open | seal / open overhead | seal / open ns per msg above raw | WRITE layout seal / open |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        var worst = -Double.infinity, fixed = 0.0
        for (c, _, rs) in table {
            let r = rs[k]
            let sealOver = (r.seal / r.rawMAC - 1) * 100, openOver = (r.open / r.rawVerify - 1) * 100
            if c.size >= 4 << 10 { worst = max(worst, sealOver, openOver) }
            if c.size == 0 { fixed = max(r.seal - r.rawMAC, r.open - r.rawVerify) }
            let nsAbove = c.size <= 4 << 10 ? "\(fmt(r.seal - r.rawMAC, 1)) / \(fmt(r.open - r.rawVerify, 1))" : "(see %)"
            print("| \(c.name) | \(rate(c.size, r.rawMAC)) | \(rate(c.size, r.seal)) | \(rate(c.size, r.rawVerify)) | \(rate(c.size, r.open)) | \(c.size == 0 ? "-" : "\(fmt(sealOver, 1)) % / \(fmt(openOver, 1)) %") | \(nsAbove) | \(rate(c.size, r.sealDetached)) / \(rate(c.size, r.openDetached)) |")
        }
        print("\nGoals (\(name)): per-message cost above the raw call (0 B): \(fmt(fixed, 1)) ns (goal < 100 ns: \(fixed < 100 ? "met" : "MISSED")); worst overhead from 4 KiB up: \(fmt(worst, 1)) % (goal < 5 %: \(worst < 5 ? "met" : "MISSED")).")
    }
    if engines.count > 1, let cache = table.first(where: { $0.0.name == "64 KiB (cache)" }),
        let small = table.first(where: { $0.0.size == 64 }) {
        let fast = cache.2.last!, base = cache.2[0]
        let slowGbps = gbps(cache.0.size, max(fast.seal, fast.open))
        let ratio = min(base.seal / fast.seal, base.open / fast.open)
        let smallRatio = min(small.2[0].seal / small.2.last!.seal, small.2[0].open / small.2.last!.open)
        print("\nGoals (\(names.last!) against \(names[0])): 64 KiB from cache \(fmt(slowGbps)) GB/s (goal >= 18: \(slowGbps >= 18 ? "met" : "MISSED")), \(fmt(ratio))x (goal >= 3.5x: \(ratio >= 3.5 ? "met" : "MISSED")); 64 B \(fmt(smallRatio))x (goal >= 1.5x: \(smallRatio >= 1.5 ? "met" : "MISSED")).")
    }
}

// MARK: - Scaling over threads (independent channels)

/// One thread's share of the scaling run: its own sender, receiver and
/// frames (a channel), sealing and opening `messages` frames after a barrier.
final class ChannelThread: @unchecked Sendable {  // handed to one pthread, read by main after join
    let suite: CipherSuite, engine: MACEngine, size: Int, messages: Int
    let barrier: UnsafeMutablePointer<pthread_barrier_t>
    var rejected = 0

    init(suite: CipherSuite, engine: MACEngine, size: Int, messages: Int,
         barrier: UnsafeMutablePointer<pthread_barrier_t>) {
        self.suite = suite; self.engine = engine; self.size = size; self.messages = messages; self.barrier = barrier
    }

    func run() {
        let frames = FrameSet(SizeCase(size: size, workingSet: 8 * (size + 64), name: ""))
        let secret = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        randombytes_buf(secret.baseAddress!, 32)
        var config = DataPathConfiguration()
        config.macEngine = engine
        var sender = try! DataPathSender(trafficSecret: UnsafeRawBufferPointer(secret), suite: suite,
                                         direction: .initiatorToResponder, remoteQPN: 9, configuration: config, now: 0)
        var receiver = try! DataPathReceiver(trafficSecret: UnsafeRawBufferPointer(secret), suite: suite,
                                             direction: .initiatorToResponder, localQPN: 9, configuration: config,
                                             now: 0)
        pthread_barrier_wait(barrier)
        for i in 0..<messages {
            _ = try! sender.seal(frame: frames.frame(i), payloadLength: size, opcode: .send, now: 0)
            if case .rejected = receiver.open(frame: frames.frame(i), now: 0) { rejected += 1 }
        }
        frames.base.deallocate()
        secret.deallocate()
    }
}

func wallNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// GB/s of payload sealed and opened by `threads` channels at once, one
/// thread each (wall clock, best of 5): what a process gets by spreading
/// channels over cores.
func scaling(suite: CipherSuite, engine: MACEngine, threads: Int, size: Int) -> Double {
    let messages = max(64, (1 << 30) / size)  // 1 GiB per thread: well over 40 ms
    var best = 0.0
    for _ in 0..<5 {
        let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
        pthread_barrier_init(barrier, nil, UInt32(threads + 1))
        let jobs = (0..<threads).map { _ in
            ChannelThread(suite: suite, engine: engine, size: size, messages: messages, barrier: barrier)
        }
        var ids: [pthread_t] = []
        for job in jobs {
            var id = pthread_t()
            let rc = pthread_create(&id, nil, { arg in
                Unmanaged<ChannelThread>.fromOpaque(arg!).takeUnretainedValue().run()
                return nil
            }, Unmanaged.passUnretained(job).toOpaque())
            precondition(rc == 0, "pthread_create failed")
            ids.append(id)
        }
        pthread_barrier_wait(barrier)
        let t0 = wallNanoseconds()
        for id in ids { pthread_join(id, nil) }
        let elapsed = Double(wallNanoseconds() - t0)
        precondition(jobs.allSatisfy { $0.rejected == 0 }, "scaling frames rejected")
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
        best = max(best, Double(threads * messages * size) / elapsed)
    }
    return best
}

// MARK: - Run

let counterWorks = MallocCounter.selfCheck()
if !json {
    print("# DataPathBenchmark (one core; GB/s = payload 10^9 bytes/s; malloc count: \(MallocCounter.method), self-check \(counterWorks ? "passed" : "FAILED"))")
    print("# MAC engine selected by this process: \(MACEngine.selected) (\(MACEngine.selectionReason))")
}
for suite in CipherSuite.known where suite.isAvailable {
    let engines = suite == .aes256GMAC ? MACEngine.allCases.filter(\.isAvailable) : [.libsodium]
    var table: [(SizeCase, Double, [EngineResult])] = []
    for c in cases where onlyBytes == nil || onlyBytes == c.size {
        let (memcpyNs, results) = measure(suite: suite, engines: engines, c)
        table.append((c, memcpyNs, results))
        guard json else { continue }
        for (k, e) in engines.enumerated() {
            let r = results[k]
            print(jsonRow(suite: suite, engine: e, layout: "contiguous", c: c, memcpyNs: memcpyNs, raw: r.rawMAC,
                          seal: r.seal, open: r.open, mallocs: r.mallocsPerMessage))
            print(jsonRow(suite: suite, engine: e, layout: "detached", c: c, memcpyNs: memcpyNs, raw: nil,
                          seal: r.sealDetached, open: r.openDetached, mallocs: r.mallocsPerDetachedMessage))
        }
    }
    if json { continue }
    printTables(suite: suite, engines: engines, table, counterWorks: counterWorks)
}

// Independent channels on two threads against one (64 KiB frames from cache,
// seal then open on each thread). Needs two otherwise idle cores to mean much.
let scalingSize = 64 << 10
if onlyBytes == nil || onlyBytes == scalingSize, CipherSuite.aes256GMAC.isAvailable {
    if !json {
        print("\n## Scaling: independent channels, one thread each (AES-256-GMAC, 64 KiB from cache, seal + open, wall clock, best of 5)\n")
        print("| engine | 1 thread GB/s | 2 threads GB/s | 2 threads / 1 thread |")
        print("|---|---:|---:|---:|")
    }
    for engine in MACEngine.allCases where engine.isAvailable {
        let one = scaling(suite: .aes256GMAC, engine: engine, threads: 1, size: scalingSize)
        let two = scaling(suite: .aes256GMAC, engine: engine, threads: 2, size: scalingSize)
        if json {
            for (threads, g) in [(1, one), (2, two)] {
                print("{\"suite\":\"\(CipherSuite.aes256GMAC)\",\"engine\":\"\(engine)\",\"layout\":\"contiguous\",\"bytes\":\(scalingSize),\"threads\":\(threads),\"seal_open_gbps\":\(fmt(g, 3)),\"scaling\":\(fmt(g / one, 3))}")
            }
        } else {
            print("| \(engine) | \(fmt(one)) | \(fmt(two)) | \(fmt(two / one))x (goal >= 1.8x: \(two / one >= 1.8 ? "met" : "MISSED")) |")
        }
    }
}
