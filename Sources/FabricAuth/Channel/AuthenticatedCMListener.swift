import Foundation
import Handshake
import Verbs

/// The passive side of ``AuthenticatedCMConnection``: an rdma_cm listener
/// that authenticates each connection request as the handshake initiator,
/// several at once, and hands authenticated channels to `accept`.
///
/// Any host on the fabric can send a CM connect request, so until a
/// connection has completed the handshake the listener treats it as a
/// stranger (issue 12, item 4, as ``AuthenticatedListener`` does on TCP):
/// - each request is established and authenticated on a thread of its own,
///   under one short deadline (`Screening.handshakeTimeout`) for both, so a
///   peer that connects and stays silent, or talks slowly, delays no other
///   client;
/// - at most `Screening.maxPendingConnections` connections are held between
///   the request and `accept` taking the channel; a request beyond that is
///   refused at once with rdma_reject (before a QP is made for it) and
///   counted;
/// - a connection whose establishment or handshake fails or times out is torn
///   down (its QP moved to ERROR and destroyed, then its rdma_cm_id
///   destroyed, which sends the peer a DREQ), counted in ``metrics`` and
///   logged once; none of them ends `accept`, which returns only
///   authenticated channels and throws only for its own timeout or an error
///   of the listening identifier itself.
///
/// What the listener discloses before the client has authenticated, as far
/// as rdma_cm lets it choose: the CM REP that answers a request carries this
/// side's QPN and starting PSN (IB spec 12.7.36, REP; the kernel CM fills
/// them, rdma_accept cannot withhold them), and the client already knows the
/// GID and port it connected to. Its own private data is empty (rdma_cm adds
/// none to a REP; the REQ's 36-byte rdma_cm header carries the *client's*
/// addresses and port, not ours). In-band, M1 carries a fresh ephemeral key
/// and the same QPN/PSN/GID/MTU binding. The listener's certificate and
/// SPIFFE ID are sent only in M3, after the client's M2 has been verified
/// against the trust bundle and the policy, so a scanner learns nothing of
/// the listener's identity. (The price, as in SIGMA-I: the client's identity
/// goes to whoever answers its connect request, encrypted under an
/// unauthenticated Diffie-Hellman key.)
///
/// `accept` may be called from several threads: one polls the listening
/// identifier in short slices while the others wait for ready channels.
public final class AuthenticatedCMListener: @unchecked Sendable {
    /// Limits on connections that have not authenticated yet.
    public struct Screening: Sendable {
        /// How long a connection request may take from the request to a
        /// finished handshake (RTU plus the four handshake messages: a few
        /// round trips, well under a second on a loaded host). Replaces the
        /// channel's `setupTimeout` for this listener's connections.
        public var handshakeTimeout: Duration = .seconds(3)
        /// Connections held between their request and `accept` taking the
        /// channel, at most: each holds a QP, CQs and receive slots, so this
        /// bounds what strangers can make the listener allocate.
        public var maxPendingConnections = 16
        /// Where each torn-down or rejected connection is reported (one
        /// line each); defaults to the channel configuration's log.
        public var log: (@Sendable (String) -> Void)?

        public init() {}
    }

    public let configuration: ChannelConfiguration
    public let screening: Screening
    /// Requests received, rejected, torn down and authenticated so far.
    public let metrics = CMListenerMetrics()
    private let listener: ConnectionListener
    /// Refused and torn-down connections in the audit trail; nil without `configuration.audit`.
    private let refusals: ListenerAudit?
    /// Held by the thread that polls the listening identifier.
    private let polling = NSLock()
    /// Guards `inFlight`, `ready` and `sequence`; signalled when a channel is ready.
    private let state = NSCondition()
    /// Connections being established or authenticated.
    private var inFlight = 0
    /// Authenticated channels waiting for `accept`, oldest first.
    private var ready: [AuthenticatedQueuePair] = []
    /// Numbers connection requests for the log.
    private var sequence = 0

    /// How long one poll of the listening identifier lasts before a waiting
    /// `accept` looks at the ready channels again.
    private static let pollSlice: Duration = .milliseconds(20)

    /// The rdma_cm port (useful when `port` was 0).
    public var port: UInt16 { listener.port }

    /// Connections being set up or waiting for `accept` now (for tests and monitoring).
    public var pendingConnections: Int { state.withLock { inFlight + ready.count } }

    /// Listens on `address` (an address of an RDMA netdev, e.g. the rxe0's) and `port`.
    public init(address: String, port: UInt16 = 0, configuration: ChannelConfiguration, screening: Screening = Screening())
        throws(ChannelError)
    {
        precondition(screening.maxPendingConnections > 0, "a listener must hold at least one pending connection")
        self.configuration = configuration
        var screening = screening
        if screening.log == nil { screening.log = configuration.log }
        self.screening = screening
        // The kernel queues requests while we are between polls; room for the bound and then some.
        let backlog = Int32(clamping: max(64, 2 * screening.maxPendingConnections))
        let listening: ConnectionListener
        do { listening = try ConnectionListener(address: address, port: port, backlog: backlog) } catch { throw .verbs(error) }
        listener = listening
        refusals = configuration.audit.map { ListenerAudit(log: $0, transport: .rdmaCM, port: listening.port) }
    }

    deinit { refusals?.finish() }

    /// Waits up to `timeout` for a connection that completes the handshake,
    /// meanwhile rejecting requests over the bound and tearing down those that
    /// fail (each counted in ``metrics``). Throws `.timedOut` when no channel
    /// was authenticated in time, or a verbs error of the listening identifier.
    public func accept(timeout: Duration = .seconds(60)) throws(ChannelError) -> AuthenticatedQueuePair {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let channel = takeReady() { return channel }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw .timedOut("no rdma_cm client authenticated within \(timeout)") }
            let slice = min(left, Self.pollSlice)
            if polling.try() {
                defer { polling.unlock() }
                let request: IncomingConnection?
                do { request = try listener.pollRequest(timeout: slice) } catch { throw .verbs(error) }
                if let request { admit(request) }
            } else {
                // Another caller polls; wake when a channel is ready or the slice ends.
                state.lock()
                if ready.isEmpty { _ = state.wait(until: Date(timeIntervalSinceNow: slice.timeInterval)) }
                state.unlock()
            }
        }
    }

    private func takeReady() -> AuthenticatedQueuePair? {
        state.withLock { ready.isEmpty ? nil : ready.removeFirst() }
    }

    /// Rejects `request` over the bound, or starts its setup on a thread of its own.
    private func admit(_ request: IncomingConnection) {
        metrics.recordRequest()
        let (admitted, number) = state.withLock { () -> (Bool, Int) in
            sequence += 1
            guard inFlight + ready.count < screening.maxPendingConnections else { return (false, sequence) }
            inFlight += 1
            return (true, sequence)
        }
        guard admitted else {
            metrics.recordRejectedOverBound()
            refusals?.refused("too_many_pending", peer: nil)
            // Best effort: if rdma_reject fails the requester's CM times out instead.
            let rejected = Result { () throws(VerbsError) in try request.reject() }
            screening.log?("rdma_cm request #\(number) rejected: \(screening.maxPendingConnections) connections pending"
                + (rejected.isFailure ? " (rdma_reject failed)" : ""))
            return  // `request` is released here: rdma_destroy_id
        }
        Thread.detachNewThread { [self] in
            let outcome = Result { () throws(ChannelError) in try setUp(request) }
            state.withLock {
                inFlight -= 1
                if case .success(let channel) = outcome { ready.append(channel) }
            }
            switch outcome {
            case .success:
                metrics.recordAuthenticated()
                state.broadcast()
            case .failure(let error):
                if error.isTimeout { metrics.recordTimedOut() } else { metrics.recordFailed() }
                refusals?.refused(error.isTimeout ? "timed_out" : "failed", peer: nil)
                screening.log?("rdma_cm connection #\(number) torn down (\(error.isTimeout ? "timed out" : "failed")): \(error)")
            }
            // On failure everything the setup made is released by now: the
            // QP (moved to ERROR by the handshake's failure path) is destroyed
            // before the rdma_cm_id it holds (ConnectionIdentifier's deinit).
        }
    }

    /// One connection: accept, establish, handshake, all before one deadline.
    private func setUp(_ request: IncomingConnection) throws(ChannelError) -> AuthenticatedQueuePair {
        let deadline = ContinuousClock.now + screening.handshakeTimeout
        do {
            let (resources, qp) = try AuthenticatedCMConnection.establish(context: request.context, configuration: configuration,
                timeout: screening.handshakeTimeout) { (r) throws(VerbsError) in
                try request.accept(pd: r.pd, sendCompletionQueue: r.sendCompletions, receiveCompletionQueue: r.receiveCompletions,
                    configuration: r.queuePairConfiguration(configuration), receives: r.allReceiveRequests)
            }
            // Nothing has moved yet: the peer waits for M1, so both PSNs are the initial ones.
            let path = try qp.connectedPath()
            let (local, remote) = try AuthenticatedCMConnection.endpoints(of: path, context: request.context,
                remotePSN: path.expectedReceivePSN)
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                try? qp.moveToError()
                throw ChannelError.timedOut("rdma_cm connection established too late for its handshake")
            }
            return try AuthenticatedConnector.authenticate(qp: qp, resources: resources, local: local, remote: remote,
                role: .initiator, configuration: configuration, session: nil, sessionCache: nil, timeout: left,
                transport: .rdmaCM)
        } catch {
            throw ChannelError(lowering: error)
        }
    }
}

extension ChannelError {
    /// Whether this is some layer's deadline passing (the peer was silent or slow).
    var isTimeout: Bool {
        switch self {
        case .timedOut: true
        case .handshake(let e): e.code == .timeout
        case .verbs(let e): e.code == .timedOut
        default: false
        }
    }
}

extension Result {
    fileprivate var isFailure: Bool { if case .failure = self { true } else { false } }
}

extension Duration {
    /// Seconds as a floating-point value (for Foundation's timed waits).
    fileprivate var timeInterval: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
