import FabricAuth
import FabricAuthMetrics
import Foundation
import Synchronization
import Verbs

/// The one ``AuthenticatedListener`` of a load, shared by every NCCL
/// `listen`. NCCL opens channels x peers connections between the same two
/// processes, one `listen` each; with a listener per `listen` (an ephemeral
/// port each) a client's session for `host:port` would name a listener that
/// is gone by the next connection, and every connection would run a full
/// handshake. One listener that lives as long as the load keeps its
/// sessions, so a peer's first connection runs the full handshake and the
/// rest resume (docs/protocol.md section 6).
///
/// Each `listen` registers a random route that its handle carries; `connect`
/// sends it twice: after its token in the TCP exchange (unauthenticated, to
/// attribute a failed setup) and as its handshake payload (authenticated, the
/// channel's `peerPayload`), by which an accepted channel is routed. A fixed
/// set of threads accepts (``acceptThreadCount``): not a thread per `listen`,
/// and a client that passes the screening and then stalls holds one of them,
/// not the listener.
final class ProcessListener: @unchecked Sendable {
    typealias Outcome = Result<AuthenticatedQueuePair, ChannelError>

    /// Setups that may run at once (each on its own accept thread).
    static let acceptThreadCount = 4

    let port: UInt16
    private let listener: AuthenticatedListener
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    /// Registered routes; a value once a setup for that route ended and `accept` has not taken it.
    private var routes: [[UInt8]: Outcome?] = [:]
    private let stopping = Atomic<Bool>(false)
    private let threadsRunning = Atomic<Int>(0)

    init(context: Context, configuration: ChannelConfiguration, address: String) throws(ChannelError) {
        // Sessions are this listener's own (responder side); NCCL's channels x
        // peers connections fit in 1024 for any job size the rest allows.
        listener = try AuthenticatedListener(context: context, configuration: configuration, address: address)
        (configuration.observer as? MetricsRegistry)?.watch(listener.bootstrapCounters)
        port = listener.port
        log = { line in PluginLog.info(line) }
        for i in 0..<Self.acceptThreadCount {
            let thread = Thread { [self] in acceptLoop() }
            thread.name = "fabricauth-accept-\(i)"
            // Certificate parsing and the handshake run on this thread: more than Foundation's 512 KiB default.
            thread.stackSize = 4 << 20
            threadsRunning.add(1, ordering: .relaxed)
            thread.start()
        }
    }

    /// A new route for one `listen`.
    func register() -> [UInt8] {
        let route = ListenHandle.randomRoute()
        lock.withLock { routes[route] = .some(nil) }
        return route
    }

    /// The finished setup for `route`, once (nil while none has ended).
    func take(_ route: [UInt8]) -> Handoff<Outcome>? {
        lock.withLock {
            guard case .some(.some(let outcome)) = routes[route] else { return nil }
            routes[route] = .some(nil)
            return Handoff(value: outcome)
        }
    }

    /// NCCL closed the `listen`: a channel that arrives for it later is closed.
    func unregister(_ route: [UInt8]) {
        let left = lock.withLock { routes.removeValue(forKey: route) }
        if case .some(.some(.success(let channel))) = left { channel.close() }
    }

    /// Stops accepting (a new load replaces this one); returns once the
    /// threads have left, within about a second.
    func stop() {
        stopping.store(true, ordering: .releasing)
        while threadsRunning.load(ordering: .acquiring) > 0 { usleep(10_000) }
        let left = lock.withLock { () -> [Outcome?] in
            defer { routes.removeAll() }
            return Array(routes.values)
        }
        for case .some(.success(let channel)) in left { channel.close() }
    }

    private func acceptLoop() {
        defer { threadsRunning.subtract(1, ordering: .releasing) }
        while !stopping.load(ordering: .acquiring) {
            let accepted: AuthenticatedListener.AcceptedClient
            do {
                // Short waits, so `stop` is seen within one.
                accepted = try listener.acceptClient(timeout: .seconds(1))
            } catch {
                if case .bootstrap(let e) = error, e.code == .acceptTimedOut { continue }
                log("listener on port \(port): \(error)")
                usleep(100_000)
                continue
            }
            deliver(accepted)
        }
    }

    /// Hands a setup's outcome to the `listen` it names: a channel by its
    /// authenticated route, a failure by the route its client claimed.
    private func deliver(_ accepted: AuthenticatedListener.AcceptedClient) {
        let route: [UInt8]
        switch accepted.outcome {
        case .success(let channel): route = channel.peerPayload
        case .failure: route = accepted.route
        }
        let delivered = lock.withLock { () -> Bool in
            guard case .some(nil) = routes[route] else { return false }
            routes[route] = .some(accepted.outcome)
            return true
        }
        guard !delivered else { return }
        switch accepted.outcome {
        case .success(let channel):
            // An authenticated peer, but for no open listen (closed, never
            // made, or already given a connection): it never becomes a comm.
            log("closed a connection from \(channel.peer.spiffeID) on port \(port): it names no open listen")
            channel.close()
        case .failure(let error):
            _ = PluginPeerLog.refused("accept on port \(port) (for no open listen)", error)
        }
    }
}

/// A value moved from an accept thread to NCCL's proxy thread. A channel is
/// not thread-safe, but it is only ever used by one thread at a time: the
/// accept thread until it stores it under ``ProcessListener``'s lock, NCCL's
/// thread after it takes it under the same lock.
struct Handoff<T>: @unchecked Sendable {
    let value: T
}

/// NCCL's listenComm: one route of the load's ``ProcessListener``. Its
/// connection is set up on the listener's accept threads; `accept` takes it.
final class ListenComm {
    let runtime: PluginRuntime
    let listener: ProcessListener
    let route: [UInt8]
    /// When NCCL's peer must have connected by (FABRICAUTH_SETUP_TIMEOUT after `listen`).
    let deadline: ContinuousClock.Instant
    var accepted = false

    init(runtime: PluginRuntime) throws(ChannelError) {
        self.runtime = runtime
        listener = try runtime.processListener()
        route = listener.register()
        deadline = .now + .seconds(runtime.settings.setupTimeoutSeconds)
    }

    var port: UInt16 { listener.port }

    /// NCCL closed it: nothing may arrive for it any more.
    func close() { listener.unregister(route) }
}
