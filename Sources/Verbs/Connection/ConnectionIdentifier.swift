#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs
import CRDMACM

/// Owns one `rdma_cm_id` and its event channel. A QP created on it holds
/// the identifier, so `rdma_destroy_qp` always runs before `rdma_destroy_id`
/// (librdmacm requires it: man rdma_destroy_id).
public final class ConnectionIdentifier: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<rdma_cm_id>
    let channel: ConnectionEventChannel

    /// A new RC (RDMA_PS_TCP) identifier on a fresh channel.
    init() throws(VerbsError) {
        let ch = try ConnectionEventChannel()
        channel = ch
        var id: UnsafeMutablePointer<rdma_cm_id>?
        try VerbsCall.check("rdma_create_id", .minusOneSetsErrno) { rdma_create_id(ch.pointer, &id, nil, RDMA_PS_TCP) }
        pointer = id!
    }

    /// Adopts an identifier from a connect request, moving it to its own channel.
    init(adopting id: UnsafeMutablePointer<rdma_cm_id>) throws(VerbsError) {
        let ch: ConnectionEventChannel
        do {
            ch = try ConnectionEventChannel()
        } catch {
            rdma_destroy_id(id)
            throw error
        }
        channel = ch
        pointer = id
        // From here on deinit destroys the id, also if migrating fails.
        try VerbsCall.check("rdma_migrate_id", .minusOneSetsErrno) { rdma_migrate_id(id, ch.pointer) }
    }

    deinit { rdma_destroy_id(pointer) }

    /// The device context librdmacm bound this identifier to (after address
    /// resolution or on a connect request). Make the PD and CQs from it.
    public var context: Context {
        guard let verbs = pointer.pointee.verbs else {
            preconditionFailure("the rdma_cm_id is not bound to a device yet")
        }
        return Context(borrowing: verbs, lender: self)
    }

    /// The next event, or `.timedOut`.
    func nextEvent(timeout: Duration, waitingFor what: String) throws(VerbsError) -> ConnectionEvent {
        guard let (event, _) = try channel.next(timeout: timeout) else {
            throw VerbsError(.timedOut, function: "rdma_get_cm_event", reason: "no event within \(timeout) while waiting for \(what)")
        }
        return event
    }

    /// Waits for `kind`; any other event is turned into the error it means.
    @discardableResult
    func expect(_ kind: ConnectionEvent.Kind, timeout: Duration, file: String = #fileID, line: UInt = #line) throws(VerbsError) -> ConnectionEvent {
        let event = try nextEvent(timeout: timeout, waitingFor: "\(kind)")
        if event.kind == kind { return event }
        let code: VerbsError.Code
        switch event.kind {
        case .rejected: code = .connectionRejected
        case .disconnected, .deviceRemoval, .timeWaitExit: code = .peerDisconnected
        case .addressError, .routeError, .unreachable: code = .addressResolution
        default: code = .unexpectedEvent
        }
        let err: Int32? = event.status < 0 ? -event.status : nil
        throw VerbsError(code, function: "rdma_get_cm_event", errno: err,
            reason: "expected \(kind), got \(event)", file: file, line: line)
    }

    /// rdma_cm connection parameters (IB spec 12.7.28 REQ fields).
    /// Creates the QP on this identifier (`rdma_create_qp`), posts `receives`,
    /// then calls `rdma_connect` or `rdma_accept` (`call`) with the private data:
    /// the steps both sides of a connection share.
    func createConnection(
        pd: ProtectionDomain, sendCompletionQueue: CompletionQueue, receiveCompletionQueue: CompletionQueue,
        configuration: QueuePairConfiguration, receives: [ReceiveRequest], privateData: [UInt8], readAtomic: UInt8,
        peerPrivateData: [UInt8], function: StaticString,
        _ call: (UnsafeMutablePointer<rdma_cm_id>, UnsafeMutablePointer<rdma_conn_param>) -> Int32
    ) throws(VerbsError) -> RDMAConnection {
        precondition(configuration.transport == .reliableConnection, "rdma_cm connections here are RC")
        let handle = try QueuePairHandle(pd: pd, sendCompletionQueue: sendCompletionQueue,
            receiveCompletionQueue: receiveCompletionQueue, sharedReceiveQueue: nil, configuration: configuration,
            connectionIdentifier: self)
        for r in receives { try QueuePair.postReceive(r, on: handle) }
        let id = pointer
        let rc = privateData.withUnsafeBytes { raw in
            var p = Self.parameters(privateData: raw, readAtomic: readAtomic)
            return call(id, &p)
        }
        try VerbsCall.check(function, .minusOneSetsErrno) { rc }
        return RDMAConnection(identifier: self, queuePair: QueuePair(handle: handle, remote: nil),
            peerPrivateData: peerPrivateData, readAtomic: readAtomic)
    }

    static func parameters(privateData: UnsafeRawBufferPointer, readAtomic: UInt8) -> rdma_conn_param {
        var p = rdma_conn_param()
        p.private_data = privateData.baseAddress
        p.private_data_len = UInt8(privateData.count)
        p.responder_resources = readAtomic
        p.initiator_depth = readAtomic
        p.retry_count = 7
        p.rnr_retry_count = 7
        return p
    }
}
