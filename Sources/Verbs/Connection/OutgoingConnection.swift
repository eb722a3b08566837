import CRDMACM

/// The active side of rdma_cm: resolves address and route to a listener
/// (`rdma_resolve_addr`, `rdma_resolve_route`), then connects. After
/// resolution `context` names the device that reaches the peer; make the PD
/// and CQs there.
public final class OutgoingConnection: @unchecked Sendable {
    let identifier: ConnectionIdentifier

    /// Resolves `host:port` (numeric IPv4/IPv6) within `timeout` each step.
    public init(host: String, port: UInt16, timeout: Duration = .seconds(5)) throws(VerbsError) {
        identifier = try ConnectionIdentifier()
        var addr = try SocketAddress(host: host, port: port)
        let id = identifier.pointer
        let ms = timeout.milliseconds
        try VerbsCall.check("rdma_resolve_addr", .minusOneSetsErrno, code: .addressResolution, reason: "\(host):\(port)") {
            addr.withSockaddr { sa, _ in rdma_resolve_addr(id, nil, sa, ms) }
        }
        try identifier.expect(.addressResolved, timeout: timeout + .seconds(1))
        try VerbsCall.check("rdma_resolve_route", .minusOneSetsErrno, code: .addressResolution) { rdma_resolve_route(id, ms) }
        try identifier.expect(.routeResolved, timeout: timeout + .seconds(1))
    }

    public var context: Context { identifier.context }

    /// Creates the QP, posts `receives`, and sends the connect request with
    /// `privateData` (at most 56 bytes on IB/RoCE: IB spec 12.6.5 REQ 92 bytes
    /// less rdma_cm's header). Call `waitEstablished()` on the result.
    public func connect(
        pd: ProtectionDomain, sendCompletionQueue: CompletionQueue, receiveCompletionQueue: CompletionQueue,
        configuration: QueuePairConfiguration = QueuePairConfiguration(), receives: [ReceiveRequest] = [],
        privateData: [UInt8] = [], readAtomic: UInt8 = 4
    ) throws(VerbsError) -> RDMAConnection {
        precondition(privateData.count <= 56, "connect private data is at most 56 bytes on IB/RoCE")
        return try identifier.createConnection(pd: pd, sendCompletionQueue: sendCompletionQueue,
            receiveCompletionQueue: receiveCompletionQueue, configuration: configuration, receives: receives,
            privateData: privateData, readAtomic: readAtomic, peerPrivateData: [], function: "rdma_connect"
        ) { id, parameters in rdma_connect(id, parameters) }
    }
}
