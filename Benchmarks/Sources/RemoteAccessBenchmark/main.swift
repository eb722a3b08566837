// RemoteAccessBenchmark: authenticated RDMA WRITE and READ on one device,
// with heap allocations counted per transfer.
//
//   swift build -c release --package-path Benchmarks --scratch-path .build-bench --product RemoteAccessBenchmark
//   Hardware/softroce -- .build-bench/release/RemoteAccessBenchmark [TRANSFERS]
//
// Two channels in one process (a listener and a connector, one full
// handshake), then for each size: TRANSFERS WRITEs (irecv + isend + test,
// four in flight) and TRANSFERS READs (offerForRead + iread + test), one
// thread driving both ends. Every transfer binds a window, MACs the payload on
// both sides and invalidates the window. The malloc count covers the whole
// process during the measured loop (after a warm-up that fills the tables).
// Under the test bed everything is emulated: the MB/s say little, the
// allocation counts are exact. Plain-vs-authenticated ratios come from
// `fabricauth bench write_bw --auth both` (docs/performance.md).
import BenchmarkSupport
import Dispatch
import FabricAuth
import Foundation
import Identity
import Verbs

MallocCounter.setUp()
let transfers = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200 : 200
let environment = ProcessInfo.processInfo.environment
let context = try Context(deviceName: environment["FABRICAUTH_DEVICE"])

let domain = "bench.fabricauth.test"
let authority = try CertificateAuthority.create(trustDomain: domain).authority
let verifier = IdentityVerifier(bundles: [try TrustBundle(trustDomain: domain, anchors: [authority.certificate])])

func configuration(_ id: String) throws -> ChannelConfiguration {
    let issued = try authority.issue(id: try SPIFFEID("spiffe://\(domain)/\(id)"), ttl: 3600)
    var c = ChannelConfiguration(credential: try Credential(chain: issued.chain, privateKey: issued.privateKey),
        verifier: verifier, policy: try Policy(text: "allow domain \(domain)"))
    c.gidIndex = environment["FABRICAUTH_GID_INDEX"].flatMap(Int.init)
    c.maxMessageSize = 1024
    c.sendDepth = 16
    // inFlight (4) transfers at a time; 7 requests keep 16 receive slots enough.
    c.remoteAccessDepth = 7
    c.receiveDepth = c.minimumReceiveDepth
    c.setupTimeout = .seconds(30)
    return c
}

final class Box: @unchecked Sendable { var channel: AuthenticatedQueuePair?; var listener: AuthenticatedListener? }
let box = Box()
box.listener = try AuthenticatedListener(context: context, configuration: try configuration("rank0"), address: "127.0.0.1")
let accepted = DispatchSemaphore(value: 0)
Thread.detachNewThread {
    box.channel = try? box.listener!.accept(timeout: .seconds(60))
    accepted.signal()
}
let left = try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: box.listener!.port,
    configuration: try configuration("rank1"))
accepted.wait()
guard let right = box.channel else { fatalError("accept failed") }

let maxSize = 1 << 20
let source = try left.allocateMemory(bytes: maxSize)
let target = try right.allocateMemory(bytes: 4 * maxSize)
let owned = try right.allocateMemory(bytes: maxSize)
let fetched = try left.allocateMemory(bytes: 4 * maxSize)
randombytesLike(source.bytes)
randombytesLike(owned.bytes)

func randombytesLike(_ b: UnsafeMutableRawBufferPointer) {
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in 0..<b.count {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        b[i] = UInt8(truncatingIfNeeded: x)
    }
}

let inFlight = 4
/// Request slots, preallocated so the loop itself allocates nothing.
var sends = [ChannelRequest?](repeating: nil, count: inFlight)
var receives = [ChannelRequest?](repeating: nil, count: inFlight)

/// `n` WRITEs of `size` bytes, `inFlight` at a time; returns seconds.
@MainActor func writes(_ n: Int, size: Int) throws -> Double {
    var started = 0, finished = 0
    let t0 = DispatchTime.now().uptimeNanoseconds
    while finished < n {
        for k in 0..<inFlight {
            if receives[k] == nil, sends[k] == nil, started < n {
                receives[k] = try right.irecv(target, range: (k * maxSize)..<(k * maxSize + size), tag: UInt32(k))
                started += 1
            }
            if sends[k] == nil, receives[k] != nil {
                sends[k] = try left.isend(source, range: 0..<size, tag: UInt32(k))
            }
            if let s = sends[k], try left.test(s) != nil { sends[k] = nil }
            if let r = receives[k], sends[k] == nil, let got = try right.test(r) {
                precondition(got == size)
                receives[k] = nil
                finished += 1
            }
        }
    }
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

/// `n` READs of `size` bytes, `inFlight` at a time; returns seconds.
@MainActor func reads(_ n: Int, size: Int) throws -> Double {
    var started = 0, finished = 0
    let t0 = DispatchTime.now().uptimeNanoseconds
    while finished < n {
        for k in 0..<inFlight {
            if sends[k] == nil, receives[k] == nil, started < n {
                sends[k] = try right.offerForRead(owned, range: 0..<size, tag: UInt32(k))
                started += 1
            }
            if receives[k] == nil, sends[k] != nil {
                receives[k] = try left.iread(into: fetched, range: (k * maxSize)..<(k * maxSize + size), tag: UInt32(k))
            }
            if let r = receives[k], let got = try left.test(r) { precondition(got == size); receives[k] = nil }
            if let o = sends[k], receives[k] == nil, try right.test(o) != nil { sends[k] = nil; finished += 1 }
        }
    }
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

let counterWorks = MallocCounter.selfCheck()
print("# RemoteAccessBenchmark on \(context.deviceName): \(transfers) transfers per row, \(inFlight) in flight, \(left.suite)")
print("# malloc count: \(MallocCounter.method), self-check \(counterWorks ? "passed" : "FAILED")")
print("| operation | bytes | transfers | MB/s | transfers/s | mallocs per transfer |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for size in [64, 4096, 65_536, maxSize] {
    for (name, run) in [("WRITE", writes), ("READ", reads)] {
        _ = try run(2 * inFlight, size)  // warm-up: every table slot and window used once
        let m0 = MallocCounter.read()
        let seconds = try run(transfers, size)
        let mallocs = MallocCounter.read() &- m0
        print("| \(name) | \(size) | \(transfers) | " + String(format: "%.1f | %.0f | %.2f |",
            Double(size * transfers) / seconds / 1e6, Double(transfers) / seconds, Double(mallocs) / Double(transfers)))
    }
}
print("# receiver: \(right.remoteAccessMetrics); failures \(right.receiveMetrics.failures)")
