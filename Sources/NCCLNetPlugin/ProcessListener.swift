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
/// channel's `peerPayload`), by which an accepted channel is routed.
///
/// No thread of its own: every NCCL `accept` call runs ``progress()``, which
/// screens new connections and runs one step of each setup in progress
/// (``AuthenticatedListener/progress()``), whichever `listen` they are for.
/// NCCL keeps calling `accept` for a `listen` until it has its comm, so every
/// setup keeps moving while its peer's `connect` waits for it.
final class ProcessListener: @unchecked Sendable {
    typealias Outcome = Result<AuthenticatedQueuePair, ChannelError>

    let port: UInt16
    private let listener: AuthenticatedListener
    private let lock = NSLock()
    /// Registered routes; a value once a setup for that route ended and `accept` has not taken it.
    private var routes: [[UInt8]: Outcome?] = [:]

    init(context: Context, configuration: ChannelConfiguration, address: String) throws(ChannelError) {
        // Sessions are this listener's own (responder side); NCCL's channels x
        // peers connections fit in 1024 for any job size the rest allows.
        listener = try AuthenticatedListener(context: context, configuration: configuration, address: address)
        (configuration.observer as? MetricsRegistry)?.watch(listener.bootstrapCounters)
        port = listener.port
    }

    /// A new route for one `listen`.
    func register() -> [UInt8] {
        let route = ListenHandle.randomRoute()
        lock.withLock { routes[route] = .some(nil) }
        return route
    }

    /// Moves every setup one step, then the finished setup for `route`, once
    /// (nil while none has ended).
    func take(_ route: [UInt8]) -> Handoff<Outcome>? {
        progress()
        return lock.withLock {
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

    /// A new load replaces this one: what was accepted and never taken is closed.
    func stop() {
        let left = lock.withLock { () -> [Outcome?] in
            defer { routes.removeAll() }
            return Array(routes.values)
        }
        for case .some(.success(let channel)) in left { channel.close() }
    }

    private func progress() {
        let ended: [AuthenticatedListener.AcceptedClient]
        do {
            ended = try listener.progress()
        } catch {
            PluginLog.warn("listener on port \(port): \(error)")
            return
        }
        for accepted in ended { deliver(accepted) }
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
            PluginLog.info("closed a connection from \(channel.peer.spiffeID) on port \(port): it names no open listen")
            channel.close()
        case .failure(let error):
            _ = PluginPeerLog.refused("accept on port \(port) (for no open listen)", error)
        }
    }
}

/// A channel moved between NCCL's threads through ``ProcessListener``'s
/// table. A channel is not thread-safe, but it is only ever used by one
/// thread at a time: the one whose `accept` finished its setup until it
/// stores it under the table's lock, the one whose `accept` takes it after.
struct Handoff<T>: @unchecked Sendable {
    let value: T
}

/// NCCL's listenComm: one route of the load's ``ProcessListener``, whose
/// setups its `accept` calls move along; `accept` takes its connection.
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
