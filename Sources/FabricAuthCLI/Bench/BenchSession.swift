import FabricAuth
import FabricAuthMetrics
import Foundation
import Verbs

/// One bench from start to end on either side: the control connection, the
/// transports of each mode (plain first), every size on each transport in
/// turn (so plain and authenticated rows of a size are measured back to
/// back), and the way out on failure or Ctrl-C.
final class BenchSession {
    let command: BenchCommand
    /// This side's parameters; the server replaces them with the client's.
    private var parameters: BenchParameters
    private var control: BenchControl?
    private var transports: [BenchTransport] = []
    private let stop = BenchStop.shared
    /// Whether the peer said a HELLO this server accepted: before that it is
    /// not a bench client yet (a scanner, a wrong test name), and a server
    /// with --once goes on waiting for one.
    private(set) var greeted = false

    init(command: BenchCommand, parameters: BenchParameters) {
        self.command = command
        self.parameters = parameters
    }

    private var isClient: Bool { command.host != nil }

    /// Tells the peer why this side stops (unless the peer stopped first or is
    /// gone) and moves every QP to ERROR, so the peer's next wait ends at once.
    func abort(_ error: any Error) {
        if let control {
            switch error as? BenchError {
            case .interrupted?: control.tell("STOP interrupted (Ctrl-C) on the peer")
            case .peerStopped?, .peerGone?: break
            default: control.tell("STOP the peer failed: \(error)")
            }
        }
        for t in transports { t.close() }
        stop.unwatch()
    }

    // MARK: Client

    func runClient() throws {
        let host = command.host!
        let control = try BenchControl.connect(host: host, port: command.device.port, timeout: .seconds(30), stop: stop)
        self.control = control
        stop.watch(control)
        control.tell("HELLO " + String(decoding: try JSONEncoder().encode(parameters), as: UTF8.self))
        _ = try control.expect("OK", timeout: .seconds(30), stop: stop)
        let context = try openContextIfNeeded()
        let report = BenchReport(parameters: parameters, device: context?.deviceName ?? "(rdma_cm)", json: command.json)
        report.printHeader(role: "client")
        for mode in parameters.auth.modes {
            transports.append(try connect(mode, context: context, control: control))
        }
        for size in parameters.sizes {
            for transport in transports {
                let run = benchRun(size: size)
                let g = BenchGuard(control: control, stop: stop, label: "\(parameters.test.rawValue) \(size) B \(transport.mode.rawValue)")
                let (row, messages) = try transport.runClient(run, guard: g)
                control.tell("END \(messages) " + String(decoding: try JSONEncoder().encode(row), as: UTF8.self))
                _ = try control.expect("NEXT", timeout: .seconds(60), stop: stop)
                report.add(row)
            }
        }
        control.tell("BYE")
        report.printFooter()
        try report.printJSON(role: "client")
        stop.unwatch()
    }

    // MARK: Server

    /// Serves the client on `control`, which the command accepted.
    func runServer(control: BenchControl) throws {
        self.control = control
        stop.watch(control)
        let hello = try control.expect("HELLO", timeout: BenchLimits.hello, stop: stop)
        let asked: BenchParameters
        do { asked = try JSONDecoder().decode(BenchParameters.self, from: Data(hello.utf8)) } catch {
            control.tell("ERROR unreadable parameters (a different fabricauth version?)")
            throw BenchError.protocolError("unreadable HELLO from the client")
        }
        guard asked.test == parameters.test else {
            let why = "the server runs \(parameters.test.rawValue) but the client asked for \(asked.test.rawValue)"
            control.tell("ERROR \(why)")
            throw BenchError.setup(why)
        }
        if asked.auth != .off && parameters.auth == .off {
            let why = "the client asked for --auth \(asked.auth.rawValue) but the server runs with --auth off (start it with --cert, --key, --bundle and --allow)"
            control.tell("ERROR \(why)")
            throw BenchError.setup(why)
        }
        parameters = asked
        control.tell("OK")
        greeted = true
        let context = try openContextIfNeeded()
        let report = BenchReport(parameters: parameters, device: context?.deviceName ?? "(rdma_cm)", json: command.json)
        report.printHeader(role: "server")
        for mode in parameters.auth.modes {
            transports.append(try connect(mode, context: context, control: control))
        }
        for size in parameters.sizes {
            for transport in transports {
                let run = benchRun(size: size)
                let passive = transport.mode == .plain && (parameters.test.verb != .send && parameters.test != .writeLatency)
                let g = BenchGuard(control: control, stop: stop, label: "\(parameters.test.rawValue) \(size) B \(transport.mode.rawValue)",
                    passive: passive)
                let served = try transport.runServer(run, guard: g)
                let end = try g.takePendingLine().map { line throws(BenchError) in try BenchControl.checkStop(line) }
                    ?? "END " + control.expect("END", timeout: BenchLimits.stall + .seconds(10), stop: stop)
                let (count, row) = try Self.parseEnd(end)
                guard count == served else {
                    throw BenchError.protocolError("the client sent \(count) messages of \(size) B, this side served \(served)")
                }
                control.tell("NEXT")
                report.add(row)
            }
        }
        _ = try control.expect("BYE", timeout: .seconds(30), stop: stop)
        report.printFooter()
        try report.printJSON(role: "server")
        stop.unwatch()
    }

    /// "END count {row}".
    private static func parseEnd(_ line: String) throws -> (Int, BenchRow) {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == "END", let count = Int(parts[1]) else {
            throw BenchError.protocolError("expected END from the client, got \"\(line.prefix(80))\"")
        }
        return (count, try JSONDecoder().decode(BenchRow.self, from: Data(parts[2].utf8)))
    }

    // MARK: Shared

    private func benchRun(size: Int) -> BenchRun {
        BenchRun(test: parameters.test, size: size, iterations: parameters.iterations, duration: parameters.duration,
            queuePairs: parameters.queuePairs, txDepth: parameters.txDepth, reportGbits: parameters.reportGbits)
    }

    /// The device context for the TCP-exchange paths; rdma_cm (-R) picks the
    /// device from the address instead.
    private func openContextIfNeeded() throws -> Context? {
        parameters.rdmaCM ? nil : try command.device.openContext()
    }

    private func connect(_ mode: BenchMode, context: Context?, control: BenchControl) throws -> BenchTransport {
        switch mode {
        case .plain:
            let settings = PlainTransport.Settings(parameters: parameters, ibPort: UInt8(command.ibPort),
                gidIndex: command.device.resolvedGidIndex, isClient: isClient, host: command.host)
            if let context { return try PlainTransport.connect(context: context, settings: settings, control: control, stop: stop) }
            return try PlainTransport.connectCM(settings: settings, control: control, stop: stop)
        case .authenticated:
            let base = try command.identityOptions().channelConfiguration(watch: !isClient)
            var configuration = AuthenticatedTransport.configure(base, parameters: parameters, gidIndex: command.device.resolvedGidIndex)
            if command.metrics.enabled { MetricsRegistry.shared.instrument(&configuration) }
            configuration.audit = ProcessAudit.log.withLock { $0 }
            // rdma_cm does not need the context; the TCP exchange does.
            let ctx = try context ?? command.device.openContext()
            if isClient {
                return try AuthenticatedTransport.connectClient(context: ctx, host: command.host!, configuration: configuration,
                    parameters: parameters, control: control, stop: stop)
            }
            return try AuthenticatedTransport.connectServer(context: ctx, configuration: configuration, parameters: parameters,
                control: control, stop: stop)
        }
    }
}
