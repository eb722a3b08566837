import CRDMACM

/// One rdma_cm event, copied out of `struct rdma_cm_event` before it is acked.
public struct ConnectionEvent: Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case addressResolved, addressError, routeResolved, routeError
        case connectRequest, connectResponse, connectError, unreachable, rejected
        case established, disconnected, deviceRemoval, timeWaitExit, addressChange
        case other(UInt32)
    }

    public var kind: Kind
    /// The event's status (negative errno, or for `.rejected` the IB CM reject reason).
    public var status: Int32
    /// Private data carried by a connect request, accept or reject. On IB/RoCE
    /// the CM message has a fixed-size private data field (IB spec 12.6.5:
    /// REQ 92 bytes less rdma_cm's 36-byte header; REP 196), so what arrives
    /// may be zero-padded: frame your own length inside it.
    public var privateData: [UInt8]
    /// rdma-core's name of the event (`rdma_event_str`).
    public var name: String

    init(_ e: rdma_cm_event) {
        name = String(cString: rdma_event_str(e.event))
        status = e.status
        switch e.event {
        case RDMA_CM_EVENT_ADDR_RESOLVED: kind = .addressResolved
        case RDMA_CM_EVENT_ADDR_ERROR: kind = .addressError
        case RDMA_CM_EVENT_ROUTE_RESOLVED: kind = .routeResolved
        case RDMA_CM_EVENT_ROUTE_ERROR: kind = .routeError
        case RDMA_CM_EVENT_CONNECT_REQUEST: kind = .connectRequest
        case RDMA_CM_EVENT_CONNECT_RESPONSE: kind = .connectResponse
        case RDMA_CM_EVENT_CONNECT_ERROR: kind = .connectError
        case RDMA_CM_EVENT_UNREACHABLE: kind = .unreachable
        case RDMA_CM_EVENT_REJECTED: kind = .rejected
        case RDMA_CM_EVENT_ESTABLISHED: kind = .established
        case RDMA_CM_EVENT_DISCONNECTED: kind = .disconnected
        case RDMA_CM_EVENT_DEVICE_REMOVAL: kind = .deviceRemoval
        case RDMA_CM_EVENT_TIMEWAIT_EXIT: kind = .timeWaitExit
        case RDMA_CM_EVENT_ADDR_CHANGE: kind = .addressChange
        default: kind = .other(e.event.rawValue)
        }
        let conn = e.param.conn
        if let p = conn.private_data, conn.private_data_len > 0 {
            privateData = Array(UnsafeRawBufferPointer(start: p, count: Int(conn.private_data_len)))
        } else {
            privateData = []
        }
    }

    public var description: String { "\(name) (status \(status))" }
}
