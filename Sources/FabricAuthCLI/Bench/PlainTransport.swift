import Foundation
import Verbs

/// What each side tells the other about one plain QP (PLAIN line): its
/// endpoint (QPN, PSN, GID, MTU) and its target buffer, hex-encoded with
/// Verbs' own encodings. Over rdma_cm only the buffer travels.
struct PlainSetup: Codable {
    var endpoint: String?
    var memory: String
}

/// Raw verbs, perftest's way: one PD, one CQ polled with `ibv_poll_cq`, one
/// source and one target buffer of the largest size with remote read and
/// write access, `queuePairs` RC QPs driven round-robin from one thread.
/// Every request is signaled, so each message has its own completion time.
/// The loops allocate nothing: requests are values with inline storage
/// posted into the QP's preallocated work requests, completions land in a
/// buffer made here, timestamps in `BenchSamples` made before the loop.
final class PlainTransport: BenchTransport {
    let mode = BenchMode.plain
    private let queuePairs: [QueuePair]
    private let connections: [RDMAConnection]  // rdma_cm ids, kept alive with their QPs
    private let completionQueue: CompletionQueue
    private let source: MemoryRegion
    private let target: MemoryRegion
    private let remote: RemoteMemory
    private let maxSize: Int
    private let completions: UnsafeMutableBufferPointer<WorkCompletion>
    /// Work requests in flight per QP (send queue).
    private let inFlight: UnsafeMutableBufferPointer<Int>
    /// Receive work request ids carry this bit (send ids are message numbers).
    private static let receiveTag: UInt64 = 1 << 63

    private init(queuePairs: [QueuePair], connections: [RDMAConnection], completionQueue: CompletionQueue,
                 source: MemoryRegion, target: MemoryRegion, remote: RemoteMemory, maxSize: Int) {
        self.queuePairs = queuePairs
        self.connections = connections
        self.completionQueue = completionQueue
        self.source = source
        self.target = target
        self.remote = remote
        self.maxSize = maxSize
        completions = .allocate(capacity: 64)
        completions.initialize(repeating: WorkCompletion())
        inFlight = .allocate(capacity: queuePairs.count)
        inFlight.initialize(repeating: 0)
    }

    deinit {
        completions.deallocate()
        inFlight.deallocate()
    }

    func close() {
        for qp in queuePairs { try? qp.moveToError() }
    }

    // MARK: Setup

    struct Settings {
        var parameters: BenchParameters
        var ibPort: UInt8
        var gidIndex: Int?
        var isClient: Bool
        var host: String?
    }

    private static func queuePairConfiguration(_ s: Settings) -> QueuePairConfiguration {
        var c = QueuePairConfiguration(transport: .reliableConnection)
        c.port = s.ibPort
        c.gidIndex = s.gidIndex
        c.maxSendRequests = max(s.parameters.txDepth, 2) + 2
        c.maxReceiveRequests = s.parameters.rxDepth + 2
        c.accessFlags = .remoteReadWrite
        return c
    }

    private static func connectionParameters(_ s: Settings) -> ConnectionParameters {
        var p = ConnectionParameters()
        if let mtu = s.parameters.mtu { p.pathMTU = Mtu(bytes: mtu) }
        return p
    }

    /// perftest posts rx-depth receives per QP for SEND tests (none for
    /// WRITE/READ); each takes any size up to the largest.
    private static func receives(_ s: Settings, queuePair index: Int, target: MemoryRegion) -> [ReceiveRequest] {
        guard s.parameters.test.verb == .send else { return [] }
        let request = ReceiveRequest(id: receiveTag | UInt64(index), element: target.element(0..<target.length))
        return Array(repeating: request, count: s.parameters.rxDepth)
    }

    private static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    private static func unhex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = text.startIndex
        while i < text.endIndex, let j = text.index(i, offsetBy: 2, limitedBy: text.endIndex) {
            guard let b = UInt8(text[i..<j], radix: 16) else { return [] }
            out.append(b)
            i = j
        }
        return out
    }

    private static func sendSetup(_ setup: PlainSetup, on control: BenchControl) throws {
        control.tell("PLAIN " + String(decoding: try JSONEncoder().encode(setup), as: UTF8.self))
    }

    private static func receiveSetup(on control: BenchControl, stop: BenchStop) throws -> PlainSetup {
        let text = try control.expect("PLAIN", timeout: .seconds(30), stop: stop)
        return try JSONDecoder().decode(PlainSetup.self, from: Data(text.utf8))
    }

    private static func remoteMemory(_ setup: PlainSetup) throws(BenchError) -> RemoteMemory {
        guard let m = RemoteMemory(encoded: unhex(setup.memory)) else { throw .protocolError("malformed remote buffer from the peer") }
        return m
    }

    /// QPs connected through the TCP control connection (perftest without -R):
    /// one PLAIN line each way per QP, then READY both ways, so neither side
    /// sends before the other's QP is in RTR.
    static func connect(context: Context, settings s: Settings, control: BenchControl, stop: BenchStop) throws -> PlainTransport {
        let size = s.parameters.maxSize
        let n = s.parameters.queuePairs
        let pd = try context.makeProtectionDomain()
        let cq = try CompletionQueue(context: context, capacity: n * (s.parameters.txDepth + s.parameters.rxDepth + 4))
        let source = try pd.allocateRegion(bytes: size, access: .remoteReadWrite)
        let target = try pd.allocateRegion(bytes: size, access: .remoteReadWrite)
        target.bytes.initializeMemory(as: UInt8.self, repeating: 0)
        let configuration = queuePairConfiguration(s)
        var qps: [QueuePair] = []
        var remote: RemoteMemory?
        for index in 0..<n {
            let prepared = try pd.makeQueuePair(completionQueue: cq, configuration: configuration)
            let mine = PlainSetup(endpoint: hex(prepared.endpoint.encoded), memory: hex(target.remote().encoded))
            let theirs: PlainSetup
            if s.isClient {
                theirs = try receiveSetup(on: control, stop: stop)
                try sendSetup(mine, on: control)
            } else {
                try sendSetup(mine, on: control)
                theirs = try receiveSetup(on: control, stop: stop)
            }
            guard let hexEndpoint = theirs.endpoint, let endpoint = QueuePairEndpoint(encoded: unhex(hexEndpoint)) else {
                throw BenchError.protocolError("malformed QP endpoint from the peer")
            }
            remote = try remoteMemory(theirs)
            qps.append(try prepared.connect(to: endpoint, parameters: connectionParameters(s),
                receives: receives(s, queuePair: index, target: target)))
        }
        try barrier(control, stop: stop)
        return PlainTransport(queuePairs: qps, connections: [], completionQueue: cq, source: source, target: target,
            remote: remote!, maxSize: size)
    }

    /// QPs connected with rdma_cm (-R): the server listens on a port it names
    /// in a CMPORT line; buffers travel over the control connection after.
    /// The device is the one rdma_cm resolves for the address (-d is not used).
    static func connectCM(settings s: Settings, control: BenchControl, stop: BenchStop) throws -> PlainTransport {
        let size = s.parameters.maxSize
        let n = s.parameters.queuePairs
        let configuration = queuePairConfiguration(s)
        var connections: [RDMAConnection] = []
        var resources: (ProtectionDomain, CompletionQueue, MemoryRegion, MemoryRegion)?
        func makeResources(_ context: Context) throws -> (ProtectionDomain, CompletionQueue, MemoryRegion, MemoryRegion) {
            if let resources { return resources }
            let pd = try context.makeProtectionDomain()
            let cq = try CompletionQueue(context: context, capacity: n * (s.parameters.txDepth + s.parameters.rxDepth + 4))
            let source = try pd.allocateRegion(bytes: size, access: .remoteReadWrite)
            let target = try pd.allocateRegion(bytes: size, access: .remoteReadWrite)
            target.bytes.initializeMemory(as: UInt8.self, repeating: 0)
            resources = (pd, cq, source, target)
            return resources!
        }
        if s.isClient {
            let port = try control.expect("CMPORT", timeout: .seconds(30), stop: stop)
            guard let cmPort = UInt16(port) else { throw BenchError.protocolError("bad CMPORT \(port)") }
            for index in 0..<n {
                let outgoing = try OutgoingConnection(host: s.host!, port: cmPort, timeout: .seconds(5))
                let (pd, cq, _, target) = try makeResources(outgoing.context)
                connections.append(try outgoing.connect(pd: pd, sendCompletionQueue: cq, receiveCompletionQueue: cq,
                    configuration: configuration, receives: receives(s, queuePair: index, target: target)))
            }
        } else {
            let listener = try ConnectionListener(address: "0.0.0.0", port: 0)
            control.tell("CMPORT \(listener.port)")
            for index in 0..<n {
                let request = try listener.nextRequest(timeout: .seconds(30))
                let (pd, cq, _, target) = try makeResources(request.context)
                connections.append(try request.accept(pd: pd, sendCompletionQueue: cq, receiveCompletionQueue: cq,
                    configuration: configuration, receives: receives(s, queuePair: index, target: target)))
            }
        }
        for c in connections { try c.waitEstablished(timeout: .seconds(20)) }
        let (_, cq, source, target) = resources!
        let mine = PlainSetup(endpoint: nil, memory: hex(target.remote().encoded))
        let theirs: PlainSetup
        if s.isClient {
            theirs = try receiveSetup(on: control, stop: stop)
            try sendSetup(mine, on: control)
        } else {
            try sendSetup(mine, on: control)
            theirs = try receiveSetup(on: control, stop: stop)
        }
        let remote = try remoteMemory(theirs)
        try barrier(control, stop: stop)
        return PlainTransport(queuePairs: connections.map(\.queuePair), connections: connections, completionQueue: cq,
            source: source, target: target, remote: remote, maxSize: size)
    }

    static func barrier(_ control: BenchControl, stop: BenchStop) throws {
        control.tell("READY")
        _ = try control.expect("READY", timeout: .seconds(60), stop: stop)
    }

    // MARK: Runs

    func runClient(_ run: BenchRun, guard g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        switch run.test {
        case .sendBandwidth, .writeBandwidth, .readBandwidth: try bandwidthClient(run, g)
        case .sendLatency: try sendLatencyClient(run, g)
        case .writeLatency: try writeLatencyClient(run, g)
        case .readLatency: try readLatencyClient(run, g)
        }
    }

    func runServer(_ run: BenchRun, guard g: BenchGuard) throws -> Int {
        switch run.test {
        case .sendBandwidth: return try sendBandwidthServer(run, g)
        case .sendLatency: return try sendLatencyServer(run, g)
        case .writeLatency: return try writeLatencyServer(run, g)
        case .writeBandwidth, .readBandwidth, .readLatency:
            // One-sided: the client's NIC does the work; wait for its END.
            try g.waitForEnd()
            return g.expectedCount ?? 0
        }
    }

    @inline(__always)
    private func request(_ test: BenchTest, id: Int, size: Int) -> SendRequest {
        switch test.verb {
        case .send: SendRequest(id: UInt64(id), operation: .send, element: source.element(0..<size))
        case .write: SendRequest(id: UInt64(id), operation: .write(remote.slice(offset: 0, length: size)), element: source.element(0..<size))
        case .read: SendRequest(id: UInt64(id), operation: .read(remote.slice(offset: 0, length: size)), element: target.element(0..<size))
        }
    }

    /// Polls once; fails on an error completion; reposts receives; returns
    /// how many completions arrived (`onSend` and `onReceive` see each).
    @inline(__always)
    private func pollOnce(_ onSend: (WorkCompletion) -> Void, _ onReceive: (WorkCompletion) throws -> Void) throws -> Int {
        let got = try completionQueue.poll(into: completions)
        for i in 0..<got {
            let wc = completions[i]
            if wc.status != .success { try wc.check() }
            if wc.id & Self.receiveTag != 0 {
                let qp = Int(wc.id & ~Self.receiveTag)
                try queuePairs[qp].post(ReceiveRequest(id: wc.id, element: target.element(0..<maxSize)))
                try onReceive(wc)
            } else {
                onSend(wc)
            }
        }
        return got
    }

    /// send_bw, write_bw, read_bw: keep tx-depth requests in flight per QP,
    /// messages round-robin over the QPs (message k on QP k % N).
    private func bandwidthClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        let total = run.totalMessages ?? .max
        let samples = BenchSamples(messages: run.totalMessages)
        let n = queuePairs.count
        for q in 0..<n { inFlight[q] = 0 }
        var posted = 0
        var completed = 0
        var peak = IntervalPeak()
        var stopPosting = false
        let start = benchNow()
        let end = run.endTime(from: start)
        let capacity = samples.capacity
        while true {
            while posted < total && !stopPosting {
                let q = posted % n
                if inFlight[q] >= run.txDepth { break }
                let now = benchNow()
                if now >= end { stopPosting = true; break }
                if posted < capacity { samples.posted[posted] = now }
                try queuePairs[q].post(request(run.test, id: posted, size: run.size))
                inFlight[q] += 1
                posted += 1
                // Each post can run rxe's requester in this system call (Linux
                // 6.1), slow under QEMU: keep the ALIVEs going during a burst.
                try g.tick()
            }
            if completed == posted && (stopPosting || posted == total) { break }
            let got = try pollOnce({ wc in
                let k = Int(wc.id)
                self.inFlight[k % n] -= 1
                if k < capacity { samples.completed[k] = benchNow() }
            }, { _ in })
            if got > 0 {
                completed += got
                g.progressed()
                g.done = completed
                if run.duration != nil { peak.record(count: completed, now: benchNow()) }
            }
            try g.tick()
        }
        let finish = benchNow()
        let row = BandwidthRow.compute(mode: mode, size: run.size, iterations: run.duration == nil ? run.iterations : completed,
            messages: completed, posted: samples.posted, completed: samples.completed, start: start, end: finish,
            peakIntervalRate: run.duration == nil ? nil : peak.best, gbits: run.reportGbits)
        return (.bandwidth(row), completed)
    }

    /// send_bw's server: counts receive completions (reposting each) until the
    /// client's END says how many there were.
    private func sendBandwidthServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        var received = 0
        while true {
            if let expected = g.expectedCount, received >= expected { return received }
            let got = try pollOnce({ _ in }, { _ in received += 1 })
            if got > 0 { g.progressed(); g.done = received }
            try g.tick()
        }
    }

    /// send_lat: ping-pong on QP 0; the sample is half the round trip.
    private func sendLatencyClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        let samples = BenchSamples(messages: run.totalMessages)
        let total = run.totalMessages ?? .max
        let qp = queuePairs[0]
        let start = benchNow()
        let end = run.endTime(from: start)
        var sendsInFlight = 0
        var i = 0
        while i < total {
            while sendsInFlight >= run.txDepth + 1 {
                _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in })
                try g.tick()
            }
            var replied = false
            let t0 = benchNow()
            try qp.post(request(.sendLatency, id: i, size: run.size))
            sendsInFlight += 1
            while !replied {
                _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in replied = true })
                try g.tick()
            }
            let t1 = benchNow()
            if i < samples.capacity { samples.latencies[i] = Double(t1 - t0) / 2 / 1000 }
            i += 1
            g.progressed()
            g.done = i
            if t1 >= end { break }
        }
        while sendsInFlight > 0 { _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in }); try g.tick() }
        return (.latency(LatencyRow(mode: mode, size: run.size, samples: samples.latencySamples(count: i))), i)
    }

    /// send_lat's server: answers every message with one of the same size.
    private func sendLatencyServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        let qp = queuePairs[0]
        var served = 0
        var sendsInFlight = 0
        var pending = 0
        while true {
            if let expected = g.expectedCount, served >= expected, pending == 0 {
                while sendsInFlight > 0 { _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in }); try g.tick() }
                return served
            }
            let got = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in pending += 1 })
            while pending > 0 && sendsInFlight < run.txDepth + 1 {
                try qp.post(request(.sendLatency, id: served, size: run.size))
                sendsInFlight += 1
                pending -= 1
                served += 1
            }
            if got > 0 { g.progressed(); g.done = served }
            try g.tick()
        }
    }

    /// The byte write_lat watches: the last one of the message. The peer's
    /// WRITE places it last (perftest's write_lat polls the same way), and
    /// message i carries the marker i % 255 + 1, never the previous one.
    @inline(__always)
    private static func marker(_ i: Int) -> UInt8 { UInt8(i % 255 + 1) }

    /// write_lat: the client writes, the server sees the marker and writes
    /// back; half the round trip. The CQ is polled while spinning, which also
    /// keeps the compiler from caching the watched byte across the opaque call.
    private func writeLatencyClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        let samples = BenchSamples(messages: run.totalMessages)
        let total = run.totalMessages ?? .max
        let qp = queuePairs[0]
        let last = run.size - 1
        let start = benchNow()
        let end = run.endTime(from: start)
        var sendsInFlight = 0
        var i = 0
        while i < total {
            let m = Self.marker(i)
            source.bytes[last] = m
            let t0 = benchNow()
            try qp.post(request(.writeLatency, id: i, size: run.size))
            sendsInFlight += 1
            while target.bytes[last] != m {
                _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in })
                try g.tick()
            }
            let t1 = benchNow()
            while sendsInFlight > run.txDepth { _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in }); try g.tick() }
            if i < samples.capacity { samples.latencies[i] = Double(t1 - t0) / 2 / 1000 }
            i += 1
            g.progressed()
            g.done = i
            if t1 >= end { break }
        }
        while sendsInFlight > 0 { _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in }); try g.tick() }
        // The next size watches another byte; clear this one before the barrier.
        target.bytes[last] = 0
        return (.latency(LatencyRow(mode: mode, size: run.size, samples: samples.latencySamples(count: i))), i)
    }

    private func writeLatencyServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        let qp = queuePairs[0]
        let last = run.size - 1
        var served = 0
        var sendsInFlight = 0
        while true {
            if let expected = g.expectedCount, served >= expected {
                while sendsInFlight > 0 { _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in }); try g.tick() }
                target.bytes[last] = 0
                return served
            }
            let m = Self.marker(served)
            if target.bytes[last] == m && sendsInFlight <= run.txDepth {
                source.bytes[last] = m
                try qp.post(request(.writeLatency, id: served, size: run.size))
                sendsInFlight += 1
                served += 1
                g.progressed()
                g.done = served
            }
            _ = try pollOnce({ _ in sendsInFlight -= 1 }, { _ in })
            try g.tick()
        }
    }

    /// read_lat: one READ at a time; the sample is the whole READ (perftest
    /// does not halve READ latency).
    private func readLatencyClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        let samples = BenchSamples(messages: run.totalMessages)
        let total = run.totalMessages ?? .max
        let qp = queuePairs[0]
        let start = benchNow()
        let end = run.endTime(from: start)
        var i = 0
        while i < total {
            var done = false
            let t0 = benchNow()
            try qp.post(request(.readLatency, id: i, size: run.size))
            while !done {
                _ = try pollOnce({ _ in done = true }, { _ in })
                try g.tick()
            }
            let t1 = benchNow()
            if i < samples.capacity { samples.latencies[i] = Double(t1 - t0) / 1000 }
            i += 1
            g.progressed()
            g.done = i
            if t1 >= end { break }
        }
        return (.latency(LatencyRow(mode: mode, size: run.size, samples: samples.latencySamples(count: i))), i)
    }
}
