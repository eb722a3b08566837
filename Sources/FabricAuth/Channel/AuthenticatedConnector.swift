import Bootstrap
import Handshake
import Identity
import Verbs

/// Sets up authenticated queue pairs, perftest-style: the two ends swap QP
/// endpoints over TCP (unauthenticated, like `ib_write_bw` without `-R`),
/// connect their RC QPs, and then run the handshake in-band over the new QP.
/// The handshake binds both endpoints (QPN, PSN, GID, MTU) and both sides'
/// fresh randomness, so an attacker who rewrites the TCP exchange cannot get a
/// replayed handshake accepted or learn keys; it can make the handshake fail,
/// or point this side at another QP whose owner then has to authenticate
/// (docs/protocol.md, section 11.1).
///
/// One TCP connection carries two round trips: the client speaks first (its
/// endpoint and a random token; the listener discloses nothing before), and
/// the second round trip is a barrier that guarantees both QPs reached RTS
/// before the first in-band SEND. Keeping both on one connection means no
/// other connection to the listener can come between them.
public enum AuthenticatedConnector {
    /// The longest `route` a client's first message carries after its token.
    public static let maxRouteBytes = 64

    /// Connects to an ``AuthenticatedListener`` at `host:port` as the handshake initiator.
    ///
    /// With `sessions`, a client-side ``SessionCache``: a full handshake leaves
    /// its session there under `host:port`, and the next channel to the same
    /// listener resumes from it -- fresh keys bound to the new QP from three
    /// messages with nonces from both sides, no certificates or Diffie-Hellman.
    /// Connections started at once to a listener with no session yet wait for
    /// the first one's full handshake (up to the setup timeout) and resume.
    /// When the listener refuses to resume, that session is forgotten; if it
    /// refused because it does not hold the session (it restarted, the session
    /// expired there), this call runs a full handshake on a new QP at once.
    ///
    /// `route` (at most ``maxRouteBytes``) travels after the client token in
    /// the first TCP message: a listener that serves several consumers
    /// (``AuthenticatedListener/acceptClient(timeout:)``) tells them apart by
    /// it. It is not authenticated there; a caller that routes channels by it
    /// also puts it in `configuration.handshakePayload`, which the handshake
    /// authenticates (the listener's channel has it as `peerPayload`).
    public static func connect(
        context: Context, host: String, port: UInt16, configuration: ChannelConfiguration,
        sessions: SessionCache? = nil, route: [UInt8] = []
    ) throws(ChannelError) -> AuthenticatedQueuePair {
        try ConnectorSetup(context: context, host: host, port: port, configuration: configuration,
            sessions: sessions, route: route).run()
    }

    /// Runs the handshake on a connected QP and builds the channel, or tears the QP down.
    /// `timeout` bounds the handshake (the channel's `setupTimeout` when nil).
    static func authenticate(
        qp: QueuePair, resources: ChannelResources, local: QueuePairEndpoint, remote: QueuePairEndpoint,
        role: ChannelBinding.Role, configuration: ChannelConfiguration, session: ResumableSession?,
        sessionCache: SessionCache?, destination: String? = nil, firstMessage: [UInt8]? = nil, timeout: Duration? = nil,
        transport: AuditEvent.Handshake.Transport = .tcp
    ) throws(ChannelError) -> AuthenticatedQueuePair {
        let setup = HandshakeSetup(qp: qp, resources: resources, local: local, remote: remote, role: role,
            configuration: configuration, session: session, sessionCache: sessionCache, destination: destination,
            timeout: timeout, transport: transport)
        let result: HandshakeResult
        do {
            result = try InBandHandshake.run(setup.machine, over: qp, resources: resources, timeout: setup.timeout,
                firstMessage: firstMessage)
        } catch {
            throw setup.fail(error)
        }
        return try setup.finish(result)
    }
}

extension ChannelBinding {
    /// The handshake's view of a verbs endpoint.
    init(_ endpoint: QueuePairEndpoint, role: Role) {
        var gid = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { gid[i] = endpoint.gid.bytes[i] }
        self.init(role: role, qpn: endpoint.queuePairNumber, psn: endpoint.packetSequenceNumber, gid: gid,
            mtu: UInt32(endpoint.mtu.bytes))
    }
}

extension ChannelError {
    /// The listener refused to resume because it no longer holds the session,
    /// not because it refuses this peer (revocation and policy are other codes).
    var isStaleSessionRefusal: Bool {
        guard case .handshake(let e) = self, e.code == .peerAborted else { return false }
        return e.remoteCode == .unknownSession || e.remoteCode == .sessionExpired
    }
}
