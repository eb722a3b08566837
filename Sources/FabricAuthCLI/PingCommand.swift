import ArgumentParser
import FabricAuth
import FabricAuthMetrics
import Foundation
import Verbs

/// `fabricauth ping`: an authenticated ping-pong between two endpoints.
struct PingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Authenticated ping-pong over an RC queue pair, with round-trip statistics.",
        discussion: """
            Run it without HOST on the responder and with HOST on the initiator. Both ends
            exchange QP endpoints over TCP (port -p), connect an RC queue pair, prove their
            identities in the in-band handshake and then bounce -n messages of -s bytes, each
            sealed and verified. Prints the peer's verified SPIFFE ID and round-trip times in
            microseconds. The responder serves one initiator after another until Ctrl-C: a
            connection that breaks the exchange or fails to authenticate is logged and the
            responder goes on; with --once it serves one peer and exits with that peer's outcome.
            """
    )

    @Argument(help: "The responder's host name or address (omit to be the responder).")
    var host: String?

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var device: DeviceOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var audit: AuditOptions

    @Option(name: .customShort("n"), help: "Number of round trips.")
    var count: Int = 100

    @Option(name: .customShort("s"), help: "Message size in bytes.")
    var size: Int = 64

    @Option(help: "Seconds to wait for the peer to connect (responder with --once).")
    var wait: Int = 60

    @Flag(help: "Responder: serve one peer, then exit (status 0 if its ping succeeded).")
    var once = false

    func validate() throws {
        guard count > 0 else { throw ValidationError("-n must be at least 1") }
        guard size >= 0, size <= 64 * 1024 else { throw ValidationError("-s must be between 0 and 65536") }
    }

    func run() throws {
        var configuration = try identity.channelConfiguration(watch: host == nil)
        configuration.gidIndex = device.resolvedGidIndex
        // The responder echoes whatever size the initiator chose, so both ends
        // take the largest -s allowed rather than their own.
        configuration.maxMessageSize = 64 * 1024
        let export = try metrics.start()
        defer { export?.finish() }
        export?.instrument(&configuration)
        configuration.audit = try audit.open()
        // Last, after the channels' closes: writes what is queued.
        defer { configuration.audit?.close() }
        let context = try device.openContext()
        if let host {
            let channel = try AuthenticatedConnector.connect(context: context, host: host, port: device.port,
                configuration: configuration)
            return try serve(channel, initiator: true)
        }
        let listener = try AuthenticatedListener(context: context, configuration: configuration, port: device.port)
        if export != nil { MetricsRegistry.shared.watch(listener.bootstrapCounters) }
        print("waiting for \(once ? "a peer" : "peers") on TCP port \(listener.port) (device \(context.deviceName))")
        // A long-running responder's lines must reach a pipe or journal as they
        // happen, not when a block buffer fills (or never, on SIGTERM).
        fflush(nil)
        while true {
            do {
                // Without --once there is no deadline to keep: a quiet hour just waits on.
                let channel = try listener.accept(timeout: once ? .seconds(wait) : .seconds(3600))
                try serve(channel, initiator: false)
                if once { return }
            } catch ChannelError.bootstrap(let e) where e.code == .acceptTimedOut && !once {
                continue
            } catch {
                // One peer's failed set-up or ping must not end the service for the next.
                if once { throw error }
                // (Connections refused before authentication never get here:
                // the listener logs and counts each of those itself.)
                FileHandle.standardError.write(Data("fabricauth ping: a peer failed: \(error); still serving\n".utf8))
            }
        }
    }

    /// Runs the ping-pong on an authenticated channel, prints its figures, closes it.
    private func serve(_ channel: AuthenticatedQueuePair, initiator: Bool) throws {
        defer {
            channel.close()
            fflush(nil)
        }
        print("peer \(channel.peer.spiffeID) verified; QP \(channel.queuePairNumber), MAC \(channel.suite)")
        let stats = try Self.pingPong(channel, initiator: initiator, count: count, size: size)
        if let stats {
            print(String(format: "%d round trips of %d bytes: rtt min/avg/max/stdev = %.1f/%.1f/%.1f/%.1f us, p99 %.1f us",
                stats.count, size, stats.min, stats.average, stats.max, stats.standardDeviation, stats.p99))
        } else {
            print("answered \(count) pings from \(channel.peer.spiffeID)")
        }
        let failures = channel.receiveMetrics.failures
        print("messages sealed \(channel.sendMetrics.messagesSealed), verified \(channel.receiveMetrics.messagesOpened), rejected \(failures.total)\(failures.total > 0 ? " (\(failures))" : "")")
    }

    /// The initiator sends and times; the responder echoes. Returns the
    /// initiator's round-trip statistics in microseconds.
    static func pingPong(_ channel: AuthenticatedQueuePair, initiator: Bool, count: Int, size: Int) throws -> SampleStatistics? {
        var message = [UInt8](repeating: 0, count: size)
        var samples: [Double] = []
        samples.reserveCapacity(count)
        let clock = ContinuousClock()
        for i in 0..<count {
            if initiator {
                if size > 0 { message[0] = UInt8(truncatingIfNeeded: i) }
                let start = clock.now
                try channel.send(message)
                let echoed = try channel.receive()
                let elapsed = start.duration(to: clock.now)
                guard echoed == message else { throw ChannelError.protocolViolation("echo \(i) differs from what was sent") }
                let (s, atto) = elapsed.components
                samples.append(Double(s) * 1e6 + Double(atto) / 1e12)
            } else {
                let received = try channel.receive(timeout: .seconds(30))
                try channel.send(received)
            }
        }
        try channel.flush()
        return initiator ? SampleStatistics(samples) : nil
    }
}
