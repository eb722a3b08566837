// VerbsBenchmark: shows that the Verbs data path allocates nothing per work
// request, and gives a rough post+poll rate. Needs an RDMA device (run it
// inside Hardware/softroce); rxe numbers measure the emulation, not a NIC.
//
//   swift build -c release --package-path Benchmarks --product VerbsBenchmark
//   Hardware/softroce -- Benchmarks/.build/release/VerbsBenchmark [iterations]
//   Hardware/softroce -- Benchmarks/.build/release/VerbsBenchmark cycles 10000   # leak check, e.g. under valgrind
//
// Allocations are counted by BenchmarkSupport's MallocCounter (an LD_PRELOAD
// interposer the benchmark re-executes itself under), the same counter as the
// other benchmarks': every allocation in the process -- Swift runtime,
// Foundation-free Verbs, libibverbs, the rxe provider -- is counted.
#if canImport(Glibc)
import Glibc
#endif
import BenchmarkSupport
import Verbs

MallocCounter.setUp()

let arguments = CommandLine.arguments.dropFirst()
let deviceName = getenv("FABRICAUTH_DEVICE").map { String(cString: $0) }
let gidIndex = getenv("FABRICAUTH_GID_INDEX").flatMap { Int(String(cString: $0)) }

func configuration() -> QueuePairConfiguration {
    var c = QueuePairConfiguration()
    c.gidIndex = gidIndex
    c.maxSendRequests = 256
    c.maxReceiveRequests = 256
    return c
}

/// Two RC QPs on one device, connected to each other.
func loopback(_ context: Context, _ pd: ProtectionDomain, _ cqA: CompletionQueue, _ cqB: CompletionQueue) throws -> (QueuePair, QueuePair) {
    let pa = try pd.makeQueuePair(completionQueue: cqA, configuration: configuration())
    let pb = try pd.makeQueuePair(completionQueue: cqB, configuration: configuration())
    let ea = pa.endpoint
    let a = try pa.connect(to: pb.endpoint)
    let b = try pb.connect(to: ea)
    return (a, b)
}

struct Row {
    var name: String
    var requests: Int
    var allocations: Int
    var seconds: Double
}

func measure(_ name: String, requests: Int, _ body: () throws -> Void) rethrows -> Row {
    let clock = ContinuousClock()
    let before = Int(MallocCounter.read())
    let start = clock.now
    try body()
    let elapsed = clock.now - start
    let allocations = Int(MallocCounter.read()) - before
    let (s, atto) = elapsed.components
    return Row(name: name, requests: requests, allocations: allocations, seconds: Double(s) + Double(atto) / 1e18)
}

func dataPath(iterations: Int) throws {
    let context = try Context(deviceName: deviceName)
    let pd = try context.makeProtectionDomain()
    let cqA = try CompletionQueue(context: context, capacity: 1024)
    let cqB = try CompletionQueue(context: context, capacity: 1024)
    let (a, b) = try loopback(context, pd, cqA, cqB)
    let local = try pd.allocateRegion(bytes: 64 * 1024)
    let remote = try pd.allocateRegion(bytes: 64 * 1024, access: .remoteReadWrite)
    let completions = UnsafeMutableBufferPointer<WorkCompletion>.allocate(capacity: 64)
    completions.initialize(repeating: WorkCompletion())
    defer { completions.deallocate() }
    let target = remote.remote()
    let element = local.element(0..<64)
    var rows: [Row] = []
    rows.reserveCapacity(8)

    // Warm-up: first use of each path may allocate (lazy metadata, provider state).
    for i in 0..<64 {
        try a.post(SendRequest(id: UInt64(i), operation: .write(target), element: element))
        _ = try cqA.poll(count: 1)
    }

    // 1. RDMA WRITE, every 16th signaled, busy-polled in batches.
    rows.append(try measure("write 64B, 1/16 signaled, batch poll", requests: iterations) {
        var outstanding = 0
        for i in 0..<iterations {
            let signaled = i % 16 == 15
            try a.post(SendRequest(id: UInt64(i), operation: .write(target), element: element, flags: signaled ? .signaled : []))
            if signaled { outstanding += 1 }
            while outstanding >= 8 {
                let n = try cqA.poll(into: completions)
                for k in 0..<n { try completions[k].check() }
                outstanding -= n
            }
        }
        while outstanding > 0 {
            let n = try cqA.poll(into: completions)
            outstanding -= n
        }
    })

    // 2. Chains of 8 writes in one post call (one doorbell), last one signaled.
    let chain = UnsafeMutableBufferPointer<SendRequest>.allocate(capacity: 8)
    defer { chain.deallocate() }
    for k in 0..<8 {
        chain.initializeElement(at: k, to: SendRequest(id: UInt64(k), operation: .write(target.slice(offset: k * 64, length: 64)),
            element: local.element((k * 64)..<(k * 64 + 64)), flags: k == 7 ? .signaled : []))
    }
    rows.append(try measure("write chain of 8, 1 signaled", requests: iterations) {
        for _ in 0..<(iterations / 8) {
            try a.post(chain: UnsafeBufferPointer(chain))
            while try cqA.poll(into: completions) == 0 {}
        }
    })

    // 3. SEND/RECV ping: post a receive on B, SEND from A, poll both sides.
    let recvElement = remote.element(0..<4096)
    let sendIterations = iterations / 4
    rows.append(try measure("send 64B + recv, poll both", requests: sendIterations * 2) {
        for i in 0..<sendIterations {
            try b.post(ReceiveRequest(id: UInt64(i), element: recvElement))
            try a.post(SendRequest(id: UInt64(i), operation: .send, element: element))
            var got = 0
            while got < 2 {
                got += try cqA.poll(into: completions)
                got += try cqB.poll(into: completions)
            }
        }
    })

    let control = controlAllocations()
    print("device \(context.deviceName); \(iterations) iterations; allocations counted by interposed malloc")
    print("control: 100 object allocations counted as \(control)")
    if control < 100 { print("FAIL: the malloc counter is not counting (\(MallocCounter.method))"); exit(1) }
    print("case".padding(40) + "requests".padding(10) + "allocs".padding(8) + "allocs/WR".padding(11) + "WR/s")
    for r in rows {
        let perWR = Double(r.allocations) / Double(max(1, r.requests))
        print(r.name.padding(40) + "\(r.requests)".padding(10) + "\(r.allocations)".padding(8)
            + String(perWR).prefix(8).description.padding(11) + "\(Int(Double(r.requests) / r.seconds))")
    }
    let total = rows.reduce(0) { $0 + $1.allocations }
    print(total == 0 ? "OK: no heap allocation on the data path" : "FAIL: \(total) heap allocations on the data path")
    if total != 0 { exit(1) }
}

/// Full QP set-up and teardown, `count` times (for valgrind / fd checks):
/// PD, channel, two CQs, an MR, two RC QPs connected to each other, one
/// signaled WRITE waited for through the channel, then everything dropped.
func cycles(_ count: Int) throws {
    let context = try Context(deviceName: deviceName)
    func one() throws {
        let pd = try context.makeProtectionDomain()
        let channel = try CompletionChannel(context: context)
        let cqA = try CompletionQueue(context: context, capacity: 16, channel: channel)
        let cqB = try CompletionQueue(context: context, capacity: 16)
        let mr = try pd.allocateRegion(bytes: 4096, access: .remoteReadWrite)
        let (a, b) = try loopback(context, pd, cqA, cqB)
        try withExtendedLifetime(b) {
            try a.post(SendRequest(id: 1, operation: .write(mr.remote(0..<64)), element: mr.element(64..<128)))
            var wc = [WorkCompletion](repeating: WorkCompletion(), count: 1)
            let n = try wc.withUnsafeMutableBufferPointer { try cqA.wait(into: $0, timeout: .seconds(5)) }
            guard n == 1 else { throw VerbsError(.timedOut, function: "cycles", reason: "no completion") }
            try wc[0].check()
        }
    }
    try one()
    let fds0 = openFileDescriptors(), data0 = vmDataKiB(), allocs0 = Int(MallocCounter.read())
    for i in 0..<count {
        try one()
        if (i + 1) % 1000 == 0 { print("cycle \(i + 1): fds \(openFileDescriptors()), VmData \(vmDataKiB()) KiB") }
    }
    let fds1 = openFileDescriptors(), data1 = vmDataKiB()
    print("\(count) create/destroy cycles: fds \(fds0) -> \(fds1), VmData \(data0) -> \(data1) KiB, "
        + "\((Int(MallocCounter.read()) - allocs0) / max(1, count)) allocations per cycle (all freed if VmData stays flat)")
    if fds1 != fds0 || data1 - data0 > 1024 { print("FAIL: resources grew"); exit(1) }
}

func openFileDescriptors() -> Int {
    guard let d = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(d) }
    var n = 0
    while readdir(d) != nil { n += 1 }
    return n - 2
}

func vmDataKiB() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return -1 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("VmData:") { return Int(s.split(separator: " ").dropFirst().first ?? "") ?? -1 }
    }
    return -1
}

/// Escapes the control allocations so the optimizer cannot stack-promote them.
nonisolated(unsafe) var controlSink: [AnyObject] = []

final class ControlBox {
    var value: Int
    init(_ v: Int) { value = v }
}

/// Proves the counter is wired (the interposer loaded): 100 escaping class
/// instances must count as at least 100.
func controlAllocations() -> Int {
    controlSink.reserveCapacity(100)
    let before = Int(MallocCounter.read())
    for i in 0..<100 { controlSink.append(ControlBox(i)) }
    let counted = Int(MallocCounter.read()) - before
    controlSink.removeAll()
    return counted
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}

do {
    if arguments.first == "cycles" {
        try cycles(arguments.dropFirst().first.flatMap(Int.init) ?? 10_000)
    } else {
        try dataPath(iterations: arguments.first.flatMap(Int.init) ?? 20_000)
    }
} catch {
    print("VerbsBenchmark: \(error)")
    exit(2)
}
