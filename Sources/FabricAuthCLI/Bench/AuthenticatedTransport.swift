import FabricAuth
import FabricAuthMetrics
import Foundation
import Verbs

/// FabricAuth's authenticated queue pairs: each message is copied into a
/// registered slot, sealed (AES-256-GMAC by default) and SENT; the receiver
/// verifies it before the bench sees a byte. Set up by
/// `AuthenticatedListener`/`AuthenticatedConnector` (TCP exchange, like the
/// plain path) or their rdma_cm twins with -R; with -q N the first channel
/// does the full handshake and the others resume its session.
///
/// send_lat and send_bw use `send`/`receive`; write_* and read_* use the
/// authenticated RDMA WRITE/READ path (`irecv`/`isend`, `offerForRead`/`iread`:
/// a memory window bound per transfer, a MAC over the data checked before the
/// transfer completes; AuthenticatedTransport+RemoteAccess.swift).
final class AuthenticatedTransport: BenchTransport {
    let mode = BenchMode.authenticated
    let channels: [AuthenticatedQueuePair]
    private let payload: UnsafeMutableRawBufferPointer
    /// Registered buffers and outstanding requests of the WRITE/READ tests, per channel.
    var remote: [RemoteAccessBuffers] = []
    /// Transfers in flight per channel in the WRITE/READ tests.
    let window: Int
    /// Send slots per channel (`ChannelConfiguration.sendDepth` as configured here).
    private let sendDepth: Int

    /// WRITE/READ transfers in flight per channel: -t, at most 16 and at most
    /// 32 MiB of targets per channel (each needs its own range: transfers
    /// into one range would overwrite each other and fail the MAC).
    static func window(_ p: BenchParameters) -> Int {
        max(1, min(16, p.txDepth, (32 << 20) / max(p.maxSize, 1)))
    }

    private init(channels: [AuthenticatedQueuePair], maxSize: Int, sendDepth: Int, window: Int) {
        self.channels = channels
        self.sendDepth = sendDepth
        self.window = window
        payload = .allocate(byteCount: max(maxSize, 1), alignment: 64)
        payload.initializeMemory(as: UInt8.self, repeating: 0xA5)
    }

    deinit { payload.deallocate() }

    var payloadCount: Int { payload.count }

    func close() {
        for c in channels { c.close() }
    }

    /// The channel configuration for this run: slots as large as the largest
    /// size, depths from -t/-r but capped so the slots stay near 64 MiB.
    static func configure(_ base: ChannelConfiguration, parameters p: BenchParameters, gidIndex: Int?) -> ChannelConfiguration {
        var c = base
        c.gidIndex = gidIndex
        c.maxMessageSize = p.maxSize
        let cap = max(2, BenchLimits.authenticatedSlotBytes / max(p.maxSize, 1) / 2)
        c.sendDepth = max(2, min(p.txDepth, cap))
        c.receiveDepth = max(2, min(p.rxDepth, cap))
        if p.test.verb == .send {
            // SEND only: no windows, no control traffic, so -r alone sizes the receive queue.
            c.remoteAccessDepth = 0
        } else {
            c.remoteAccessDepth = window(p)
            // Room for every grant or offer the peer may have outstanding plus
            // its notices: rxe (Linux 6.1) moved the QP to ERROR when grants
            // met an empty receive queue (RNR) while windows were being bound
            // and invalidated -- measured with -r 2 -t 4, fine from -r 4.
            c.receiveDepth = max(c.receiveDepth, c.minimumReceiveDepth)
        }
        c.setupTimeout = .seconds(30)
        if let mtu = p.mtu { c.connection.pathMTU = Mtu(bytes: mtu) }
        return c
    }

    static func connectClient(context: Context, host: String, configuration: ChannelConfiguration, parameters: BenchParameters,
                              control: BenchControl, stop: BenchStop) throws -> AuthenticatedTransport {
        let portText = try control.expect("AUTHPORT", timeout: .seconds(60), stop: stop)
        guard let port = UInt16(portText) else { throw BenchError.protocolError("bad AUTHPORT \(portText)") }
        var channels: [AuthenticatedQueuePair] = []
        // The first QP runs the full handshake, the others resume its session.
        let sessions = SessionCache(capacity: 1)
        for _ in 0..<parameters.queuePairs {
            if parameters.rdmaCM {
                channels.append(try AuthenticatedCMConnection.connect(host: host, port: port, configuration: configuration))
            } else {
                channels.append(try AuthenticatedConnector.connect(context: context, host: host, port: port,
                    configuration: configuration, sessions: sessions))
            }
        }
        try PlainTransport.barrier(control, stop: stop)
        return AuthenticatedTransport(channels: channels, maxSize: parameters.maxSize,
            sendDepth: configuration.sendDepth, window: configuration.remoteAccessDepth)
    }

    static func connectServer(context: Context, configuration: ChannelConfiguration, parameters: BenchParameters,
                              control: BenchControl, stop: BenchStop) throws -> AuthenticatedTransport {
        var channels: [AuthenticatedQueuePair] = []
        if parameters.rdmaCM {
            // Strangers are torn down at the deadline and never end the session's accept;
            // the deadline itself is the generous one of the setup (a loaded VM, many QPs).
            var screening = AuthenticatedCMListener.Screening()
            screening.handshakeTimeout = configuration.setupTimeout
            let listener = try AuthenticatedCMListener(address: "0.0.0.0", port: 0, configuration: configuration,
                screening: screening)
            (configuration.observer as? MetricsRegistry)?.watch(listener.metrics)
            control.tell("AUTHPORT \(listener.port)")
            for _ in 0..<parameters.queuePairs { channels.append(try listener.accept(timeout: .seconds(60))) }
        } else {
            let listener = try AuthenticatedListener(context: context, configuration: configuration, address: "0.0.0.0", port: 0)
            (configuration.observer as? MetricsRegistry)?.watch(listener.bootstrapCounters)
            control.tell("AUTHPORT \(listener.port)")
            for _ in 0..<parameters.queuePairs { channels.append(try listener.accept(timeout: .seconds(60))) }
        }
        for c in channels {
            FileHandle.standardError.write(Data("fabricauth bench: peer \(c.peer.spiffeID) verified on QP \(c.queuePairNumber), MAC \(c.suite)\(c.resumed ? " (resumed session)" : "")\n".utf8))
        }
        try PlainTransport.barrier(control, stop: stop)
        return AuthenticatedTransport(channels: channels, maxSize: parameters.maxSize,
            sendDepth: configuration.sendDepth, window: configuration.remoteAccessDepth)
    }

    // MARK: Runs

    func runClient(_ run: BenchRun, guard g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        switch run.test {
        case .sendBandwidth: try bandwidthClient(run, g)
        case .sendLatency: try latencyClient(run, g)
        case .writeBandwidth: try writeBandwidthClient(run, g)
        case .writeLatency: try writeLatencyClient(run, g)
        case .readBandwidth, .readLatency: try readClient(run, g)
        }
    }

    func runServer(_ run: BenchRun, guard g: BenchGuard) throws -> Int {
        switch run.test {
        case .sendBandwidth: try bandwidthServer(run, g)
        case .sendLatency: try latencyServer(run, g)
        case .writeBandwidth: try writeBandwidthServer(run, g)
        case .writeLatency: try writeLatencyServer(run, g)
        case .readBandwidth, .readLatency: try readServer(run, g)
        }
    }

    private func message(_ size: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: payload[0..<size]) }

    /// Receives the next message on `channel`, in slices of one second so that
    /// Ctrl-C, the peer's STOP and the stall limit are checked while waiting.
    /// Returns the payload's length (0 is the client's end marker).
    @inline(__always)
    private func receive(_ channel: AuthenticatedQueuePair, _ g: BenchGuard) throws -> Int {
        while true {
            do {
                return try channel.receive(timeout: .seconds(1)) { $0.count }
            } catch ChannelError.timedOut {
                try g.checkNow()
            }
        }
    }

    /// send_bw: message k on channel k % N. `send` returns once the message is
    /// posted, after reaping completions while all send slots are in use; RC
    /// completes in order and the slots are a ring, so when send k returns on
    /// a channel, message k - depth×N (same channel, a ring's length earlier)
    /// has completed. That instant is its completion time here (at or after
    /// the true one, so the peak is a lower bound); the last ring completes at
    /// `flush`. The receiver reposts a slot only after verifying its frame, so
    /// the sender cannot run more than a ring ahead of verification.
    private func bandwidthClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        let n = channels.count
        let total = run.totalMessages ?? .max
        let samples = BenchSamples(messages: run.totalMessages)
        let capacity = samples.capacity
        let depth = sendDepth
        let body = message(run.size)
        var peak = IntervalPeak()
        let start = benchNow()
        let end = run.endTime(from: start)
        var sent = 0
        while sent < total {
            let now = benchNow()
            if now >= end { break }
            if sent < capacity { samples.posted[sent] = now }
            try channels[sent % n].send(body, timeout: BenchLimits.stall)
            let returned = benchNow()
            let earlier = sent - depth * n
            if earlier >= 0 && earlier < capacity { samples.completed[earlier] = returned }
            sent += 1
            g.progressed()
            g.done = sent
            if run.duration != nil { peak.record(count: sent, now: returned) }
            try g.tick()
        }
        for c in channels { try c.flush(timeout: BenchLimits.stall) }
        let finish = benchNow()
        for k in max(0, sent - depth * n)..<min(sent, capacity) { samples.completed[k] = finish }
        // End markers (empty messages), outside the timed part.
        for c in channels { try c.send(message(0), timeout: BenchLimits.stall) }
        for c in channels { try c.flush(timeout: BenchLimits.stall) }
        let row = BandwidthRow.compute(mode: mode, size: run.size, iterations: run.duration == nil ? run.iterations : sent,
            messages: sent, posted: samples.posted, completed: samples.completed, start: start, end: finish,
            peakIntervalRate: run.duration == nil ? nil : peak.best, gbits: run.reportGbits)
        return (.bandwidth(row), sent)
    }

    private func bandwidthServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        let n = channels.count
        var received = 0
        var open = n
        var k = 0
        var finished = [Bool](repeating: false, count: n)
        while open > 0 {
            let c = k % n
            k += 1
            if finished[c] { continue }
            let length = try receive(channels[c], g)
            if length == 0 {
                finished[c] = true
                open -= 1
            } else {
                received += 1
                g.progressed()
                g.done = received
            }
            try g.tick()
        }
        return received
    }

    /// send_lat: ping-pong on channel 0, half the round trip, each way sealed
    /// and verified; then an empty message ends the server's loop.
    private func latencyClient(_ run: BenchRun, _ g: BenchGuard) throws -> (row: BenchRow, messages: Int) {
        let samples = BenchSamples(messages: run.totalMessages)
        let total = run.totalMessages ?? .max
        let channel = channels[0]
        let body = message(run.size)
        let start = benchNow()
        let end = run.endTime(from: start)
        var i = 0
        while i < total {
            let t0 = benchNow()
            try channel.send(body, timeout: BenchLimits.stall)
            let length = try receive(channel, g)
            let t1 = benchNow()
            guard length == run.size else { throw BenchError.protocolError("reply of \(length) bytes to a \(run.size)-byte message") }
            if i < samples.capacity { samples.latencies[i] = Double(t1 - t0) / 2 / 1000 }
            i += 1
            g.progressed()
            g.done = i
            try g.tick()
            if t1 >= end { break }
        }
        try channel.send(message(0), timeout: BenchLimits.stall)
        try channel.flush(timeout: BenchLimits.stall)
        return (.latency(LatencyRow(mode: mode, size: run.size, samples: samples.latencySamples(count: i))), i)
    }

    private func latencyServer(_ run: BenchRun, _ g: BenchGuard) throws -> Int {
        let channel = channels[0]
        var served = 0
        while true {
            let length = try receive(channel, g)
            if length == 0 { break }
            try channel.send(message(length), timeout: BenchLimits.stall)
            served += 1
            g.progressed()
            g.done = served
            try g.tick()
        }
        try channel.flush(timeout: BenchLimits.stall)
        return served
    }
}
