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
        precondition(configuration.transport == .reliableConnection, "rdma_cm connections here are RC")
        let handle = try QueuePairHandle(pd: pd, sendCompletionQueue: sendCompletionQueue,
            receiveCompletionQueue: receiveCompletionQueue, sharedReceiveQueue: nil, configuration: configuration,
            connectionIdentifier: identifier)
        for r in receives { try QueuePair.postReceive(r, on: handle) }
        let id = identifier.pointer
        let rc = privateData.withUnsafeBytes { raw in
            var p = ConnectionIdentifier.parameters(privateData: raw, readAtomic: readAtomic)
            return rdma_accept(id, &p)
        }
        try VerbsCall.check("rdma_accept", .minusOneSetsErrno) { rc }
        return RDMAConnection(identifier: identifier, queuePair: QueuePair(handle: handle, remote: nil),
            peerPrivateData: self.privateData, readAtomic: readAtomic)
    }

    /// Refuses the request; the requester sees `.connectionRejected`.
    public func reject(privateData: [UInt8] = []) throws(VerbsError) {
        let id = identifier.pointer
        let rc = privateData.withUnsafeBytes { raw in rdma_reject(id, raw.baseAddress, UInt8(raw.count)) }
        try VerbsCall.check("rdma_reject", .minusOneSetsErrno) { rc }
    }
}
