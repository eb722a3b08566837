import CRDMACM

/// A connect request received by a `ConnectionListener`. Make a PD and CQs
/// on `context` (the device the request arrived on), then `accept` or `reject`.
public final class IncomingConnection: @unchecked Sendable {
    let identifier: ConnectionIdentifier
    /// The requester's private data (zero-padded by the CM, see `ConnectionEvent.privateData`).
    public let privateData: [UInt8]

    init(identifier: ConnectionIdentifier, privateData: [UInt8]) {
        self.identifier = identifier
        self.privateData = privateData
    }

    public var context: Context { identifier.context }

    /// Creates the QP (`rdma_create_qp`), posts `receives`, and accepts with
    /// `privateData` (at most 196 bytes, IB spec 12.6.8 REP). The connection
    /// is usable after `waitEstablished()`.
    public func accept(
        pd: ProtectionDomain, sendCompletionQueue: CompletionQueue, receiveCompletionQueue: CompletionQueue,
        configuration: QueuePairConfiguration = QueuePairConfiguration(), receives: [ReceiveRequest] = [],
        privateData: [UInt8] = [], readAtomic: UInt8 = 4
    ) throws(VerbsError) -> RDMAConnection {
        precondition(privateData.count <= 196, "accept private data is at most 196 bytes")
        return try identifier.createConnection(pd: pd, sendCompletionQueue: sendCompletionQueue,
            receiveCompletionQueue: receiveCompletionQueue, configuration: configuration, receives: receives,
            privateData: privateData, readAtomic: readAtomic, peerPrivateData: self.privateData, function: "rdma_accept"
        ) { id, parameters in rdma_accept(id, parameters) }
    }

    /// Refuses the request; the requester sees `.connectionRejected`.
    public func reject(privateData: [UInt8] = []) throws(VerbsError) {
        let id = identifier.pointer
        let rc = privateData.withUnsafeBytes { raw in rdma_reject(id, raw.baseAddress, UInt8(raw.count)) }
        try VerbsCall.check("rdma_reject", .minusOneSetsErrno) { rc }
    }
}
