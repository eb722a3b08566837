import FabricAuth
import Verbs

/// Registered buffers and outstanding requests of one channel in the
/// authenticated WRITE/READ tests. Made once per channel, kept across sizes.
final class RemoteAccessBuffers {
    /// What the client writes, or the server offers for READ (max size).
    let source: ChannelMemory
    /// One max-size range per request in flight: WRITE targets, READ destinations.
    let target: ChannelMemory
    /// Requests in flight, oldest first (a ring of `window`), with the index
    /// of the message each belongs to.
    private var requests: [ChannelRequest?]
    private var ids: [Int]
    private(set) var head = 0
    private(set) var count = 0

    init(channel: AuthenticatedQueuePair, maxSize: Int, window: Int) throws {
        source = try channel.allocateMemory(bytes: maxSize)
        target = try channel.allocateMemory(bytes: maxSize * window)
        source.bytes.initializeMemory(as: UInt8.self, repeating: 0x5A)
        requests = Array(repeating: nil, count: window)
        ids = Array(repeating: 0, count: window)
    }

    var isFull: Bool { count == requests.count }
    /// Ring position of the next push: requests there use target range `tail`.
    var tail: Int { (head + count) % requests.count }
    var oldest: ChannelRequest? { count > 0 ? requests[head] : nil }
    var oldestID: Int { ids[head] }

    func push(_ request: ChannelRequest, id: Int = 0) {
        requests[tail] = request
        ids[tail] = id
        count += 1
    }

    func pop() {
        requests[head] = nil
        head = (head + 1) % requests.count
        count -= 1
    }
}

/// Authenticated RDMA WRITE and READ through FabricAuth's request API
/// (docs/protocol.md "RDMA WRITE and READ"): each transfer binds a memory
/// window on the target side, MACs the payload on both sides and closes the
/// window before it completes, so these rows carry the whole cost of
/// authenticating one-sided traffic next to perftest-style plain verbs.
///
/// - write_bw: the server keeps `window` WRITE targets granted per channel
///   (each its own range) and grants again as each completes; the client
///   `isend`s up to `window` per channel and completes the oldest.
/// - write_lat: each side keeps one target granted; ping-pong of WRITEs,
///   half the round trip, as perftest's write_lat.
/// - read_bw / read_lat: the server offers its data for READ, `window` at a
///   time (one for latency), exactly as many as the client will read (so no
///   offer of one size is left for the next); the client reads and verifies.
///   A READ sample is the whole READ, not halved (as perftest).
extension AuthenticatedTransport {
    private var maxSize: Int { payloadCount }

    func buffers(_ c: Int) throws -> RemoteAccessBuffers {
        while remote.count <= c {
            remote.append(try RemoteAccessBuffers(channel: channels[remote.count], maxSize: maxSize, window: window))
        }
        return remote[c]
    }

    /// Grants WRITE targets on channel `c` until `limit` are outstanding.
    private func grant(_ c: Int, upTo limit: Int) throws {
        let b = try buffers(c)
        while b.count < limit {
            let range = (b.tail * maxSize)..<((b.tail + 1) * maxSize)
            b.push(try channels[c].irecv(b.target, range: range))
        }
    }

    // MARK: write_bw

    func writeBandwidthClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        let n = channels.count
        for c in 0..<n { _ = try buffers(c) }
        let total = run.totalMessages ?? .max
        let samples = BenchSamples(messages: run.totalMessages)
        let capacity = samples.capacity
        var peak = IntervalPeak()
        let start = benchNow()
        let end = run.endTime(from: start)
        var sent = 0, completed = 0
        while true {
            let now = benchNow()
            let posting = sent < total && now < end
            if !posting && completed == sent { break }
            if posting {
                let c = sent % n
                let b = remote[c]
                if !b.isFull, let r = try channels[c].isend(b.source, range: 0..<run.size) {
                    if sent < capacity { samples.posted[sent] = now }
                    b.push(r, id: sent)
                    sent += 1
                }
            }
            for c in 0..<n {
                let b = remote[c]
                guard let r = b.oldest, try channels[c].test(r) != nil else { continue }
                let id = b.oldestID
                b.pop()
                let done = benchNow()
                if id < capacity { samples.completed[id] = done }
                completed += 1
                g.progressed()
                g.done = completed
                if run.duration != nil { peak.record(count: completed, now: done) }
            }
            try g.tick()
        }
        let finish = benchNow()
        let row = BandwidthRow.compute(mode: mode, size: run.size, iterations: run.duration == nil ? run.iterations : completed,
            messages: completed, posted: samples.posted, completed: samples.completed, start: start, end: finish,
            peakIntervalRate: run.duration == nil ? nil : peak.best, gbits: run.reportGbits)
        return (.bandwidth(row), completed)
    }

    func writeBandwidthServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        for c in 0..<channels.count { try grant(c, upTo: window) }
        var served = 0
        while true {
            if let expected = g.expectedCount, served >= expected { return served }
            for c in 0..<channels.count {
                let b = remote[c]
                guard let r = b.oldest, let got = try channels[c].test(r) else { continue }
                guard got == run.size else { throw BenchError.protocolError("a WRITE of \(got) bytes in the \(run.size)-byte run") }
                b.pop()
                try grant(c, upTo: window)
                served += 1
                g.progressed()
                g.done = served
            }
            try g.tick()
        }
    }

    // MARK: write_lat

    /// `isend`, retried (with the guard's checks) until the peer's grant is there.
    private func isend(_ c: Int, size: Int, _ g: BenchGuard) throws {
        let b = remote[c]
        while try channels[c].isend(b.source, range: 0..<size) == nil { try g.tick() }
    }

    func writeLatencyClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        try grant(0, upTo: 1)
        let b = remote[0]
        let samples = BenchSamples(messages: run.totalMessages)
        let total = run.totalMessages ?? .max
        let end = run.endTime(from: benchNow())
        var i = 0
        while i < total {
            let t0 = benchNow()
            try isend(0, size: run.size, g)
            while try channels[0].test(b.oldest!) == nil { try g.tick() }
            let t1 = benchNow()
            b.pop()
            try grant(0, upTo: 1)
            if i < samples.capacity { samples.latencies[i] = Double(t1 - t0) / 2 / 1000 }
            i += 1
            g.progressed()
            g.done = i
            try g.tick()
            if t1 >= end { break }
        }
        return (.latency(LatencyRow(mode: mode, size: run.size, samples: samples.latencySamples(count: i))), i)
    }

    func writeLatencyServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        try grant(0, upTo: 1)
        let b = remote[0]
        var served = 0
        while true {
            if let expected = g.expectedCount, served >= expected { return served }
            if let got = try channels[0].test(b.oldest!) {
                b.pop()
                try grant(0, upTo: 1)
                try isend(0, size: got, g)
                served += 1
                g.progressed()
                g.done = served
            }
            try g.tick()
        }
    }

    // MARK: read_bw, read_lat

    func readClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        guard let total = run.totalMessages else {
            throw BenchError.unsupported("authenticated \(run.test.rawValue) runs a fixed number of READs (-n), not -D")
        }
        let n = channels.count
        for c in 0..<n { _ = try buffers(c) }
        let inFlight = run.test.isLatency ? 1 : window
        let samples = BenchSamples(messages: total)
        let start = benchNow()
        var started = 0, completed = 0
        var t0 = start
        while completed < total {
            if started < total {
                let c = started % n
                let b = remote[c]
                if b.count < inFlight {
                    let range = (b.tail * maxSize)..<((b.tail + 1) * maxSize)
                    if let r = try channels[c].iread(into: b.target, range: range) {
                        let now = benchNow()
                        if started < samples.capacity { samples.posted[started] = now }
                        b.push(r, id: started)
                        started += 1
                    }
                }
            }
            for c in 0..<n {
                let b = remote[c]
                guard let r = b.oldest, let got = try channels[c].test(r) else { continue }
                guard got == run.size else { throw BenchError.protocolError("a READ of \(got) bytes in the \(run.size)-byte run") }
                let id = b.oldestID
                b.pop()
                let done = benchNow()
                if id < samples.capacity {
                    samples.completed[id] = done
                    // Latency: from the end of the previous READ (this one
                    // includes waiting for the owner's next offer) to this one.
                    samples.latencies[id] = Double(done - t0) / 1000
                }
                t0 = done
                completed += 1
                g.progressed()
                g.done = completed
            }
            try g.tick()
        }
        let finish = benchNow()
        if run.test.isLatency {
            return (.latency(LatencyRow(mode: mode, size: run.size, samples: samples.latencySamples(count: completed))), completed)
        }
        let row = BandwidthRow.compute(mode: mode, size: run.size, iterations: run.iterations, messages: completed,
            posted: samples.posted, completed: samples.completed, start: start, end: finish, peakIntervalRate: nil,
            gbits: run.reportGbits)
        return (.bandwidth(row), completed)
    }

    func readServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        guard let total = run.totalMessages else {
            throw BenchError.unsupported("authenticated \(run.test.rawValue) runs a fixed number of READs (-n), not -D")
        }
        let n = channels.count
        for c in 0..<n { _ = try buffers(c) }
        let inFlight = run.test.isLatency ? 1 : window
        var offered = 0, served = 0
        while served < total {
            // Offer message k on channel k % n, exactly `total` in all.
            while offered < total, !remote[offered % n].isFull, remote[offered % n].count < inFlight {
                let c = offered % n
                remote[c].push(try channels[c].offerForRead(remote[c].source, range: 0..<run.size))
                offered += 1
            }
            for c in 0..<n {
                let b = remote[c]
                guard let r = b.oldest, try channels[c].test(r) != nil else { continue }
                b.pop()
                served += 1
                g.progressed()
                g.done = served
            }
            try g.tick()
        }
        return served
    }
}
