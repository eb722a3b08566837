import ArgumentParser
import FabricAuth
import Foundation

/// `fabricauth bench`: perftest's six tests, with perftest's flags and output,
/// on raw verbs and on FabricAuth's authenticated queue pairs side by side.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "perftest-compatible benchmarks, plain verbs against authenticated queue pairs.",
        discussion: """
            Tests: send_lat, send_bw, write_lat, write_bw, read_lat, read_bw (perftest's ib_<test>).
            Run it without HOST on the server and with HOST on the client, as perftest. The server
            follows the client's sizes, iterations, QPs and --auth; the test names must agree.
            Output follows perftest 4.5's layout (MB/sec = 2^20 bytes/s, latency in usec, half
            the round trip except READ). --auth both (the default) measures plain verbs and
            FabricAuth's authenticated path in the same run and prints auth/plain per size; it
            needs the certificate options (see `fabricauth ping`), --auth off does not.
            Ctrl-C stops both sides; a peer that goes away ends the other side within seconds.
            The server serves one client after another until Ctrl-C; a client whose run fails
            (or a connection that is not a bench client) is logged and the next one is served.
            With --once the server serves one client and exits with that run's outcome.
            """
    )

    @Argument(help: "Test: send_lat, send_bw, write_lat, write_bw, read_lat or read_bw.")
    var test: String

    @Argument(help: "The server's host name or address (omit to be the server).")
    var host: String?

    @OptionGroup var device: DeviceOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var audit: AuditOptions

    @Option(name: [.customShort("i"), .customLong("ib-port")], help: "Port of the RDMA device (default 1).")
    var ibPort: Int = 1

    @Option(name: [.customShort("s"), .customLong("size")], help: "Message size in bytes (default 65536 for bandwidth, 2 for latency).")
    var size: Int?

    @Flag(name: [.customShort("a"), .customLong("all")], help: "Run sizes from 2 B to 8 MiB (powers of two).")
    var all = false

    @Option(name: [.customShort("n"), .customLong("iters")], help: "Iterations per size (default 5000 for bandwidth, 1000 for latency).")
    var iterations: Int?

    @Option(name: [.customShort("D"), .customLong("duration")], help: "Run each size for this many seconds instead of -n.")
    var duration: Int?

    @Option(name: [.customShort("q"), .customLong("qp")], help: "Number of QPs (bandwidth tests), driven round-robin.")
    var queuePairs: Int = 1

    @Option(name: [.customShort("m"), .customLong("mtu")], help: "Path MTU: 256, 512, 1024, 2048 or 4096 (default: the port's).")
    var mtu: Int?

    @Flag(name: [.customShort("R"), .customLong("rdma_cm")], help: "Connect QPs with rdma_cm (HOST must be the RDMA interface's address).")
    var rdmaCM = false

    @Flag(name: .customLong("report_gbits"), help: "Report bandwidth in Gb/sec (10^9 bits) instead of MB/sec (2^20 bytes).")
    var reportGbits = false

    @Option(name: [.customShort("t"), .customLong("tx-depth")], help: "Send queue depth (default 128 for bandwidth, 1 for latency).")
    var txDepth: Int?

    @Option(name: [.customShort("r"), .customLong("rx-depth")], help: "Receives posted per QP (default 512 for SEND tests, 1 otherwise).")
    var rxDepth: Int?

    @Option(help: "on: authenticated only; off: plain verbs only; both: both in one run, with their ratio.")
    var auth: String = "both"

    @Flag(help: "Print the results as one JSON document instead of perftest's table.")
    var json = false

    @Flag(help: "Server: serve one client, then exit (status 0 if its run succeeded).")
    var once = false

    // The certificate options of `ping` (IdentityOptions and TrustOptions),
    // declared here rather than as an @OptionGroup because ArgumentParser
    // validates every option group, and those groups require a certificate,
    // which --auth off does not need. They are handed to IdentityOptions
    // unchanged when authentication is on, so its checks and messages apply.
    @Option(help: "This endpoint's certificate chain (PEM: leaf, then intermediates).")
    var cert: String?
    @Option(help: "This endpoint's private key (PEM).")
    var key: String?
    @Option(help: "Trust bundle PEM (CA certificates); repeatable.")
    var bundle: [String] = []
    @Option(name: .customLong("trust-domain"), help: "Trust domain the bundle vouches for (default: from the CA's URI SAN).")
    var trustDomain: String?
    @Option(help: "Deny list to apply (sha256:/serial: lines).")
    var revocations: String?
    @Option(help: "Policy file: YAML (docs/operations.md, Policy files; check it with `fabricauth policy check`) or lines of 'allow|deny id|prefix|domain VALUE'.")
    var policy: String?
    @Option(help: "Allow rule, e.g. 'prefix spiffe://cluster.example/trainer'; repeatable.")
    var allow: [String] = []
    @Option(name: .customLong("quarantine-file"),
        help: "Shared quarantine list (`fabricauth quarantine add`): listed peers are refused and cut off; watched, no restart needed.")
    var quarantineFile: String?
    @Option(name: .customLong("quarantine-for"), help: "How long a misbehaving peer is quarantined (default 10m).")
    var quarantineFor: String?

    func validate() throws {
        _ = try parameters()
        if BenchAuth(rawValue: auth) != .off { _ = try identityOptions() }
    }

    /// The validated run parameters (everything but the certificates).
    func parameters() throws -> BenchParameters {
        guard let test = BenchTest(rawValue: test) else {
            throw ValidationError("unknown test '\(self.test)': choose one of \(BenchTest.names)")
        }
        guard let auth = BenchAuth(rawValue: auth) else {
            throw ValidationError("--auth must be on, off or both (got '\(self.auth)')")
        }
        if all && size != nil { throw ValidationError("-a runs every size from 2 B to 8 MiB: give -a or -s, not both") }
        if let size, !(1...BenchLimits.maxSize).contains(size) {
            throw ValidationError("-s must be between 1 and \(BenchLimits.maxSize) bytes (perftest's limit, 8 MiB); got \(size)")
        }
        if let iterations, !BenchLimits.iterations.contains(iterations) {
            throw ValidationError("-n must be between \(BenchLimits.iterations.lowerBound) and \(BenchLimits.iterations.upperBound) (perftest's limits); got \(iterations)")
        }
        if let duration {
            guard duration > 0 else { throw ValidationError("-D must be at least 1 second; got \(duration)") }
            if iterations != nil { throw ValidationError("give -n (iterations) or -D (seconds), not both") }
            if all { throw ValidationError("-D runs one size for a time; give -s instead of -a") }
        }
        guard BenchLimits.queuePairs.contains(queuePairs) else {
            throw ValidationError("-q must be between 1 and \(BenchLimits.queuePairs.upperBound); got \(queuePairs)")
        }
        if test.isLatency && queuePairs != 1 {
            throw ValidationError("\(test.rawValue) uses one QP (as perftest's latency tests); -q is for bandwidth tests")
        }
        if let mtu, !BenchLimits.mtus.contains(mtu) {
            throw ValidationError("-m must be one of \(BenchLimits.mtus.map(String.init).joined(separator: ", ")); got \(mtu)")
        }
        guard BenchLimits.ibPort.contains(ibPort) else { throw ValidationError("-i must be between 1 and 3; got \(ibPort)") }
        if let gid = device.gidIndex, !BenchLimits.gidIndex.contains(gid) {
            throw ValidationError("-x must be between 0 and 64; got \(gid)")
        }
        let tx = txDepth ?? (test.isLatency ? 1 : 128)
        let rx = rxDepth ?? (test.verb == .send ? 512 : 1)
        guard BenchLimits.txDepth.contains(tx) else { throw ValidationError("-t must be between 1 and 15000; got \(tx)") }
        guard BenchLimits.rxDepth.contains(rx) else { throw ValidationError("-r must be between 1 and 16384; got \(rx)") }
        if auth != .off {
            if test.verb == .read, duration != nil {
                // The owner offers exactly as many READs as the reader takes;
                // a timed run has no count to offer (AuthenticatedTransport+RemoteAccess.swift).
                throw ValidationError("authenticated \(test.rawValue) runs a fixed number of READs: use -n, not -D (or --auth off)")
            }
            if ibPort != 1 { throw ValidationError("authenticated channels use port 1 of the device; -i \(ibPort) works with --auth off only") }
        }
        return BenchParameters(test: test, sizes: all ? BenchLimits.allSizes : [size ?? test.defaultSize],
            iterations: iterations ?? test.defaultIterations, duration: duration, queuePairs: queuePairs, auth: auth,
            txDepth: tx, rxDepth: rx, mtu: mtu, rdmaCM: rdmaCM, reportGbits: reportGbits)
    }

    /// `ping`'s identity options built from this command's flags.
    func identityOptions() throws -> IdentityOptions {
        var arguments: [String] = []
        if let cert { arguments += ["--cert", cert] }
        if let key { arguments += ["--key", key] }
        for b in bundle { arguments += ["--bundle", b] }
        if let trustDomain { arguments += ["--trust-domain", trustDomain] }
        if let revocations { arguments += ["--revocations", revocations] }
        if let policy { arguments += ["--policy", policy] }
        for a in allow { arguments += ["--allow", a] }
        if let quarantineFile { arguments += ["--quarantine-file", quarantineFile] }
        if let quarantineFor { arguments += ["--quarantine-for", quarantineFor] }
        do {
            return try IdentityOptions.parse(arguments)
        } catch {
            throw ValidationError("--auth \(auth) needs this endpoint's identity: \(IdentityOptions.message(for: error))"
                + " (or run with --auth off for plain verbs only)")
        }
    }

    func run() throws {
        BenchStop.shared.install()
        let parameters = try parameters()
        let export = try metrics.start()
        defer { export?.finish() }
        let auditLog = try audit.open()
        ProcessAudit.log.withLock { $0 = auditLog }
        defer { auditLog?.close() }
        guard host == nil else {
            let session = BenchSession(command: self, parameters: parameters)
            return try finish(session) { try session.runClient() }
        }
        let stop = BenchStop.shared
        let listener = try BenchControl.listen(port: device.port)
        defer { close(listener) }
        while true {
            FileHandle.standardError.write(Data("fabricauth bench: waiting for a client on TCP port \(device.port)\n".utf8))
            let control: BenchControl
            do { control = try BenchControl.accept(listener: listener, stop: stop) } catch {
                FileHandle.standardError.write(Data("fabricauth bench: \(error)\n".utf8))
                throw ExitCode(error.exitCode)
            }
            let session = BenchSession(command: self, parameters: parameters)
            do {
                try finish(session) { try session.runServer(control: control) }
                if once { return }
            } catch let exit as ExitCode where exit.rawValue != 130 && (!once || !session.greeted) {
                // One client's failed run must not end the service for the next;
                // nor, with --once, a connection that never became a client.
                FileHandle.standardError.write(Data("fabricauth bench: serving the next client\n".utf8))
            }
        }
    }

    /// Runs one session; on failure tells the peer, reports, and throws the exit status.
    private func finish(_ session: BenchSession, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            session.abort(error)
            FileHandle.standardError.write(Data("fabricauth bench: \(error)\n".utf8))
            throw ExitCode((error as? BenchError)?.exitCode ?? 1)
        }
    }
}
