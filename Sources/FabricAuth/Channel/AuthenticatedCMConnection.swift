import Handshake
import Verbs

/// Authenticated queue pairs over librdmacm's connect/accept instead of the
/// TCP exchange: rdma_cm resolves the address and route, creates the QP and
/// moves it to RTS; the handshake then runs in-band exactly as on the TCP path.
///
/// Channel binding needs each side's initial PSN, which librdmacm chooses and
/// does not report. The QP reports its *current* PSNs (`ConnectedPath`), so
/// the order of speaking makes them exact: the listener (the handshake's
/// initiator) reads both PSNs as soon as the connection is established, while
/// the connecting side is still silent; the connecting side (the responder)
/// reads its QP after M1 has arrived and subtracts M1's packets from the
/// expected receive PSN, since M1 is the only thing the peer has sent.
/// Handshake messages are 66 bytes and more, too large for rdma_cm's 56-byte
/// REQ private data (docs/protocol.md section 11), hence in-band.
public enum AuthenticatedCMConnection {
    /// The active side: `rdma_connect` to a ``AuthenticatedCMListener`` at `host:port`.
    public static func connect(host: String, port: UInt16, configuration: ChannelConfiguration) throws(ChannelError) -> AuthenticatedQueuePair {
        do { return try connectSteps(host: host, port: port, configuration: configuration) } catch {
            throw ChannelError(lowering: error)
        }
    }

    /// The active side in order; its errors are lowered once, by `connect`.
    private static func connectSteps(host: String, port: UInt16, configuration: ChannelConfiguration) throws -> AuthenticatedQueuePair {
        let deadline = ChannelClock.deadline(after: configuration.setupTimeout)
        let outgoing = try OutgoingConnection(host: host, port: port, timeout: configuration.setupTimeout)
        let (resources, qp) = try establish(context: outgoing.context, configuration: configuration) { (r) throws(VerbsError) in
            try outgoing.connect(pd: r.pd, sendCompletionQueue: r.sendCompletions, receiveCompletionQueue: r.receiveCompletions,
                configuration: r.queuePairConfiguration(configuration), receives: r.allReceiveRequests)
        }

        let (slot, length) = try resources.nextReceive(deadline: deadline)
        let first = Array(UnsafeRawBufferPointer(rebasing: resources.receiveSlot(slot)[0..<length]))
        try qp.post(resources.receiveRequest(slot: slot))
        let path = try qp.connectedPath()
        let mtu = path.pathMTU.bytes
        let packets = UInt32(max(1, (length + mtu - 1) / mtu))
        let peerInitialPSN = (path.expectedReceivePSN &- packets) & 0xFF_FFFF
        let (local, remote) = try endpoints(of: path, context: outgoing.context, remotePSN: peerInitialPSN)
        return try AuthenticatedConnector.authenticate(qp: qp, resources: resources, local: local, remote: remote,
            role: .responder, configuration: configuration, session: nil, sessionCache: nil, firstMessage: first,
            transport: .rdmaCM)
    }

    /// Makes the channel's resources on `context`, lets `connect` create the
    /// QP through rdma_connect or rdma_accept, and waits for ESTABLISHED.
    /// `timeout` bounds the wait for ESTABLISHED (the channel's `setupTimeout` when nil).
    static func establish(
        context: Context, configuration: ChannelConfiguration, timeout: Duration? = nil,
        _ connect: (ChannelResources) throws(VerbsError) -> RDMAConnection
    ) throws -> (ChannelResources, QueuePair) {
        let resources = try ChannelResources(context: context, configuration: configuration)
        let connection = try connect(resources)
        try connection.waitEstablished(timeout: timeout ?? configuration.setupTimeout)
        // The kernel's CM hands out remote WRITE, and with responder
        // resources READ and atomics, at connect time (Linux
        // drivers/infiniband/core/cm.c, cm_init_qp_init_attr). An
        // unauthenticated peer must get none: the channel opens rights
        // per transfer, after the handshake, as on the TCP path.
        try connection.queuePair.setAccessFlags([])
        return (resources, connection.queuePair)
    }

    /// This side's and the peer's endpoint as the handshake binds them.
    static func endpoints(of path: ConnectedPath, context: Context, remotePSN: UInt32)
        throws -> (local: QueuePairEndpoint, remote: QueuePairEndpoint)
    {
        guard let localGid = try context.gidEntry(index: path.sourceGidIndex)?.gid else {
            throw ChannelError.protocolViolation("rdma_cm chose source GID index \(path.sourceGidIndex), which the device does not list")
        }
        let local = QueuePairEndpoint(queuePairNumber: path.queuePairNumber, packetSequenceNumber: path.sendPSN,
            gid: localGid, lid: 0, mtu: path.pathMTU)
        let remote = QueuePairEndpoint(queuePairNumber: path.destinationQueuePairNumber, packetSequenceNumber: remotePSN,
            gid: path.remoteGid, lid: 0, mtu: path.pathMTU)
        return (local, remote)
    }
}
