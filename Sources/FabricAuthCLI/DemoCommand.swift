import ArgumentParser
import Dispatch
import FabricAuth
import Foundation
import Handshake
import Identity
import Verbs

/// `fabricauth demo`: FabricAuth's main job, start to finish, on one device.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Authenticate two endpoints on the local RDMA device, ping, compare throughput, and refuse an impostor and a tampered message.",
        discussion: """
            Needs an RDMA device; on a machine without one run it through the Soft-RoCE test bed:
            `Hardware/softroce -- fabricauth demo` (or `Hardware/demo`, which also installs and builds).
            Everything it makes (a CA, identities, keys) lives in memory and is gone afterwards.
            """
    )

    @OptionGroup var device: DeviceOptions

    @Option(help: "Messages per throughput run.")
    var messages: Int = 64

    @Option(help: "Bytes per message in the throughput runs.")
    var size: Int = 65536

    func validate() throws {
        guard messages > 0, messages <= 100_000 else { throw ValidationError("--messages must be between 1 and 100000") }
        guard size > 0, size <= 1 << 20 else { throw ValidationError("--size must be between 1 and 1048576") }
    }

    func run() throws {
        let context = try device.openContext()
        let domain = "demo.fabricauth.test"
        step(1, "a throw-away CA and two workload identities")
        let ca = try CertificateAuthority.create(trustDomain: domain).authority
        let trust = IdentityVerifier(bundles: [try TrustBundle(trustDomain: domain, anchors: [ca.certificate])])
        let responder = try configuration(ca: ca, verifier: trust, id: "spiffe://\(domain)/trainer/rank0")
        let initiator = try configuration(ca: ca, verifier: trust, id: "spiffe://\(domain)/trainer/rank1")
        say("CA      \(Fingerprint(der: CertificateParsing.der(ca.certificate)).description.prefix(16))… for \(domain)")
        say("rank0   \(responder.credential.spiffeID) (responder)")
        say("rank1   \(initiator.credential.spiffeID) (initiator)")

        step(2, "connect and authenticate on \(context.deviceName)")
        let listener = try AuthenticatedListener(context: context, configuration: responder, address: "127.0.0.1", port: 0)
        let (accepted, connected) = try Self.establish(listener: listener, context: context, client: initiator)
        let server = try accepted.get()
        let client = try connected.get()
        say("rank1 verified its peer as \(client.peer.spiffeID) on QP \(client.queuePairNumber)")
        say("rank0 verified its peer as \(server.peer.spiffeID) on QP \(server.queuePairNumber)")
        say("per-message MAC: \(client.suite)")

        step(3, "authenticated ping")
        let pings = 50
        try Self.concurrently({ _ = try PingCommand.pingPong(server, initiator: false, count: pings, size: 64) }) {
            let stats = try PingCommand.pingPong(client, initiator: true, count: pings, size: 64)!
            say(String(format: "%d round trips of 64 bytes: rtt min/avg/max = %.1f/%.1f/%.1f us", stats.count, stats.min, stats.average, stats.max))
        }

        step(4, "write_bw: plain RDMA WRITE against authenticated WRITE (\(messages) × \(size) bytes, \(Self.window) in flight)")
        let plain = try PlainWriteBandwidth.measure(context: context, gidIndex: device.resolvedGidIndex, messages: messages,
            size: size, window: Self.window)
        let authenticated = try Self.authenticatedWriteBandwidth(client: client, server: server, messages: messages, size: size)
        say(String(format: "plain          %9.2f MB/s", plain))
        say(String(format: "authenticated  %9.2f MB/s  (%.2f of plain, same run)", authenticated, authenticated / plain))
        say("each authenticated WRITE: a memory window granted for it, MAC checked before it completed, window closed: "
            + "\(server.remoteAccessMetrics.writesReceived) verified, \(server.receiveMetrics.failures.total) rejected")
        if ProcessInfo.processInfo.environment["FABRICAUTH_SOFTROCE"] == "vm" {
            say("(inside the emulated test bed only the ratio means anything; see docs/performance.md)")
        }

        step(5, "an impostor: a certificate for rank1's name from another CA")
        let rogue = try CertificateAuthority.create(trustDomain: domain).authority
        var impostor = try configuration(ca: rogue, verifier: trust, id: "spiffe://\(domain)/trainer/rank1")
        impostor.log = nil
        let (refused, impostorSide) = try Self.establish(listener: listener, context: context, client: impostor)
        say("impostor sees:  \(Self.describe(impostorSide))")
        say("rank0 answers:  \(Self.describe(refused))")

        step(6, "a tampered message injected into rank0's queue pair")
        let text = Array("gradient shard 7".utf8)
        try client.send(text)
        say("genuine message delivered: \"\(String(decoding: try server.receive(), as: UTF8.self))\"")
        try client.flush()
        try TamperedFrame.inject(on: client, victim: server)
        do {
            let bytes = try server.receive(timeout: .seconds(10))
            throw ChannelError.protocolViolation("a tampered message was delivered (\(bytes.count) bytes)")
        } catch ChannelError.rejected(let reason, let tornDown) {
            say("rank0 refused it: \(ChannelError.rejected(reason, tornDown: tornDown))")
        }
        say("rank0 counters: verified \(server.receiveMetrics.messagesOpened), rejected \(server.receiveMetrics.failures)")
        client.close()
        print("\ndemo finished: identities proven, traffic authenticated, impostor and tampering refused")
    }

    private func configuration(ca: CertificateAuthority, verifier: IdentityVerifier, id: String) throws -> ChannelConfiguration {
        let issued = try ca.issue(id: try SPIFFEID(id), ttl: 3600)
        var c = ChannelConfiguration(credential: try Credential(chain: issued.chain, privateKey: issued.privateKey),
            verifier: verifier, policy: try Policy(text: "allow prefix spiffe://demo.fabricauth.test/trainer"))
        c.gidIndex = device.resolvedGidIndex
        c.maxMessageSize = size
        c.sendDepth = 16
        // 4 WRITEs in flight (window): 7 requests keep 16 receive slots enough.
        c.remoteAccessDepth = 7
        c.receiveDepth = c.minimumReceiveDepth
        c.setupTimeout = .seconds(20)
        c.log = { line in say("  log: \(line)") }
        return c
    }

    private func step(_ n: Int, _ title: String) { print("\n[\(n)] \(title)") }

    static func describe(_ result: Result<AuthenticatedQueuePair, ChannelError>) -> String {
        switch result {
        case .success(let channel): "ACCEPTED \(channel.peer.spiffeID) (this is a bug)"
        case .failure(let error): "\(error)"
        }
    }

    /// Accepts on a second thread while this one connects.
    static func establish(
        listener: AuthenticatedListener, context: Context, client: ChannelConfiguration
    ) throws -> (Result<AuthenticatedQueuePair, ChannelError>, Result<AuthenticatedQueuePair, ChannelError>) {
        let box = ResultBox(listener)
        let done = DispatchSemaphore(value: 0)
        let port = listener.port
        Thread.detachNewThread {
            box.accepted = Result { () throws(ChannelError) in try box.listener.accept(timeout: .seconds(30)) }
            done.signal()
        }
        let connected = Result { () throws(ChannelError) in
            try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: port, configuration: client)
        }
        done.wait()
        return (box.accepted!, connected)
    }

    static func concurrently(_ background: @escaping () throws -> Void, _ foreground: () throws -> Void) throws {
        let box = ErrorBox(background)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { try box.body() } catch { box.error = error }
            done.signal()
        }
        try foreground()
        done.wait()
        if let error = box.error { throw error }
    }

    /// WRITEs in flight in the throughput runs (plain and authenticated alike).
    static let window = 4

    /// Authenticated WRITEs, `window` in flight: rank0 grants a target per
    /// message (`irecv`), rank1 writes it (`isend`); one thread drives both.
    static func authenticatedWriteBandwidth(client: AuthenticatedQueuePair, server: AuthenticatedQueuePair, messages: Int, size: Int) throws -> Double {
        let source = try client.allocateMemory(bytes: size)
        let target = try server.allocateMemory(bytes: size * window)
        source.bytes.initializeMemory(as: UInt8.self, repeating: 0xA5)
        var grants = [ChannelRequest?](repeating: nil, count: window)
        var writes = [ChannelRequest?](repeating: nil, count: window)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(120)
        var granted = 0, done = 0
        while done < messages {
            for k in 0..<window {
                if grants[k] == nil, writes[k] == nil, granted < messages {
                    grants[k] = try server.irecv(target, range: (k * size)..<((k + 1) * size))
                    granted += 1
                }
                if grants[k] != nil, writes[k] == nil {
                    writes[k] = try client.isend(source, range: 0..<size)
                }
                if let w = writes[k], try client.test(w) != nil, let g = grants[k], try server.test(g) != nil {
                    grants[k] = nil
                    writes[k] = nil
                    done += 1
                }
            }
            if clock.now > deadline { throw ChannelError.timedOut("authenticated WRITEs (\(done) of \(messages) done)") }
        }
        return megabytesPerSecond(bytes: messages * size, elapsed: start.duration(to: clock.now))
    }

    static func megabytesPerSecond(bytes: Int, elapsed: Duration) -> Double {
        let (s, atto) = elapsed.components
        return Double(bytes) / (Double(s) + Double(atto) / 1e18) / 1e6
    }
}

private func say(_ line: String) { print("    \(line)") }

private final class ResultBox: @unchecked Sendable {
    let listener: AuthenticatedListener
    var accepted: Result<AuthenticatedQueuePair, ChannelError>?
    init(_ listener: AuthenticatedListener) { self.listener = listener }
}

private final class ErrorBox: @unchecked Sendable {
    let body: () throws -> Void
    var error: (any Error)?
    init(_ body: @escaping () throws -> Void) { self.body = body }
}
