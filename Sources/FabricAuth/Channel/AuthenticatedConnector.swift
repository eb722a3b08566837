import CSodium
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
/// Two TCP exchanges frame the QP bring-up: the second is a barrier that
/// guarantees both QPs reached RTS before the first in-band SEND, and repeats
/// the initiator's random token so the listener knows it is the same client.
public enum AuthenticatedConnector {
    /// Connects to an ``AuthenticatedListener`` at `host:port` as the handshake initiator.
    ///
    /// With `sessions`, a client-side ``SessionCache``: a full handshake leaves
    /// its session there under `host:port`, and the next channel to the same
    /// listener resumes from it -- fresh keys bound to the new QP from three
    /// messages with nonces from both sides, no certificates or Diffie-Hellman.
    /// When the listener refuses to resume (it restarted, the session expired,
    /// the peer was revoked), that session is forgotten, so the next attempt
    /// runs a full handshake.
    public static func connect(
        context: Context, host: String, port: UInt16, configuration: ChannelConfiguration,
        sessions: SessionCache? = nil
    ) throws(ChannelError) -> AuthenticatedQueuePair {
        let destination = "\(host):\(port)"
        let session = sessions?.session(for: destination, now: SystemClock().now())
        let resources = try ChannelResources(context: context, configuration: configuration)
        let prepared = try resources.prepareQueuePair(configuration: configuration)
        let local = prepared.endpoint
        var token = [UInt8](repeating: 0, count: 16)
        randombytes_buf(&token, token.count)

        let first: ExchangeMessage
        do {
            first = try EndpointExchange.exchange(host: host, port: port,
                local: ExchangeMessage(endpoint: local, payload: token), timeout: configuration.setupTimeout)
        } catch { throw .verbs(error) }
        let qp: QueuePair
        do throws(VerbsError) {
            qp = try prepared.connect(to: first.endpoint, parameters: configuration.connection,
                receives: resources.allReceiveRequests)
            let barrier = try EndpointExchange.exchange(host: host, port: port,
                local: ExchangeMessage(endpoint: local, payload: token), timeout: configuration.setupTimeout)
            guard barrier.endpoint == first.endpoint else {
                throw VerbsError(.protocolViolation, function: "tcp exchange", reason: "listener changed its endpoint between exchanges")
            }
        } catch { throw .verbs(error) }
        do {
            return try authenticate(qp: qp, resources: resources, local: local, remote: first.endpoint,
                role: .initiator, configuration: configuration, session: session, sessionCache: sessions,
                destination: destination)
        } catch {
            if session != nil { sessions?.forget(destination: destination) }
            throw error
        }
    }

    /// Runs the handshake on a connected QP and builds the channel, or tears the QP down.
    static func authenticate(
        qp: QueuePair, resources: ChannelResources, local: QueuePairEndpoint, remote: QueuePairEndpoint,
        role: ChannelBinding.Role, configuration: ChannelConfiguration, session: ResumableSession?,
        sessionCache: SessionCache?, destination: String? = nil, firstMessage: [UInt8]? = nil
    ) throws(ChannelError) -> AuthenticatedQueuePair {
        let peerRole: ChannelBinding.Role = role == .initiator ? .responder : .initiator
        var lookup: (@Sendable ([UInt8]) -> ResumableSession?)?
        if let sessionCache, role == .responder { lookup = { sessionCache.lookup($0) } }
        let handshakeConfiguration = HandshakeConfiguration(
            credential: CertificateCredential(configuration.credential),
            verifier: CertificatePeerVerifier(verifier: configuration.verifier, policy: configuration.policy,
                log: configuration.log),
            localBinding: ChannelBinding(local, role: role),
            expectedRemoteBinding: ChannelBinding(remote, role: peerRole),
            suites: configuration.suites,
            payload: configuration.handshakePayload,
            timeout: configuration.setupTimeout,
            counters: configuration.handshakeCounters,
            sessionLookup: lookup)
        let machine = session.map { HandshakeMachine(resuming: $0, configuration: handshakeConfiguration) }
            ?? HandshakeMachine(configuration: handshakeConfiguration)
        do throws(ChannelError) {
            let result = try InBandHandshake.run(machine, over: qp, resources: resources, timeout: configuration.setupTimeout,
                firstMessage: firstMessage)
            configuration.log?("authenticated \(result.peer.identity) on QP \(qp.number) (suite \(result.suite)\(result.resumed ? ", resumed" : ""))")
            // The cache gets its own copy: the channel wipes the result's.
            if !result.resumed { sessionCache?.insert(result.session.copied(), destination: destination) }
            return try AuthenticatedQueuePair(queuePair: qp, resources: resources, result: result, configuration: configuration)
        } catch {
            configuration.log?("handshake on QP \(qp.number) failed: \(error)")
            // The refused QP never carries anything again.
            try? qp.moveToError()
            throw error
        }
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
