import CRDMACM

/// An RC connection made by librdmacm: its identifier and the QP librdmacm
/// created and moves through INIT/RTR/RTS itself (rdma_connect/rdma_accept).
/// The QP holds the identifier, so destruction order is always right.
public final class RDMAConnection: @unchecked Sendable {
    let identifier: ConnectionIdentifier
    public let queuePair: QueuePair
    /// Private data the peer sent with its request (server side) or accept (client side).
    public internal(set) var peerPrivateData: [UInt8]
    public private(set) var isEstablished = false
    private let readAtomic: UInt8

    init(identifier: ConnectionIdentifier, queuePair: QueuePair, peerPrivateData: [UInt8], readAtomic: UInt8) {
        self.identifier = identifier
        self.queuePair = queuePair
        self.peerPrivateData = peerPrivateData
        self.readAtomic = readAtomic
    }

    /// Waits for RDMA_CM_EVENT_ESTABLISHED. A reject, unreachable peer or
    /// timeout throws. On the client the accept's private data is stored.
    public func waitEstablished(timeout: Duration = .seconds(10)) throws(VerbsError) {
        let event = try identifier.expect(.established, timeout: timeout)
        if !event.privateData.isEmpty { peerPrivateData = event.privateData }
        isEstablished = true
    }

    /// Sends a DREQ (`rdma_disconnect`); librdmacm moves the QP to ERR, so
    /// outstanding requests flush. The side that receives the DREQ sees
    /// `.disconnected` and answers by calling `disconnect()` itself (that
    /// sends the DREP, IB spec 12.9.6), which delivers `.disconnected` to the
    /// initiator; otherwise the initiator waits out the DREQ timeout.
    public func disconnect() throws(VerbsError) {
        try VerbsCall.check("rdma_disconnect", .minusOneSetsErrno) { rdma_disconnect(identifier.pointer) }
    }

    /// Waits for RDMA_CM_EVENT_DISCONNECTED (after either side disconnected).
    public func waitDisconnected(timeout: Duration = .seconds(10)) throws(VerbsError) {
        let event = try identifier.nextEvent(timeout: timeout, waitingFor: "disconnected")
        guard event.kind == .disconnected || event.kind == .timeWaitExit else {
            throw VerbsError(.unexpectedEvent, function: "rdma_get_cm_event", reason: "expected disconnected, got \(event)")
        }
        isEstablished = false
    }

    /// The next event on this connection (e.g. to notice a peer's disconnect), or nil after `timeout`.
    public func nextEvent(timeout: Duration) throws(VerbsError) -> ConnectionEvent? {
        try identifier.channel.next(timeout: timeout)?.0
    }
}
